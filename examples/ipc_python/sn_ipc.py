"""A small ctypes binding of libsn_ipc_c.so: byte-message channels between processes.

    import sn_ipc
    sn_ipc.load("/path/to/libsn_ipc_c.so")      # or set SN_IPC_LIB, or let dlopen search
    with sn_ipc.Sender.attach(256, name="ticks") as tx:
        tx.send(b"hello")                        # waits for room
    with sn_ipc.Receiver.attach(256, fd=fd) as rx:
        for msg in rx:                           # until the sender closed and all is taken
            ...

Every result other than OK is an exception: Full and Empty (a call that does not wait:
timeout=0), Timeout, Closed, InvalidArgument, and Error for a failed create or attach
(with the library's text). Timeouts are in seconds: None waits without limit, 0 does
not wait.

A handle belongs to one thread at a time, as in C. A call that waits is made in slices
of at most 0.1 s: ctypes releases the GIL for each call, and between slices Python can
deliver a KeyboardInterrupt, which it cannot while a C call blocks.
"""

import ctypes
import os
import time

OK, FULL, EMPTY, CLOSED, TIMEOUT, INVALID, ERROR = range(7)
FROM_FD, FROM_SOCKET, FROM_NAME = range(3)
_NAMES = ("ok", "full", "empty", "closed", "timeout", "invalid", "error")
_SLICE_S = 0.1
_ERR_LEN = 512


class Error(Exception):
    """A result other than OK; `result` is its code (sn_ipc.CLOSED, ...)."""

    def __init__(self, result, text=""):
        self.result = result
        name = _NAMES[result] if 0 <= result < len(_NAMES) else f"result {result}"
        super().__init__(f"{name}: {text}" if text else name)


class Full(Error):
    """No room now (send with timeout=0)."""


class Empty(Error):
    """Nothing to receive now (recv with timeout=0)."""


class Timeout(Error):
    """Nothing moved before the timeout."""


class Closed(Error):
    """The channel is closed (and, for a receiver, everything sent before was taken)."""


class InvalidArgument(Error):
    """A message longer than the channel's maximum, and the like."""


_BY_RESULT = {FULL: Full, EMPTY: Empty, TIMEOUT: Timeout, CLOSED: Closed, INVALID: InvalidArgument}


def _raise(result, text=""):
    raise _BY_RESULT.get(result, Error)(result, text)


class Stats(ctypes.Structure):
    """sn_ipc_stats: an end's counters."""

    _fields_ = [("sent", ctypes.c_uint64), ("received", ctypes.c_uint64), ("send_full", ctypes.c_uint64),
                ("send_closed", ctypes.c_uint64), ("capacity", ctypes.c_uint64), ("closed", ctypes.c_int)]

    def __repr__(self):
        return "Stats(" + ", ".join(f"{name}={getattr(self, name)}" for name, _ in self._fields_) + ")"


_lib = None


def _declare(lib):
    """Gives every function its C signature: without one, ctypes passes a Python int as a
    C int, which would cut size_t, int64_t and pointers to 32 bits."""
    c_int, c_size, c_i64 = ctypes.c_int, ctypes.c_size_t, ctypes.c_int64
    c_void, c_str = ctypes.c_void_p, ctypes.c_char_p  # bytes pass as char* without a copy
    out = ctypes.POINTER(c_void)
    for end in ("sender", "receiver"):
        getattr(lib, f"sn_ipc_create_{end}").argtypes = [c_size, c_size, out, c_str, c_size]
        getattr(lib, f"sn_ipc_attach_{end}").argtypes = [c_int, c_int, c_str, c_size, out, c_str, c_size]
        getattr(lib, f"sn_ipc_{end}_share").argtypes = [c_void, c_int, c_str, c_size]
        getattr(lib, f"sn_ipc_{end}_publish").argtypes = [c_void, c_str, c_str, c_size]
        getattr(lib, f"sn_ipc_{end}_fd").argtypes = [c_void]
        getattr(lib, f"sn_ipc_{end}_stats").argtypes = [c_void]
        getattr(lib, f"sn_ipc_{end}_stats").restype = Stats
        for verb in ("close", "free"):
            getattr(lib, f"sn_ipc_{end}_{verb}").argtypes = [c_void]
            getattr(lib, f"sn_ipc_{end}_{verb}").restype = None
    lib.sn_ipc_send.argtypes = [c_void, c_str, c_size, c_i64]
    lib.sn_ipc_recv.argtypes = [c_void, c_void, c_size, ctypes.POINTER(c_size), c_i64]
    lib.sn_ipc_result_name.argtypes = [c_int]
    lib.sn_ipc_result_name.restype = c_str
    return lib


def load(path=None):
    """Loads the library from path, else $SN_IPC_LIB, else libsn_ipc_c.so on the loader's
    search path; later calls return the library loaded first."""
    global _lib
    if _lib is None:
        _lib = _declare(ctypes.CDLL(path or os.environ.get("SN_IPC_LIB") or "libsn_ipc_c.so"))
    return _lib


