// Internal: the hook through which a pool's keyed sends reach keys owned by another
// process (sn::ClusterPool). A plain WorkerPool has none and pays one branch on a null
// pointer per keyed send.
#pragma once

#include <cstdint>
#include <optional>

#include "sn/channel/result.h"

namespace sn::detail {

/// Decides, for each keyed send of a pool, whether the key's owner is elsewhere, and if
/// so takes the message there.
template <class M>
class RemoteRoute {
 public:
  /// nullopt when `key` is owned here (the pool routes it as usual). Otherwise the result
  /// of forwarding it: `ok` or `dropped` took the message; `full`, `closed` and `invalid`
  /// (over the size limit) leave it with the caller. `from_worker`: the sender is one of
  /// the pool's workers, which must never wait. Any thread.
  virtual std::optional<SendResult> forward(std::uint64_t key, M& msg, bool from_worker) noexcept = 0;

 protected:
  ~RemoteRoute() = default;
};

}  // namespace sn::detail
