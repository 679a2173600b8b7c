// Fuzzes one channel kind on a single thread against a model. SN_FUZZ_KIND picks the
// kind (0 SPSC, 1 MPSC, 2 MPMC); CMake builds this file once per kind.
//
// Input: a capacity byte (small ones, 0, and huge invalid ones), a wait-policy byte, then
// operations, each an opcode byte and its arguments. The model is the list of values
// inside (a deque), the closed flag, how many handles of each side are live, and the
// stats counters. After every operation the harness checks the exact result the model
// predicts, the values received (FIFO), that a failed send left the value with the
// caller, the handles' view of the channel, and the number of live payloads. Payloads
// own heap memory, so a leak, a double destroy or a use after free also shows up under
// AddressSanitizer. Every mismatch aborts.
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fuzz_support.h"
#include "sn/channel/channel.h"

#ifndef SN_FUZZ_KIND
#error "SN_FUZZ_KIND must be 0 (SPSC), 1 (MPSC) or 2 (MPMC)"
#endif

namespace {

constexpr sn::ChannelKind K = SN_FUZZ_KIND == 0   ? sn::ChannelKind::spsc
                              : SN_FUZZ_KIND == 1 ? sn::ChannelKind::mpsc
                                                  : sn::ChannelKind::mpmc;
constexpr bool kCopyableSenders = K != sn::ChannelKind::spsc;
constexpr bool kCopyableReceivers = K == sn::ChannelKind::mpmc;
// channel.h: capacity 0, or more than 2^30 slots, is an InvalidArgument error.
constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 30;
constexpr std::size_t kSlots = 3;                            // handles of each side the harness juggles
constexpr std::size_t kMaxOps = 4096;                        // per input
constexpr std::uint64_t kSentinel = std::uint64_t{1} << 63;  // values no send ever uses

// ---------------------------------------------------------------- the message type

std::int64_t g_live_payloads = 0;

/// Heap memory behind every message; counts its live instances.
struct Payload {
  explicit Payload(std::uint64_t v) noexcept : value(v), check(~v) { ++g_live_payloads; }
  ~Payload() {
    --g_live_payloads;
    check = value;  // a second destruction or a stale read no longer matches
  }
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;
  std::uint64_t value;
  std::uint64_t check;
};

/// A message that owns a payload: moves hand it over, copies deep-copy it.
struct Msg {
  Msg() noexcept = default;
  explicit Msg(std::uint64_t v) : payload(std::make_unique<Payload>(v)) {}
  Msg(const Msg& other) : payload(other.payload ? std::make_unique<Payload>(other.payload->value) : nullptr) {}
  Msg& operator=(const Msg& other) {
    if (this != &other) payload = other.payload ? std::make_unique<Payload>(other.payload->value) : nullptr;
    return *this;
  }
  Msg(Msg&&) noexcept = default;
  Msg& operator=(Msg&&) noexcept = default;
  ~Msg() = default;

  bool holds(std::uint64_t v) const noexcept { return payload && payload->value == v && payload->check == ~v; }
  bool moved_from() const noexcept { return payload == nullptr; }
  std::string describe() const {
    if (!payload) return "(moved-from)";
    return std::to_string(payload->value) + (payload->check == ~payload->value ? "" : " (corrupt)");
  }

  std::unique_ptr<Payload> payload;
};

using Tx = sn::Sender<Msg, K>;
using Rx = sn::Receiver<Msg, K>;

struct Boom {};  // thrown by consume callbacks

// ---------------------------------------------------------------- the model

struct Model {
  bool alive = false;  // a ring exists (some handle refers to it)
  std::deque<std::uint64_t> inside;
  bool closed = false;
  std::uint64_t capacity = 0;
  int senders = 0;    // live sender handles
  int receivers = 0;  // live receiver handles
  std::uint64_t sent = 0, received = 0, discarded = 0, send_full = 0, send_closed = 0, send_blocked = 0;

  bool full() const noexcept { return inside.size() >= capacity; }
  std::uint64_t room() const noexcept { return capacity - inside.size(); }

