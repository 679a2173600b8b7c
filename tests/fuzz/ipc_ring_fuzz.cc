// Fuzzes one sn::ipc ring with both ends in this thread: create_receiver (or
// create_byte_receiver) and an attach through the descriptor (From::fd), then a script
// of operations, some of which SCRIBBLE a value into a word of the shared segment that
// one end writes and the other reads, as a hostile peer process could.
//
// Input: a config byte (bit 0: byte messages; bits 1-3: capacity 2^k; bits 4-5: wait
// policy), a byte with the byte messages' maximum length (1..256), then operations, each
// an opcode byte and its arguments:
//   0 try_send   1 send_for   2 send_batch   3 try_recv   4 recv_for   5 recv_batch
//   6 scribble (target, slot, how, value)    7 close the sender   8 close the receiver
//   9 look (is_closed, close_reason, stats, ready)   10 recreate (a new config byte and
//   maximum follow; once per input, a look after that)
// Until the first scribble a model predicts every result exactly (values in FIFO order,
// full, empty, closed, timeouts, the counts in stats()). After it, the harness checks
// only what must hold whatever the peer wrote: no crash, no read out of bounds (ASan),
// no hang (every wait is bounded), results among the verb's allowed values, counts
// within the request, byte messages within the maximum, stats clamped to the capacity.
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "fuzz_support.h"
#include "sn/ipc/detail/layout.h"
#include "sn/ipc/ipc.h"

namespace {

using sn::RecvResult;
using sn::SendResult;
namespace ipc = sn::ipc;
namespace d = sn::ipc::detail;

constexpr std::size_t kMaxOps = 512;
constexpr std::size_t kMaxBatch = 40;

/// The byte message for value v: its length (up to max) and bytes follow from v.
std::vector<std::byte> bytes_of(std::uint64_t v, std::size_t max) {
  std::vector<std::byte> m(static_cast<std::size_t>(v * 0x9e3779b97f4a7c15ull % (max + 1)));
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<std::byte>(v + i);
  return m;
}

struct Model {
  std::deque<std::uint64_t> inside;
  bool tx_closed = false;  // the sender called close()
  bool rx_closed = false;  // the receiver called close()
  bool tainted = false;    // a scribble happened: no more exact predictions
  std::uint64_t sent = 0, received = 0;
  bool closed() const { return tx_closed || rx_closed; }
};

class Harness {
 public:
  explicit Harness(sn::fuzz::Bytes& in) : in_(in) {}
  ~Harness() { drop(); }

  void run() {
    if (!create()) return;
    for (std::size_t op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      if (!open_) return;
    }
  }

 private:
  // ---------------------------------------------------------------- set-up

  bool create() {
    const std::uint8_t config = in_.u8();
    bytes_ = (config & 1) != 0;
    capacity_ = std::uint64_t{1} << ((config >> 1) & 7);
    max_ = std::size_t{1} + in_.u8();
    static constexpr std::array<sn::WaitPolicy, 4> kWaits = {sn::WaitPolicy{0, 0}, sn::WaitPolicy{1, 0},
                                                             sn::WaitPolicy{0, 1}, sn::WaitPolicy{16, 1}};
    options_ = ipc::Options().with_wait_policy(kWaits[(config >> 4) & 3]).with_hang_timeout(absl::InfiniteDuration());
    model_ = Model{};
    if (!open_ends()) return false;
    const absl::StatusOr<d::Geometry> g = bytes_
                                              ? d::plan(capacity_, max_, 1, d::kFlagBytes, 0)
                                              : d::plan(capacity_, sizeof(std::uint64_t), alignof(std::uint64_t), 0, 0);
    SN_FUZZ_CHECK(g.ok(), "plan");
    slot_bytes_ = g->slot_bytes;
    map_bytes_ = g->segment_bytes;
    void* p = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd(), 0);
    SN_FUZZ_CHECK(p != MAP_FAILED, "mapping the segment");
    map_ = static_cast<std::byte*>(p);
    open_ = true;
    return true;
  }

