// Pipeline: SPSC stages that move data in batches.
//
// A market-data feed handler in three threads, connected by two SPSC channels:
//
//   generate --(RawTrade: a text line)--> parse --(Trade: a struct)--> aggregate
//
//   generate   formats synthetic trades as CSV text ("17,MSFT,41234,300,B"), the way
//              they would arrive from a feed; about 1 line in 256 is malformed on purpose.
//   parse      turns each line into a Trade, and counts (never silently drops) the
//              lines it rejects.
//   aggregate  keeps per-symbol volume, notional and VWAP.
//
// What it shows:
//   - each stage owns its data; the only thing threads share is the channels;
//   - send_batch / recv_batch move up to 64 records per index update, and how to wait
//     when a batch does not fit or nothing is ready (the send_all / recv_some helpers);
//   - ending a pipeline: each stage closes its output when its input is closed and
//     drained, so the end-of-stream travels downstream behind the last record;
//   - verification: the generator computes what the aggregate must come to (per-symbol
//     counts and sums, a checksum over every field, the number of malformed lines), and
//     the aggregate checks that trades arrive in sequence order (SPSC is FIFO).
//
// Usage: pipeline [--records=N]     default 5,000,000 (a few seconds); the ctest uses 20,000.
// Exit code 0 only if every check passes.
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>

#include "sn/sn.h"
#include "support/flags.h"
#include "support/report.h"

ABSL_FLAG(std::uint64_t, records, 5'000'000, "trade records to generate, parse and aggregate, 1..10^12");

namespace {

using sn::examples::mix64;

constexpr std::size_t kChannelCapacity = 1024;  // slots per channel (a power of two)
constexpr std::size_t kBatch = 64;              // records per send_batch / recv_batch
constexpr std::array<std::string_view, 8> kSymbols = {"AAPL", "AMZN", "GOOG", "META", "MSFT", "NFLX", "NVDA", "TSLA"};

// ---------------------------------------------------------------------------------------
// The records.

// One line of the feed. A fixed buffer instead of std::string keeps the record trivially
// copyable: moving it through a channel is a 64-byte copy and never allocates.
struct RawTrade {
  std::uint8_t length = 0;
  std::array<char, 63> text{};

  std::string_view view() const noexcept { return {text.data(), length}; }
};

enum class Side : std::uint8_t { buy, sell };

struct Trade {
  std::uint64_t seq = 0;  // position in the feed; strictly increasing
  std::uint64_t price_cents = 0;
  std::uint32_t quantity = 0;
  std::uint16_t symbol = 0;  // index into kSymbols
  Side side = Side::buy;
};

// A hash of every field of a trade. The generator and the aggregator each sum it over the
// trades they see; equal sums mean that the same trades arrived with the same contents.
std::uint64_t fingerprint(const Trade& t) noexcept {
  return mix64(t.seq ^ mix64(t.price_cents ^ (std::uint64_t{t.quantity} << 32) ^ (std::uint64_t{t.symbol} << 16) ^
                             static_cast<std::uint64_t>(t.side)));
}

// Per-symbol totals: what the aggregate stage computes, and what the generator predicts.
struct SymbolTotals {
  std::uint64_t trades = 0;
  std::uint64_t shares = 0;
  std::uint64_t notional_cents = 0;  // sum of price * quantity

