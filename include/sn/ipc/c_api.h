/* A C interface to byte-message channels between processes, so that programs in other
 * languages can send to or receive from shared_nothing (Python's ctypes, Rust, Go's cgo).
 * It is the shared library libsn_ipc_c.so (CMake target sn::ipc_c), which exports these
 * functions and nothing else; docs/ipc-c-api.md describes it, with a Python example.
 *
 * Results: every function that can fail returns an sn_ipc_result. Those that take
 * `err` write, on any result but SN_IPC_OK, a message there (at most err_len bytes,
 * always NUL-terminated; err may be NULL). Those that make a handle write it to *out,
 * and NULL there on failure.
 *
 * Ownership: a handle is the caller's until sn_ipc_*_free; a descriptor passed in
 * (FROM_FD, a socket) stays the caller's; the library keeps its own copy of the segment.
 *
 * Threads: a handle is used by one thread at a time (it may move between threads);
 * sn_ipc_*_stats may be called from any thread meanwhile. Two handles are independent.
 *
 * Timeouts are in nanoseconds: 0 does not wait, a negative value waits without limit.
 */
#ifndef SN_IPC_C_API_H
#define SN_IPC_C_API_H

#include <stddef.h>
#include <stdint.h>

/* Marks what libsn_ipc_c.so exports: it is built with hidden visibility, so that the
 * C++ libraries inside it keep their symbols to themselves. */
#if defined(__GNUC__) || defined(__clang__)
#define SN_IPC_API __attribute__((visibility("default")))
#else
#define SN_IPC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Outcomes, the same as sn::SendResult and sn::RecvResult where they overlap. */
typedef enum sn_ipc_result {
  SN_IPC_OK = 0,      /**< Done. */
  SN_IPC_FULL = 1,    /**< No room now (a send that does not wait). */
  SN_IPC_EMPTY = 2,   /**< Nothing to receive now (a receive that does not wait). */
  SN_IPC_CLOSED = 3,  /**< The channel is closed (and, for a receive, drained). */
  SN_IPC_TIMEOUT = 4, /**< Nothing moved before the timeout. */
  SN_IPC_INVALID = 5, /**< A bad argument: a NULL handle, a message too long, a buffer too small. */
  SN_IPC_ERROR = 6    /**< Creating or attaching failed; err says why. */
} sn_ipc_result;

/** Where an attach finds the segment. */
typedef enum sn_ipc_from {
  SN_IPC_FROM_FD = 0,     /**< `fd` is the segment's descriptor (dup'ed). */
  SN_IPC_FROM_SOCKET = 1, /**< `fd` is a Unix socket whose peer shares the segment. */
  SN_IPC_FROM_NAME = 2    /**< `name` was published by the creating process. */
} sn_ipc_from;

typedef struct sn_ipc_sender sn_ipc_sender;     /**< A sending end. */
typedef struct sn_ipc_receiver sn_ipc_receiver; /**< A receiving end. */

/** A snapshot of an end's counters. */
typedef struct sn_ipc_stats {
  uint64_t sent;        /**< Messages this end sent (sender). */
  uint64_t received;    /**< Messages this end received (receiver). */
  uint64_t send_full;   /**< Sends refused for want of room. */
  uint64_t send_closed; /**< Sends refused because the channel was closed. */
  uint64_t capacity;    /**< Slots in the ring. */
  int closed;           /**< 1 if this end sees the channel closed. */
} sn_ipc_stats;

/** Creates a channel of messages of up to max_bytes; this process sends. */
SN_IPC_API sn_ipc_result sn_ipc_create_sender(size_t capacity, size_t max_bytes, sn_ipc_sender** out, char* err,
                                              size_t err_len);
/** Creates a channel; this process receives. */
SN_IPC_API sn_ipc_result sn_ipc_create_receiver(size_t capacity, size_t max_bytes, sn_ipc_receiver** out, char* err,
                                                size_t err_len);
