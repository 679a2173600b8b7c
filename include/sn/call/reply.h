// sn::Reply<R>: the callee's handle on one call, to answer it now or later, on any thread.
//
// A Reply answers exactly once. complete(value) or fail(status) delivers the answer
// unless the call already completed (its deadline passed, the caller cancelled, the pool
// is stopping): then the answer is dropped and the result says `too_late`, which the
// runtime counts as a late reply. A Reply destroyed without an answer completes the call
// with Cancelled ("the callee dropped the reply handle without answering"), so no caller
// waits forever for a callee that forgot.
//
// A deferred handle_call(State&, Envelope<Req>, sn::Reply<R>) answers through one; see docs/workers.md#calls.
//
// Memory ordering: everything the callee did before a `delivered` answer is visible to
// the caller once it sees the result (the record's publish, sn/call/detail/call_state.h).
// Threads: one thread at a time uses a Reply; it may be moved to another thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/utility/utility.h"
#include "sn/call/detail/call_state.h"

namespace sn {

/// What became of an answer.
enum class [[nodiscard]] ReplyResult : std::uint8_t{
    delivered,  ///< The caller gets this answer.
    too_late,   ///< The call had completed already (deadline, cancel, shutdown): dropped.
    no_call,    ///< The handle holds no call (moved from, or already answered).
};

/// The name of a ReplyResult, for logs and test output.
constexpr std::string_view to_string(ReplyResult r) noexcept {
  switch (r) {
    case ReplyResult::delivered: return "delivered";
    case ReplyResult::too_late: return "too_late";
    case ReplyResult::no_call: return "no_call";
  }
  return "unknown";
}

/// Move-only handle that answers one call of reply type R.
template <class R>
class Reply {
 public:
  /// A handle with no call.
  Reply() noexcept = default;
  /// For the runtime: takes over one reference to `call`.
  static Reply adopt(detail::CallState<R>* call) noexcept { return Reply(call); }

  /// Takes over `other`'s call; `other` is left with none.
  /// Takes over `other`'s call; `other` is left with none.
  Reply(Reply&& other) noexcept = default;
  /// Abandons its own call (see the destructor), then takes over `other`'s.
  Reply& operator=(Reply&& other) noexcept {
    if (this != &other) {
      abandon();
      call_ = std::move(other.call_);
    }
    return *this;
  }
  /// Without an answer, completes the call with Cancelled.
  ~Reply() { abandon(); }

  /// Answers with a value.
  ReplyResult complete(R value) noexcept { return answer(absl::StatusOr<R>(absl::in_place, std::move(value))); }
  /// Answers with an error (an OK status is turned into Internal).
  ReplyResult fail(const absl::Status& error) noexcept {
    return settle([&](detail::CallState<R>& call) { return call.fail(error); });
  }
  /// Answers with a value or an error, as handle_call's result is.
  ReplyResult answer(absl::StatusOr<R> result) noexcept {
    return settle([&](detail::CallState<R>& call) { return call.complete(std::move(result)); });
  }

  /// Whether the handle holds a call it has not answered.
  bool valid() const noexcept { return static_cast<bool>(call_); }
  /// Whether an answer could still be delivered: a hint (a deadline may pass at once),
  /// for a callee that wants to skip work nobody waits for.
  bool wanted() const noexcept { return call_ && call_->unclaimed(); }

 private:
  explicit Reply(detail::CallState<R>* call) noexcept : call_(detail::OwnedCall<detail::CallState<R>>::adopt(call)) {}
  /// Runs one completion attempt and gives up the reference, whatever its outcome.
  template <class Attempt>
  ReplyResult settle(Attempt&& attempt) noexcept {
    if (!call_) return ReplyResult::no_call;
    const detail::CompleteResult r = attempt(*call_.get());
    if (r == detail::CompleteResult::refused && call_->late_answers != nullptr) {
      call_->late_answers->fetch_add(1, std::memory_order_relaxed);
    }
    call_.reset();
    return r == detail::CompleteResult::completed ? ReplyResult::delivered : ReplyResult::too_late;
  }
  void abandon() noexcept {
    (void)settle([](detail::CallState<R>& call) { return call.fail(detail::CallErrors::reply_dropped()); });
  }

  detail::OwnedCall<detail::CallState<R>> call_;
};

/// The reply handle of a call whose reply type the callee names only where it takes it:
/// what a deferred `handle_call(State&, Envelope<T>, sn::Reply<R>)` is given. It converts
/// to the Reply<R> its parameter asks for; when the caller asked for another reply type,
/// the conversion fails the call with InvalidArgument and yields an empty Reply (whose
/// answers return ReplyResult::no_call). Dropped unconverted, it fails the call as a
/// dropped Reply does.
class AnyReply {
 public:
  AnyReply() noexcept = default;
  /// For the runtime: takes over one reference to `call`.
  static AnyReply adopt(detail::CallStateBase* call) noexcept { return AnyReply(call); }
  /// Takes over `other`'s call; `other` is left with none.
  AnyReply(AnyReply&& other) noexcept : call_(std::exchange(other.call_, nullptr)) {}
  /// Abandons its own call (as the destructor does), then takes over `other`'s.
  AnyReply& operator=(AnyReply&& other) noexcept {
    if (this != &other) {
      abandon();
      call_ = std::exchange(other.call_, nullptr);
    }
    return *this;
  }
  /// Without an answer, completes the call with Cancelled.
  ~AnyReply() { abandon(); }

  /// Answers with `error` (an OK status becomes Internal) and lets go of the call.
  /// Returns whether that was the call's answer (false: it had completed, or no call).
  bool fail_with(const absl::Status& error) && noexcept {
    if (call_ == nullptr) return false;
    const bool answered = call_->fail(error) == detail::CompleteResult::completed;
    std::exchange(call_, nullptr)->release();
    return answered;
  }
  /// Whether the caller asked for reply type R.
  template <class R>
  bool holds() const noexcept {
    return call_ != nullptr && call_->reply_tag() == detail::reply_tag_of<R>();
  }
  /// The typed handle (see the class comment).
  template <class R>
  operator Reply<R>() && noexcept {  // NOLINT: implicit on purpose, so handle_call's parameter picks R
    if (call_ == nullptr) return {};
    if (!holds<R>()) {
      (void)call_->fail(absl::InvalidArgumentError("sn: the callee answers this request with another reply type"));
      std::exchange(call_, nullptr)->release();
      return {};
    }
    return Reply<R>::adopt(static_cast<detail::CallState<R>*>(std::exchange(call_, nullptr)));
  }

 private:
  explicit AnyReply(detail::CallStateBase* call) noexcept : call_(call) {}
  void abandon() noexcept {
    if (call_ == nullptr) return;
    (void)call_->fail(detail::CallErrors::reply_dropped());
    std::exchange(call_, nullptr)->release();
  }

  detail::CallStateBase* call_ = nullptr;
};

}  // namespace sn
