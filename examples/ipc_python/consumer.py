"""The Python half of the example's second direction: takes the segment's descriptor
from a Unix socket (socket.recv_fds), attaches as the receiver (FROM_FD), receives until
the sender closes, and checks the stream of messages.py: count, order, every byte, and
the trailer's count and checksum. Started by python_peer with the socket inherited.

    python3 consumer.py --socket-fd=5 --count=20000 [--lib=path/libsn_ipc_c.so]

Exit status 0 only if every check passed, 1 otherwise, 77 when this Python cannot run
the example (no ctypes, or older than 3.9, which added socket.recv_fds).
"""

import argparse
import os
import socket
import sys
import time

try:
    import ctypes  # noqa: F401  (sn_ipc needs it; some minimal Pythons lack it)
except ImportError:
    print("consumer.py: SKIP: this Python has no ctypes", file=sys.stderr)
    sys.exit(77)
if not hasattr(socket, "recv_fds"):
    print(f"consumer.py: SKIP: Python {sys.version.split()[0]} has no socket.recv_fds (3.9+)", file=sys.stderr)
    sys.exit(77)

import messages
import sn_ipc


def take_descriptor(socket_fd):
    """The one descriptor the peer sent over the socket (its share())."""
    with socket.socket(fileno=socket_fd) as sock:
        _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    if len(fds) != 1:
        raise sn_ipc.Error(sn_ipc.ERROR, f"the socket carried {len(fds)} descriptors, not 1")
    return fds[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket-fd", type=int, required=True, help="a Unix socket the sender shares over")
    parser.add_argument("--count", type=int, default=20000, help="messages expected")
    parser.add_argument("--lib", help="libsn_ipc_c.so (default: $SN_IPC_LIB, then the loader's search path)")
    args = parser.parse_args()
    sn_ipc.load(args.lib)
    fd = take_descriptor(args.socket_fd)
    check = messages.StreamCheck()
    start = time.monotonic()
    try:
        rx = sn_ipc.Receiver.attach(messages.MAX_BYTES, fd=fd)
    finally:
        os.close(fd)  # the library holds its own copy
    with rx:
        for msg in rx:  # until the sender closed and everything it sent was taken
            check.take(msg)
        stats = rx.stats()
    seconds = time.monotonic() - start
    ok = check.finish(args.count) and stats.received == args.count + 1 and stats.closed == 1
    for error in check.errors:
        print(f"consumer.py: FAILED: {error}", file=sys.stderr)
    print(f"  consumer.py: received {check.next} messages and the trailer in {seconds:.3f} s, "
          f"checksum {check.checksum:#x}: {'all checks passed' if ok else 'FAILED'}; {stats}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except sn_ipc.Error as e:
        print(f"consumer.py: {e}", file=sys.stderr)
        sys.exit(1)