  /// A handle went away; the last one of a side closes the channel, the last receiver
  /// also destroys whatever is inside (counted as discarded), and the last of all
  /// destroys the channel.
  void drop_sender() noexcept {
    if (--senders == 0) closed = true;
    settle();
  }
  void drop_receiver() noexcept {
    if (--receivers == 0) {
      closed = true;
      discarded += inside.size();
      inside.clear();
    }
    settle();
  }
  void settle() noexcept {
    if (senders == 0 && receivers == 0 && alive) {
      alive = false;
      inside.clear();
    }
  }

  /// What a receive of up to `n` values reports when it takes `k` of them.
  sn::RecvResult recv_status(std::uint64_t k) const noexcept {
    if (k > 0) return sn::RecvResult::ok;
    return closed && inside.empty() ? sn::RecvResult::closed : sn::RecvResult::empty;
  }
};

class Harness {
 public:
  explicit Harness(sn::fuzz::Bytes& in) : in_(in) {}

  void run() {
    create();
    for (std::size_t op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      check_invariants();
    }
    drop_everything();
  }

 private:
  // ---------------------------------------------------------------- set-up

  static std::size_t decode_capacity(std::uint8_t c) noexcept {
    static constexpr std::array<std::uint64_t, 8> kHuge = {
        kMaxCapacity + 1,       kMaxCapacity * 2,       std::uint64_t{1} << 31, (std::uint64_t{1} << 32) + 1,
        std::uint64_t{1} << 40, std::uint64_t{1} << 63, ~std::uint64_t{0},      0};
    switch (c >> 5) {
      case 6: return 32 + std::size_t{c & 31u} * 8;  // up to 280 slots
      case 7: return static_cast<std::size_t>(kHuge[c & 7u]);
      default: return c & 31u;  // 0..31, 0 invalid
    }
  }

  static sn::WaitPolicy decode_wait(std::uint8_t w) noexcept {
    switch (w & 3u) {
      case 0: return sn::WaitPolicy::park_immediately();
      case 1: return {1, 0};
      case 2: return {0, 1};
      default: return {100, 2};  // past the spin phase's first clock check
    }
  }

  void create() {
    const std::size_t requested = decode_capacity(in_.u8());
    const sn::ChannelOptions options = sn::ChannelOptions().with_wait_policy(decode_wait(in_.u8()));
    auto ends = sn::Channel<Msg>::template make<K>(requested, options);
    const bool valid_request = requested != 0 && requested <= kMaxCapacity;
    SN_FUZZ_EQ(ends.ok(), valid_request, "creation with capacity " + std::to_string(requested));
    model_ = Model{};
    if (!ends.ok()) {
      SN_FUZZ_EQ(ends.status().code(), absl::StatusCode::kInvalidArgument, "creation error");
      SN_FUZZ_CHECK(!ends.sender().valid() && !ends.receiver().valid(), "a failed creation gave a live handle");
      // The harness keeps the empty handles: every operation on them must report closed.
    } else {
      model_.alive = true;
      model_.senders = model_.receivers = 1;
      model_.capacity = std::max<std::uint64_t>(std::bit_ceil(static_cast<std::uint64_t>(requested)),
                                                K == sn::ChannelKind::mpmc ? 2 : 1);
      SN_FUZZ_EQ(ends.sender().capacity(), model_.capacity, "capacity of " + std::to_string(requested));
    }
    const std::size_t s = in_.u8() % kSlots, r = in_.u8() % kSlots;
    tx_[s] = std::move(ends.sender());
    rx_[r] = std::move(ends.receiver());
    SN_FUZZ_CHECK(!ends.sender().valid() && !ends.receiver().valid(), "moved-from handles must be empty");
  }

  void drop_everything() {
    for (Tx& t : tx_) {
      if (t.valid()) model_.drop_sender();
      t = Tx();
    }
    for (Rx& r : rx_) {
      if (r.valid()) model_.drop_receiver();
      r = Rx();
    }
    SN_FUZZ_EQ(g_live_payloads, 0, "live payloads once every handle is gone");
  }

  // ---------------------------------------------------------------- one operation

