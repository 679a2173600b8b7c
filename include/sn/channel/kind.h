// sn::ChannelKind: which ends of a channel may be shared between threads.
#pragma once

#include <cstdint>

namespace sn {

/// How many threads may use each end of a channel at once: single-producer
/// single-consumer, multi-producer single-consumer, multi-producer multi-consumer.
enum class ChannelKind : std::uint8_t { spsc, mpsc, mpmc };

}  // namespace sn
