// Compile-time contracts of the handles: which are copyable, which operations are
// noexcept, and the aliases of each kind.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"
#include "channel_test_support.h"
#include "gtest/gtest.h"
#include "sn/channel/channel.h"

namespace sn::test {
namespace {

// ---------------------------------------------------------------- copyability

static_assert(!std::is_copy_constructible_v<SpscSender<int>>, "SPSC senders are move-only");
static_assert(!std::is_copy_assignable_v<SpscSender<int>>);
static_assert(!std::is_copy_constructible_v<SpscReceiver<int>>, "SPSC receivers are move-only");
static_assert(!std::is_copy_assignable_v<SpscReceiver<int>>);
static_assert(std::is_copy_constructible_v<MpscSender<int>>, "MPSC senders are copyable");
static_assert(std::is_copy_assignable_v<MpscSender<int>>);
static_assert(!std::is_copy_constructible_v<MpscReceiver<int>>, "MPSC receivers are move-only");
static_assert(!std::is_copy_assignable_v<MpscReceiver<int>>);
static_assert(std::is_copy_constructible_v<MpmcSender<int>>, "MPMC senders are copyable");
static_assert(std::is_copy_assignable_v<MpmcSender<int>>);
static_assert(std::is_copy_constructible_v<MpmcReceiver<int>>, "MPMC receivers are copyable");
static_assert(std::is_copy_assignable_v<MpmcReceiver<int>>);

template <ChannelKind K>
constexpr bool kHandlesMoveWithoutThrowing =
    std::is_nothrow_move_constructible_v<Sender<int, K>>&& std::is_nothrow_move_assignable_v<Sender<int, K>>&&
        std::is_nothrow_move_constructible_v<Receiver<int, K>>&& std::is_nothrow_move_assignable_v<Receiver<int, K>>&&
            std::is_nothrow_destructible_v<Sender<int, K>>&& std::is_nothrow_destructible_v<Receiver<int, K>>;
static_assert(kHandlesMoveWithoutThrowing<ChannelKind::spsc>);
static_assert(kHandlesMoveWithoutThrowing<ChannelKind::mpsc>);
static_assert(kHandlesMoveWithoutThrowing<ChannelKind::mpmc>);

// ---------------------------------------------------------------- noexcept operations

template <class T, ChannelKind K>
constexpr bool
    kHotPathIsNoexcept =
        noexcept(std::declval<Sender<T, K>&>().try_send(std::declval<T&&>())) && noexcept(std::declval<Sender<T, K>&>().send(std::declval<T&&>())) && noexcept(std::
                                                                                                                                                                   declval<
                                                                                                                                                                       Sender<T, K>&>()
                                                                                                                                                                       .send_for(std::declval<T&&>(), std::
                                                                                                                                                                                                          declval<absl::Duration>())) && noexcept(std::declval<Sender<T,
                                                                                                                                                                                                                                                                      K>&>()
                                                                                                                                                                                                                                                      .send_batch(
                                                                                                                                                                                                                                                          std::
                                                                                                                                                                                                                                                              declval<std::span<T>>())) && noexcept(std::
                                                                                                                                                                                                                                                                                                        declval<Sender<
                                                                                                                                                                                                                                                                                                            T,
                                                                                                                                                                                                                                                                                                            K>&>()
                                                                                                                                                                                                                                                                                                            .close()) && noexcept(std::
                                                                                                                                                                                                                                                                                                                                      declval<const Sender<
                                                                                                                                                                                                                                                                                                                                          T,
                                                                                                                                                                                                                                                                                                                                          K>&>()
                                                                                                                                                                                                                                                                                                                                          .stats()) && noexcept(std::
                                                                                                                                                                                                                                                                                                                                                                    declval<Receiver<
                                                                                                                                                                                                                                                                                                                                                                        T,
                                                                                                                                                                                                                                                                                                                                                                        K>&>()
                                                                                                                                                                                                                                                                                                                                                                        .try_recv(std::
                                                                                                                                                                                                                                                                                                                                                                                      declval<T&>())) && noexcept(std::
                                                                                                                                                                                                                                                                                                                                                                                                                      declval<Receiver<T, K>&>()
                                                                                                                                                                                                                                                                                                                                                                                                                          .try_recv(std::declval<
                                                                                                                                                                                                                                                                                                                                                                                                                                    std::
                                                                                                                                                                                                                                                                                                                                                                                                                                        optional<T>&>())) && noexcept(std::declval<Receiver<T,
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            K>&>()
                                                                                                                                                                                                                                                                                                                                                                                                                                                                          .recv(std::
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    declval<
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        T&>())) && noexcept(std::declval<Receiver<T, K>&>()
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                .recv_for(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    std::
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        declval<
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            T&>(),
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    std::declval<
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        absl::Duration>())) && noexcept(std::
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            declval<Receiver<
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                T,
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                K>&>()
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                .recv_batch(std::
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                declval<std::
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            span<
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                T>>())) && noexcept(std::
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        declval<Receiver<
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            T,
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            K>&>()
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            .close()) && noexcept(std::
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      declval<
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          const Receiver<
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              T, K>&>()
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          .stats());

struct NothrowMovable {
  NothrowMovable() = default;
  NothrowMovable(NothrowMovable&&) noexcept = default;
  NothrowMovable& operator=(NothrowMovable&&) noexcept = default;
  std::unique_ptr<int> p;
};

static_assert(kHotPathIsNoexcept<int, ChannelKind::spsc>);
static_assert(kHotPathIsNoexcept<int, ChannelKind::mpsc>);
static_assert(kHotPathIsNoexcept<int, ChannelKind::mpmc>);
static_assert(kHotPathIsNoexcept<std::unique_ptr<int>, ChannelKind::spsc>);
static_assert(kHotPathIsNoexcept<std::unique_ptr<int>, ChannelKind::mpsc>);
static_assert(kHotPathIsNoexcept<std::unique_ptr<int>, ChannelKind::mpmc>);
static_assert(kHotPathIsNoexcept<std::string, ChannelKind::spsc>);
static_assert(kHotPathIsNoexcept<std::string, ChannelKind::mpsc>);
static_assert(kHotPathIsNoexcept<std::string, ChannelKind::mpmc>);
static_assert(kHotPathIsNoexcept<NothrowMovable, ChannelKind::mpmc>);
static_assert(kHotPathIsNoexcept<Tracked, ChannelKind::spsc>);

// Copying sends are noexcept exactly when copying T is.
static_assert(noexcept(std::declval<SpscSender<int>&>().try_send(std::declval<const int&>())));
static_assert(!noexcept(std::declval<MpscSender<std::string>&>().try_send(std::declval<const std::string&>())));

// Copying a sender allocates its counter cell and may throw; copying an MPMC receiver does not.
static_assert(!std::is_nothrow_copy_constructible_v<MpscSender<int>>);
static_assert(std::is_nothrow_copy_constructible_v<MpmcReceiver<int>>);

// ---------------------------------------------------------------- aliases and results

static_assert(std::is_same_v<SpscSender<int>, Sender<int, ChannelKind::spsc>>);
static_assert(std::is_same_v<MpscReceiver<int>, Receiver<int, ChannelKind::mpsc>>);
static_assert(SpscSender<int>::kind == ChannelKind::spsc);
static_assert(MpmcReceiver<int>::kind == ChannelKind::mpmc);
static_assert(std::is_same_v<MpmcSender<std::string>::value_type, std::string>);
static_assert(std::is_same_v<decltype(Channel<int>::spsc(1)), Channel<int>::EndpointsOf<ChannelKind::spsc>>);
static_assert(std::tuple_size_v<decltype(Channel<int>::mpmc(1))> == 2);
static_assert(std::is_same_v<std::tuple_element_t<0, decltype(Channel<int>::mpsc(1))>, MpscSender<int>>);
static_assert(std::is_same_v<std::tuple_element_t<1, decltype(Channel<int>::mpsc(1))>, MpscReceiver<int>>);

static_assert(ChannelStats{.send_full = 2, .send_closed = 3}.send_errors() == 5);
static_assert(WaitPolicy::park_immediately().spin_iterations == 0);
static_assert(WaitPolicy::park_immediately().yield_iterations == 0);
static_assert(WaitPolicy::park_immediately() != WaitPolicy{});

TEST(ChannelTraits, AreCheckedAtCompileTime) {
  // Everything in this file is a static_assert; reaching here means they all held.
  SUCCEED();
}

TEST(ChannelOptionsBuilder, SetsTheWaitPolicy) {
  const ChannelOptions options = ChannelOptions{}.with_wait_policy(WaitPolicy::low_latency());
  EXPECT_EQ(options.wait, WaitPolicy::low_latency());
  auto ch = open<int, ChannelKind::mpmc>(4, options);
  EXPECT_TRUE(ch.tx.valid());
}

}  // namespace
}  // namespace sn::test