  void step(std::uint8_t op) {
    switch (op % 22) {
      case 0: try_send_move(); break;
      case 1: try_send_copy(); break;
      case 2: send_for(); break;
      case 3: send_blocking(); break;
      case 4: send_batch(); break;
      case 5: try_recv_into_value(); break;
      case 6: try_recv_into_optional(); break;
      case 7: recv_for(); break;
      case 8: recv_blocking(); break;
      case 9: recv_batch(); break;
      case 10: consume(); break;
      case 11: close_from_sender(); break;
      case 12: close_from_receiver(); break;
      case 13: drop_sender(); break;
      case 14: drop_receiver(); break;
      case 15: clone_sender(); break;
      case 16: clone_receiver(); break;
      case 17: move_sender(); break;
      case 18: move_receiver(); break;
      case 19: check_stats(); break;
      case 20: probe(); break;
      default: recreate(); break;
    }
  }

  Tx& sender() noexcept { return tx_[in_.u8() % kSlots]; }
  Rx& receiver() noexcept { return rx_[in_.u8() % kSlots]; }

  static absl::Duration short_timeout(std::uint8_t b) noexcept {
    switch (b & 3u) {
      case 0: return absl::ZeroDuration();
      case 1: return -absl::Nanoseconds(1);
      case 2: return absl::Nanoseconds(1);
      default: return absl::Microseconds(1);  // parks in the kernel with the park-first policy
    }
  }

  /// The result of a one-value send through `t` as the model sees it, updating the
  /// failure counters. `timed`: send_for, which counts a wait for space and times out.
  sn::SendResult predict_send(const Tx& t, bool timed) noexcept {
    if (!t.valid()) return sn::SendResult::closed;  // an empty handle counts nothing
    if (model_.closed) {
      ++model_.send_closed;
      return sn::SendResult::closed;
    }
    if (model_.full()) {
      ++model_.send_full;
      if (timed) {
        ++model_.send_blocked;
        return sn::SendResult::timeout;
      }
      return sn::SendResult::full;
    }
    return sn::SendResult::ok;
  }

  void accept(std::uint64_t v) {
    model_.inside.push_back(v);
    ++model_.sent;
  }

  void expect_sent(sn::SendResult got, sn::SendResult want, const Msg& m, std::uint64_t v, const char* what) {
    SN_FUZZ_EQ(got, want, what);
    if (got == sn::SendResult::ok) {
      SN_FUZZ_CHECK(m.moved_from(), std::string(what) + ": a sent value was not moved from: " + m.describe());
      accept(v);
    } else {
      SN_FUZZ_CHECK(m.holds(v), std::string(what) + ": a failed send changed the caller's value: " + m.describe());
    }
  }

  void try_send_move() {
    Tx& t = sender();
    const std::uint64_t v = next_++;
    Msg m(v);
    const sn::SendResult want = predict_send(t, false);
    expect_sent(t.try_send(std::move(m)), want, m, v, "try_send");
  }

  void try_send_copy() {
    Tx& t = sender();
    const std::uint64_t v = next_++;
    const Msg m(v);
    const sn::SendResult want = predict_send(t, false);
    SN_FUZZ_EQ(t.try_send(m), want, "try_send of a copy");
    SN_FUZZ_CHECK(m.holds(v), "try_send of a copy changed the original: " + m.describe());
    if (want == sn::SendResult::ok) accept(v);
  }

  void send_for() {
    Tx& t = sender();
    const absl::Duration timeout = short_timeout(in_.u8());
    const std::uint64_t v = next_++;
    Msg m(v);
    const sn::SendResult want = predict_send(t, true);
    expect_sent(t.send_for(std::move(m), timeout), want, m, v, "send_for");
  }

  void send_blocking() {
    Tx& t = sender();
    if (t.valid() && !model_.closed && model_.full()) return;  // would wait forever: one thread
    const std::uint64_t v = next_++;
    Msg m(v);
    const sn::SendResult want = predict_send(t, false);
    expect_sent(t.send(std::move(m)), want, m, v, "send");
  }

