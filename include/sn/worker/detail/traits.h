// Internal: what the pool asks of a worker class, as concepts and result types.
#pragma once

#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "sn/worker/envelope.h"
#include "sn/worker/handoff.h"
#include "sn/worker/worker.h"

namespace sn {

namespace detail {

template <class W>
concept HasWorkerBase = requires {
  typename W::state_type;
  typename W::message_type;
}
&&std::is_base_of_v<Worker<typename W::state_type, typename W::message_type>, W>;

template <class W>
using HandleResult = decltype(std::declval<W&>().handle_message(std::declval<typename W::state_type&>(),
                                                                std::declval<Envelope<typename W::message_type>>()));
template <class W>
using BatchHandleResult = decltype(std::declval<W&>().handle_batch(
    std::declval<typename W::state_type&>(), std::declval<std::span<Envelope<typename W::message_type>>>()));

template <class R>
concept HandlerResult = std::is_void_v<R> || std::is_same_v<R, absl::Status>;

template <class W>
concept HandlesBatches = requires {
  typename BatchHandleResult<W>;
}
&&HandlerResult<BatchHandleResult<W>>;
template <class W>
concept HandlesMessages = requires {
  typename HandleResult<W>;
}
&&HandlerResult<HandleResult<W>>;

/// What one key's state travels as in a resize: W::handoff_type, when W declares it.
template <class W>
struct HandoffType {
  using type = char;  // unused: W moves no state
};
template <class W>
requires requires { typename W::handoff_type; }
struct HandoffType<W> {
  using type = typename W::handoff_type;
};

/// W declares handoff_type and the two hooks that move state during a resize.
template <class W>
concept HandsOffState = requires {
  typename W::handoff_type;
}
&&requires(W& w, typename W::state_type& s, StateHandoff<typename W::handoff_type>& out,
           typename W::handoff_type&& value, std::uint64_t key) {
  w.export_state(s, out);
  w.import_state(s, key, std::move(value));
};

}  // namespace detail

}  // namespace sn
