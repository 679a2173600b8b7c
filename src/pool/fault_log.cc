// The default fault observer: one line per fault on stderr, rate-limited per pool.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sn/pool/supervision.h"

namespace sn {
namespace {

class StderrFaultLog {
 public:
  explicit StderrFaultLog(int per_second) noexcept : per_second_(per_second < 1 ? 1 : per_second) {}
  StderrFaultLog(const StderrFaultLog&) = delete;
  StderrFaultLog& operator=(const StderrFaultLog&) = delete;
  ~StderrFaultLog() { flush_suppressed(); }

  void write(const Fault& f) {
    std::string line;
    {
      std::lock_guard lock(mu_);
      const absl::Time now = absl::Now();
      if (now - window_start_ >= absl::Seconds(1)) {
        line = suppressed_line();
        window_start_ = now;
        shown_ = 0;
      }
      if (shown_ >= per_second_) {
        if (suppressed_++ == 0) pool_ = std::string(f.pool);
        return;
      }
      ++shown_;
      absl::StrAppend(&line, describe(f), "\n");
    }
    std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line, outside the lock
  }

 private:
  // Under mu_: the summary of the faults not shown, and resets the count.
  std::string suppressed_line() {
    if (suppressed_ == 0) return {};
    std::string s = absl::StrCat("sn: pool \"", pool_, "\": ", suppressed_, " more fault(s) not shown (at most ",
                                 per_second_, " lines per second)\n");
    suppressed_ = 0;
    return s;
  }
  void flush_suppressed() {
    std::string line;
    {
      std::lock_guard lock(mu_);
      line = suppressed_line();
    }
    if (!line.empty()) std::fwrite(line.data(), 1, line.size(), stderr);
  }

  const int per_second_;
  std::mutex mu_;
  absl::Time window_start_ = absl::InfinitePast();
  int shown_ = 0;
  std::uint64_t suppressed_ = 0;
  std::string pool_;
};

}  // namespace

FaultObserver stderr_fault_observer(int lines_per_second) {
  auto log = std::make_shared<StderrFaultLog>(lines_per_second);
  return [log](const Fault& f) { log->write(f); };
}

}  // namespace sn
