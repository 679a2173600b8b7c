// The C interface: thin wrappers over ByteSender and ByteReceiver.
//
// Nothing may unwind into a C caller (a Python interpreter, a Go runtime): every entry
// point that allocates (a Status's text, a name) catches what it might throw and turns
// it into SN_IPC_ERROR. The hot paths (send, recv) do not allocate.
#include "sn/ipc/c_api.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "sn/ipc/channel.h"

struct sn_ipc_sender {
  sn::ipc::ByteSender end;
};
struct sn_ipc_receiver {
  sn::ipc::ByteReceiver end;
};

namespace {

void write_err(std::string_view text, char* err, std::size_t err_len) noexcept {
  if (err == nullptr || err_len == 0) return;
  const std::size_t n = std::min(text.size(), err_len - 1);
  std::memcpy(err, text.data(), n);
  err[n] = '\0';
}

sn_ipc_result fail(const absl::Status& s, char* err, std::size_t err_len) noexcept {
  try {
    write_err(s.ToString(), err, err_len);
  } catch (...) {  // ToString allocates; the code alone still says something
    write_err("sn_ipc: out of memory while describing an error", err, err_len);
  }
  return SN_IPC_ERROR;
}

sn_ipc_result invalid(std::string_view why, char* err, std::size_t err_len) noexcept {
  write_err(why, err, err_len);
  return SN_IPC_INVALID;
}

/// Runs `body`, turning an exception (bad_alloc, say) into SN_IPC_ERROR with its text.
template <class Body>
sn_ipc_result guarded(char* err, std::size_t err_len, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    write_err(e.what(), err, err_len);
  } catch (...) {
    write_err("sn_ipc: unknown exception", err, err_len);
  }
  return SN_IPC_ERROR;
}

sn_ipc_result to_c(sn::SendResult r) {
  switch (r) {
    case sn::SendResult::ok: return SN_IPC_OK;
    case sn::SendResult::full: return SN_IPC_FULL;
    case sn::SendResult::closed: return SN_IPC_CLOSED;
    case sn::SendResult::timeout: return SN_IPC_TIMEOUT;
    case sn::SendResult::dropped:
    case sn::SendResult::invalid: return SN_IPC_INVALID;
  }
  return SN_IPC_INVALID;
}

sn_ipc_result to_c(sn::RecvResult r) {
  switch (r) {
    case sn::RecvResult::ok: return SN_IPC_OK;
    case sn::RecvResult::empty: return SN_IPC_EMPTY;
    case sn::RecvResult::closed: return SN_IPC_CLOSED;
    case sn::RecvResult::timeout: return SN_IPC_TIMEOUT;
  }
  return SN_IPC_INVALID;
}

absl::StatusOr<sn::ipc::From> from_c(sn_ipc_from from, int fd, const char* name) {
  switch (from) {
    case SN_IPC_FROM_FD: return sn::ipc::From::fd(fd);
    case SN_IPC_FROM_SOCKET: return sn::ipc::From::socket(fd);
    case SN_IPC_FROM_NAME: return sn::ipc::From::name(name);  // not NULL: attach() checked
  }
  return absl::InvalidArgumentError("sn_ipc: unknown sn_ipc_from");
}

sn_ipc_stats to_c(const sn::ChannelStats& s) {
  return sn_ipc_stats{s.sent, s.received, s.send_full, s.send_closed, s.capacity, s.closed ? 1 : 0};
}

template <class Handle, class Made>
sn_ipc_result wrap(absl::StatusOr<Made> made, Handle** out, char* err, std::size_t err_len) {
  if (!made.ok()) return fail(made.status(), err, err_len);
  *out = new (std::nothrow) Handle{std::move(*made)};
  return *out != nullptr ? SN_IPC_OK : fail(absl::ResourceExhaustedError("sn_ipc: out of memory"), err, err_len);
}

/// Both attaches: checks the pointers, finds the segment, takes the end.
template <class Handle, class Attach>
sn_ipc_result attach(sn_ipc_from from, int fd, const char* name, Handle** out, char* err, std::size_t err_len,
                     Attach&& take) noexcept {
  if (out == nullptr) return invalid("sn_ipc: out is NULL", err, err_len);
  *out = nullptr;
  if (from == SN_IPC_FROM_NAME && name == nullptr) return invalid("sn_ipc: FROM_NAME with a NULL name", err, err_len);
  return guarded(err, err_len, [&] {
    absl::StatusOr<sn::ipc::From> f = from_c(from, fd, name);
    if (!f.ok()) return fail(f.status(), err, err_len);
    return wrap(take(*f), out, err, err_len);
  });
}

template <class Handle, class Create>
sn_ipc_result create(Handle** out, char* err, std::size_t err_len, Create&& make) noexcept {
  if (out == nullptr) return invalid("sn_ipc: out is NULL", err, err_len);
  *out = nullptr;
  return guarded(err, err_len, [&] { return wrap(make(), out, err, err_len); });
}

template <class Handle>
sn_ipc_result share(Handle* h, int unix_socket, char* err, std::size_t err_len) noexcept {
  if (h == nullptr) return invalid("sn_ipc: NULL handle", err, err_len);
  return guarded(err, err_len, [&] {
    const absl::Status st = h->end.share(unix_socket);
    return st.ok() ? SN_IPC_OK : fail(st, err, err_len);
  });
}

