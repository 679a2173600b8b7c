// ClusterOptions::validate: the ranges every rank's options must fall in.
#include "sn/cluster/options.h"

#include "absl/strings/str_cat.h"

namespace sn {

absl::Status ClusterOptions::validate() const {
  const auto bad = [](const char* what) {
    return absl::InvalidArgumentError(absl::StrCat("sn::ClusterOptions: ", what));
  };
  if (!limits.valid()) {
    return bad("limits: max_message_bytes must fit an empty frame (max_frame_bytes minus 48 bytes of headers)");
  }
  if (buffers_per_destination == 0 || buffers_per_destination > 64) return bad("buffers_per_destination: 1 to 64");
  if (credit_frames == 0 || credit_frames > 1024) return bad("credit_frames: 1 to 1024");
  if (receive_buffers == 0 || receive_buffers > 1024) return bad("receive_buffers: 1 to 1024");
  if (flush_after < absl::ZeroDuration()) return bad("flush_after: zero or more");
  if (heartbeat_every <= absl::ZeroDuration()) return bad("heartbeat_every: more than zero");
  if (peer_timeout <= heartbeat_every * 2) return bad("peer_timeout: more than two heartbeats");
  return absl::OkStatus();
}

}  // namespace sn