  void add(const Trade& t) noexcept {
    ++trades;
    shares += t.quantity;
    notional_cents += t.price_cents * t.quantity;
  }
  friend bool operator==(const SymbolTotals&, const SymbolTotals&) = default;
};
using Totals = std::array<SymbolTotals, kSymbols.size()>;

// ---------------------------------------------------------------------------------------
// Batch helpers. send_batch and recv_batch never wait; these two add the waiting.
// (std::type_identity_t only stops the span's type from taking part in deduction, so
// callers can pass a std::array or a std::span of any extent.)

// Sends every value in `values`, in order, waiting while the channel is full. Returns
// false if the channel was closed first (the receiving stage gave up): the caller stops.
template <class T, sn::ChannelKind K>
bool send_all(sn::Sender<T, K>& tx, std::span<std::type_identity_t<T>> values) {
  while (!values.empty()) {
    const sn::SendBatchResult r = tx.send_batch(values);  // takes as many as fit
    values = values.subspan(r.count);
    if (r.status == sn::SendResult::ok) return true;
    if (r.status != sn::SendResult::full) return false;  // closed
    // Full: wait for room for the next value with a blocking send, which spins, yields,
    // then parks, instead of busy-retrying send_batch. Then go back to batches.
    if (tx.send(std::move(values.front())) != sn::SendResult::ok) return false;
    values = values.subspan(1);
  }
  return true;
}

// Receives at least one value into out[0, n) and returns n, waiting while the channel is
// empty. Returns 0 once the channel is closed and drained.
template <class T, sn::ChannelKind K>
std::size_t recv_some(sn::Receiver<T, K>& rx, std::span<std::type_identity_t<T>> out) {
  const sn::RecvBatchResult r = rx.recv_batch(out);
  if (r.status == sn::RecvResult::ok) return r.count;
  if (r.status == sn::RecvResult::closed) return 0;
  // Empty: block for one value (spin, yield, park), then take whatever else is ready.
  if (rx.recv(out[0]) != sn::RecvResult::ok) return 0;  // closed while we waited
  return 1 + rx.recv_batch(out.subspan(1)).count;       // 0 more is fine here
}

// ---------------------------------------------------------------------------------------
// Stage 1: generate.

struct GeneratorResult {
  std::uint64_t sent = 0;
  std::uint64_t malformed = 0;  // lines we broke on purpose: parse must reject exactly these
  std::uint64_t checksum = 0;   // sum of fingerprint() over the well-formed trades
  Totals expected{};            // what aggregate must end up with
  sn::examples::Stopwatch clock;
};

// Writes "seq,SYMBOL,price_cents,quantity,side" into `out`. A malformed line leaves out
// the side field.
void format(const Trade& t, bool malformed, RawTrade& out) noexcept {
  char* p = out.text.data();
  char* const end = p + out.text.size();
  auto put_int = [&](std::uint64_t v) { p = std::to_chars(p, end, v).ptr; };  // fits: see static_assert
  auto put_str = [&](std::string_view s) {
    for (char c : s) *p++ = c;
  };
  put_int(t.seq);
  put_str(",");
  put_str(kSymbols[t.symbol]);
  put_str(",");
  put_int(t.price_cents);
  put_str(",");
  put_int(t.quantity);
  if (!malformed) put_str(t.side == Side::buy ? ",B" : ",S");
  out.length = static_cast<std::uint8_t>(p - out.text.data());
}
// 20 digits of seq + 4 symbol + 20 price + 10 quantity + 2 side + 4 commas <= 63.
static_assert(20 + 4 + 20 + 10 + 2 + 4 <= sizeof(RawTrade::text));

void generate(std::uint64_t n, sn::SpscSender<RawTrade>& out, GeneratorResult& result) {
  std::array<RawTrade, kBatch> batch;
  for (std::uint64_t seq = 0; seq < n;) {
    std::size_t k = 0;
    for (; k < batch.size() && seq < n; ++k, ++seq) {
      // Deterministic "random" fields derived from the sequence number.
      const std::uint64_t h = mix64(seq);
      const Trade t{.seq = seq,
                    .price_cents = 1'000 + (h >> 8) % 99'000,
                    .quantity = static_cast<std::uint32_t>(1 + (h >> 32) % 1'000),
                    .symbol = static_cast<std::uint16_t>(h % kSymbols.size()),
                    .side = (h >> 48) & 1 ? Side::sell : Side::buy};
      const bool malformed = (h >> 56) == 0;  // about 1 in 256
      format(t, malformed, batch[k]);
      if (malformed) {
        ++result.malformed;
      } else {
        result.expected[t.symbol].add(t);
        result.checksum += fingerprint(t);
      }
    }
    if (!send_all(out, std::span(batch.data(), k))) break;  // parse stopped early
    result.sent = seq;
  }
  out.close();  // end of stream: parse drains what is queued, then sees `closed`
  result.clock.stop();
}

// ---------------------------------------------------------------------------------------
// Stage 2: parse.

struct ParserResult {
  std::uint64_t received = 0;
  std::uint64_t parsed = 0;
  std::uint64_t rejected = 0;
  sn::examples::Stopwatch clock;
};

// Splits "a,b,c" into fields, one call at a time.
class Fields {
 public:
  explicit Fields(std::string_view line) noexcept : rest_(line) {}
  bool next(std::string_view& field) noexcept {
    if (done_) return false;
    const std::size_t comma = rest_.find(',');
    field = rest_.substr(0, comma);
    if (comma == std::string_view::npos) {
      done_ = true;
    } else {
      rest_.remove_prefix(comma + 1);
    }
    return true;
  }

 private:
  std::string_view rest_;
  bool done_ = false;
};

template <class Int>
bool parse_int(std::string_view s, Int& out) noexcept {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

// Returns false for a malformed line (wrong field count, bad number, unknown symbol).
bool parse_line(std::string_view line, Trade& t) noexcept {
  Fields fields(line);
  std::string_view seq, symbol, price, quantity, side, extra;
  if (!fields.next(seq) || !fields.next(symbol) || !fields.next(price) || !fields.next(quantity) ||
      !fields.next(side) || fields.next(extra)) {
    return false;
  }
  if (!parse_int(seq, t.seq) || !parse_int(price, t.price_cents) || !parse_int(quantity, t.quantity)) {
    return false;
  }
  if (side != "B" && side != "S") return false;
  t.side = side == "B" ? Side::buy : Side::sell;
  for (std::size_t i = 0; i < kSymbols.size(); ++i) {
    if (kSymbols[i] == symbol) {
      t.symbol = static_cast<std::uint16_t>(i);
      return true;
    }
  }
  return false;
}

void parse(sn::SpscReceiver<RawTrade>& in, sn::SpscSender<Trade>& out, ParserResult& result) {
  std::array<RawTrade, kBatch> lines;
  std::array<Trade, kBatch> trades;
  for (;;) {
    const std::size_t n = recv_some(in, lines);
    if (n == 0) break;  // generate closed the channel and we have drained it
    result.received += n;
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (parse_line(lines[i].view(), trades[k])) {
        ++k;
      } else {
        ++result.rejected;  // counted, and checked against the generator's count
      }
    }
    if (!send_all(out, std::span(trades.data(), k))) break;  // aggregate stopped early
    result.parsed += k;
  }
  // Close both sides: downstream learns the stream ended; upstream, if we stopped early,
  // gets `closed` instead of waiting forever for room.
  out.close();
  in.close();
  result.clock.stop();
}

// ---------------------------------------------------------------------------------------
// Stage 3: aggregate.

struct AggregatorResult {
  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;  // trades whose seq was not above the previous one
  std::uint64_t checksum = 0;
  Totals totals{};
  sn::examples::Stopwatch clock;
};

void aggregate(sn::SpscReceiver<Trade>& in, AggregatorResult& result) {
  std::array<Trade, kBatch> trades;
  bool first = true;
  std::uint64_t last_seq = 0;
  for (;;) {
    const std::size_t n = recv_some(in, trades);
    if (n == 0) break;
    for (const Trade& t : std::span(trades.data(), n)) {
      if (!first && t.seq <= last_seq) ++result.out_of_order;
      first = false;
      last_seq = t.seq;
      result.totals[t.symbol].add(t);
      result.checksum += fingerprint(t);
    }
    result.received += n;
  }
  in.close();
  result.clock.stop();
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 0;
  if (!sn::examples::parse_flags(argc, argv,
                                 "runs trade records through a three-stage SPSC pipeline (generate -> parse -> "
                                 "aggregate) and checks the aggregate") ||
      !sn::examples::read_flag(FLAGS_records, 1, 1'000'000'000'000, n)) {
    return sn::examples::kUsageError;
  }

  // Two SPSC channels. Creation fails only for a bad capacity or out of memory.
  auto raw = sn::Channel<RawTrade>::spsc(kChannelCapacity);
  auto parsed = sn::Channel<Trade>::spsc(kChannelCapacity);
  if (!raw.ok() || !parsed.ok()) {
    std::fprintf(stderr, "cannot create channels: %s %s\n", raw.status().ToString().c_str(),
                 parsed.status().ToString().c_str());
    return 2;
  }
  // main keeps the handles (so it can read their stats at the end) and lends each one to
  // exactly one stage thread: SPSC means one sending thread and one receiving thread.
  sn::SpscSender<RawTrade>& raw_tx = raw.sender();
  sn::SpscReceiver<RawTrade>& raw_rx = raw.receiver();
  sn::SpscSender<Trade>& trade_tx = parsed.sender();
  sn::SpscReceiver<Trade>& trade_rx = parsed.receiver();

  std::printf("pipeline: %s records, generate -> parse -> aggregate, batches of %zu\n",
              sn::examples::grouped(n).c_str(), kBatch);
  GeneratorResult gen;
  ParserResult par;
  AggregatorResult agg;
  {
    std::jthread generator([&] { generate(n, raw_tx, gen); });
    std::jthread parser([&] { parse(raw_rx, trade_tx, par); });
    std::jthread aggregator([&] { aggregate(trade_rx, agg); });
  }  // jthreads join here; everything the stages wrote is now visible to main

  sn::examples::print_rate("generate", gen.sent, "records", gen.clock.seconds());
  sn::examples::print_rate("parse", par.received, "records", par.clock.seconds());
  sn::examples::print_rate("aggregate", agg.received, "trades", agg.clock.seconds());

  std::printf("\n  %-6s %12s %16s %10s\n", "symbol", "trades", "shares", "VWAP");
  for (std::size_t s = 0; s < kSymbols.size(); ++s) {
    const SymbolTotals& t = agg.totals[s];
    const double vwap = t.shares ? static_cast<double>(t.notional_cents) / t.shares / 100 : 0.0;
    std::printf("  %-6.*s %12s %16s %10.2f\n", static_cast<int>(kSymbols[s].size()), kSymbols[s].data(),
                sn::examples::grouped(t.trades).c_str(), sn::examples::grouped(t.shares).c_str(), vwap);
  }

  sn::examples::print_channel_table(
      {{"generate->parse (spsc)", raw_rx.stats()}, {"parse->aggregate (spsc)", trade_rx.stats()}});

  sn::examples::Checks check;
  check.expect(gen.sent == n, "generate sent %llu of %llu records", static_cast<unsigned long long>(gen.sent),
               static_cast<unsigned long long>(n));
  check.expect(par.received == gen.sent, "parse received %llu of the %llu records sent",
               static_cast<unsigned long long>(par.received), static_cast<unsigned long long>(gen.sent));
  check.expect(par.rejected == gen.malformed, "parse rejected %llu lines, %llu were malformed",
               static_cast<unsigned long long>(par.rejected), static_cast<unsigned long long>(gen.malformed));
  check.expect(agg.received == par.parsed, "aggregate received %llu of the %llu trades parsed",
               static_cast<unsigned long long>(agg.received), static_cast<unsigned long long>(par.parsed));
  check.expect(agg.out_of_order == 0, "%llu trades arrived out of sequence order",
               static_cast<unsigned long long>(agg.out_of_order));
  check.expect(agg.checksum == gen.checksum, "trade checksum %016llx, expected %016llx",
               static_cast<unsigned long long>(agg.checksum), static_cast<unsigned long long>(gen.checksum));
  for (std::size_t s = 0; s < kSymbols.size(); ++s) {
    check.expect(agg.totals[s] == gen.expected[s], "totals for %.*s differ from the generator's",
                 static_cast<int>(kSymbols[s].size()), kSymbols[s].data());
  }
  return check.finish();
}
