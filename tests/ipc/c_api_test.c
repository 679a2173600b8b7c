/* Tests of the C interface (include/sn/ipc/c_api.h) through libsn_ipc_c.so, from C: this
 * file is compiled as C11, so it also proves that the header is C (no C++ leaks into
 * it) and that the shared library carries everything a C program links against.
 *
 * Both ends live in this process (a channel does not care whether its peer is another
 * process; the cross-process runs are examples/ipc_python). Each test_* function
 * checks one part of the contract; a failed check prints its line and the run goes on,
 * so one run lists every failure. Exit status 0 only if every check passed.
 */
#define _GNU_SOURCE /* socketpair, getpid */

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sn/ipc/c_api.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Names both results, which says more than "check failed: r == SN_IPC_OK". */
#define CHECK_RESULT(got, want)                                                                               \
  do {                                                                                                        \
    sn_ipc_result got_ = (got);                                                                               \
    if (got_ != (want)) {                                                                                     \
      fprintf(stderr, "%s:%d: %s gave %s, expected %s\n", __FILE__, __LINE__, #got, sn_ipc_result_name(got_), \
              sn_ipc_result_name(want));                                                                      \
      ++failures;                                                                                             \
    }                                                                                                         \
  } while (0)

/* Whether err holds `part`, with the text in the failure message. */
#define CHECK_ERR_HAS(err, part)                                                                     \
  do {                                                                                               \
    if (strstr((err), (part)) == NULL) {                                                             \
      fprintf(stderr, "%s:%d: error text \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, (err), (part)); \
      ++failures;                                                                                    \
    }                                                                                                \
  } while (0)

enum { kCapacity = 4, kMaxBytes = 32, kErrLen = 256 };

/* Message i: length (i * 7) % (kMaxBytes + 1), byte k = (i * 31 + k) & 0xff. */
static size_t fill(unsigned i, unsigned char* buf) {
  const size_t len = (i * 7u) % (kMaxBytes + 1u);
  for (size_t k = 0; k < len; ++k) buf[k] = (unsigned char)((i * 31u + k) & 0xffu);
  return len;
}

static int matches(unsigned i, const unsigned char* got, size_t got_len) {
  unsigned char want[kMaxBytes];
  const size_t len = fill(i, want);
  return got_len == len && memcmp(got, want, len) == 0;
}

static void test_result_names(void) {
  CHECK(strcmp(sn_ipc_result_name(SN_IPC_OK), "ok") == 0);
  CHECK(strcmp(sn_ipc_result_name(SN_IPC_FULL), "full") == 0);
  CHECK(strcmp(sn_ipc_result_name(SN_IPC_EMPTY), "empty") == 0);
  CHECK(strcmp(sn_ipc_result_name(SN_IPC_CLOSED), "closed") == 0);
  CHECK(strcmp(sn_ipc_result_name(SN_IPC_TIMEOUT), "timeout") == 0);
  CHECK(strcmp(sn_ipc_result_name(SN_IPC_INVALID), "invalid") == 0);
  CHECK(strcmp(sn_ipc_result_name(SN_IPC_ERROR), "error") == 0);
  CHECK(strcmp(sn_ipc_result_name((sn_ipc_result)7), "unknown") == 0);
}

static void test_create_errors(void) {
  char err[kErrLen] = "";
  static int dummy;
  sn_ipc_receiver* r = (sn_ipc_receiver*)(void*)&dummy; /* not NULL: a failure must reset it */
  CHECK_RESULT(sn_ipc_create_receiver(0, kMaxBytes, &r, err, sizeof err), SN_IPC_ERROR);
  CHECK(r == NULL);
  CHECK_ERR_HAS(err, "capacity 0");
  CHECK_RESULT(sn_ipc_create_receiver(kCapacity, 0, &r, err, sizeof err), SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "out of range");
  CHECK_RESULT(sn_ipc_create_receiver(kCapacity, (size_t)1 << 21, &r, NULL, 0), SN_IPC_ERROR);
  CHECK_RESULT(sn_ipc_create_receiver(kCapacity, kMaxBytes, NULL, err, sizeof err), SN_IPC_INVALID);
  CHECK_ERR_HAS(err, "out is NULL");
  sn_ipc_sender* s = NULL;
  char small[8];
  memset(small, 'x', sizeof small);
  CHECK_RESULT(sn_ipc_create_sender(0, kMaxBytes, &s, small, sizeof small), SN_IPC_ERROR);
  CHECK(s == NULL);
  CHECK(strlen(small) == sizeof small - 1); /* cut to fit, and terminated */
}

static void test_bad_attach(int fd) {
  char err[kErrLen] = "";
  sn_ipc_sender* s = NULL;
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_FD, fd, NULL, kMaxBytes, &s, err, sizeof err), SN_IPC_ERROR);
  CHECK(s == NULL);
  CHECK_ERR_HAS(err, "another process holds the sender end");
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_FD, fd, NULL, kMaxBytes / 2, &s, err, sizeof err), SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "messages are 32 bytes");
  sn_ipc_receiver* r = NULL;
  CHECK_RESULT(sn_ipc_attach_receiver(SN_IPC_FROM_FD, fd, NULL, kMaxBytes, &r, err, sizeof err), SN_IPC_ERROR);
  CHECK(r == NULL);
  CHECK_ERR_HAS(err, "attach the other one");
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_FD, -1, NULL, kMaxBytes, &s, err, sizeof err), SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "dup of the segment's descriptor");
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_FD, fd, NULL, kMaxBytes, NULL, err, sizeof err), SN_IPC_INVALID);
  /* 3: within the enum's range of values (so no C++ UB), but not an enumerator */
  CHECK_RESULT(sn_ipc_attach_sender((sn_ipc_from)3, fd, NULL, kMaxBytes, &s, err, sizeof err), SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "unknown sn_ipc_from");
}