  void send_batch() {
    Tx& t = sender();
    const std::size_t n = in_.u8() % 40;
    std::vector<Msg> values;
    values.reserve(n);
    const std::uint64_t first = next_;
    for (std::size_t i = 0; i < n; ++i) values.emplace_back(next_++);
    sn::SendBatchResult want{0, sn::SendResult::closed};
    if (!t.valid()) {
      // empty handle: nothing counted
    } else if (n == 0) {
      want = {0, sn::SendResult::ok};
    } else if (model_.closed) {
      ++model_.send_closed;
    } else {
      want.count = std::min<std::uint64_t>(n, model_.room());
      want.status = want.count == n ? sn::SendResult::ok : sn::SendResult::full;
      if (want.status == sn::SendResult::full) ++model_.send_full;
    }
    const sn::SendBatchResult got = t.send_batch(std::span<Msg>(values));
    SN_FUZZ_EQ(got.status, want.status, "send_batch of " + std::to_string(n));
    SN_FUZZ_EQ(got.count, want.count, "send_batch of " + std::to_string(n));
    for (std::size_t i = 0; i < n; ++i) {
      if (i < got.count) {
        SN_FUZZ_CHECK(values[i].moved_from(), "send_batch left a sent value in place at " + std::to_string(i));
        accept(first + i);
      } else {
        SN_FUZZ_CHECK(values[i].holds(first + i),
                      "send_batch changed an unsent value at " + std::to_string(i) + ": " + values[i].describe());
      }
    }
  }

  /// The model's answer to a receive of one value through `r` (pops it when ok).
  sn::RecvResult predict_recv(const Rx& r, bool timed, std::uint64_t& value) noexcept {
    if (!r.valid()) return sn::RecvResult::closed;
    if (!model_.inside.empty()) {
      value = model_.inside.front();
      model_.inside.pop_front();
      ++model_.received;
      return sn::RecvResult::ok;
    }
    if (model_.closed) return sn::RecvResult::closed;
    return timed ? sn::RecvResult::timeout : sn::RecvResult::empty;
  }

  void expect_received(sn::RecvResult got, sn::RecvResult want, const Msg& out, std::uint64_t v, std::uint64_t sentinel,
                       const char* what) {
    SN_FUZZ_EQ(got, want, what);
    if (got == sn::RecvResult::ok) {
      SN_FUZZ_CHECK(out.holds(v), std::string(what) + ": expected " + std::to_string(v) + ", got " + out.describe());
    } else {
      SN_FUZZ_CHECK(out.holds(sentinel), std::string(what) + ": a failed receive changed `out`: " + out.describe());
    }
  }

  void try_recv_into_value() {
    Rx& r = receiver();
    const std::uint64_t sentinel = kSentinel | next_++;
    Msg out(sentinel);
    std::uint64_t v = 0;
    const sn::RecvResult want = predict_recv(r, false, v);
    expect_received(r.try_recv(out), want, out, v, sentinel, "try_recv");
  }

  void try_recv_into_optional() {
    Rx& r = receiver();
    const bool engaged = in_.flag();
    const std::uint64_t sentinel = kSentinel | next_++;
    std::optional<Msg> out;
    if (engaged) out.emplace(sentinel);
    std::uint64_t v = 0;
    const sn::RecvResult want = predict_recv(r, false, v);
    const sn::RecvResult got = r.try_recv(out);
    SN_FUZZ_EQ(got, want, "try_recv into an optional");
    if (got == sn::RecvResult::ok) {
      SN_FUZZ_CHECK(out && out->holds(v), "try_recv into an optional: expected " + std::to_string(v));
    } else if (engaged) {
      SN_FUZZ_CHECK(out && out->holds(sentinel), "a failed try_recv changed the optional");
    } else {
      SN_FUZZ_CHECK(!out, "a failed try_recv engaged the optional");
    }
  }

  void recv_for() {
    Rx& r = receiver();
    const absl::Duration timeout = short_timeout(in_.u8());
    const std::uint64_t sentinel = kSentinel | next_++;
    Msg out(sentinel);
    std::uint64_t v = 0;
    const sn::RecvResult want = predict_recv(r, true, v);
    expect_received(r.recv_for(out, timeout), want, out, v, sentinel, "recv_for");
  }

  void recv_blocking() {
    Rx& r = receiver();
    if (r.valid() && model_.inside.empty() && !model_.closed) return;  // would wait forever
    const std::uint64_t sentinel = kSentinel | next_++;
    Msg out(sentinel);
    std::uint64_t v = 0;
    const sn::RecvResult want = predict_recv(r, false, v);
    expect_received(r.recv(out), want, out, v, sentinel, "recv");
  }