def _waiting(attempt, timeout):
    """Calls attempt(timeout_ns) in slices until it gives something other than TIMEOUT."""
    if timeout is not None and timeout <= 0:
        return attempt(0)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = _SLICE_S if deadline is None else min(_SLICE_S, deadline - time.monotonic())
        if wait <= 0:
            return TIMEOUT
        result = attempt(max(1, int(wait * 1e9)))
        if result != TIMEOUT:
            return result


def _from(name, fd, sock):
    """(sn_ipc_from, fd, name) for exactly one of the three ways to find a segment."""
    given = [x is not None for x in (name, fd, sock)]
    if sum(given) != 1:
        raise ValueError("give exactly one of name=, fd= and sock=")
    if name is not None:
        return FROM_NAME, -1, name.encode()
    if fd is not None:
        return FROM_FD, fd, None
    return FROM_SOCKET, sock if isinstance(sock, int) else sock.fileno(), None


class _End:
    """What a sender and a receiver share: the handle, its lifetime, stats and sharing."""

    _kind = ""

    def __init__(self, lib, handle, max_bytes):
        self._lib = lib
        self._handle = handle
        self.max_bytes = max_bytes

    @classmethod
    def _make(cls, max_bytes, lib, call):
        lib = lib or load()
        handle = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERR_LEN)
        result = call(lib, ctypes.byref(handle), err)
        if result != OK:
            _raise(result, err.value.decode(errors="replace"))
        return cls(lib, handle, max_bytes)

    @classmethod
    def create(cls, capacity, max_bytes, lib=None):
        """Creates a channel of messages of up to max_bytes; this process holds this end."""
        return cls._make(max_bytes, lib, lambda lib, out, err: getattr(lib, f"sn_ipc_create_{cls._kind}")(
            capacity, max_bytes, out, err, _ERR_LEN))

    @classmethod
    def attach(cls, max_bytes, *, name=None, fd=None, sock=None, lib=None):
        """Attaches to a channel another process created with the other end: by a
        published name, a descriptor of the segment, or a Unix socket its creator
        shares it over (a number or a socket). max_bytes must be the channel's."""
        how, number, text = _from(name, fd, sock)
        return cls._make(max_bytes, lib, lambda lib, out, err: getattr(lib, f"sn_ipc_attach_{cls._kind}")(
            how, number, text, max_bytes, out, err, _ERR_LEN))

    def _alive(self):
        """The handle; ValueError once freed (C would be handed a dangling pointer)."""
        if self._handle is None:
            raise ValueError(f"this {self._kind} was freed")
        return self._handle

    def _c(self, verb):
        self._alive()
        return getattr(self._lib, f"sn_ipc_{self._kind}_{verb}")

    def _checked(self, verb, arg):
        err = ctypes.create_string_buffer(_ERR_LEN)
        result = self._c(verb)(self._handle, arg, err, _ERR_LEN)
        if result != OK:
            _raise(result, err.value.decode(errors="replace"))

    def share(self, sock):
        """Sends the segment's descriptor over a connected Unix socket (a number or a socket)."""
        self._checked("share", sock if isinstance(sock, int) else sock.fileno())

    def publish(self, name):
        """Makes the channel reachable by name (attach(name=...)) until this end is freed."""
        self._checked("publish", name.encode())

    @property
    def fd(self):
        """The segment's descriptor, owned by this end (os.dup it to keep it)."""
        return self._c("fd")(self._handle)

    def stats(self):
        """This end's counters (a Stats)."""
        return self._c("stats")(self._handle)

    def close(self):
        """Closes this end; the peer sees Closed (a receiver once it took what was sent)."""
        self._c("close")(self._handle)

    def free(self):
        """Closes and releases the end; nothing may be called on it afterwards."""
        if self._handle is not None:
            self._c("free")(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.free()


class Sender(_End):
    """The sending end of a byte-message channel."""

    _kind = "sender"

    def send(self, data, timeout=None):
        """Sends data (bytes-like, at most max_bytes long). Raises Full (timeout=0),
        Timeout, Closed or InvalidArgument (too long)."""
        data = data if isinstance(data, bytes) else memoryview(data).tobytes()  # not bytes(5): five zeros
        handle, call = self._alive(), self._lib.sn_ipc_send
        result = _waiting(lambda ns: call(handle, data, len(data), ns), timeout)
        if result != OK:
            _raise(result)


class Receiver(_End):
    """The receiving end of a byte-message channel."""

    _kind = "receiver"

    def __init__(self, lib, handle, max_bytes):
        super().__init__(lib, handle, max_bytes)
        self._buf = ctypes.create_string_buffer(max_bytes)  # one buffer, reused
        self._len = ctypes.c_size_t()

    def recv(self, timeout=None):
        """The next message, as bytes. Raises Empty (timeout=0), Timeout, or Closed once
        the channel is closed and everything sent before was taken."""
        handle, call, length = self._alive(), self._lib.sn_ipc_recv, ctypes.byref(self._len)
        result = _waiting(lambda ns: call(handle, self._buf, self.max_bytes, length, ns), timeout)
        if result != OK:
            _raise(result)
        return ctypes.string_at(self._buf, self._len.value)

    def __iter__(self):
        """The messages, until the channel is closed and drained."""
        while True:
            try:
                yield self.recv()
            except Closed:
                return
