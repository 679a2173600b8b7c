// Shared segments: memfd, seals, mapping, descriptor passing and names.
#include "sn/ipc/detail/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sn::ipc::detail {
namespace {

constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

absl::Status errno_status(const char* what) {
  const int e = errno;
  return absl::Status(
      e == EMFILE || e == ENFILE || e == ENOMEM ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kInternal,
      absl::StrCat("sn::ipc: ", what, ": ", std::strerror(e)));
}

absl::StatusOr<Mapping> map(int fd, std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    absl::Status s = errno_status("mmap");
    ::close(fd);
    return s;
  }
  return Mapping(static_cast<std::byte*>(p), bytes, fd);
}

/// Opens the descriptor `from` names; *peer_pid gets the sender's pid where the kernel says.
absl::StatusOr<int> open_from(const From& from, int* peer_pid) {
  *peer_pid = 0;
  switch (from.kind()) {
    case From::Kind::fd: {
      const int fd = fcntl(from.descriptor(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) return errno_status("dup of the segment's descriptor");
      return fd;
    }
    case From::Kind::socket: {
      char byte = 0;
      iovec iov{&byte, 1};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n;
      do {
        n = recvmsg(from.descriptor(), &msg, MSG_CMSG_CLOEXEC);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return errno_status("recvmsg of the segment's descriptor");
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      if (n == 0 || c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
          c->cmsg_len != CMSG_LEN(sizeof(int))) {
        return absl::InvalidArgumentError("sn::ipc: the socket's peer sent no descriptor (call share() there)");
      }
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      ucred cred{};
      socklen_t len = sizeof cred;
      // For a socketpair() the kernel names the process that made the pair, which may be
      // this one (it made the pair and handed the other end on): then the peer is not
      // known here, and its pid comes from its StateLine instead.
      if (getsockopt(from.descriptor(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid != getpid()) {
        *peer_pid = cred.pid;
      }
      return fd;
    }
    case From::Kind::name: {
      absl::StatusOr<std::string> path = name_path(from.text());
      if (!path.ok()) return path.status();
      const int fd = open(path->c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT)
          return absl::NotFoundError(absl::StrCat("sn::ipc: no channel is published as '", from.text(), "'"));
        return errno_status(path->c_str());
      }
      char target[128] = {};
      const ssize_t n = readlink(path->c_str(), target, sizeof target - 1);
      int pid = 0;
      if (n > 0 && std::sscanf(target, "/proc/%d/fd/", &pid) == 1) *peer_pid = pid;
      return fd;
    }
  }
  return absl::InvalidArgumentError("sn::ipc: unknown From kind");
}

}  // namespace

absl::StatusOr<std::unique_ptr<RingEnd>> create_end(const Geometry& g, Role role, const Options& options) {
  const int fd = memfd_create("sn-ipc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return errno_status("memfd_create");
  if (ftruncate(fd, static_cast<off_t>(g.segment_bytes)) != 0) {
    absl::Status s = errno_status("ftruncate");
    ::close(fd);
    return s;
  }
  // Sealed before anyone else sees it: no peer can shrink it under our mapping (SIGBUS).
  if (fcntl(fd, F_ADD_SEALS, kSeals) != 0) {
    absl::Status s = errno_status("sealing the segment");
    ::close(fd);
    return s;
  }
  absl::StatusOr<Mapping> m = map(fd, g.segment_bytes);
  if (!m.ok()) return m.status();
  const Header h = make_header(g, role);
  std::memcpy(m->base, &h, sizeof h);  // the rest is zero (a fresh memfd)
  return std::make_unique<RingEnd>(std::move(*m), g, role, options, 0);
}

absl::StatusOr<std::unique_ptr<RingEnd>> attach_end(const From& from, const Geometry& expected, Role role,
                                                    const Options& options) {
  int peer_pid = 0;
  absl::StatusOr<int> fd = open_from(from, &peer_pid);
  if (!fd.ok()) return fd.status();
  const int seals = fcntl(*fd, F_GET_SEALS);
  if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
    ::close(*fd);
    return absl::FailedPreconditionError(
        "sn::ipc: the segment is not sealed against shrinking and growing (not made by sn::ipc::create_*)");
  }
  struct stat st {};
  if (fstat(*fd, &st) != 0) {
    absl::Status s = errno_status("fstat");
    ::close(*fd);
    return s;
  }
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (file_bytes < sizeof(Control)) {
    ::close(*fd);
    return absl::DataLossError(absl::StrCat("sn::ipc: the segment holds ", file_bytes, " bytes, less than its header"));
  }
  Header h;
  if (pread(*fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {  // copy, then validate
    absl::Status s = errno_status("reading the header");
    ::close(*fd);
    return s;
  }
  Geometry g;
  if (absl::Status s = validate_header(h, file_bytes, expected, role, &g); !s.ok()) {
    ::close(*fd);
    return s;
  }
  absl::StatusOr<Mapping> m = map(*fd, g.segment_bytes);
  if (!m.ok()) return m.status();
  auto* ctl = reinterpret_cast<Control*>(m->base);
  std::uint32_t free_end = 0;
  if (!ctl->state[index_of(role)].attached.compare_exchange_strong(free_end, 1, std::memory_order_acq_rel)) {
    return absl::AlreadyExistsError(
        absl::StrCat("sn::ipc: another process holds the ", role == Role::sender ? "sender" : "receiver", " end"));
  }
  return std::make_unique<RingEnd>(std::move(*m), g, role, options, peer_pid);
}

absl::Status send_descriptor(int unix_socket, int fd) {
  if (fd < 0) return absl::FailedPreconditionError("sn::ipc: share() on an empty handle");
  char byte = 'S';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do {
    n = sendmsg(unix_socket, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return errno_status("sendmsg of the segment's descriptor");
  return absl::OkStatus();
}

absl::StatusOr<std::string> name_path(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == '-');
  }
  if (!ok || name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("sn::ipc: '", std::string(name), "' is not a channel name (1..64 of A-Z a-z 0-9 . _ -)"));
  }
  return absl::StrCat("/dev/shm/sn-ipc.", std::string(name));
}

absl::Status publish_name(std::string_view name, int fd) {
  absl::StatusOr<std::string> path = name_path(name);
  if (!path.ok()) return path.status();
  if (fd < 0) return absl::FailedPreconditionError("sn::ipc: publish() on an empty handle");
  const std::string target = absl::StrCat("/proc/", getpid(), "/fd/", fd);
  if (symlink(target.c_str(), path->c_str()) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat("sn::ipc: the name '", std::string(name), "' is taken (", *path, ")"));
    }
    return errno_status(path->c_str());
  }
  return absl::OkStatus();
}

void unpublish_name(std::string_view name, int fd) noexcept {
  absl::StatusOr<std::string> path = name_path(name);
  if (!path.ok()) return;
  char target[128] = {};
  const ssize_t n = readlink(path->c_str(), target, sizeof target - 1);
  if (n > 0 && std::string_view(target, static_cast<std::size_t>(n)) == absl::StrCat("/proc/", getpid(), "/fd/", fd)) {
    unlink(path->c_str());
  }
}

}  // namespace sn::ipc::detail
