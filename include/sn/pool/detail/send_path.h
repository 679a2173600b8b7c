// Internal: what the pool's two kinds of sender (any thread, and a worker's context) share:
// the decision of what a full destination means under each FullPolicy, and the overloads
// every send entry point offers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "sn/channel/result.h"
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
  SendBatchResult broadcast(const M& msg) requires std::is_copy_constructible_v<M> {
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

 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

}  // namespace sn::detail
