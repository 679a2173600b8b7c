// sn::WorkerType: the concept a class must model for a pool to run it.
#pragma once

#include "sn/worker/detail/traits.h"
#include "sn/worker/worker.h"

namespace sn {

/// A class the pool can run: derived from Worker<State, Message>, with a handle_message
/// that takes (State&, Envelope<Message>) or a handle_batch that takes (State&,
/// std::span<Envelope<Message>>), returning void or absl::Status.
template <class W>
concept WorkerType = detail::HasWorkerBase<W> &&(detail::HandlesMessages<W> || detail::HandlesBatches<W>);

}  // namespace sn
