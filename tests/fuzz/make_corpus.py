#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/<name>.

Each seed is a short, meaningful scenario in the byte format its target decodes (see
the comments at the top of each *_fuzz.cc). Run it after changing a format:
    python3 tests/fuzz/make_corpus.py
The fuzzers never write here; libFuzzer keeps what it finds in the build tree.
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u64(x):
    return list(struct.pack("<Q", x & (2**64 - 1)))


def u32(x):
    return list(struct.pack("<I", x & (2**32 - 1)))


# ---------------------------------------------------------------- channels (channel_fuzz.cc)
# Header: capacity byte, wait-policy byte, sender slot, receiver slot. Opcodes:
TRY_SEND, TRY_SEND_COPY, SEND_FOR, SEND, SEND_BATCH = 0, 1, 2, 3, 4
TRY_RECV, TRY_RECV_OPT, RECV_FOR, RECV, RECV_BATCH, CONSUME = 5, 6, 7, 8, 9, 10
CLOSE_TX, CLOSE_RX, DROP_TX, DROP_RX, CLONE_TX, CLONE_RX, MOVE_TX, MOVE_RX = 11, 12, 13, 14, 15, 16, 17, 18
STATS, PROBE, RECREATE = 19, 20, 21
PARK, SPIN = 0, 3          # wait policies
ZERO, MICRO = 0, 3         # short timeouts


def channel(cap, *ops, wait=PARK):
    return bytes([cap, wait, 0, 0] + [b for op in ops for b in op])


def stats_tx(slot=0):
    return [STATS, 1, slot]


def stats_rx(slot=0):
    return [STATS, 0, slot]


CHANNEL_SEEDS = {
    "fill_then_drain": channel(4, *[[TRY_SEND, 0]] * 5, stats_tx(), *[[TRY_RECV, 0]] * 5, stats_rx()),
    "copies_and_optional": channel(2, [TRY_SEND_COPY, 0], [TRY_SEND_COPY, 0], [TRY_SEND_COPY, 0],
                                   [TRY_RECV_OPT, 0, 1], [TRY_RECV_OPT, 0, 0], [TRY_RECV_OPT, 0, 1], stats_rx()),
    "batches": channel(8, [SEND_BATCH, 0, 10], stats_tx(), [RECV_BATCH, 0, 3], [SEND_BATCH, 0, 0],
                       [CONSUME, 0, 10, 0, 1], [RECV_BATCH, 0, 0], stats_rx()),
    "close_then_drain": channel(4, [TRY_SEND, 0], [SEND, 0], [CLOSE_TX, 0], [TRY_SEND, 0], [SEND_BATCH, 0, 2],
                                [TRY_RECV, 0], [RECV, 0], [TRY_RECV, 0], [RECV, 0], stats_rx()),
    "receiver_closes": channel(4, [TRY_SEND, 0], [CLOSE_RX, 0], [SEND_FOR, 0, ZERO], [RECV_BATCH, 0, 4],
                               [RECV_FOR, 0, ZERO], stats_tx()),
    "last_sender_dropped": channel(4, [TRY_SEND, 0], [TRY_SEND, 0], [DROP_TX, 0, 1], [TRY_RECV, 0],
                                   [CONSUME, 0, 5, 0, 0], [TRY_RECV, 0], stats_rx()),
    "last_receiver_dropped_with_values": channel(8, [SEND_BATCH, 0, 3], [DROP_RX, 0, 0], [TRY_SEND, 0],
                                                 stats_tx(), [PROBE, 0, 0], [DROP_TX, 0, 0]),
    "timeouts": channel(1, [SEND, 0], [SEND_FOR, 0, MICRO], [SEND_FOR, 0, ZERO], [RECV_FOR, 0, MICRO],
                        [RECV_FOR, 0, MICRO], [RECV_FOR, 0, ZERO], stats_tx()),
    "timeouts_spinning": channel(1, [SEND, 0], [SEND_FOR, 0, 1], [RECV_FOR, 0, 2], [RECV_FOR, 0, 2], stats_rx(),
                                 wait=SPIN),
    "clone_move_and_drop": channel(4, [CLONE_TX, 0, 1, 1], [CLONE_TX, 1, 2, 0], [DROP_TX, 0, 0], [TRY_SEND, 1],
                                   [MOVE_TX, 1, 0], [TRY_SEND, 0], [CLONE_RX, 0, 1, 0], [DROP_RX, 0, 1],
                                   [TRY_RECV, 1], [MOVE_RX, 1, 2], [TRY_RECV, 2], stats_tx(2), [DROP_TX, 0, 1],
                                   [DROP_TX, 2, 1], [TRY_RECV, 2], stats_rx(2)),
    "consume_throws": channel(8, [SEND_BATCH, 0, 5], [CONSUME, 0, 5, 0x82, 1], [CONSUME, 0, 5, 0x80, 0],
                              stats_rx(), [CONSUME, 0, 5, 0x81, 1], [TRY_RECV, 0]),
    "capacity_zero": channel(0, [TRY_SEND, 0], [SEND_BATCH, 0, 2], [TRY_RECV, 0], [CONSUME, 0, 3, 0, 0],
                             stats_tx(), [PROBE, 0, 0]),
    "capacity_too_large": channel(0xE0, [TRY_SEND, 0], [RECV_FOR, 0, ZERO], stats_rx()),
    "capacity_max_u64": channel(0xE6, [SEND, 0], [RECV, 0], [CLOSE_TX, 0]),
    "capacity_one_rounds_up": channel(1, [TRY_SEND, 0], [TRY_SEND, 0], [PROBE, 0, 0], stats_tx()),
    "capacity_rounds_to_power_of_two": channel(0xC3, [SEND_BATCH, 0, 39], [SEND_BATCH, 0, 39], [PROBE, 0, 0],
                                               stats_tx(), [RECV_BATCH, 0, 39], [DROP_RX, 0, 1], [DROP_TX, 0, 1]),
    "recreate": channel(3, [TRY_SEND, 0], [RECREATE, 5, PARK, 1, 2], [TRY_SEND, 0], [TRY_SEND, 1],
                        [TRY_RECV, 2], stats_rx(2)),
}

