// Internal: what "an alternative of a std::variant message" means, for the send overloads
// and for the dispatch of handlers by alternative. Type-only; depends on nothing in sn.
#pragma once

#include <cstddef>
#include <type_traits>
#include <variant>

namespace sn::detail {

/// Whether M is a std::variant.
template <class M>
inline constexpr bool kIsVariant = false;
template <class... Ts>
inline constexpr bool kIsVariant<std::variant<Ts...>> = true;

/// How many of M's alternatives are exactly T (0 when M is not a std::variant).
template <class T, class M>
inline constexpr std::size_t kAlternativeCount = 0;
template <class T, class... Ts>
inline constexpr std::size_t kAlternativeCount<T, std::variant<Ts...>> = (std::size_t{std::is_same_v<T, Ts>} + ... + 0);

/// T is exactly one alternative of the std::variant M: the same type, not one that
/// converts (so that, for std::variant<int, std::string>, a `const char*` is not an
/// alternative and an `int` is only `int`). A type that appears twice in M is not one
/// either: a value of it could not say which alternative it means. Callers pass
/// std::remove_cvref_t of what they were given.
template <class T, class M>
concept IsAlternativeOf = kIsVariant<M> && kAlternativeCount<T, M>
== 1;

}  // namespace sn::detail