  bool open_ends() {
    if (bytes_) {
      absl::StatusOr<ipc::ByteReceiver> rx = ipc::create_byte_receiver(capacity_, max_, options_);
      SN_FUZZ_CHECK(rx.ok(), rx.status().ToString());
      absl::StatusOr<ipc::ByteSender> tx = ipc::attach_byte_sender(ipc::From::fd(rx->fd()), max_, options_);
      SN_FUZZ_CHECK(tx.ok(), tx.status().ToString());
      brx_ = std::move(*rx);
      btx_ = std::move(*tx);
      SN_FUZZ_EQ(brx_.capacity(), capacity_, "capacity");
    } else {
      absl::StatusOr<ipc::Receiver<std::uint64_t>> rx = ipc::create_receiver<std::uint64_t>(capacity_, options_);
      SN_FUZZ_CHECK(rx.ok(), rx.status().ToString());
      absl::StatusOr<ipc::Sender<std::uint64_t>> tx =
          ipc::attach_sender<std::uint64_t>(ipc::From::fd(rx->fd()), options_);
      SN_FUZZ_CHECK(tx.ok(), tx.status().ToString());
      rx_ = std::move(*rx);
      tx_ = std::move(*tx);
      SN_FUZZ_EQ(rx_.capacity(), capacity_, "capacity");
    }
    return true;
  }

  int fd() const { return bytes_ ? brx_.fd() : rx_.fd(); }
  const ipc::Endpoint& tx_end() const { return bytes_ ? static_cast<const ipc::Endpoint&>(btx_) : tx_; }
  const ipc::Endpoint& rx_end() const { return bytes_ ? static_cast<const ipc::Endpoint&>(brx_) : rx_; }

  void drop() {
    tx_ = {};
    rx_ = {};
    btx_ = {};
    brx_ = {};
    if (map_ != nullptr) munmap(map_, map_bytes_);
    map_ = nullptr;
    open_ = false;
  }

  /// Mostly none (the deadline has passed when the wait begins); a byte of 0 mod 8 waits 50 us.
  absl::Duration short_timeout() { return in_.u8() % 8 == 0 ? absl::Microseconds(50) : absl::ZeroDuration(); }

  // ---------------------------------------------------------------- operations

  void step(std::uint8_t op) {
    switch (op % 11) {
      case 0: send(false); break;
      case 1: send(true); break;
      case 2: send_batch(); break;
      case 3: recv(false); break;
      case 4: recv(true); break;
      case 5: recv_batch(); break;
      case 6: scribble(); break;
      case 7: close_sender(); break;
      case 8: close_receiver(); break;
      case 9: look(); break;
      default:  // at most once per input: a ring costs system calls (memfd, mmap, munmap)
        if (recreated_) return look();
        recreated_ = true;
        drop();
        (void)create();
        break;
    }
  }

  /// The model's answer to a send of one value (updates it when ok).
  SendResult predict_send(bool timed, bool too_long) {
    if (too_long) return SendResult::invalid;
    if (model_.closed()) return SendResult::closed;
    if (model_.inside.size() >= capacity_) return timed ? SendResult::timeout : SendResult::full;
    return SendResult::ok;
  }

  void send(bool timed) {
    const std::uint64_t v = next_++;
    const bool too_long = bytes_ && in_.u8() == 0xff;  // now and then one byte past the maximum
    SendResult got;
    if (bytes_) {
      std::vector<std::byte> m = too_long ? std::vector<std::byte>(max_ + 1) : bytes_of(v, max_);
      got = timed ? btx_.send_for(m, short_timeout()) : btx_.try_send(m);
    } else {
      got = timed ? tx_.send_for(v, short_timeout()) : tx_.try_send(v);
    }
    if (!model_.tainted) {
      SN_FUZZ_EQ(got, predict_send(timed, too_long), timed ? "send_for" : "try_send");
    } else {
      SN_FUZZ_CHECK(got == SendResult::ok || got == SendResult::closed || got == SendResult::invalid ||
                        got == (timed ? SendResult::timeout : SendResult::full),
                    "a send's result: " + std::string(sn::to_string(got)));
      SN_FUZZ_CHECK((got == SendResult::invalid) == too_long, "invalid for a message of the right size");
    }
    if (got == SendResult::ok) {
      model_.inside.push_back(v);
      ++model_.sent;
    }
  }

