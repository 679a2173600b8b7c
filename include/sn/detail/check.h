// Internal: contract checks.
//
// SN_CHECK guards contracts whose violation would corrupt state; it stays on in release
// builds, prints where and why, and aborts. Expected outcomes (full, empty, closed, bad
// configuration) never go through it: they are results or absl::Status values.
#pragma once

#include <atomic>

namespace sn::detail {

[[noreturn]] void check_failed(const char* condition, const char* message, const char* file, int line) noexcept;

/// Debug builds only: catches two threads using one handle at the same time, which the
/// channel contracts forbid ("a handle is used by one thread at a time").
class RoleGuard {
 public:
#ifndef NDEBUG
  class Scope {
   public:
    Scope(std::atomic<bool>& busy, const char* role) noexcept : busy_(busy) {
      if (busy_.exchange(true, std::memory_order_acquire)) {
        check_failed("!busy", role, __FILE__, __LINE__);
      }
    }
    ~Scope() { busy_.store(false, std::memory_order_release); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    std::atomic<bool>& busy_;
  };
  Scope enter(const char* role) noexcept { return Scope(busy_, role); }

 private:
  std::atomic<bool> busy_{false};
#else
  struct Scope {};
  Scope enter(const char*) noexcept { return {}; }
#endif
};

}  // namespace sn::detail

#define SN_CHECK(condition, message)                                       \
  do {                                                                     \
    if (!(condition)) [[unlikely]]                                         \
      ::sn::detail::check_failed(#condition, message, __FILE__, __LINE__); \
  } while (false)