/* FULL, TIMEOUT and INVALID on the sending side, with kCapacity messages left queued. */
static void fill_and_refuse(sn_ipc_sender* s) {
  unsigned char msg[kMaxBytes + 1] = {0};
  for (unsigned i = 0; i < kCapacity; ++i) {
    const size_t len = fill(i, msg);
    CHECK_RESULT(sn_ipc_send(s, len == 0 ? NULL : msg, len, 0), SN_IPC_OK); /* (NULL, 0) is a message */
  }
  CHECK_RESULT(sn_ipc_send(s, msg, 1, 0), SN_IPC_FULL);
  CHECK_RESULT(sn_ipc_send(s, msg, 1, 1000000), SN_IPC_TIMEOUT); /* 1 ms */
  CHECK_RESULT(sn_ipc_send(s, msg, kMaxBytes + 1, 0), SN_IPC_INVALID);
  CHECK_RESULT(sn_ipc_send(s, NULL, 3, 0), SN_IPC_INVALID);
}

static void drain_in_order(sn_ipc_receiver* r, unsigned first, unsigned count) {
  unsigned char buf[kMaxBytes] = {0};
  size_t len = 99;
  for (unsigned i = first; i < first + count; ++i) {
    CHECK_RESULT(sn_ipc_recv(r, buf, sizeof buf, &len, -1), SN_IPC_OK);
    CHECK(matches(i, buf, len));
  }
}

static void test_send_recv(sn_ipc_sender* s, sn_ipc_receiver* r) {
  unsigned char buf[kMaxBytes] = {0};
  size_t len = 99;
  CHECK_RESULT(sn_ipc_recv(r, buf, sizeof buf, &len, 0), SN_IPC_EMPTY);
  CHECK(len == 0);
  CHECK_RESULT(sn_ipc_recv(r, buf, sizeof buf, &len, 1000000), SN_IPC_TIMEOUT);
  fill_and_refuse(s);
  CHECK_RESULT(sn_ipc_recv(r, buf, sizeof buf - 1, &len, 0), SN_IPC_INVALID); /* smaller than max_bytes */
  CHECK_RESULT(sn_ipc_recv(r, NULL, sizeof buf, &len, 0), SN_IPC_INVALID);
  CHECK_RESULT(sn_ipc_recv(r, buf, sizeof buf, NULL, 0), SN_IPC_INVALID);
  drain_in_order(r, 0, kCapacity); /* the refused calls took nothing */
  CHECK_RESULT(sn_ipc_recv(r, buf, sizeof buf, &len, 0), SN_IPC_EMPTY);

  const sn_ipc_stats ss = sn_ipc_sender_stats(s);
  CHECK(ss.sent == kCapacity);
  CHECK(ss.send_full == 2); /* the FULL and the TIMEOUT; INVALID is not a send */
  CHECK(ss.send_closed == 0);
  CHECK(ss.capacity == kCapacity);
  CHECK(ss.closed == 0);
  const sn_ipc_stats rs = sn_ipc_receiver_stats(r);
  CHECK(rs.received == kCapacity);
  CHECK(rs.capacity == kCapacity);
  CHECK(rs.closed == 0);
}