# ---------------------------------------------------------------- partitioners (partitioner_fuzz.cc)
# First byte: 0 ring, 2 stateless, 3 routing keys. Ring: initial workers, virtual-node
# byte, then ops: 0 add(id), 1 add(special), 2 remove(id), 3 remove(special),
# 4 add-then-remove(id), 5 key(u64), 6 key hashing to(u64), 7 bucket boundary(b, b).
ADD, ADD_SPECIAL, REMOVE, REMOVE_SPECIAL, ADD_REMOVE, KEY, KEY_AT, BOUNDARY = range(8)


def ring(initial, vnodes, *ops):
    return bytes([0, initial, vnodes] + [b for op in ops for b in op])


def stateless(*cases):  # (key, selector, extra bytes)
    out = [2]
    for key, sel, extra in cases:
        out += u64(key) + [sel] + extra
    return bytes(out)


PARTITIONER_SEEDS = {
    "grow_shrink_and_refusals": ring(3, 10, [ADD, 5], [REMOVE, 1], [REMOVE, 7], [ADD, 5], [REMOVE, 0],
                                     [REMOVE, 2], [REMOVE, 5], [ADD, 1]),
    "empty_ring_filled": ring(0, 5, [REMOVE, 3], [ADD, 3], [KEY, *u64(42)], [ADD, 4], [REMOVE, 4], [REMOVE, 3]),
    "bad_ids": ring(2, 3, [ADD_SPECIAL, 0], [ADD_SPECIAL, 1], [ADD_SPECIAL, 2, 7], [ADD_SPECIAL, 3],
                    [REMOVE_SPECIAL, 1], [REMOVE_SPECIAL, 0], [REMOVE_SPECIAL, 3]),
    "default_virtual_nodes": ring(4, 255, [ADD_REMOVE, 9], [KEY_AT, *u64(0)], [KEY_AT, *u64(2**64 - 1)],
                                  [BOUNDARY, 128, 1], [ADD, 17], [REMOVE, 0]),
    "one_virtual_node": ring(1, 0, [ADD, 2], [BOUNDARY, 0, 0], [BOUNDARY, 255, 1], [REMOVE, 0], [ADD_REMOVE, 0]),
    "many_workers": ring(5, 7, *[[ADD, i] for i in range(5, 40, 3)], *[[REMOVE, i] for i in range(5, 40, 6)]),
    "stateless_small_and_edges": stateless((0, 1, []), (7, 2, [2]), (2**64 - 1, 3, [255, 255]),
                                           (12345, 4, u32(2**31)), (99, 0, [])),
    "stateless_huge_counts": stateless((1, 5, u64(2**32)), (3, 4, u32(2**32 - 1))),
    # Found by this fuzzer: JumpHashPartitioner looped forever for 2^62 workers (a double
    # past 2^63 converted to int64) and returned SIZE_MAX for 2^63 or more.
    "jump_hash_2_pow_62_workers_hung": stateless((2, 5, u64(2**62))),
    "jump_hash_2_pow_63_workers_out_of_range": stateless((0, 5, u64(2**63))),
    "routing_keys": bytes([3, 5] + list(b"hello") + [3] + u64(7) + [0] + [0] + u64(2**63) +
                          [12] + list(b"user:42/abcd") + [5] + u64(2**32 - 1)),
}

