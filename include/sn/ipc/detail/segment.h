// Internal: making, sealing, mapping and passing a channel's shared segment.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sn/ipc/detail/layout.h"
#include "sn/ipc/detail/ring_end.h"
#include "sn/ipc/options.h"

namespace sn::ipc {

/// Where the other end of a channel comes from, for attach_sender / attach_receiver.
class From {
 public:
  /// A descriptor of the segment (this process dups it; the caller keeps its own).
  static From fd(int fd) noexcept { return From(Kind::fd, fd, {}); }
  /// A connected Unix domain socket whose peer calls share() on its end: one descriptor
  /// arrives by SCM_RIGHTS, and the kernel tells who sent it (SO_PEERCRED).
  static From socket(int unix_socket) noexcept { return From(Kind::socket, unix_socket, {}); }
  /// A name given to publish() by the creating process (same user, same machine).
  static From name(std::string_view name) { return From(Kind::name, -1, std::string(name)); }

  /// How the descriptor is found.
  enum class Kind : std::uint8_t { fd, socket, name };
  /// Which of the three this is.
  Kind kind() const noexcept { return kind_; }
  /// The descriptor (fd, socket), or -1.
  int descriptor() const noexcept { return fd_; }
  /// The name (name), or empty.
  const std::string& text() const noexcept { return name_; }

 private:
  From(Kind k, int fd, std::string name) : kind_(k), fd_(fd), name_(std::move(name)) {}
  Kind kind_;
  int fd_;
  std::string name_;
};

namespace detail {

/// Creates a sealed memfd segment for `g`, maps it and takes the `role` end.
absl::StatusOr<std::unique_ptr<RingEnd>> create_end(const Geometry& g, Role role, const Options& options);
/// Finds the segment (From), checks its seals and header against `expected` (capacity 0:
/// any), maps it and takes the `role` end. AlreadyExists if a process holds that end.
absl::StatusOr<std::unique_ptr<RingEnd>> attach_end(const From& from, const Geometry& expected, Role role,
                                                    const Options& options);
/// Sends `fd` over a connected Unix domain socket (SCM_RIGHTS).
absl::Status send_descriptor(int unix_socket, int fd);
/// The path a published name lives at: /dev/shm/sn-ipc.<name>. InvalidArgument unless
/// the name is 1..64 of [A-Za-z0-9._-].
absl::StatusOr<std::string> name_path(std::string_view name);
/// Makes `name` lead to `fd` of this process (a symbolic link to /proc/<pid>/fd/<fd>).
absl::Status publish_name(std::string_view name, int fd);
/// Removes a name this process published for `fd` (if it still leads there).
void unpublish_name(std::string_view name, int fd) noexcept;

}  // namespace detail
}  // namespace sn::ipc
