// Internal: an answer that travels by value, in a ring slot, back to the thread that
// takes its call's completions (a calling worker's reply ring, see sn/pool/detail/calls.h).
//
// Why: a completion through the record (call_state.h) is written by the callee into the
// record and read back by the caller, so the record's line crosses between the two cores
// twice, on top of the line that tells the caller to look (its mailbox's head). An answer
// in a ring slot crosses once, in the line the caller already polls; the record stays in
// the caller's cache, and the caller completes it there itself (complete_here: its own
// thread, so no sink to notify). That is what keeps a call's round trip near a plain
// message's.
//
// A parcel owns the call's answering reference and the result, an absl::StatusOr<R> kept
// in place when it fits (kInline bytes); a reply type too large for it is not sent this
// way (the callee completes the record instead). Nothing in it is shared: the ring's
// publish (its S1/S2 pair) carries the parcel to the taker, and the record is touched only
// by the taker, through complete_here's claim, so a deadline or a stop that completed the
// call first makes the parcel's answer `refused` (a late reply).
//
// Threads: built and moved by the answering thread, taken by the caller's thread.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

#include "absl/status/statusor.h"
#include "sn/call/detail/call_state.h"

namespace sn::detail {

class ReplyParcel {
 public:
  /// Room for the result in place: an absl::StatusOr of a few words.
  static constexpr std::size_t kInline = 40;
  /// Whether an answer of type R travels in a parcel.
  template <class R>
  static constexpr bool kFits = sizeof(absl::StatusOr<R>) <= kInline && alignof(absl::StatusOr<R>) <= alignof(void*);

  /// What the taker may do with an answer that came too late (a dead letter, say):
  /// `late(result, context)` may move from the result. Supplied by whoever builds the
  /// parcel, as a stateless type with a static `late`.
  template <class R>
  struct NoLateHandling {
    static void late(absl::StatusOr<R>&, const void*) noexcept {}
  };

  /// Takes over the answering reference to `call` (a CallState<R>) and the result.
  template <class R, class Late = NoLateHandling<R>>
  ReplyParcel(CallStateBase* call, absl::StatusOr<R>&& result, Late = {}) noexcept : call_(call), ops_(&kOps<R, Late>) {
    static_assert(kFits<R>);
    ::new (box_) absl::StatusOr<R>(std::move(result));
  }
  ReplyParcel(ReplyParcel&& other) noexcept
      : call_(std::exchange(other.call_, nullptr)), ops_(std::exchange(other.ops_, nullptr)) {
    if (ops_ != nullptr) ops_->relocate(other.box_, box_);
  }
  ReplyParcel& operator=(ReplyParcel&&) = delete;
  ReplyParcel(const ReplyParcel&) = delete;
  ReplyParcel& operator=(const ReplyParcel&) = delete;
  /// Drops what it still holds: the answer, and the reference of a parcel never taken
  /// (its pool is destroyed; by then its call has completed some other way).
  ~ReplyParcel() {
    if (ops_ != nullptr) ops_->destroy(box_);
    if (call_ != nullptr) call_->release();
  }

  /// The call it answers (null once settled or handed back).
  CallStateBase* call() const noexcept { return call_; }

  /// The taker: completes the call with the answer unless it completed already
  /// (refused: a late reply, whose answer stays here for late()). Either way the
  /// answering reference passes to the taker, who must release it (with its own, in one
  /// step: CallStateBase::release(n)).
  CompleteResult settle() noexcept {
    CallStateBase* call = std::exchange(call_, nullptr);
    const CompleteResult r = ops_->settle(*call, box_);
    if (r == CompleteResult::completed) std::exchange(ops_, nullptr)->destroy(box_);
    return r;
  }
  /// After a refused settle(): hands the answer to the parcel's late handling.
  void late(const void* context) noexcept {
    if (ops_ != nullptr) ops_->late(box_, context);
  }

  /// A parcel that could not be sent: gives the reference and the result back.
  template <class R>
  CallStateBase* hand_back(absl::StatusOr<R>& result) && noexcept {
    result = std::move(boxed<R>(box_));
    std::exchange(ops_, nullptr)->destroy(box_);
    return std::exchange(call_, nullptr);
  }

 private:
  struct Ops {
    void (*relocate)(unsigned char* from, unsigned char* to) noexcept;
    void (*destroy)(unsigned char* box) noexcept;
    CompleteResult (*settle)(CallStateBase& call, unsigned char* box) noexcept;
    void (*late)(unsigned char* box, const void* context) noexcept;
  };
  template <class R>
  static absl::StatusOr<R>& boxed(unsigned char* box) noexcept {
    return *std::launder(reinterpret_cast<absl::StatusOr<R>*>(box));
  }
  template <class R, class Late>
  static constexpr Ops kOps{
      [](unsigned char* from, unsigned char* to) noexcept {
        ::new (to) absl::StatusOr<R>(std::move(boxed<R>(from)));
        boxed<R>(from).~StatusOr();
      },
      [](unsigned char* box) noexcept { boxed<R>(box).~StatusOr(); },
      [](CallStateBase& call, unsigned char* box) noexcept {
        return static_cast<CallState<R>&>(call).complete_here(std::move(boxed<R>(box)));
      },
      [](unsigned char* box, const void* context) noexcept { Late::late(boxed<R>(box), context); }};

  CallStateBase* call_;
  const Ops* ops_;  // null once the answer is gone (settled, handed back, moved from)
  alignas(void*) unsigned char box_[kInline];
};

}  // namespace sn::detail