/* The sender closes with two messages queued: the receiver takes both, then sees CLOSED. */
static void test_close_then_drain(sn_ipc_sender* s, sn_ipc_receiver* r) {
  unsigned char msg[kMaxBytes] = {0};
  for (unsigned i = 10; i < 12; ++i) {
    const size_t len = fill(i, msg);
    CHECK_RESULT(sn_ipc_send(s, msg, len, -1), SN_IPC_OK);
  }
  sn_ipc_sender_close(s);
  sn_ipc_sender_close(s); /* idempotent */
  CHECK_RESULT(sn_ipc_send(s, msg, 1, 0), SN_IPC_CLOSED);
  CHECK_RESULT(sn_ipc_send(s, msg, 1, -1), SN_IPC_CLOSED); /* no wait on a closed channel */
  const sn_ipc_stats ss = sn_ipc_sender_stats(s);
  CHECK(ss.closed == 1);
  CHECK(ss.send_closed == 2);
  CHECK(ss.sent == kCapacity + 2);
  drain_in_order(r, 10, 2);
  unsigned char buf[kMaxBytes] = {0};
  size_t len = 99;
  CHECK_RESULT(sn_ipc_recv(r, buf, sizeof buf, &len, -1), SN_IPC_CLOSED); /* drained: no wait */
  CHECK(len == 0);
  CHECK_RESULT(sn_ipc_recv(r, buf, sizeof buf, &len, 0), SN_IPC_CLOSED);
  CHECK(sn_ipc_receiver_stats(r).closed == 1);
  CHECK(sn_ipc_receiver_stats(r).received == kCapacity + 2);
}

static void test_from_fd(void) {
  char err[kErrLen] = "";
  sn_ipc_receiver* r = NULL;
  CHECK_RESULT(sn_ipc_create_receiver(3, kMaxBytes, &r, err, sizeof err), SN_IPC_OK); /* 3: rounded up to 4 */
  if (r == NULL) return;
  const int fd = sn_ipc_receiver_fd(r);
  CHECK(fd >= 0);
  sn_ipc_sender* s = NULL;
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_FD, fd, NULL, kMaxBytes, &s, err, sizeof err), SN_IPC_OK);
  if (s != NULL) {
    test_bad_attach(fd);
    test_send_recv(s, r);
    test_close_then_drain(s, r);
  }
  sn_ipc_sender_free(s);
  sn_ipc_receiver_free(r);
}

static void test_null_handles(void) {
  char err[kErrLen] = "";
  unsigned char buf[kMaxBytes] = {0};
  size_t len = 99;
  CHECK_RESULT(sn_ipc_send(NULL, buf, 1, 0), SN_IPC_INVALID);
  CHECK_RESULT(sn_ipc_recv(NULL, buf, sizeof buf, &len, 0), SN_IPC_INVALID);
  CHECK(len == 0);
  CHECK_RESULT(sn_ipc_sender_share(NULL, 0, err, sizeof err), SN_IPC_INVALID);
  CHECK_ERR_HAS(err, "NULL");
  CHECK_RESULT(sn_ipc_receiver_share(NULL, 0, err, sizeof err), SN_IPC_INVALID);
  CHECK_RESULT(sn_ipc_sender_publish(NULL, "x", err, sizeof err), SN_IPC_INVALID);
  CHECK_RESULT(sn_ipc_receiver_publish(NULL, "x", NULL, 0), SN_IPC_INVALID);
  CHECK(sn_ipc_sender_fd(NULL) == -1);
  CHECK(sn_ipc_receiver_fd(NULL) == -1);
  const sn_ipc_stats z = sn_ipc_sender_stats(NULL);
  CHECK(z.sent == 0 && z.capacity == 0 && z.closed == 0);
  CHECK(sn_ipc_receiver_stats(NULL).capacity == 0);
  sn_ipc_sender_close(NULL);
  sn_ipc_receiver_close(NULL);
  sn_ipc_sender_free(NULL);
  sn_ipc_receiver_free(NULL);
}

/* The descriptor over a socket pair: the sender shares, the receiver attaches FROM_SOCKET;
 * the receiver closes, and the sender sees CLOSED at once. */
static void test_from_socket(void) {
  char err[kErrLen] = "";
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  sn_ipc_sender* s = NULL;
  CHECK_RESULT(sn_ipc_create_sender(kCapacity, kMaxBytes, &s, err, sizeof err), SN_IPC_OK);
  CHECK_RESULT(sn_ipc_sender_share(s, -1, err, sizeof err), SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "sendmsg");
  CHECK_RESULT(sn_ipc_sender_share(s, sv[0], err, sizeof err), SN_IPC_OK);
  sn_ipc_receiver* r = NULL;
  CHECK_RESULT(sn_ipc_attach_receiver(SN_IPC_FROM_SOCKET, sv[1], NULL, kMaxBytes, &r, err, sizeof err), SN_IPC_OK);
  if (s != NULL && r != NULL) {
    unsigned char msg[kMaxBytes];
    const size_t n = fill(5, msg);
    CHECK_RESULT(sn_ipc_send(s, msg, n, 0), SN_IPC_OK);
    drain_in_order(r, 5, 1);
    sn_ipc_receiver_close(r);
    CHECK_RESULT(sn_ipc_send(s, msg, n, -1), SN_IPC_CLOSED);
    CHECK(sn_ipc_sender_stats(s).closed == 1);
  }
  sn_ipc_receiver_free(r);
  sn_ipc_sender_free(s);
  close(sv[0]);
  close(sv[1]);
}