template <class Handle>
sn_ipc_result publish(Handle* h, const char* name, char* err, std::size_t err_len) noexcept {
  if (h == nullptr || name == nullptr) return invalid("sn_ipc: NULL handle or name", err, err_len);
  return guarded(err, err_len, [&] {
    const absl::Status st = h->end.publish(name);
    return st.ok() ? SN_IPC_OK : fail(st, err, err_len);
  });
}

absl::Time deadline_of(std::int64_t timeout_ns) {
  return timeout_ns < 0 ? absl::InfiniteFuture() : absl::Now() + absl::Nanoseconds(timeout_ns);
}

}  // namespace

extern "C" {

sn_ipc_result sn_ipc_create_sender(size_t capacity, size_t max_bytes, sn_ipc_sender** out, char* err, size_t err_len) {
  return create(out, err, err_len, [&] { return sn::ipc::create_byte_sender(capacity, max_bytes); });
}

sn_ipc_result sn_ipc_create_receiver(size_t capacity, size_t max_bytes, sn_ipc_receiver** out, char* err,
                                     size_t err_len) {
  return create(out, err, err_len, [&] { return sn::ipc::create_byte_receiver(capacity, max_bytes); });
}

sn_ipc_result sn_ipc_attach_sender(sn_ipc_from from, int fd, const char* name, size_t max_bytes, sn_ipc_sender** out,
                                   char* err, size_t err_len) {
  return attach(from, fd, name, out, err, err_len,
                [&](const sn::ipc::From& f) { return sn::ipc::attach_byte_sender(f, max_bytes); });
}

sn_ipc_result sn_ipc_attach_receiver(sn_ipc_from from, int fd, const char* name, size_t max_bytes,
                                     sn_ipc_receiver** out, char* err, size_t err_len) {
  return attach(from, fd, name, out, err, err_len,
                [&](const sn::ipc::From& f) { return sn::ipc::attach_byte_receiver(f, max_bytes); });
}

sn_ipc_result sn_ipc_send(sn_ipc_sender* s, const void* data, size_t len, int64_t timeout_ns) {
  if (s == nullptr || (data == nullptr && len != 0)) return SN_IPC_INVALID;
  // An empty message may come as (NULL, 0); memcpy must not be handed NULL even for 0 bytes.
  static const std::byte kNothing{};
  const auto* bytes = data != nullptr ? static_cast<const std::byte*>(data) : &kNothing;
  const std::span<const std::byte> msg(bytes, len);
  if (timeout_ns == 0) return to_c(s->end.try_send(msg));
  if (timeout_ns < 0) return to_c(s->end.send(msg));
  return to_c(s->end.send_for(msg, absl::Nanoseconds(timeout_ns)));
}

sn_ipc_result sn_ipc_recv(sn_ipc_receiver* r, void* buf, size_t cap, size_t* len, int64_t timeout_ns) {
  if (len != nullptr) *len = 0;
  if (r == nullptr || buf == nullptr || len == nullptr || cap < r->end.max_message_bytes()) return SN_IPC_INVALID;
  return to_c(r->end.recv_into(std::span<std::byte>(static_cast<std::byte*>(buf), cap), len,
                               timeout_ns == 0 ? absl::InfinitePast() : deadline_of(timeout_ns)));
}

sn_ipc_result sn_ipc_sender_share(sn_ipc_sender* s, int unix_socket, char* err, size_t err_len) {
  return share(s, unix_socket, err, err_len);
}

sn_ipc_result sn_ipc_receiver_share(sn_ipc_receiver* r, int unix_socket, char* err, size_t err_len) {
  return share(r, unix_socket, err, err_len);
}

sn_ipc_result sn_ipc_sender_publish(sn_ipc_sender* s, const char* name, char* err, size_t err_len) {
  return publish(s, name, err, err_len);
}

sn_ipc_result sn_ipc_receiver_publish(sn_ipc_receiver* r, const char* name, char* err, size_t err_len) {
  return publish(r, name, err, err_len);
}

int sn_ipc_sender_fd(const sn_ipc_sender* s) { return s ? s->end.fd() : -1; }
int sn_ipc_receiver_fd(const sn_ipc_receiver* r) { return r ? r->end.fd() : -1; }

sn_ipc_stats sn_ipc_sender_stats(const sn_ipc_sender* s) { return s ? to_c(s->end.stats()) : sn_ipc_stats{}; }
sn_ipc_stats sn_ipc_receiver_stats(const sn_ipc_receiver* r) { return r ? to_c(r->end.stats()) : sn_ipc_stats{}; }
void sn_ipc_sender_close(sn_ipc_sender* s) {
  if (s) s->end.close();
}
void sn_ipc_receiver_close(sn_ipc_receiver* r) {
  if (r) r->end.close();
}
void sn_ipc_sender_free(sn_ipc_sender* s) { delete s; }
void sn_ipc_receiver_free(sn_ipc_receiver* r) { delete r; }

const char* sn_ipc_result_name(sn_ipc_result r) {
  switch (r) {
    case SN_IPC_OK: return "ok";
    case SN_IPC_FULL: return "full";
    case SN_IPC_EMPTY: return "empty";
    case SN_IPC_CLOSED: return "closed";
    case SN_IPC_TIMEOUT: return "timeout";
    case SN_IPC_INVALID: return "invalid";
    case SN_IPC_ERROR: return "error";
  }
  return "unknown";
}

}  // extern "C"
