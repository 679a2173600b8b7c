// Internal: how a callee runs a request. W answers a request of type T (the pool's Message,
// or one alternative of a std::variant Message) with one of:
//
//   X    handle_call(State&, Envelope<T>)                X is R or absl::StatusOr<R>: the
//                                                        answer, at once
//   void handle_call(State&, Envelope<T>, sn::Reply<R>)  answers later through the Reply
//                                                        (dropping it fails the call)
//
// The caller names R too; a caller that asked for another R gets InvalidArgument (the
// reply tag is checked, see IncomingCall::expects and AnyReply). A request W has no handle_call for fails
// with Unimplemented; WorkerPool::call checks that at compile time.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sn/call/reply.h"
#include "sn/detail/alternative.h"
#include "sn/pool/detail/calls.h"
#include "sn/worker/envelope.h"

namespace sn::detail {

std::string describe_current_exception();

template <class W, class T>
concept AnswersNow = requires(W& w, typename W::state_type& s, Envelope<T> e) {
  w.handle_call(s, std::move(e));
};
template <class W, class T>
concept AnswersLater = requires(W& w, typename W::state_type& s, Envelope<T> e, AnyReply r) {
  w.handle_call(s, std::move(e), std::move(r));
};
template <class W, class T>
concept HandlesCall = AnswersNow<W, T> || AnswersLater<W, T>;

template <class X>
struct ReplyOf {
  using type = X;
};
template <class R>
struct ReplyOf<absl::StatusOr<R>> {
  using type = R;
};
/// The reply type of W's immediate handle_call for T.
template <class W, class T>
using ImmediateReply = typename ReplyOf<std::remove_cvref_t<decltype(std::declval<W&>().handle_call(
    std::declval<typename W::state_type&>(), std::declval<Envelope<T>>()))>>::type;

/// Whether W can answer a request of type Req with an R: its handle_call for Req (or, in
/// a variant Message, for the whole Message) is deferred, or answers with R.
template <class W, class Req, class R>
constexpr bool answers_with() {
  using M = typename W::message_type;
  if constexpr (AnswersNow<W, Req>) {
    return std::is_same_v<ImmediateReply<W, Req>, R>;
  } else if constexpr (AnswersLater<W, Req>) {
    return true;
  } else if constexpr (!std::is_same_v<Req, M> && HandlesCall<W, M>) {
    return answers_with<W, M, R>();
  } else {
    return false;
  }
}

/// What running one request gave: an exception's status (a fault of the callee) and
/// whether its answer came after the call had completed.
struct CallOutcome {
  absl::Status fault;
  bool late = false;
};

template <class W, class T>
CallOutcome answer_one(W& w, typename W::state_type& s, Envelope<T>&& e,
                       IncomingCall<typename W::message_type>&& call) noexcept {
  if constexpr (AnswersNow<W, T>) {
    using R = ImmediateReply<W, T>;
    if (!call.template expects<R>()) return {};  // the caller asked for another reply type
    try {
      return {absl::OkStatus(), std::move(call).answer(absl::StatusOr<R>(w.handle_call(s, std::move(e))))};
    } catch (...) {
      // Two statuses with one text: the caller's and the fault report's do not share a
      // reference-counted payload across threads (the caller frees its copy whenever it
      // likes, and parts of Abseil's count are in its uninstrumented library).
      const std::string text = absl::StrCat("threw: ", describe_current_exception());
      const bool late = std::move(call).answer(absl::StatusOr<R>(absl::InternalError(text)));
      return {absl::InternalError(text), late};
    }
  } else if constexpr (AnswersLater<W, T>) {
    try {
      w.handle_call(s, std::move(e), std::move(call).any_reply());  // a throw drops the Reply: Cancelled
      return {};
    } catch (...) {
      return {absl::InternalError(absl::StrCat("threw: ", describe_current_exception())), false};
    }
  } else {
    (void)std::move(call).fail(absl::UnimplementedError("sn: the callee has no handle_call for this request's type"));
    return {};
  }
}

/// Runs the request `e` on W: the handle_call for the whole Message when W has one, else
/// (a variant Message) the one for the alternative it holds.
template <class W>
CallOutcome answer_call(W& w, typename W::state_type& s, Envelope<typename W::message_type>&& e,
                        IncomingCall<typename W::message_type>&& call) noexcept {
  using M = typename W::message_type;
  if constexpr (HandlesCall<W, M> || !kIsVariant<M>) {
    if constexpr (!HandlesCall<W, M>) {
      (void)std::move(call).fail(absl::UnimplementedError("sn: the callee has no handle_call for this request"));
      return {};
    } else {
      return answer_one<W, M>(w, s, std::move(e), std::move(call));
    }
  } else {
    return std::visit(
        [&](auto& alternative) -> CallOutcome {
          using T = std::remove_cvref_t<decltype(alternative)>;
          if constexpr (HandlesCall<W, T>) {
            return answer_one<W, T>(w, s, Envelope<T>{std::move(alternative), e.key, e.source, e.sequence, e.sent_at},
                                    std::move(call));
          } else {
            (void)std::move(call).fail(
                absl::UnimplementedError("sn: the callee has no handle_call for this request's type"));
            return {};
          }
        },
        e.payload);
  }
}

}  // namespace sn::detail