# ---------------------------------------------------------------- pool config (pool_config_fuzz.cc)
# num_workers, max_workers (amount bytes: < 0x80 small, 0x80+ edges, 0xA0+ absurd), flags
# (1 affinity, 2 oversubscription, 16/32/64/128: queue, mesh, batch, wait follow),
# idle-tick selector (6: none), full policy, fault policy, name flag, worker-settings
# count, then per worker: flags (1 queue, 2 batch, 4 wait, 8 cpu, 16 name, 32 indexed).
NO_TICK = 6


def pool(num, max_, flags, *fields, tick=NO_TICK, workers=()):
    out = [num, max_, flags] + [b for f in fields for b in f] + [tick, 0, 0, 0, len(workers)]
    for w in workers:
        out += w
    return bytes(out)


POOL_SEEDS = {
    "defaults": pool(4, 0, 0),
    "no_workers": pool(0, 0, 0),
    "max_below_num": pool(4, 2, 0),
    "spare_slots": pool(2, 8, 0, workers=[[1, 3], [2, 9]]),
    "too_many_slots": pool(0x85, 0, 0),                       # 1025 workers
    "capacities_at_the_limit": pool(1, 0, 16 | 32 | 64, [0x81], [0x82], [0x87]),  # 2^30, 2^30 + 1, batch 1
    "zero_queue": pool(1, 0, 16, [0x86]),
    "absurd_everything": pool(0xA0, 0xA0, 0xFF, [0xA0], [0xA3], [0xA0], [0xFF] * 8, tick=0),
    "idle_tick_zero": pool(1, 0, 0, tick=0),
    "idle_tick_negative": pool(1, 0, 0, tick=1),
    "cpu_without_affinity": pool(2, 0, 0, workers=[[8, 5]]),
    "affinity": pool(2, 0, 1),
    "affinity_too_many": pool(8, 0, 1),
    "affinity_oversubscribed": pool(8, 0, 3),
    "affinity_cpu_twice": pool(2, 0, 1, workers=[[8, 5], [8, 5]]),
    "affinity_cpu_outside_mask": pool(2, 0, 1, workers=[[8, 3]]),
    "settings_past_the_slots": pool(2, 0, 0, workers=[[0], [0], [0]]),
    "worker_overrides": pool(3, 0, 0, workers=[[1 | 2 | 16, 0x20, 9, 3] + list(b"abc"), [1, 0x86], [32, 1]]),
}


# ---------------------------------------------------------------- cluster frames (cluster_frame_fuzz.cc)
# Mode byte: even, a raw frame follows; odd, records to build then one damage.
def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def frame(records, sequence=0, magic=0x46434E53, version=1):
    body = b"".join(struct.pack("<QII", k, s, len(p)) + p for k, s, p in records)
    head = struct.pack("<IHHIIQ", magic, version, 0, len(body), len(records), sequence)
    return head + struct.pack("<II", crc32c(head + body), 0) + body


