// Internal: what the pool asks of a worker class, as concepts and result types.
#pragma once

#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "sn/detail/alternative.h"
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

/// W has a handle_message for Envelope<T>, where T is one alternative of W's std::variant
/// Message (a handler for that alternative, or a handler template).
template <class W, class T>
using AlternativeResult =
    decltype(std::declval<W&>().handle_message(std::declval<typename W::state_type&>(), std::declval<Envelope<T>>()));
template <class W, class T>
concept HandlesAlternative = requires {
  typename AlternativeResult<W, T>;
}
&&HandlerResult<AlternativeResult<W, T>>;

/// Converts to Envelope<M> and to nothing else (declared, never defined): a handler
/// template cannot deduce its parameter from it, so only a handler written for
/// Envelope<M> itself accepts it.
template <class M>
struct WholeEnvelopeProbe {
  operator Envelope<M>() const;  // NOLINT(google-explicit-constructor): the probe is the conversion
};

/// W handles its Message as one value, as the pool hands it over: handle_message takes
/// Envelope<Message>. With a std::variant Message, a handler template (`template <class T>
/// R handle_message(State&, Envelope<T>)`) would accept Envelope<Message> too; it is meant
/// for the alternatives, so only a handler that is not a template counts here.
template <class W>
concept HandlesWholeMessage = requires {
  typename HandleResult<W>;
}
&&HandlerResult<HandleResult<W>> &&
    (!kIsVariant<typename W::message_type> || requires(W & w, typename W::state_type& s) {
      w.handle_message(s, WholeEnvelopeProbe<typename W::message_type>{});
    });

template <class W, class M>
inline constexpr bool kHandlesEachAlternative = false;
template <class W, class... Ts>
inline constexpr bool kHandlesEachAlternative<W, std::variant<Ts...>> = (HandlesAlternative<W, Ts> && ...);

/// W's Message is a std::variant and W handles it alternative by alternative: a
/// handle_message for Envelope<T> for each alternative T (or a template), none for the
/// whole variant.
template <class W>
concept HandlesAlternatives = !HandlesWholeMessage<W> && kHandlesEachAlternative<W, typename W::message_type>;

template <class W>
concept HandlesMessages = HandlesWholeMessage<W> || HandlesAlternatives<W>;

/// Instantiated for each alternative T of a worker that handles them one by one: the
/// compile error for a missing handler, which names T (and W) in its instantiation note.
template <class W, class T>
struct AlternativeHandlerCheck {
  static_assert(HandlesAlternative<W, T>,
                "sn::Worker: W's Message is a std::variant, and W has no handle_message(State&, sn::Envelope<T>) "
                "for its alternative T (named in the notes), returning void or absl::Status; define one, "
                "a handler template, one for the whole variant, or handle_batch");
  static constexpr bool value = HandlesAlternative<W, T>;
};
template <class W, class M>
struct EveryAlternativeChecked : std::true_type {};
template <class W, class... Ts>
struct EveryAlternativeChecked<W, std::variant<Ts...>>
    : std::bool_constant<(AlternativeHandlerCheck<W, Ts>::value & ...)> {};  // `&`: check them all
template <class W>
struct MessageAlternativesChecked : EveryAlternativeChecked<W, typename W::message_type> {};

/// False, after a compile error naming each alternative without a handler, when W is a
/// worker with a std::variant Message that it handles neither whole, nor in batches, nor
/// alternative by alternative; true otherwise. The pool asserts WorkerType only when this
/// is true, so that those named errors are the only ones.
template <class W>
inline constexpr bool kAlternativesChecked =
    std::disjunction_v<std::bool_constant<!HasWorkerBase<W>>, std::bool_constant<HandlesBatches<W>>,
                       std::bool_constant<HandlesWholeMessage<W>>, MessageAlternativesChecked<W>>;

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
