#!/usr/bin/env python3
"""Prints the "done when" bars of the message_passing, worker_pool, cluster_bench and
ipc_bench benchmarks from their JSON output.

    build-bench/bench/message_passing --benchmark_repetitions=5 \
        --benchmark_report_aggregates_only=true --benchmark_out=mp.json
    scripts/bench_ratios.py mp.json          # or: ... --benchmark_format=json | scripts/bench_ratios.py -
    build-bench/bench/worker_pool --benchmark_repetitions=5 \
        --benchmark_report_aggregates_only=true --benchmark_out=wp.json --benchmark_out_format=json
    scripts/bench_ratios.py wp.json
    scripts/bench_cluster.sh                 # runs cluster_bench on 2 ranks, then this
    scripts/bench_ipc.sh                     # runs ipc_bench (2 processes), then this

The bars checked are those of the benchmarks the input has cases of (both, given both
files). Every figure is a median over repetitions: the `median` aggregate rows when the
file has them, otherwise the median of the per-repetition rows. Exit status 0 when every
bar passes, 1 when one fails or a case is missing or failed. Lines marked INFO (pool
scaling, the other ipc transports) are reported, not checked.
"""

import argparse
import json
import re
import statistics
import sys

# (what, numerator case, denominator case, metric, threshold, comparison)
#   ">=": numerator / denominator >= threshold    (throughput, items_per_second)
#   "<=": numerator / denominator <= threshold    (latency, p50_ns)
MESSAGE_PASSING_RATIOS = [
    ("spsc sn vs boost spsc_queue", "spsc/1x1/sn", "spsc/1x1/boost_lockfree", "items_per_second", 1.5, ">="),
    ("spsc_batch sn vs boost spsc_queue (single)", "spsc_batch/1x1/sn", "spsc/1x1/boost_lockfree", "items_per_second", 3.0, ">="),
    ("spsc_batch sn vs boost spsc_queue (batch)", "spsc_batch/1x1/sn", "spsc_batch/1x1/boost_lockfree_batch", "items_per_second", 1.0, ">="),
    ("mpsc sn vs moodycamel", "mpsc/1x1/sn", "mpsc/1x1/moodycamel", "items_per_second", 1.5, ">="),
    ("mpmc sn vs moodycamel", "mpmc/1x1/sn", "mpmc/1x1/moodycamel", "items_per_second", 1.0, ">="),
    ("mpmc sn vs tbb", "mpmc/1x1/sn", "mpmc/1x1/tbb", "items_per_second", 3.0, ">="),
    ("rtt sn p50 vs cache-line p50", "rtt/sn", "rtt/cacheline", "p50_ns", 1.3, "<="),
]

WORKER_POOL_RATIOS = [
    ("keyed sn vs caf", "pool_keyed/1x1/sn", "pool_keyed/1x1/caf", "items_per_second", 10.0, ">="),
    ("pool rtt sn p50 vs cache-line p50", "pool_rtt/sn", "pool_rtt/cacheline", "p50_ns", 1.5, "<="),
]

# sn::ClusterPool between 2 ranks against plain MPI moving the same payloads (cluster_bench).
CLUSTER_RATIOS = [
    ("stream 8B sn vs mpi", "cluster/stream/8B/sn", "cluster/stream/8B/mpi", "items_per_second", 0.7, ">="),
    ("stream 256B sn vs mpi", "cluster/stream/256B/sn", "cluster/stream/256B/mpi", "items_per_second", 0.9, ">="),
    ("rtt sn p50 vs mpi p50", "cluster/rtt/sn", "cluster/rtt/mpi", "p50_us", 2.0, "<="),
    ("keys owned locally: one-rank cluster pool vs plain pool", "cluster/pool_keyed_1x1/sn_one_rank",
     "cluster/pool_keyed_1x1/sn", "items_per_second", 0.95, ">="),
]