static void test_bad_names(void) {
  char err[kErrLen] = "";
  sn_ipc_sender* s = NULL;
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_NAME, -1, NULL, kMaxBytes, &s, err, sizeof err), SN_IPC_INVALID);
  CHECK_ERR_HAS(err, "NULL name");
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_NAME, -1, "no/such", kMaxBytes, &s, err, sizeof err), SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "is not a channel name");
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_NAME, -1, "sn-c-api-test-none", kMaxBytes, &s, err, sizeof err),
               SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "no channel is published as 'sn-c-api-test-none'");
  CHECK(s == NULL);
}

/* Publish under a name, attach by it; the name is taken while the first handle lives,
 * and gone once it is freed. */
static void test_from_name(void) {
  char err[kErrLen] = "";
  char name[64];
  snprintf(name, sizeof name, "sn-c-api-test-%d", (int)getpid());
  sn_ipc_receiver* r = NULL;
  sn_ipc_receiver* other = NULL;
  CHECK_RESULT(sn_ipc_create_receiver(kCapacity, kMaxBytes, &r, err, sizeof err), SN_IPC_OK);
  CHECK_RESULT(sn_ipc_create_receiver(kCapacity, kMaxBytes, &other, err, sizeof err), SN_IPC_OK);
  CHECK_RESULT(sn_ipc_receiver_publish(r, name, err, sizeof err), SN_IPC_OK);
  CHECK_RESULT(sn_ipc_receiver_publish(other, name, err, sizeof err), SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "is taken");
  sn_ipc_sender* s = NULL;
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_NAME, -1, name, kMaxBytes, &s, err, sizeof err), SN_IPC_OK);
  if (s != NULL && r != NULL) {
    unsigned char msg[kMaxBytes];
    const size_t n = fill(7, msg);
    CHECK_RESULT(sn_ipc_send(s, msg, n, 0), SN_IPC_OK);
    drain_in_order(r, 7, 1);
  }
  sn_ipc_sender_free(s);
  sn_ipc_receiver_free(r);
  sn_ipc_receiver_free(other);
  s = NULL;
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_NAME, -1, name, kMaxBytes, &s, err, sizeof err), SN_IPC_ERROR);
  CHECK_ERR_HAS(err, "no channel is published");
}

enum { kStreamed = 10000 };

/* What the receiving thread saw; checked by the main thread after the join (the check
 * counter is not shared between threads). */
struct stream_seen {
  sn_ipc_receiver* r;
  unsigned count;
  int in_order;
  sn_ipc_result last;
};

static void* receive_stream(void* arg) {
  struct stream_seen* seen = (struct stream_seen*)arg;
  unsigned char buf[kMaxBytes] = {0};
  size_t len = 0;
  seen->in_order = 1;
  while ((seen->last = sn_ipc_recv(seen->r, buf, sizeof buf, &len, -1)) == SN_IPC_OK) {
    seen->in_order &= matches(seen->count++, buf, len);
  }
  return NULL;
}

/* Waiting on both sides: a tiny ring, a sender that blocks on FULL and a receiver thread
 * that blocks on EMPTY, each woken by the other (the shared futexes). */
static void test_blocking_stream(void) {
  char err[kErrLen] = "";
  sn_ipc_receiver* r = NULL;
  sn_ipc_sender* s = NULL;
  CHECK_RESULT(sn_ipc_create_receiver(2, kMaxBytes, &r, err, sizeof err), SN_IPC_OK);
  CHECK_RESULT(sn_ipc_attach_sender(SN_IPC_FROM_FD, sn_ipc_receiver_fd(r), NULL, kMaxBytes, &s, err, sizeof err),
               SN_IPC_OK);
  if (r == NULL || s == NULL) return;
  struct stream_seen seen = {r, 0, 0, SN_IPC_OK};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, receive_stream, &seen) == 0);
  unsigned char msg[kMaxBytes] = {0};
  for (unsigned i = 0; i < kStreamed; ++i) {
    const size_t len = fill(i, msg);
    CHECK_RESULT(sn_ipc_send(s, msg, len, -1), SN_IPC_OK);
  }
  sn_ipc_sender_close(s);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_RESULT(seen.last, SN_IPC_CLOSED);
  CHECK(seen.count == kStreamed);
  CHECK(seen.in_order);
  sn_ipc_sender_free(s);
  sn_ipc_receiver_free(r);
}

int main(void) {
  test_result_names();
  test_create_errors();
  test_from_fd();
  test_null_handles();
  test_from_socket();
  test_bad_names();
  test_from_name();
  test_blocking_stream();
  if (failures != 0) {
    fprintf(stderr, "c_api_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("c_api_test: every check passed\n");
  return 0;
}
