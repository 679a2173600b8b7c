// sn::WorkerType: the concept a class must model for a pool to run it.
#pragma once

#include "sn/worker/detail/traits.h"
#include "sn/worker/worker.h"

namespace sn {

/// A class the pool can run: derived from Worker<State, Message>, with a handle_message
/// that takes (State&, Envelope<Message>) or a handle_batch that takes (State&,
/// std::span<Envelope<Message>>), returning void or absl::Status. When Message is a
/// std::variant, a handle_message for Envelope<T> for every alternative T (or a handler
/// template) does instead of the one for Envelope<Message>; see sn/worker/worker.h.
template <class W>
concept WorkerType = detail::HasWorkerBase<W> &&(detail::HandlesMessages<W> || detail::HandlesBatches<W>);

}  // namespace sn