def text(s):
    return struct.pack("<H", len(s)) + s


def built(records, damage, at=0, value=0, sequence=7):
    out = bytes([1, len(records)])
    for key, slot, s in records:
        out += bytes(u64(key)) + bytes([slot, len(s)]) + s
    return out + bytes(u64(sequence)) + bytes([damage]) + struct.pack("<H", at) + bytes([value])


FRAME_SEEDS = {
    "raw_empty_frame": bytes([0]) + frame([]),
    "raw_two_records": bytes([0]) + frame([(1, 0xFFFFFFFF, text(b"hi")), (2, 3, struct.pack("<Q", 9))], 5),
    "raw_bad_magic": bytes([0]) + frame([(1, 0, text(b"x"))], magic=0x12345678),
    "raw_bad_version": bytes([0]) + frame([(1, 0, text(b"x"))], version=2),
    "raw_truncated": bytes([0]) + frame([(1, 0, text(b"hello"))])[:-2],
    "raw_too_short": bytes([0, 0x53, 0x4E, 0x43]),
    "built_intact": built([(1, 0, b"alpha"), (2, 1, b""), (3, 255, b"gamma")], 0),
    "built_truncated": built([(1, 0, b"alpha"), (2, 1, b"beta")], 1, at=40),
    "built_byte_overwritten": built([(1, 0, b"alpha")], 2, at=50, value=0x41),
    "built_bit_flipped": built([(1, 0, b"alpha"), (9, 9, b"zeta")], 3, at=24, value=5),
    "built_full_frame": built([(k, k % 7, b"x" * 48) for k in range(23)], 0),
}


# ---------------------------------------------------------------- ipc headers (ipc_header_fuzz.cc)
# Mode byte (1: expect the header's own shape, 2: file size = segment size + delta,
# 4: round trip), the 64-byte header, the file size (or delta), the attaching role, the
# expected message bytes, alignment, flags and type tag, then the round trip's fields.
IPC_CONTROL = 7 * 64
IPC_MAGIC = 0x0031435049_5F4E53
IPC_SENDER, IPC_RECEIVER = 1, 2


def ipc_slot(message_bytes):
    raw = (8 + message_bytes + 7) // 8 * 8
    if raw <= 64:
        return 1 << (raw - 1).bit_length()
    return (raw + 63) // 64 * 64


def ipc_header(capacity, message_bytes, align=8, flags=0, tag=0, creator=IPC_RECEIVER, magic=IPC_MAGIC,
               version=1, slot=None, segment=None, header_bytes=IPC_CONTROL):
    slot = ipc_slot(message_bytes) if slot is None else slot
    segment = IPC_CONTROL + capacity * slot if segment is None else segment
    return struct.pack("<QIIQQIIIIQII", magic, version, header_bytes, segment, capacity, slot, message_bytes, align,
                       flags, tag, creator, 0)


def header_case(header, file_bytes, attacher=IPC_SENDER, expect=(8, 8, 0, 0), mode=0, trip=b""):
    mb, al, fl, tag = expect
    return bytes([mode]) + header + struct.pack("<QIIIIQ", file_bytes, attacher, mb, al, fl, tag) + trip


def trip(capacity, message_bytes, align_log2, flags, tag, creator_is_sender):
    return struct.pack("<QIBBQB", capacity, message_bytes, align_log2, flags, tag, creator_is_sender)


