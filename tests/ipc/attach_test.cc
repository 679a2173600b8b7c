// Attaching: the wrong message size, alignment, type tag, kind or role; an end another
// process holds; descriptors that sn::ipc did not make; and names (publish, attach,
// AlreadyExists, NotFound, cleanup). Each refusal must be an absl::Status whose code and
// message say what is wrong.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc_gtest_support.h"
#include "sn/ipc/ipc.h"

namespace sn::ipc::test {
namespace {

/// Shares a fresh u64 receiver with a helper that attaches as `args` say; returns the
/// helper's report of its failed attach: "<code>|<message>".
std::string failed_attach(const std::vector<std::string>& args) {
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(64);
  EXPECT_TRUE(rx.ok()) << rx.status();
  if (!rx.ok()) return "";
  std::vector<std::string> all = {"--from=socket:3", "--do=none"};
  all.insert(all.end(), args.begin(), args.end());
  Remote r(all);
  EXPECT_TRUE(rx->share(r.sock.ours).ok());
  EXPECT_EQ(r.finish(), kPeerAttachFailed) << r.peer->output();
  return r.peer->value_of("code") + "|" + r.peer->value_of("message");
}

std::string code_text(absl::StatusCode c) { return std::to_string(static_cast<int>(c)); }

TEST(IpcAttach, AWrongMessageSizeIsInvalidArgumentNamingBothShapes) {
  EXPECT_EQ(failed_attach({"--role=sender", "--type=u32"}),
            code_text(absl::StatusCode::kInvalidArgument) +
                "|sn::ipc: the channel's messages are 8 bytes aligned to 8; this process expects 4 aligned to 4");
}

TEST(IpcAttach, AWrongAlignmentIsInvalidArgumentNamingBothShapes) {
  EXPECT_EQ(failed_attach({"--role=sender", "--type=align1"}),
            code_text(absl::StatusCode::kInvalidArgument) +
                "|sn::ipc: the channel's messages are 8 bytes aligned to 8; this process expects 8 aligned to 1");
}

TEST(IpcAttach, AWrongTypeTagIsInvalidArgumentNamingBothTags) {
  EXPECT_EQ(
      failed_attach({"--role=sender", "--tag=42"}),
      code_text(absl::StatusCode::kInvalidArgument) + "|sn::ipc: the channel's type tag is 0; this process expects 42");
}

TEST(IpcAttach, TheCreatorsOwnRoleIsInvalidArgumentSayingToAttachTheOtherEnd) {
  EXPECT_EQ(failed_attach({"--role=receiver"}),
            code_text(absl::StatusCode::kInvalidArgument) +
                "|sn::ipc: the creator took the receiver end; attach the other one");
}

TEST(IpcAttach, ByteMessagesOnATypedChannelAreInvalidArgument) {
  EXPECT_EQ(failed_attach({"--role=sender", "--type=bytes", "--max=8"}),
            code_text(absl::StatusCode::kInvalidArgument) +
                "|sn::ipc: the channel carries a typed message, not byte messages");
}

TEST(IpcAttach, AFailedAttachLeavesTheEndFreeForACorrectOne) {
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(64);
  ASSERT_TRUE(rx.ok()) << rx.status();
  {
    Remote wrong({"--role=sender", "--from=socket:3", "--type=u32", "--do=none"});
    ASSERT_TRUE(rx->share(wrong.sock.ours).ok());
    EXPECT_EQ(wrong.finish(), kPeerAttachFailed) << wrong.peer->output();
  }
  Remote right({"--role=sender", "--from=socket:3", "--do=send", "--count=500", "--seed=8", "--end=close"});
  ASSERT_TRUE(rx->share(right.sock.ours).ok());
  ASSERT_TRUE(right.signalled());
  const Drained d = drain(*rx, 8, patience());
  EXPECT_EQ(d.last, RecvResult::closed);
  EXPECT_EQ(d.sum.count, 500u);
  EXPECT_EQ(d.mismatches, 0u);
  EXPECT_EQ(right.finish(), kPeerOk) << right.peer->output();
}

TEST(IpcAttach, ASecondAttachToAnEndAnotherProcessHoldsIsAlreadyExists) {
  absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(64);
  ASSERT_TRUE(rx.ok()) << rx.status();
  Remote holder({"--role=sender", "--from=socket:3", "--do=hang"});
  ASSERT_TRUE(rx->share(holder.sock.ours).ok());
  ASSERT_TRUE(holder.signalled());
  Remote second({"--role=sender", "--from=socket:3", "--do=none"});
  ASSERT_TRUE(rx->share(second.sock.ours).ok());
  EXPECT_EQ(second.finish(), kPeerAttachFailed) << second.peer->output();
  EXPECT_EQ(second.peer->value_of("code"), code_text(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(second.peer->value_of("message"), "sn::ipc: another process holds the sender end");
  // And from this process, through the descriptor.
  absl::StatusOr<Sender<std::uint64_t>> again = attach_sender<std::uint64_t>(From::fd(rx->fd()));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  // The holder is untouched: the channel is open.
  EXPECT_FALSE(rx->is_closed());
  EXPECT_EQ(holder.finish(), kPeerOk) << holder.peer->output();
}

struct BadSegment {
  const char* kind;
  absl::StatusCode code;
  const char* message;  // a part of the status message
};

TEST(IpcAttach, DescriptorsThatSnIpcDidNotMakeAreRefusedWithAClearError) {
  const BadSegment cases[] = {
      {"unsealed", absl::StatusCode::kFailedPrecondition, "not sealed against shrinking and growing"},
      {"pipe", absl::StatusCode::kFailedPrecondition, "not sealed against shrinking and growing"},
      {"small", absl::StatusCode::kDataLoss, "the segment holds 100 bytes, less than its header"},
      {"truncated", absl::StatusCode::kDataLoss, "; its header needs "},
      {"magic", absl::StatusCode::kInvalidArgument, "not a shared_nothing channel (bad magic)"},
      {"version", absl::StatusCode::kFailedPrecondition, "the channel speaks ABI version 2"},
      {"inconsistent", absl::StatusCode::kDataLoss, "the channel's header is inconsistent"},
      {"nofd", absl::StatusCode::kInvalidArgument, "the socket's peer sent no descriptor"},
  };
  for (const BadSegment& c : cases) {
    SCOPED_TRACE(c.kind);
    Remote r({"--do=bad_fd", std::string("--kind=") + c.kind});
    absl::StatusOr<Sender<std::uint64_t>> tx = attach_sender<std::uint64_t>(From::socket(r.sock.ours));
    EXPECT_EQ(tx.status().code(), c.code) << tx.status();
    EXPECT_TRUE(absl::StrContains(tx.status().message(), c.message)) << tx.status();
    EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
  }
}

TEST(IpcAttach, ASocketWhosePeerIsGoneIsAnErrorNotAHang) {
  Remote r({"--do=none", "--type=u64", "--role=sender", "--from=fd:99"});  // fails at once and exits
  EXPECT_EQ(r.peer->exit_code(patience()), kPeerAttachFailed);
  absl::StatusOr<Sender<std::uint64_t>> tx = attach_sender<std::uint64_t>(From::socket(r.sock.ours));
  EXPECT_EQ(tx.status().code(), absl::StatusCode::kInvalidArgument) << tx.status();
}

// ---------------------------------------------------------------- names

std::string unique_name(const char* what) { return std::string("sn-test-") + what + "-" + std::to_string(getpid()); }

bool name_exists(const std::string& name) {
  struct stat st {};
  return lstat(("/dev/shm/sn-ipc." + name).c_str(), &st) == 0;
}

TEST(IpcNames, APublishedNameLeadsToTheChannelAndGoesAwayWithItsHandle) {
  const std::string name = unique_name("publish");
  Remote r({"--role=receiver", "--create=64", "--publish=" + name, "--do=recv", "--count=100", "--seed=12"});
  ASSERT_TRUE(r.signalled());
  EXPECT_TRUE(name_exists(name));
  {  // the name is taken while the helper holds it
    absl::StatusOr<Receiver<std::uint64_t>> mine = create_receiver<std::uint64_t>(8);
    ASSERT_TRUE(mine.ok()) << mine.status();
    const absl::Status s = mine->publish(name);
    EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "is taken")) << s;
  }
  EXPECT_TRUE(name_exists(name)) << "a failed publish removed the other process's name";
  absl::StatusOr<Sender<std::uint64_t>> tx = attach_sender<std::uint64_t>(From::name(name));
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->peer_pid(), r.peer->pid());
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_EQ(tx->send_for(pattern(12, i), patience()), SendResult::ok);
  tx->close();
  EXPECT_EQ(r.finish(), kPeerOk) << r.peer->output();
  EXPECT_EQ(reported(*r.peer, "received"), 100u);
  EXPECT_FALSE(name_exists(name)) << "the helper's handle went, its name stayed";
  {  // free again: this process may take it, and dropping the handle frees it
    absl::StatusOr<Receiver<std::uint64_t>> mine = create_receiver<std::uint64_t>(8);
    ASSERT_TRUE(mine.ok()) << mine.status();
    EXPECT_TRUE(mine->publish(name).ok());
    EXPECT_TRUE(name_exists(name));
  }
  EXPECT_FALSE(name_exists(name));
}

TEST(IpcNames, AMissingNameIsNotFoundAndAMalformedOneIsInvalidArgument) {
  absl::StatusOr<Sender<std::uint64_t>> tx = attach_sender<std::uint64_t>(From::name(unique_name("missing")));
  EXPECT_EQ(tx.status().code(), absl::StatusCode::kNotFound) << tx.status();
  for (const char* bad : {"", "..", "a/b", "white space",
                          "name-that-is-far-too-long-for-a-channel-name-"
                          "because-it-runs-past-64-characters"}) {
    SCOPED_TRACE(bad);
    tx = attach_sender<std::uint64_t>(From::name(bad));
    EXPECT_EQ(tx.status().code(), absl::StatusCode::kInvalidArgument) << tx.status();
    absl::StatusOr<Receiver<std::uint64_t>> rx = create_receiver<std::uint64_t>(8);
    ASSERT_TRUE(rx.ok());
    EXPECT_EQ(rx->publish(bad).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(IpcNames, TheNameOfAKilledPublisherLeadsNowhere) {
  const std::string name = unique_name("killed");
  Remote r({"--role=receiver", "--create=64", "--publish=" + name, "--do=hang"});
  ASSERT_TRUE(r.signalled());
  r.peer->kill(SIGKILL);
  ASSERT_TRUE(r.peer->wait_for(patience()).has_value());
  absl::StatusOr<Sender<std::uint64_t>> tx = attach_sender<std::uint64_t>(From::name(name));
  EXPECT_EQ(tx.status().code(), absl::StatusCode::kNotFound) << tx.status();
  // A killed process cannot remove its name: the link stays, leading nowhere.
  EXPECT_TRUE(name_exists(name));
  unlink(("/dev/shm/sn-ipc." + name).c_str());
}

}  // namespace
}  // namespace sn::ipc::test