  void recv_batch() {
    Rx& r = receiver();
    const std::size_t n = in_.u8() % 40;
    const std::uint64_t first_sentinel = kSentinel | next_;
    next_ += n;
    std::vector<Msg> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.emplace_back(first_sentinel + i);
    sn::RecvBatchResult want{0, sn::RecvResult::closed};
    std::vector<std::uint64_t> expected;
    if (r.valid()) {
      const std::uint64_t k = std::min<std::uint64_t>(n, model_.inside.size());
      want = {k, model_.recv_status(k)};
      for (std::uint64_t i = 0; i < k; ++i) {
        expected.push_back(model_.inside.front());
        model_.inside.pop_front();
      }
      model_.received += k;
    }
    const sn::RecvBatchResult got = r.recv_batch(std::span<Msg>(out));
    SN_FUZZ_EQ(got.status, want.status, "recv_batch of " + std::to_string(n));
    SN_FUZZ_EQ(got.count, want.count, "recv_batch of " + std::to_string(n));
    for (std::size_t i = 0; i < n; ++i) {
      if (i < got.count) {
        SN_FUZZ_CHECK(out[i].holds(expected[i]), "recv_batch at " + std::to_string(i) + ": expected " +
                                                     std::to_string(expected[i]) + ", got " + out[i].describe());
      } else {
        SN_FUZZ_CHECK(out[i].holds(first_sentinel + i), "recv_batch wrote past its count at " + std::to_string(i));
      }
    }
  }

  void consume() {
    Rx& r = receiver();
    const std::size_t max = in_.u8() % 40;
    const std::uint8_t throw_byte = in_.u8();
    // A callback that throws on its (throw_at + 1)-th value, when throw_at < max.
    const std::size_t throw_at = (throw_byte & 0x80u) != 0 ? (throw_byte & 0x3fu) : max;
    const bool keep = in_.flag();  // the callback takes ownership of the values, or just looks
    std::vector<std::uint64_t> expected(model_.inside.begin(), model_.inside.end());
    std::size_t calls = 0;
    std::vector<Msg> kept;
    auto fn = [&](Msg&& m) {
      SN_FUZZ_CHECK(calls < expected.size(), "consume handed over more values than were inside");
      SN_FUZZ_CHECK(m.holds(expected[calls]), "consume at " + std::to_string(calls) + ": expected " +
                                                  std::to_string(expected[calls]) + ", got " + m.describe());
      if (keep) kept.push_back(std::move(m));
      if (calls++ == throw_at) throw Boom{};
    };
    const std::uint64_t k = r.valid() ? std::min<std::uint64_t>(max, model_.inside.size()) : 0;
    const sn::RecvBatchResult want{k, r.valid() ? model_.recv_status(k) : sn::RecvResult::closed};
    bool threw = false;
    sn::RecvBatchResult got{};
    try {
      got = r.consume(max, fn);
    } catch (const Boom&) {
      threw = true;
    }
    if (throw_at < k) {
      SN_FUZZ_CHECK(threw, "the callback's exception did not reach the caller");
      // The value the callback threw on was handed over: it stays consumed.
      SN_FUZZ_EQ(calls, throw_at + 1, "values handed over before the throw");
    } else {
      SN_FUZZ_CHECK(!threw, "consume threw without the callback throwing");
      SN_FUZZ_EQ(got.status, want.status, "consume of up to " + std::to_string(max));
      SN_FUZZ_EQ(got.count, want.count, "consume of up to " + std::to_string(max));
      SN_FUZZ_EQ(calls, got.count, "callback calls");
    }
    for (std::size_t i = 0; i < calls; ++i) model_.inside.pop_front();
    model_.received += calls;
    if (keep) {
      SN_FUZZ_EQ(kept.size(), calls, "values kept by the callback");
      for (std::size_t i = 0; i < calls; ++i) SN_FUZZ_CHECK(kept[i].holds(expected[i]), "a kept value changed");
    }
  }

  void close_from_sender() {
    Tx& t = sender();
    t.close();
    if (t.valid()) model_.closed = true;
  }

