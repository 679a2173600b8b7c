"""The stream both directions of the example carry; python_peer.cc builds the same.

Message i (0 <= i < count) is its number, 8 bytes little-endian, then a payload of
(i * 37) % 249 bytes, byte k being (i * 131 + k * 7) mod 256: so a receiver checks the
count, the order and every byte without being told what was sent. Lengths run from 8
to MAX_BYTES, both ends of the channel's range included.

After the last message comes a trailer: the number 2^64 - 1, the count, and the FNV-1a
(64-bit) checksum of every message's bytes in order, each 8 bytes little-endian. The
receiver compares it with its own count and checksum.
"""

import struct

MAX_BYTES = 256  # the channel's maximum message size, on both sides
_NUMBER = struct.Struct("<Q")
_TRAILER = struct.Struct("<QQQ")
TRAILER_MARK = (1 << 64) - 1

FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1


def message(i):
    """Message i of the stream."""
    n = (i * 37) % (MAX_BYTES - _NUMBER.size + 1)
    base = i * 131
    return _NUMBER.pack(i) + bytes((base + k * 7) & 0xFF for k in range(n))


def fnv1a(data, h=FNV_OFFSET):
    """FNV-1a (64-bit) of data, continuing from h."""
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK
    return h


def trailer(count, checksum):
    """The message that ends the stream."""
    return _TRAILER.pack(TRAILER_MARK, count, checksum)


def parse_trailer(msg):
    """(count, checksum) if msg is a trailer, else None."""
    if len(msg) != _TRAILER.size:
        return None
    mark, count, checksum = _TRAILER.unpack(msg)
    return (count, checksum) if mark == TRAILER_MARK else None


class StreamCheck:
    """Checks a received stream message by message; `errors` lists what was wrong."""

    def __init__(self):
        self.next = 0  # the number the next message must carry
        self.checksum = FNV_OFFSET
        self.trailer = None  # (count, checksum) once it arrived
        self.errors = []

    def take(self, msg):
        """Checks one message: the next of the stream, or the trailer."""
        if self.trailer is not None:
            self._error(f"a message of {len(msg)} bytes after the trailer")
            return
        t = parse_trailer(msg)
        if t is not None:
            self.trailer = t
            return
        expected = message(self.next)
        if msg != expected:
            got = _NUMBER.unpack_from(msg)[0] if len(msg) >= _NUMBER.size else None
            self._error(f"message {self.next} differs (got number {got}, {len(msg)} bytes)")
        self.checksum = fnv1a(msg, self.checksum)
        self.next += 1

    def finish(self, count):
        """The final checks, once the channel said closed: True if all passed."""
        if self.trailer is None:
            self._error("no trailer arrived")
        elif self.trailer != (self.next, self.checksum):
            self._error(f"the trailer says {self.trailer[0]} messages, checksum {self.trailer[1]:#x}; "
                        f"received {self.next}, checksum {self.checksum:#x}")
        if self.next != count:
            self._error(f"received {self.next} messages, expected {count}")
        return not self.errors

    def _error(self, text):
        if len(self.errors) < 10:
            self.errors.append(text)