  void send_batch() {
    if (bytes_) return send(false);  // byte senders have no batch
    const std::size_t n = in_.u8() % kMaxBatch;
    std::vector<std::uint64_t> values(n);
    for (std::uint64_t& v : values) v = next_++;
    const sn::SendBatchResult got = tx_.send_batch(std::span<const std::uint64_t>(values));
    SN_FUZZ_CHECK(got.count <= n, "send_batch sent more than asked");
    if (!model_.tainted) {
      const std::uint64_t room = model_.closed() ? 0 : capacity_ - model_.inside.size();
      const std::size_t k = n == 0 ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(room, n));
      const SendResult want = n == 0            ? SendResult::ok
                              : model_.closed() ? SendResult::closed
                              : k == n          ? SendResult::ok
                                                : SendResult::full;
      SN_FUZZ_EQ(got.count, k, "send_batch of " + std::to_string(n));
      SN_FUZZ_EQ(got.status, want, "send_batch of " + std::to_string(n));
    } else {
      SN_FUZZ_CHECK(got.status == SendResult::ok || got.status == SendResult::full || got.status == SendResult::closed,
                    "send_batch's result");
    }
    for (std::size_t i = 0; i < got.count; ++i) model_.inside.push_back(values[i]);
    model_.sent += got.count;
  }

  /// Checks a received value (exact mode) and pops it from the model.
  void took(std::uint64_t v, const std::vector<std::byte>* m) {
    if (model_.tainted) {
      if (m != nullptr) SN_FUZZ_CHECK(m->size() <= max_, "a byte message past the maximum");
      return;
    }
    SN_FUZZ_CHECK(!model_.inside.empty(), "received from an empty ring");
    const std::uint64_t want = model_.inside.front();
    model_.inside.pop_front();
    ++model_.received;
    if (m != nullptr) {
      SN_FUZZ_CHECK(*m == bytes_of(want, max_), "byte message " + std::to_string(want));
    } else {
      SN_FUZZ_EQ(v, want, "the value received (FIFO)");
    }
  }

  RecvResult predict_recv(bool timed) const {
    if (!model_.inside.empty()) return RecvResult::ok;
    if (model_.closed()) return RecvResult::closed;
    return timed ? RecvResult::timeout : RecvResult::empty;
  }

  void recv(bool timed) {
    std::uint64_t v = 0;
    std::vector<std::byte> m;
    RecvResult got;
    if (bytes_) {
      got = timed ? brx_.recv_for(m, short_timeout()) : brx_.try_recv(m);
    } else {
      got = timed ? rx_.recv_for(v, short_timeout()) : rx_.try_recv(v);
    }
    if (!model_.tainted) {
      SN_FUZZ_EQ(got, predict_recv(timed), timed ? "recv_for" : "try_recv");
    } else {
      SN_FUZZ_CHECK(got == RecvResult::ok || got == RecvResult::closed ||
                        got == (timed ? RecvResult::timeout : RecvResult::empty),
                    "a receive's result: " + std::string(sn::to_string(got)));
    }
    if (got == RecvResult::ok) took(v, bytes_ ? &m : nullptr);
    if (got != RecvResult::ok && bytes_) SN_FUZZ_CHECK(m.empty(), "a failed receive left bytes");
  }

  void recv_batch() {
    if (bytes_) return recv(false);
    const std::size_t n = in_.u8() % kMaxBatch;
    std::vector<std::uint64_t> out(n + 1, 0);  // one past the request: must stay untouched
    out[n] = 0xabcdef;
    const sn::RecvBatchResult got = rx_.recv_batch(std::span<std::uint64_t>(out.data(), n));
    SN_FUZZ_CHECK(got.count <= n, "recv_batch took more than asked");
    SN_FUZZ_EQ(out[n], std::uint64_t{0xabcdef}, "recv_batch wrote past its span");
    if (!model_.tainted) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(model_.inside.size(), n));
      const RecvResult want = n == 0 ? RecvResult::empty : k != 0 ? RecvResult::ok : predict_recv(false);
      SN_FUZZ_EQ(got.count, k, "recv_batch of " + std::to_string(n));
      SN_FUZZ_EQ(got.status, want, "recv_batch of " + std::to_string(n));
    } else {
      SN_FUZZ_CHECK(got.status == RecvResult::ok || got.status == RecvResult::empty || got.status == RecvResult::closed,
                    "recv_batch's result");
      SN_FUZZ_CHECK(got.status != RecvResult::ok || got.count != 0, "ok with nothing taken");
    }
    for (std::size_t i = 0; i < got.count; ++i) took(out[i], nullptr);
  }

  void close_sender() {
    if (bytes_) {
      btx_.close();
    } else {
      tx_.close();
    }
    model_.tx_closed = true;
  }

  void close_receiver() {
    if (bytes_) {
      brx_.close();
    } else {
      rx_.close();
    }
    model_.rx_closed = true;
  }

  // ---------------------------------------------------------------- looking and scribbling

  void look() {
    const ipc::Endpoint& tx = tx_end();
    const ipc::Endpoint& rx = rx_end();
    const sn::ChannelStats ts = tx.stats(), rs = rx.stats();
    SN_FUZZ_CHECK(ts.approx_depth <= capacity_ && rs.approx_depth <= capacity_, "depth past the capacity");
    SN_FUZZ_CHECK(ts.discarded <= capacity_ && rs.discarded <= capacity_, "discarded past the capacity");
    SN_FUZZ_EQ(ts.capacity, capacity_, "stats capacity");
    const bool ready = bytes_ ? brx_.ready() : rx_.ready();
    if (model_.tainted) return;
    SN_FUZZ_EQ(ts.sent, model_.sent, "sent");
    SN_FUZZ_EQ(rs.received, model_.received, "received");
    SN_FUZZ_EQ(ts.approx_depth, static_cast<std::uint64_t>(model_.inside.size()), "approx_depth");
    SN_FUZZ_EQ(ready, !model_.inside.empty(), "ready()");
    SN_FUZZ_EQ(tx.is_closed(), model_.closed(), "the sender's is_closed()");
    SN_FUZZ_EQ(rx.is_closed(), model_.closed(), "the receiver's is_closed()");
    for (const ipc::CloseReason r : {tx.close_reason(), rx.close_reason()}) {
      const bool closed_reason = r == ipc::CloseReason::closed_here || r == ipc::CloseReason::closed_by_peer;
      SN_FUZZ_CHECK(model_.closed() ? closed_reason : r == ipc::CloseReason::open,
                    "close_reason " + std::string(ipc::to_string(r)));
    }
  }

  std::uint32_t* slot_word(std::uint64_t slot, std::size_t offset) {
    return reinterpret_cast<std::uint32_t*>(map_ + sizeof(d::Control) + (slot % capacity_) * slot_bytes_ + offset);
  }

  void scribble() {
    d::Control* c = reinterpret_cast<d::Control*>(map_);
    const std::uint8_t target = in_.u8();
    const std::uint8_t slot = in_.u8();
    const std::uint8_t how = in_.u8();
    const std::uint64_t raw = in_.u64();
    const std::uint64_t rpos = c->position[1].position.load(std::memory_order_relaxed);
    std::uint64_t v = raw;
    if (how % 4 == 1) v = raw % 8;
    if (how % 4 == 3) v = ~std::uint64_t{0};
    const bool near = how % 4 == 2;  // plausible values: near what the other end expects
    auto u32 = [&](std::atomic<std::uint32_t>& w) {
      w.store(static_cast<std::uint32_t>(v), std::memory_order_relaxed);
    };
    const int side = target % 2;
    switch ((target / 2) % 9) {
      case 0: {
        std::atomic<std::uint64_t>& p = c->position[side].position;
        p.store(near ? p.load(std::memory_order_relaxed) + raw % 8 - 4 : v, std::memory_order_relaxed);
        break;
      }
      case 1: u32(c->state[side].closed); break;
      case 2: u32(c->state[side].pid); break;
      case 3: u32(c->state[side].attached); break;
      case 4: u32(c->state[side].light_barrier); break;
      case 5: c->state[side].discarded.store(v, std::memory_order_relaxed); break;
      case 6: u32(side == 0 ? c->wait[slot % 2].parked : c->wait[slot % 2].wake); break;
      case 7: {  // a sequence word, or a length word, of a slot the receiver reads soon
        std::uint32_t* w = slot_word(rpos + slot % 4, side == 0 ? 0 : 4);
        const std::uint32_t value = near ? static_cast<std::uint32_t>(side == 0 ? rpos + slot % 4 + 1 : max_ + raw % 3)
                                         : static_cast<std::uint32_t>(v);
        std::atomic_ref<std::uint32_t>(*w).store(value, std::memory_order_release);
        break;
      }
      default: reinterpret_cast<std::uint32_t*>(c)[slot % 16] = static_cast<std::uint32_t>(v); break;
    }
    model_.tainted = true;
  }

  sn::fuzz::Bytes& in_;
  bool bytes_ = false;
  bool open_ = false;
  std::uint64_t capacity_ = 1;
  std::size_t max_ = 1;
  ipc::Options options_;
  ipc::Sender<std::uint64_t> tx_;
  ipc::Receiver<std::uint64_t> rx_;
  ipc::ByteSender btx_;
  ipc::ByteReceiver brx_;
  std::byte* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  std::uint32_t slot_bytes_ = 0;
  Model model_;
  std::uint64_t next_ = 1;
  bool recreated_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sn::fuzz::Bytes in(data, size);
  Harness h(in);
  h.run();
  return 0;
}