# sn::ipc between two processes on two CPUs (ipc_bench): against one cache line bounced
# between the same CPUs (the floor of any shared-memory handoff) and a Unix socket moving
# the same 8-byte messages in the same batches of 64.
IPC_RATIOS = [
    ("ipc rtt sn p50 vs cache-line p50", "ipc/rtt/sn", "ipc/rtt/cacheline", "p50_ns", 1.3, "<="),
    ("ipc spsc 8B sn vs unix socket", "ipc/spsc/8B/sn", "ipc/spsc/8B/unix_socket", "items_per_second", 20.0, ">="),
]

# (what, numerator case, denominator case, metric): reported when both are present.
IPC_INFO = [
    ("ipc rtt sn p99 vs cache-line p99", "ipc/rtt/sn", "ipc/rtt/cacheline", "p99_ns"),
    ("ipc spsc 64B sn vs unix socket", "ipc/spsc/64B/sn", "ipc/spsc/64B/unix_socket", "items_per_second"),
    ("ipc spsc 8B sn vs pipe", "ipc/spsc/8B/sn", "ipc/spsc/8B/pipe", "items_per_second"),
    ("ipc spsc 64B sn vs pipe", "ipc/spsc/64B/sn", "ipc/spsc/64B/pipe", "items_per_second"),
]

# (what, case, metric, threshold): the metric itself must be <= threshold.
WORKER_POOL_LIMITS = [
    ("idle pool CPU", "pool_idle/sn", "cpu_percent", 2.0),
    ("wake-up of a parked worker, p99", "pool_idle/sn", "wake_p99_us", 200.0),
]

# (what, numerator case, denominator case, metric): reported when both are present.
WORKER_POOL_SCALING = [
    (f"keyed {impl} {shape} vs 1x1", f"pool_keyed/{shape}/{impl}", f"pool_keyed/1x1/{impl}", "items_per_second")
    for impl in ("sn", "caf")
    for shape in ("4x4", "8x8")
]

# Which benchmark a case belongs to, by the start of its name.
SUITES = {
    "message_passing": ("spsc/", "spsc_batch/", "mpsc/", "mpmc/", "rtt/"),
    "worker_pool": ("pool_", "ingress/"),
    "cluster": ("cluster/",),
    "ipc": ("ipc/",),
}

METRICS = ("items_per_second", "p50_ns", "p99_ns")
# Worker-pool and cluster counters, shown in the table only when a case has them.
EXTRA_METRICS = ("cpu_percent", "wake_p50_us", "wake_p99_us", "p50_us", "p99_us")
# What Google Benchmark appends to a name: a fixed iteration count, a fixed repetition
# count, and the timing mode.
NAME_SUFFIX = re.compile(r"(/iterations:\d+)?(/repeats:\d+)?(/real_time|/manual_time)?$")


def case_name(bench):
    name = bench.get("run_name") or bench["name"]
    return NAME_SUFFIX.sub("", name, count=1)


def load(paths):
    medians = {}  # case -> {metric: value}, from "median" aggregate rows
    samples = {}  # case -> {metric: [values]}, from per-repetition rows
    errors = {}  # case -> message
    order = []
    for path in paths:
        with (sys.stdin if path == "-" else open(path)) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            case = case_name(b)
            if case not in order:
                order.append(case)
            if b.get("error_occurred"):
                errors[case] = b.get("error_message", "error")
                continue
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") == "median":
                    medians[case] = {m: b[m] for m in METRICS + EXTRA_METRICS if m in b}
                continue
            row = samples.setdefault(case, {})
            for m in METRICS + EXTRA_METRICS:
                if m in b:
                    row.setdefault(m, []).append(b[m])
    result = {}
    for case in order:
        if case in medians:
            result[case] = medians[case]
        elif case in samples:
            result[case] = {m: statistics.median(v) for m, v in samples[case].items()}
    return order, result, errors


