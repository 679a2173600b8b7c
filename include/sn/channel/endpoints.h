// The result of creating a channel: a status plus the two handles.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"

namespace sn {

/// What Channel<T>::spsc/mpsc/mpmc return: the creation status and, when it is OK, a
/// connected sender and receiver. Supports structured bindings:
///
///   auto [tx, rx] = sn::Channel<int>::spsc(1024);
///
/// If creation failed (capacity 0 or too large, out of memory), status() says why and
/// both handles are empty: every operation on them returns `closed`. Check ok() where a
/// bad capacity is possible, for example when it comes from a configuration file.
template <class Tx, class Rx>
class [[nodiscard]] Endpoints {
 public:
  /// A failed creation: `error` says why, and both handles are empty.
  explicit Endpoints(absl::Status error) noexcept : status_(std::move(error)) {}
  /// A successful creation: the two connected handles.
  Endpoints(Tx tx, Rx rx) noexcept : tx_(std::move(tx)), rx_(std::move(rx)) {}

  /// Whether creation succeeded.
  bool ok() const noexcept { return status_.ok(); }
  /// Why creation failed, or OK.
  const absl::Status& status() const noexcept { return status_; }

  /// The sending handle; empty if creation failed.
  Tx& sender() & noexcept { return tx_; }
  /// The receiving handle; empty if creation failed.
  Rx& receiver() & noexcept { return rx_; }

  /// For structured bindings: element 0 is the sender, element 1 the receiver.
  template <std::size_t I>
  decltype(auto) get() & noexcept {
    if constexpr (I == 0)
      return (tx_);
    else
      return (rx_);
  }
  /// For structured bindings of a temporary: moves the sender (0) or the receiver (1) out.
  template <std::size_t I>
  auto get() && noexcept {
    if constexpr (I == 0)
      return std::move(tx_);
    else
      return std::move(rx_);
  }

 private:
  absl::Status status_;
  Tx tx_;
  Rx rx_;
};

}  // namespace sn

template <class Tx, class Rx>
struct std::tuple_size<sn::Endpoints<Tx, Rx>> : std::integral_constant<std::size_t, 2> {};
template <class Tx, class Rx>
struct std::tuple_element<0, sn::Endpoints<Tx, Rx>> {
  using type = Tx;
};
template <class Tx, class Rx>
struct std::tuple_element<1, sn::Endpoints<Tx, Rx>> {
  using type = Rx;
};
