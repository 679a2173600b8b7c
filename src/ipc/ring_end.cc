// One end of an inter-process ring: waiting on a shared futex, watching the peer process
// (pidfd), closing, and the paths where the peer did something wrong.
#include "sn/ipc/detail/ring_end.h"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "sn/sync/futex.h"

namespace sn::ipc::detail {
namespace {

std::int64_t coarse_now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr absl::Duration kParkSlice = absl::Milliseconds(10);  // the longest sleep between looks

void shared_futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, absl::Duration timeout) noexcept {
  const timespec ts = absl::ToTimespec(std::max(timeout, absl::ZeroDuration()));
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void shared_futex_wake(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

bool register_global_barrier() noexcept {
  static const bool ok = [] {
    const long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (supported < 0 || (supported & MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0) return false;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
  }();
  return ok;
}

Mapping::~Mapping() {
  if (base != nullptr) munmap(base, bytes);
  if (fd >= 0) ::close(fd);
}

RingEnd::RingEnd(Mapping mapping, const Geometry& g, Role role, const Options& options, int peer_pid) noexcept
    : mapping_(std::move(mapping)),
      ctl_(reinterpret_cast<Control*>(mapping_.base)),
      slots_(mapping_.base + sizeof(Control)),
      capacity_(g.capacity),
      mask_(g.capacity - 1),
      slot_bytes_(g.slot_bytes),
      message_bytes_(g.message_bytes),
      bytes_((g.flags & kFlagBytes) != 0),
      light_barrier_(register_global_barrier()),
      role_(role),
      options_(options),
      peer_pid_(peer_pid) {
  StateLine& me = my_state();
  me.pid.store(static_cast<std::uint32_t>(getpid()), std::memory_order_relaxed);
  me.light_barrier.store(light_barrier_ ? 1 : 0, std::memory_order_relaxed);
  me.attached.store(1, std::memory_order_release);
}

RingEnd::~RingEnd() {
  close();
  my_state().attached.store(0, std::memory_order_release);
  if (pidfd_ >= 0) ::close(pidfd_);
}

SendResult RingEnd::count_closed() noexcept {
  if (closed_ == CloseReason::open) fail(CloseReason::closed_by_peer);
  counters_.add(counters_.send_closed);
  return SendResult::closed;
}

void RingEnd::fail(CloseReason why) noexcept {
  if (closed_ != CloseReason::open) return;
  closed_ = why;
  verdict_.store(why, std::memory_order_relaxed);
  if (why != CloseReason::closed_by_peer) {
    if (role_ == Role::receiver) {  // tell a sender what we leave behind (stats only)
      const std::uint64_t published = ctl_->position[0].position.load(std::memory_order_relaxed);
      const std::uint64_t left = published > pos_ ? std::min(published - pos_, capacity_) : 0;
      my_state().discarded.store(left, std::memory_order_relaxed);
    }
    my_state().closed.store(1, std::memory_order_release);  // [C]
    wake_peer();
  }
}

void RingEnd::close() noexcept {
  if (closed_ == CloseReason::open) {
    fail(CloseReason::closed_here);
  } else if (my_state().closed.load(std::memory_order_relaxed) == 0) {
    my_state().closed.store(1, std::memory_order_release);  // [C]: the peer learns we are gone too
    wake_peer();
  }
}

bool RingEnd::is_closed() const noexcept {
  return verdict_.load(std::memory_order_relaxed) != CloseReason::open ||
         peer_state().closed.load(std::memory_order_acquire) != 0;
}

CloseReason RingEnd::close_reason() const noexcept {
  const CloseReason r = verdict_.load(std::memory_order_relaxed);
  if (r != CloseReason::open) return r;
  return peer_state().closed.load(std::memory_order_acquire) != 0 ? CloseReason::closed_by_peer : CloseReason::open;
}

ChannelStats RingEnd::stats() const noexcept {
  ChannelStats s;
  s.sent = counters_.sent.load(std::memory_order_relaxed);
  s.received = counters_.received.load(std::memory_order_relaxed);
  s.send_full = counters_.send_full.load(std::memory_order_relaxed);
  s.send_closed = counters_.send_closed.load(std::memory_order_relaxed);
  s.send_blocked = counters_.send_blocked.load(std::memory_order_relaxed);
  s.capacity = capacity_;
  s.closed = is_closed();
  // The other side's count comes from shared memory: clamp it, it proves nothing.
  const std::uint64_t published = ctl_->position[0].position.load(std::memory_order_relaxed);
  const std::uint64_t taken = ctl_->position[1].position.load(std::memory_order_relaxed);
  s.approx_depth = published > taken ? std::min(published - taken, capacity_) : 0;
  s.discarded = std::min(ctl_->state[1].discarded.load(std::memory_order_relaxed), capacity_);
  return s;
}

void RingEnd::wake_peer() noexcept {
  WaitLine& w = ctl_->wait[index_of(other(role_))];
  w.wake.fetch_add(1, std::memory_order_release);
  shared_futex_wake(&w.wake);
}

/// Looks at the peer (its closed word, then, rate-limited, its process): true once the
/// channel is closed for this end.
bool RingEnd::peer_gone() noexcept {
  if (closed_ != CloseReason::open) return true;
  if (peer_state().closed.load(std::memory_order_acquire) != 0) {  // [C]
    fail(CloseReason::closed_by_peer);
    return true;
  }
  const std::int64_t now = coarse_now_ns();
  if (now < next_liveness_ns_) return false;
  next_liveness_ns_ = now + absl::ToInt64Nanoseconds(options_.liveness_period);
  if (pidfd_ < 0 && peer_state().attached.load(std::memory_order_acquire) != 0) {
    int pid = peer_pid_;
    if (pid <= 0) pid = static_cast<int>(peer_state().pid.load(std::memory_order_relaxed));
    if (pid > 0 && pid != getpid()) {
      pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
      if (pidfd_ < 0 && errno == ESRCH) {  // it ended before we looked
        fail(CloseReason::peer_exited);
        return true;
      }
      if (pidfd_ >= 0) peer_pid_ = pid;
    }
  }
  if (pidfd_ >= 0) {
    pollfd p{pidfd_, POLLIN, 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP)) != 0) {
      fail(CloseReason::peer_exited);
      return true;
    }
  }
  return false;
}

/// The ring looked full: read the receiver's position again. False if still full (or
/// the channel closed: see closed_).
bool RingEnd::refresh_room() noexcept {
  const std::uint64_t head = ctl_->position[1].position.load(std::memory_order_acquire);  // [B]
  if (head < peer_pos_ || head > pos_) [[unlikely]] {                                     // copy, then validate
    fail(CloseReason::peer_corrupt);
    return false;
  }
  peer_pos_ = head;
  if (pos_ - head < capacity_) {
    stalled_since_ns_ = -1;
    return true;
  }
  if (peer_gone()) return false;
  const std::int64_t now = coarse_now_ns();
  if (stalled_since_ns_ < 0 || stalled_at_ != head) {
    stalled_since_ns_ = now;
    stalled_at_ = head;
  } else if (options_.hang_timeout != absl::InfiniteDuration() &&
             now - stalled_since_ns_ > absl::ToInt64Nanoseconds(options_.hang_timeout)) {
    fail(CloseReason::peer_hung);
  }
  return false;
}

RecvResult RingEnd::corrupt_recv() noexcept {
  fail(CloseReason::peer_corrupt);
  return RecvResult::closed;
}

RecvResult RingEnd::empty_or_closed(void* dst, std::uint32_t* len) noexcept {
  if (closed_ == CloseReason::closed_here || closed_ == CloseReason::peer_corrupt) return RecvResult::closed;
  if (!peer_gone()) return RecvResult::empty;
  // [C]: anything published before the close (or the death) is visible now.
  std::byte* slot = slot_at(pos_);
  if (seq_of(slot).load(std::memory_order_acquire) != static_cast<std::uint32_t>(pos_ + 1)) return RecvResult::closed;
  if (!copy_out(slot, dst, len)) return corrupt_recv();
  release_slots(1);
  return RecvResult::ok;
}

void RingEnd::park(absl::Time deadline) noexcept {
  WaitLine& w = ctl_->wait[index_of(role_)];
  const std::uint32_t seen = w.wake.load(std::memory_order_acquire);
  w.parked.store(1, std::memory_order_relaxed);
  // [D] the sleeper's half: the peer's publication before this barrier is seen below; one
  // after it sees `parked`.
  if (peer_state().light_barrier.load(std::memory_order_relaxed) != 0) {
    syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  const bool can_go =
      role_ == Role::sender ? pos_ - ctl_->position[1].position.load(std::memory_order_acquire) < capacity_ : ready();
  SN_PERTURB_POINT("ipc.park.after_recheck");
  if (!can_go && peer_state().closed.load(std::memory_order_acquire) == 0) {
    const absl::Duration left = std::min(deadline - absl::Now(), kParkSlice);
    if (left > absl::ZeroDuration()) shared_futex_wait(&w.wake, seen, left);
  }
  w.parked.store(0, std::memory_order_relaxed);
}

/// The first two phases of a wait (WaitPolicy): spin, then yield. False once both are
/// used up: then the caller parks.
class WaitPhases {
 public:
  explicit WaitPhases(const WaitPolicy& policy) noexcept : policy_(policy) {}
  bool step() noexcept {
    if (spins_ < policy_.spin_iterations) {
      ++spins_;
      sync::cpu_relax();
      return true;
    }
    if (yields_ < policy_.yield_iterations) {
      ++yields_;
      sched_yield();
      return true;
    }
    return false;
  }

 private:
  const WaitPolicy& policy_;
  std::uint32_t spins_ = 0, yields_ = 0;
};

SendResult RingEnd::send_until(const void* src, std::uint32_t len, absl::Time deadline) noexcept {
  const SendResult r = attempt(src, len);
  if (r != SendResult::full) return r;
  counters_.add(counters_.send_blocked);
  WaitPhases phases(options_.wait);
  for (;;) {
    if (!phases.step()) {
      if (absl::Now() >= deadline) {
        counters_.add(counters_.send_full);
        return SendResult::timeout;
      }
      park(deadline);
    }
    const SendResult again = attempt(src, len);
    if (again != SendResult::full) return again;
  }
}

SendBatchResult RingEnd::send_many(const std::byte* src, std::size_t stride, std::uint32_t len,
                                   std::size_t n) noexcept {
  if (n == 0) return {0, SendResult::ok};
  if (closed_ != CloseReason::open || peer_state().closed.load(std::memory_order_acquire) != 0)
    return {0, count_closed()};
  std::uint64_t room = capacity_ - (pos_ - peer_pos_);
  if (room < n && refresh_room()) room = capacity_ - (pos_ - peer_pos_);
  if (closed_ != CloseReason::open) return {0, count_closed()};
  const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(room, n));
  for (std::size_t i = 0; i < k; ++i) write_slot(src + i * stride, len);
  if (k != 0) publish_done(k);
  if (k < n) counters_.add(counters_.send_full);
  return {k, k == n ? SendResult::ok : SendResult::full};
}

RecvBatchResult RingEnd::recv_many(std::byte* dst, std::size_t stride, std::size_t n) noexcept {
  if (n == 0) return {0, RecvResult::empty};
  std::size_t k = 0;
  std::uint32_t len = 0;
  bool corrupt = false;
  for (; k < n; ++k) {
    std::byte* slot = slot_at(pos_);
    if (seq_of(slot).load(std::memory_order_acquire) != static_cast<std::uint32_t>(pos_ + 1)) break;  // [A]
    if (!copy_out(slot, dst + k * stride, &len)) {
      corrupt = true;
      break;
    }
  }
  if (k != 0) release_slots(k);
  if (corrupt) (void)corrupt_recv();
  if (k != 0) return {k, RecvResult::ok};
  if (corrupt) return {0, RecvResult::closed};
  const RecvResult r = nothing_published() ? RecvResult::empty : empty_or_closed(dst, &len);
  return {r == RecvResult::ok ? std::size_t{1} : std::size_t{0}, r};
}

RecvResult RingEnd::recv_until(void* dst, std::uint32_t* len, absl::Time deadline) noexcept {
  WaitPhases phases(options_.wait);
  for (;;) {
    const RecvResult r = try_recv(dst, len);
    if (r != RecvResult::empty) return r;
    if (!phases.step()) {
      if (absl::Now() >= deadline) return RecvResult::timeout;
      // The full look at the peer before each sleep: try_recv takes it only every 64th
      // empty poll, and a sleep lasts up to a slice.
      if (const RecvResult again = empty_or_closed(dst, len); again != RecvResult::empty) return again;
      park(deadline);
    }
  }
}

}  // namespace sn::ipc::detail