/** Attaches as the sender to a channel another process created as the receiver. */
SN_IPC_API sn_ipc_result sn_ipc_attach_sender(sn_ipc_from from, int fd, const char* name, size_t max_bytes,
                                              sn_ipc_sender** out, char* err, size_t err_len);
/** Attaches as the receiver to a channel another process created as the sender. */
SN_IPC_API sn_ipc_result sn_ipc_attach_receiver(sn_ipc_from from, int fd, const char* name, size_t max_bytes,
                                                sn_ipc_receiver** out, char* err, size_t err_len);

/** Sends len bytes: OK, FULL (timeout 0), TIMEOUT, CLOSED, or INVALID (too long). */
SN_IPC_API sn_ipc_result sn_ipc_send(sn_ipc_sender* s, const void* data, size_t len, int64_t timeout_ns);
/** Receives into buf (cap >= the channel's max_bytes): OK with *len set, EMPTY (timeout 0),
 * TIMEOUT, CLOSED, or INVALID (cap too small). *len is 0 on anything but OK. */
SN_IPC_API sn_ipc_result sn_ipc_recv(sn_ipc_receiver* r, void* buf, size_t cap, size_t* len, int64_t timeout_ns);

/** Sends the segment's descriptor over a connected Unix socket (the peer attaches FROM_SOCKET). */
SN_IPC_API sn_ipc_result sn_ipc_sender_share(sn_ipc_sender* s, int unix_socket, char* err, size_t err_len);
/** As sn_ipc_sender_share, for a receiver. */
SN_IPC_API sn_ipc_result sn_ipc_receiver_share(sn_ipc_receiver* r, int unix_socket, char* err, size_t err_len);
/** Publishes the segment under a name (the peer attaches FROM_NAME) until the handle is freed. */
SN_IPC_API sn_ipc_result sn_ipc_sender_publish(sn_ipc_sender* s, const char* name, char* err, size_t err_len);
/** As sn_ipc_sender_publish, for a receiver. */
SN_IPC_API sn_ipc_result sn_ipc_receiver_publish(sn_ipc_receiver* r, const char* name, char* err, size_t err_len);
/** The segment's descriptor (close-on-exec, owned by the handle: dup it to keep it), for
 * passing it some other way (the peer attaches FROM_FD); -1 for NULL. */
SN_IPC_API int sn_ipc_sender_fd(const sn_ipc_sender* s);
/** As sn_ipc_sender_fd, for a receiver. */
SN_IPC_API int sn_ipc_receiver_fd(const sn_ipc_receiver* r);

/** The end's counters (all zero for NULL). */
SN_IPC_API sn_ipc_stats sn_ipc_sender_stats(const sn_ipc_sender* s);
/** The end's counters (all zero for NULL). */
SN_IPC_API sn_ipc_stats sn_ipc_receiver_stats(const sn_ipc_receiver* r);
/** Closes the end: the receiver sees CLOSED once it took what was sent before; the
 * handle stays valid until freed. Idempotent; NULL is fine. */
SN_IPC_API void sn_ipc_sender_close(sn_ipc_sender* s);
/** Closes the end: the sender sees CLOSED at once. Idempotent; NULL is fine. */
SN_IPC_API void sn_ipc_receiver_close(sn_ipc_receiver* r);
/** Closes, removes a published name, and frees (NULL is fine). */
SN_IPC_API void sn_ipc_sender_free(sn_ipc_sender* s);
/** Closes, removes a published name, and frees (NULL is fine). */
SN_IPC_API void sn_ipc_receiver_free(sn_ipc_receiver* r);
/** The enumerator's name, such as "closed" ("unknown" for a value not listed). */
SN_IPC_API const char* sn_ipc_result_name(sn_ipc_result r);

#ifdef __cplusplus
}
#endif

#endif /* SN_IPC_C_API_H */
