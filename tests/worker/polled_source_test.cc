// PolledSource: inputs a worker polls besides its inbox (WorkerContext::add_source).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "sn/worker_pool.h"
#include "worker_test_support.h"

namespace sn::test {
namespace {

/// What the test and the source share: messages another thread publishes, and what the
/// worker did with the source.
struct Feed {
  std::mutex mu;
  std::vector<std::uint64_t> pending;  // guarded by mu
  std::atomic<bool> closed{false};     // no more will come
  std::atomic<bool> endless{false};    // ready() always: a source that never empties
  std::atomic<int> removed_finished{0}, removed_unfinished{0};
  std::atomic<std::uint64_t> handled{0}, sum{0}, external{0}, keys_ok{0};
  void publish(std::uint64_t v) {
    std::lock_guard lock(mu);
    pending.push_back(v);
  }
};

class VectorSource final : public PolledSource<std::uint64_t> {
 public:
  explicit VectorSource(Feed* feed) : feed_(feed) {}
  bool ready() noexcept override {
    if (feed_->endless.load()) return true;
    std::lock_guard lock(feed_->mu);
    return !feed_->pending.empty();
  }
  std::size_t poll(std::size_t budget, SourceSink<std::uint64_t>& sink) noexcept override {
    if (feed_->endless.load()) {
      for (std::size_t i = 0; i < budget; ++i) sink(0, 0);
      return budget;
    }
    std::vector<std::uint64_t> take;
    {
      std::lock_guard lock(feed_->mu);
      while (!feed_->pending.empty() && take.size() < budget) {
        take.push_back(feed_->pending.front());
        feed_->pending.erase(feed_->pending.begin());
      }
    }
    for (std::uint64_t v : take) sink(v * 10, std::uint64_t{v});
    return take.size();
  }
  bool finished() noexcept override {
    if (!feed_->closed.load()) return false;
    std::lock_guard lock(feed_->mu);
    return feed_->pending.empty();
  }
  absl::Duration max_sleep() const noexcept override { return absl::Microseconds(100); }
  void on_removed(bool finished) noexcept override {
    (finished ? feed_->removed_finished : feed_->removed_unfinished).fetch_add(1);
  }

 private:
  Feed* feed_;
};

struct Polling : Worker<int, std::uint64_t> {
  explicit Polling(Feed* feed) : feed_(feed) {}
  void on_start(int&) {
    if (context().index() != 0) return;
    EXPECT_TRUE(absl::IsInvalidArgument(context().add_source(nullptr)));
    EXPECT_TRUE(context().add_source(std::make_unique<VectorSource>(feed_)).ok());
    EXPECT_EQ(context().source_count(), 1u);
  }
  void handle_message(int&, Envelope<std::uint64_t> e) {
    feed_->handled.fetch_add(1);
    feed_->sum.fetch_add(e.payload);
    if (e.source.is_external()) feed_->external.fetch_add(1);
    if (e.key == e.payload * 10) feed_->keys_ok.fetch_add(1);
  }

 private:
  Feed* feed_;
};

PoolConfig parked_pool() { return PoolConfig().with_num_workers(2).with_wait_policy(WaitPolicy::park_immediately()); }

TEST(PolledSources, MessagesFromASourceAreHandledLikeTheInboxsWithTheirKeysAndAccounted) {
  Feed feed;
  auto pool = create_pool<Polling>(parked_pool(), each_worker_gets<Polling>(&feed));
  ASSERT_NE(pool, nullptr);
  std::uint64_t want = 0;
  for (std::uint64_t v = 1; v <= 5000; ++v) {
    feed.publish(v);  // nobody rings the worker: it must look on its own while parked
    want += v;
  }
  ASSERT_TRUE(wait_until([&] { return feed.handled.load() == 5000; }));
  feed.closed.store(true);
  ASSERT_TRUE(wait_until([&] { return feed.removed_finished.load() == 1; })) << "a finished source is dropped";
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(feed.sum.load(), want);
  EXPECT_EQ(feed.external.load(), 5000u);
  EXPECT_EQ(feed.keys_ok.load(), 5000u) << "each envelope carries the key the source gave";
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.accepted, 5000u) << "a source's messages count as accepted";
  EXPECT_EQ(s.processed, 5000u);
  expect_balanced(s);
  EXPECT_EQ(feed.removed_unfinished.load(), 0);
}

TEST(PolledSources, ASourceThatNeverEmptiesDoesNotKeepThePoolFromShuttingDown) {
  Feed feed;
  feed.endless.store(true);
  auto pool = create_pool<Polling>(parked_pool(), each_worker_gets<Polling>(&feed));
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(wait_until([&] { return feed.handled.load() > 1000; }));
  ASSERT_TRUE(shutdown_or_fail(*pool).ok());
  EXPECT_EQ(feed.removed_unfinished.load(), 1) << "the stopping worker drops its source, unfinished";
  EXPECT_EQ(feed.removed_finished.load(), 0);
  expect_balanced(pool->stats());
}

}  // namespace
}  // namespace sn::test