GOOD = ipc_header(1024, 8)
GOOD_SIZE = IPC_CONTROL + 1024 * 16
IPC_HEADER_SEEDS = {
    "valid_u64": header_case(GOOD, GOOD_SIZE),
    "valid_bytes": header_case(ipc_header(64, 100, align=1, flags=1), IPC_CONTROL + 64 * 128, expect=(100, 1, 1, 0)),
    "valid_own_shape_bigger_file": header_case(ipc_header(1 << 24, 1, align=1, tag=7), 256 + 100, mode=3),
    "file_one_byte_short": header_case(GOOD, 255, mode=2),
    "file_far_too_small": header_case(GOOD, 100),
    "bad_magic": header_case(ipc_header(1024, 8, magic=0x1234), GOOD_SIZE),
    "bad_version": header_case(ipc_header(1024, 8, version=2), GOOD_SIZE),
    "attacher_is_creator": header_case(GOOD, GOOD_SIZE, attacher=IPC_RECEIVER),
    "no_role": header_case(GOOD, GOOD_SIZE, attacher=0),
    "bytes_on_typed": header_case(GOOD, GOOD_SIZE, expect=(8, 1, 1, 0)),
    "wrong_size": header_case(GOOD, GOOD_SIZE, expect=(4, 4, 0, 0)),
    "wrong_alignment": header_case(GOOD, GOOD_SIZE, expect=(8, 1, 0, 0)),
    "wrong_tag": header_case(GOOD, GOOD_SIZE, expect=(8, 8, 0, 42)),
    "capacity_not_a_power_of_two": header_case(ipc_header(1000, 8), GOOD_SIZE, mode=1),
    "capacity_too_large": header_case(ipc_header(1 << 25, 8), 2**64 - 1, mode=1),
    "slot_too_small": header_case(ipc_header(1024, 8, slot=8), GOOD_SIZE, mode=1),
    "segment_overflowing": header_case(ipc_header(1 << 24, 1 << 20, segment=2**64 - 64), 2**64 - 1, mode=1),
    "unknown_flag": header_case(ipc_header(1024, 8, flags=2), GOOD_SIZE, mode=1),
    "header_bytes_wrong": header_case(ipc_header(1024, 8, header_bytes=64), GOOD_SIZE, mode=1),
    "round_trip_u64": header_case(GOOD, GOOD_SIZE, mode=4, trip=trip(1024, 8, 3, 0, 0, 0)),
    "round_trip_bytes_max": header_case(GOOD, GOOD_SIZE, mode=4, trip=trip(1 << 24, 1 << 20, 0, 1, 99, 1)),
    "round_trip_invalid": header_case(GOOD, GOOD_SIZE, mode=4, trip=trip(0, 8, 3, 0, 0, 0)),
}

# ---------------------------------------------------------------- ipc rings (ipc_ring_fuzz.cc)
# Config byte (1: byte messages; bits 1-3: capacity 2^k; bits 4-5: wait policy), the byte
# messages' maximum - 1, then operations. A send of byte messages reads one byte first
# (0xff: one byte too long); timed verbs read a byte (0 mod 8: 50 us, else no wait).
R_TRY_SEND, R_SEND_FOR, R_SEND_BATCH, R_TRY_RECV, R_RECV_FOR, R_RECV_BATCH = range(6)
R_SCRIBBLE, R_CLOSE_TX, R_CLOSE_RX, R_LOOK, R_RECREATE = range(6, 11)
# Scribble targets: target byte t names word (t // 2) % 9 of side t % 2: 0 position,
# 1 closed, 2 pid, 3 attached, 4 light_barrier, 5 discarded, 6 a wait word (side 0:
# parked, 1: wake; of line slot % 2), 7 a slot's sequence (side 0) or length (side 1)
# word, 8 a header word. How: 0 raw, 1 small, 2 plausible, 3 all ones.


def ring(capacity_log2, *ops, byte_messages=False, max_len=16, wait=0):
    config = (1 if byte_messages else 0) | (capacity_log2 << 1) | (wait << 4)
    return bytes([config, max_len - 1] + [b for op in ops for b in op])


def scribble(target, slot=0, how=0, value=0):
    return [R_SCRIBBLE, target, slot, how] + u64(value)