def fmt(metric, value):
    if value is None:
        return "-"
    if metric == "items_per_second":
        return f"{value / 1e6:.2f}M/s"
    if metric == "cpu_percent":
        return f"{value:.3f}"
    if metric in ("p50_us", "p99_us"):
        return f"{value:.2f}"
    return f"{value:.0f}"


def check_ratio(med, errors, what, num, den, metric, threshold, cmp):
    a = med.get(num, {}).get(metric)
    b = med.get(den, {}).get(metric)
    if a is None or b is None or b == 0:
        missing = [c for c, v in ((num, a), (den, b)) if v is None]
        why = "; ".join(f"{c}: {errors.get(c, 'missing')}" for c in missing) or "zero denominator"
        print(f"FAIL  {what}: {num} / {den} {metric}: n/a ({why})")
        return False
    ratio = a / b
    passed = ratio >= threshold if cmp == ">=" else ratio <= threshold
    print(f"{'PASS' if passed else 'FAIL'}  {what}: {num} / {den} {metric} = "
          f"{fmt(metric, a)} / {fmt(metric, b)} = {ratio:.2f} (need {cmp} {threshold})")
    return passed


def check_limit(med, errors, what, case, metric, threshold):
    v = med.get(case, {}).get(metric)
    if v is None:
        print(f"FAIL  {what}: {case} {metric}: n/a ({errors.get(case, 'missing')})")
        return False
    passed = v <= threshold
    print(f"{'PASS' if passed else 'FAIL'}  {what}: {case} {metric} = {fmt(metric, v)} (need <= {threshold})")
    return passed


def report_scaling(med, what, num, den, metric):
    a = med.get(num, {}).get(metric)
    b = med.get(den, {}).get(metric)
    if a is not None and b:
        print(f"INFO  {what}: {num} / {den} {metric} = {fmt(metric, a)} / {fmt(metric, b)} = {a / b:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="+", help="Google Benchmark JSON output ('-' for stdin)")
    parser.add_argument("--quiet", action="store_true", help="print only the ratios")
    args = parser.parse_args()

    order, med, errors = load(args.json)
    extras = [m for m in EXTRA_METRICS if any(m in row for row in med.values())]

    if not args.quiet:
        width = max([len(c) for c in order] + [4])
        extra_head = "".join(f"  {m:>12}" for m in extras)
        print(f"{'case':<{width}}  {'items/s':>12}  {'p50_ns':>8}  {'p99_ns':>8}{extra_head}   (medians)")
        for case in order:
            if case in errors and case not in med:
                print(f"{case:<{width}}  ERROR: {errors[case]}")
                continue
            row = med.get(case, {})
            extra_cols = "".join(f"  {fmt(m, row.get(m)):>12}" for m in extras)
            print(f"{case:<{width}}  {fmt('items_per_second', row.get('items_per_second')):>12}  "
                  f"{fmt('p50_ns', row.get('p50_ns')):>8}  {fmt('p99_ns', row.get('p99_ns')):>8}{extra_cols}")
        print()

    present = {suite for suite, prefixes in SUITES.items() if any(c.startswith(prefixes) for c in order)}
    if not present:
        present = set(SUITES)  # nothing recognised: every bar fails as missing

    ok = True
    if "message_passing" in present:
        for ratio in MESSAGE_PASSING_RATIOS:
            ok &= check_ratio(med, errors, *ratio)
    if "worker_pool" in present:
        for ratio in WORKER_POOL_RATIOS:
            ok &= check_ratio(med, errors, *ratio)
        for limit in WORKER_POOL_LIMITS:
            ok &= check_limit(med, errors, *limit)
        for scaling in WORKER_POOL_SCALING:
            report_scaling(med, *scaling)
    if "cluster" in present:
        for ratio in CLUSTER_RATIOS:
            ok &= check_ratio(med, errors, *ratio)
    if "ipc" in present:
        for ratio in IPC_RATIOS:
            ok &= check_ratio(med, errors, *ratio)
        for info in IPC_INFO:
            report_scaling(med, *info)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