  void close_from_receiver() {
    Rx& r = receiver();
    r.close();
    if (r.valid()) model_.closed = true;
  }

  void drop_sender() {
    Tx& t = sender();
    const bool was_valid = t.valid();
    if (in_.flag()) {
      t = Tx();
    } else {
      Tx gone(std::move(t));
    }
    SN_FUZZ_CHECK(!t.valid(), "a dropped sender is still valid");
    if (was_valid) model_.drop_sender();
  }

  void drop_receiver() {
    Rx& r = receiver();
    const bool was_valid = r.valid();
    if (in_.flag()) {
      r = Rx();
    } else {
      Rx gone(std::move(r));
    }
    SN_FUZZ_CHECK(!r.valid(), "a dropped receiver is still valid");
    if (was_valid) model_.drop_receiver();
  }

  /// Copies sender a over sender b (MPSC, MPMC); for SPSC, whose senders are move-only, moves.
  // Templates on the handle type, so that `if constexpr` discards the copies of a kind
  // whose handles cannot be copied.
  template <class T = Tx>
  void clone_sender() {
    if constexpr (kCopyableSenders) {
      std::array<T, kSlots>& tx = tx_;
      const std::size_t a = in_.u8() % kSlots, b = in_.u8() % kSlots;
      const bool assign = in_.flag();
      if (a == b) {
        if (assign) {
          const T& self = tx[a];
          tx[a] = self;  // self-assignment: a no-op
        }
        return;
      }
      const bool a_valid = tx[a].valid(), b_valid = tx[b].valid();
      if (assign) {
        tx[b] = tx[a];  // the copy is made before b is dropped
        if (a_valid) ++model_.senders;
        if (b_valid) model_.drop_sender();
      } else {
        T copy(tx[a]);
        if (a_valid) ++model_.senders;
        tx[b] = std::move(copy);
        if (b_valid) model_.drop_sender();
      }
      SN_FUZZ_EQ(tx[b].valid(), a_valid, "a copied sender");
    } else {
      move_sender();
    }
  }

  /// Copies receiver a over receiver b (MPMC); for the single-consumer kinds, moves.
  template <class T = Rx>
  void clone_receiver() {
    if constexpr (kCopyableReceivers) {
      std::array<T, kSlots>& rx = rx_;
      const std::size_t a = in_.u8() % kSlots, b = in_.u8() % kSlots;
      const bool assign = in_.flag();
      if (a == b) {
        if (assign) {
          const T& self = rx[a];
          rx[a] = self;
        }
        return;
      }
      const bool a_valid = rx[a].valid(), b_valid = rx[b].valid();
      if (assign) {
        rx[b] = rx[a];
        if (a_valid) ++model_.receivers;
        if (b_valid) model_.drop_receiver();
      } else {
        T copy(rx[a]);
        if (a_valid) ++model_.receivers;
        rx[b] = std::move(copy);
        if (b_valid) model_.drop_receiver();
      }
      SN_FUZZ_EQ(rx[b].valid(), a_valid, "a copied receiver");
    } else {
      move_receiver();
    }
  }

  /// Moves sender a into slot b: b's old handle is dropped first, a becomes empty.
  void move_sender() {
    const std::size_t a = in_.u8() % kSlots, b = in_.u8() % kSlots;
    if (a == b) {
      Tx& self = tx_[a];
      tx_[a] = std::move(self);  // self-move-assignment: a no-op
      return;
    }
    const bool a_valid = tx_[a].valid(), b_valid = tx_[b].valid();
    tx_[b] = std::move(tx_[a]);
    if (b_valid) model_.drop_sender();
    SN_FUZZ_CHECK(!tx_[a].valid(), "a moved-from sender is still valid");
    SN_FUZZ_EQ(tx_[b].valid(), a_valid, "a moved sender");
  }

  void move_receiver() {
    const std::size_t a = in_.u8() % kSlots, b = in_.u8() % kSlots;
    if (a == b) {
      Rx& self = rx_[a];
      rx_[a] = std::move(self);
      return;
    }
    const bool a_valid = rx_[a].valid(), b_valid = rx_[b].valid();
    rx_[b] = std::move(rx_[a]);
    if (b_valid) model_.drop_receiver();
    SN_FUZZ_CHECK(!rx_[a].valid(), "a moved-from receiver is still valid");
    SN_FUZZ_EQ(rx_[b].valid(), a_valid, "a moved receiver");
  }

