// Internal: what the pool's two kinds of sender (any thread, and a worker's context) share:
// the decision of what a full destination means under each FullPolicy, and the overloads
// every send entry point offers (with a std::variant message, for each alternative too).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <variant>

#include "sn/channel/result.h"
#include "sn/detail/alternative.h"
#include "sn/partitioners/key.h"
#include "sn/pool/config.h"

namespace sn::detail {

/// What a full destination means, decided in this one place: under FullPolicy::block
/// `block()` makes room or waits for it (external senders wait; a worker, which must
/// never wait, defers the message to its outbox) and says how that went; under
/// FullPolicy::drop `drop()` destroys the message and counts it as accepted and
/// dropped; under FullPolicy::fail the value stays with the caller (`full`).
template <class Block, class Drop>
SendResult when_full(FullPolicy policy, Block&& block, Drop&& drop) noexcept {
  switch (policy) {
    case FullPolicy::block: return block();
    case FullPolicy::drop: drop(); return SendResult::dropped;
    case FullPolicy::fail: break;
  }
  return SendResult::full;
}

/// The overloads every sender offers, generated once for the pool and for the worker
/// context (CRTP). Derived defines send(std::uint64_t, M&&), send_to(std::size_t, M&&,
/// std::uint64_t) and for_each_target(fn), and says `using SendOverloads::send;` and
/// `using SendOverloads::send_to;`.
///
/// When M is a std::variant, each call also takes any alternative T of M as it is (exactly
/// T, after removing const and references: see IsAlternativeOf) and wraps it into M. A
/// send that refuses an rvalue alternative (`full`, `closed`, `invalid`) moves it back
/// into the caller's object, as a refused M stays with the caller. Other values that
/// convert to M still reach the M overloads; for a non-variant M these overloads do not
/// exist.
template <class Derived, class M>
class SendOverloads {
 public:
  /// Sends a copy of `msg` to the owner of `key`.
  SendResult send(std::uint64_t key, const M& msg) requires std::is_copy_constructible_v<M> {
    M copy(msg);
    return self().send(key, std::move(copy));
  }
  /// With a string, byte-span or user key: routes on sn::routing_key(key), which is also
  /// the envelope's key.
  template <class K>
  requires(!std::is_integral_v<K> && !std::is_enum_v<K>) SendResult send(const K& key, M&& msg)
  noexcept { return self().send(routing_key(key), std::move(msg)); }
  /// Sends a copy of `msg` to worker `index`.
  SendResult send_to(std::size_t index, const M& msg, std::uint64_t key = 0) requires std::is_copy_constructible_v<M> {
    M copy(msg);
    return self().send_to(index, std::move(copy), key);
  }
  /// Sends a copy to every running worker. `count` is how many accepted it; `status` is
  /// `ok` when all did, else the first other result.
  SendBatchResult broadcast(const M& msg) requires std::is_copy_constructible_v<M> { return broadcast_copies(msg); }

  /// An alternative of a std::variant M, to the owner of `key`.
  template <class T>
  requires IsAlternativeOf<std::remove_cvref_t<T>, M> SendResult send(std::uint64_t key, T&& msg)
  noexcept(kNothrowWrap<T>) {
    return wrapped(std::forward<T>(msg), [&](M&& m) { return self().send(key, std::move(m)); });
  }
  /// An alternative, with a string, byte-span or user key.
  template <class K, class T>
  requires(!std::is_integral_v<K> && !std::is_enum_v<K> && IsAlternativeOf<std::remove_cvref_t<T>, M>) SendResult
      send(const K& key, T&& msg)
  noexcept(kNothrowWrap<T>) { return send(routing_key(key), std::forward<T>(msg)); }
  /// An alternative, to worker `index`.
  template <class T>
  requires IsAlternativeOf<std::remove_cvref_t<T>, M> SendResult send_to(std::size_t index, T&& msg,
                                                                         std::uint64_t key = 0)
  noexcept(kNothrowWrap<T>) {
    return wrapped(std::forward<T>(msg), [&](M&& m) { return self().send_to(index, std::move(m), key); });
  }
  /// A copy of an alternative to every running worker, as broadcast(const M&).
  template <class T>
  requires IsAlternativeOf<T, M> && std::is_copy_constructible_v<T> SendBatchResult broadcast(const T& msg) {
    return broadcast_copies(msg);
  }

 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }

  template <class T>
  static constexpr bool kNothrowWrap = std::is_nothrow_constructible_v<std::remove_cvref_t<T>, T&&>&&
      std::is_nothrow_move_assignable_v<std::remove_cvref_t<T>>;

  /// Wraps `msg` into M and hands that to `send`; moves a refused rvalue back into `msg`.
  template <class T, class Send>
  static SendResult wrapped(T&& msg, Send&& send) noexcept(kNothrowWrap<T>) {
    using A = std::remove_cvref_t<T>;
    M m(std::in_place_type<A>, std::forward<T>(msg));
    const SendResult r = send(std::move(m));
    if constexpr (!std::is_lvalue_reference_v<T> && !std::is_const_v<std::remove_reference_t<T>> &&
                  std::is_move_assignable_v<A>) {
      if (r == SendResult::full || r == SendResult::closed || r == SendResult::invalid) [[unlikely]] {
        if (A* back = std::get_if<A>(&m)) msg = std::move(*back);
      }
    }
    return r;
  }

  /// A copy of `msg` (an M or an alternative) to each target, through send_to.
  template <class V>
  SendBatchResult broadcast_copies(const V& msg) {
    SendBatchResult result{0, SendResult::ok};
    self().for_each_target([&](std::size_t j) {
      const SendResult r = send_to(j, msg);
      if (r == SendResult::ok) {
        ++result.count;
      } else if (result.status == SendResult::ok) {
        result.status = r;
      }
    });
    return result;
  }
};

}  // namespace sn::detail
