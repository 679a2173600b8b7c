"""The Python half of the example's first direction: attaches as the sender to a channel
another process created and published by name, sends the stream of messages.py, then
its trailer, and closes. Started by python_peer; runs on its own against any receiver
of byte messages of up to 256 bytes published under that name.

    python3 producer.py --name=sn-py-1234 --count=20000 [--lib=path/libsn_ipc_c.so]

Exit status 0 when everything was sent, 1 on an error, 77 when this Python cannot run
the example (no ctypes).
"""

import argparse
import sys
import time

try:
    import ctypes  # noqa: F401  (sn_ipc needs it; some minimal Pythons lack it)
except ImportError:
    print("producer.py: SKIP: this Python has no ctypes", file=sys.stderr)
    sys.exit(77)

import messages
import sn_ipc


def send_stream(tx, count):
    """Sends count messages and the trailer; returns how many times the ring was full."""
    checksum, waits = messages.FNV_OFFSET, 0
    for i in range(count):
        msg = messages.message(i)
        checksum = messages.fnv1a(msg, checksum)
        try:
            tx.send(msg, timeout=0)  # the common case: room now
        except sn_ipc.Full:
            waits += 1  # the receiver is behind: wait for it (a Closed here propagates)
            tx.send(msg, timeout=30)
    tx.send(messages.trailer(count, checksum), timeout=30)
    return waits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the name the receiver published")
    parser.add_argument("--count", type=int, default=20000, help="messages to send")
    parser.add_argument("--lib", help="libsn_ipc_c.so (default: $SN_IPC_LIB, then the loader's search path)")
    args = parser.parse_args()
    sn_ipc.load(args.lib)
    start = time.monotonic()
    with sn_ipc.Sender.attach(messages.MAX_BYTES, name=args.name) as tx:
        waits = send_stream(tx, args.count)
        tx.close()
        stats = tx.stats()
    seconds = time.monotonic() - start
    print(f"  producer.py: sent {args.count} messages and the trailer in {seconds:.3f} s "
          f"({args.count / max(seconds, 1e-9) / 1e3:.1f} k/s), waited for room {waits} times; {stats}")
    return 0 if stats.sent == args.count + 1 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except sn_ipc.Error as e:
        print(f"producer.py: {e}", file=sys.stderr)
        sys.exit(1)