IPC_RING_SEEDS = {
    "fill_then_drain": ring(2, *[[R_TRY_SEND]] * 5, [R_LOOK], *[[R_TRY_RECV]] * 5, [R_LOOK]),
    "timeouts": ring(0, [R_SEND_FOR, 1], [R_SEND_FOR, 0], [R_RECV_FOR, 0], [R_RECV_FOR, 0], [R_RECV_FOR, 1], [R_LOOK]),
    "batches": ring(3, [R_SEND_BATCH, 10], [R_LOOK], [R_RECV_BATCH, 3], [R_RECV_BATCH, 0], [R_SEND_BATCH, 0],
                    [R_RECV_BATCH, 39], [R_LOOK], wait=3),
    "sender_closes_then_drain": ring(2, [R_TRY_SEND], [R_TRY_SEND], [R_CLOSE_TX], [R_TRY_SEND], [R_SEND_BATCH, 3],
                                     [R_LOOK], [R_TRY_RECV], [R_RECV_FOR, 1], [R_TRY_RECV], [R_LOOK]),
    "receiver_closes": ring(2, [R_TRY_SEND], [R_CLOSE_RX], [R_SEND_FOR, 1], [R_LOOK], [R_RECV_BATCH, 4],
                            [R_TRY_RECV], [R_LOOK]),
    "bytes_fill_then_drain": ring(1, [R_TRY_SEND, 0], [R_TRY_SEND, 0], [R_TRY_SEND, 0xff], [R_TRY_SEND, 0],
                                  [R_LOOK], [R_TRY_RECV], [R_RECV_FOR, 1], [R_TRY_RECV], [R_LOOK],
                                  byte_messages=True, max_len=40),
    "scribble_plausible_sequence": ring(2, [R_TRY_SEND], scribble(14, 1, 2), [R_TRY_RECV], [R_TRY_RECV],
                                        [R_RECV_BATCH, 5], [R_LOOK]),
    "scribble_length_past_maximum": ring(2, [R_TRY_SEND, 0], scribble(15, 0, 0, 2**32 - 1), [R_TRY_RECV],
                                         [R_TRY_RECV], [R_LOOK], byte_messages=True, max_len=8),
    "scribble_length_near_maximum": ring(2, [R_TRY_SEND, 0], scribble(14, 1, 2), scribble(15, 1, 2, 1),
                                         [R_TRY_RECV], [R_TRY_RECV], [R_TRY_RECV], [R_LOOK],
                                         byte_messages=True, max_len=8),
    "scribble_receiver_position_ahead": ring(1, [R_TRY_SEND], [R_TRY_SEND], scribble(1, 0, 3), [R_TRY_SEND],
                                             [R_SEND_BATCH, 2], [R_LOOK]),
    "scribble_receiver_position_back": ring(1, [R_TRY_SEND], [R_TRY_SEND], [R_TRY_RECV], scribble(1, 0, 2, 0),
                                            [R_TRY_SEND], [R_TRY_SEND], [R_TRY_SEND], [R_LOOK]),
    "scribble_closed_flags": ring(2, [R_TRY_SEND], scribble(2, 0, 1, 1), [R_TRY_RECV], [R_TRY_RECV],
                                  scribble(3, 0, 1, 1), [R_TRY_SEND], [R_LOOK]),
    "scribble_pids": ring(0, scribble(4, 0, 1, 1), scribble(5, 0, 0, 2**31 + 5), [R_SEND_FOR, 0], [R_SEND_FOR, 0],
                          [R_RECV_FOR, 0], [R_RECV_FOR, 0], [R_LOOK]),
    "scribble_wait_words": ring(0, scribble(12, 0, 1, 1), scribble(12, 1, 1, 1), scribble(13, 0, 0, 77),
                                scribble(13, 1, 3), [R_TRY_SEND], [R_SEND_FOR, 0], [R_RECV_FOR, 0], [R_RECV_FOR, 0]),
    "scribble_discarded_and_header": ring(2, scribble(11, 0, 3), scribble(16, 3, 0, 5), [R_TRY_SEND], [R_LOOK],
                                          [R_CLOSE_RX], [R_LOOK]),
    "recreate": ring(2, [R_TRY_SEND], scribble(14, 0, 2), [R_RECREATE, 0x03, 31], [R_TRY_SEND, 0], [R_TRY_RECV],
                     [R_LOOK]),
}

def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    for kind in ("spsc", "mpsc", "mpmc"):
        write("channel_" + kind, CHANNEL_SEEDS)
    write("partitioners", PARTITIONER_SEEDS)
    write("pool_config", POOL_SEEDS)
    write("cluster_frame", FRAME_SEEDS)
    write("ipc_header", IPC_HEADER_SEEDS)
    write("ipc_ring", IPC_RING_SEEDS)