  void expect_stats(const sn::ChannelStats& s, bool valid, const char* side) {
    const std::string what = std::string("stats() through a ") + side;
    if (!valid) {
      SN_FUZZ_CHECK(s.sent == 0 && s.received == 0 && s.send_full == 0 && s.send_closed == 0 && s.send_blocked == 0 &&
                        s.approx_depth == 0 && s.capacity == 0 && !s.closed && s.discarded == 0,
                    what + " of an empty handle is not all zeros");
      return;
    }
    SN_FUZZ_EQ(s.sent, model_.sent, what + ": sent");
    SN_FUZZ_EQ(s.received, model_.received, what + ": received");
    SN_FUZZ_EQ(s.discarded, model_.discarded, what + ": discarded");
    SN_FUZZ_EQ(s.send_full, model_.send_full, what + ": send_full");
    SN_FUZZ_EQ(s.send_closed, model_.send_closed, what + ": send_closed");
    SN_FUZZ_EQ(s.send_blocked, model_.send_blocked, what + ": send_blocked");
    SN_FUZZ_EQ(s.send_errors(), model_.send_full + model_.send_closed, what + ": send_errors()");
    SN_FUZZ_EQ(s.approx_depth, static_cast<std::uint64_t>(model_.inside.size()), what + ": approx_depth");
    SN_FUZZ_EQ(s.capacity, model_.capacity, what + ": capacity");
    SN_FUZZ_EQ(s.closed, model_.closed, what + ": closed");
  }

  void check_stats() {
    if (in_.flag()) {
      const Tx& t = sender();
      expect_stats(t.stats(), t.valid(), "sender");
    } else {
      const Rx& r = receiver();
      expect_stats(r.stats(), r.valid(), "receiver");
    }
  }

  /// has_room() and ready(): hints with many threads, exact with one.
  void probe() {
    Tx& t = sender();
    const Rx& r = receiver();
    SN_FUZZ_EQ(t.has_room(), t.valid() && !model_.full(), "has_room()");
    SN_FUZZ_EQ(r.ready(), r.valid() && !model_.inside.empty(), "ready()");
  }

  void recreate() {
    drop_everything();
    create();
  }

  // ---------------------------------------------------------------- after every operation

  void check_invariants() {
    int senders = 0, receivers = 0;
    for (const Tx& t : tx_) {
      if (!t.valid()) {
        SN_FUZZ_CHECK(t.is_closed() && t.capacity() == 0 && !static_cast<bool>(t), "an empty sender's view");
        continue;
      }
      ++senders;
      SN_FUZZ_EQ(t.is_closed(), model_.closed, "a sender's is_closed()");
      SN_FUZZ_EQ(t.capacity(), model_.capacity, "a sender's capacity()");
    }
    for (const Rx& r : rx_) {
      if (!r.valid()) {
        SN_FUZZ_CHECK(r.is_closed() && r.capacity() == 0 && !static_cast<bool>(r), "an empty receiver's view");
        continue;
      }
      ++receivers;
      SN_FUZZ_EQ(r.is_closed(), model_.closed, "a receiver's is_closed()");
      SN_FUZZ_EQ(r.capacity(), model_.capacity, "a receiver's capacity()");
    }
    SN_FUZZ_EQ(senders, model_.senders, "live senders");
    SN_FUZZ_EQ(receivers, model_.receivers, "live receivers");
    SN_FUZZ_EQ(model_.alive, senders + receivers > 0, "the channel's existence");
    SN_FUZZ_EQ(g_live_payloads, static_cast<std::int64_t>(model_.inside.size()),
               "live payloads (the values inside the channel)");
  }

  sn::fuzz::Bytes& in_;
  Model model_;
  std::array<Tx, kSlots> tx_;
  std::array<Rx, kSlots> rx_;
  std::uint64_t next_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SN_FUZZ_EQ(g_live_payloads, 0, "live payloads before the input");
  sn::fuzz::Bytes in(data, size);
  Harness(in).run();
  return 0;
}
