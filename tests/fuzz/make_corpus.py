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
