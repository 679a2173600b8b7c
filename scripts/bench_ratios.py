#!/usr/bin/env python3
"""Prints the "done when" ratios of the message_passing benchmark from its JSON output.

    build-bench/bench/message_passing --benchmark_repetitions=5 \
        --benchmark_report_aggregates_only=true --benchmark_out=mp.json
    scripts/bench_ratios.py mp.json          # or: ... --benchmark_format=json | scripts/bench_ratios.py -

Every figure is a median over repetitions: the `median` aggregate rows when the file has
them, otherwise the median of the per-repetition rows. Exit status 0 when every ratio
passes, 1 when one fails or a case is missing or failed.
"""

import argparse
import json
import statistics
import sys

# (what, numerator case, denominator case, metric, threshold, comparison)
#   ">=": numerator / denominator >= threshold    (throughput, items_per_second)
#   "<=": numerator / denominator <= threshold    (latency, p50_ns)
RATIOS = [
    ("spsc sn vs boost spsc_queue", "spsc/1x1/sn", "spsc/1x1/boost_lockfree", "items_per_second", 1.5, ">="),
    ("spsc_batch sn vs boost spsc_queue (single)", "spsc_batch/1x1/sn", "spsc/1x1/boost_lockfree", "items_per_second", 3.0, ">="),
    ("mpsc sn vs moodycamel", "mpsc/1x1/sn", "mpsc/1x1/moodycamel", "items_per_second", 1.5, ">="),
    ("mpmc sn vs moodycamel", "mpmc/1x1/sn", "mpmc/1x1/moodycamel", "items_per_second", 1.0, ">="),
    ("mpmc sn vs tbb", "mpmc/1x1/sn", "mpmc/1x1/tbb", "items_per_second", 3.0, ">="),
    ("rtt sn p50 vs cache-line p50", "rtt/sn", "rtt/cacheline", "p50_ns", 1.3, "<="),
]

METRICS = ("items_per_second", "p50_ns", "p99_ns")
TIME_SUFFIXES = ("/real_time", "/manual_time")


def case_name(bench):
    name = bench.get("run_name") or bench["name"]
    for suffix in TIME_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


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
                    medians[case] = {m: b[m] for m in METRICS if m in b}
                continue
            row = samples.setdefault(case, {})
            for m in METRICS:
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
    return f"{value:.0f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="+", help="Google Benchmark JSON output ('-' for stdin)")
    parser.add_argument("--quiet", action="store_true", help="print only the ratios")
    args = parser.parse_args()

    order, med, errors = load(args.json)

    if not args.quiet:
        width = max([len(c) for c in order] + [4])
        print(f"{'case':<{width}}  {'items/s':>12}  {'p50_ns':>8}  {'p99_ns':>8}   (medians)")
        for case in order:
            if case in errors and case not in med:
                print(f"{case:<{width}}  ERROR: {errors[case]}")
                continue
            row = med.get(case, {})
            print(f"{case:<{width}}  {fmt('items_per_second', row.get('items_per_second')):>12}  "
                  f"{fmt('p50_ns', row.get('p50_ns')):>8}  {fmt('p99_ns', row.get('p99_ns')):>8}")
        print()

    ok = True
    for what, num, den, metric, threshold, cmp in RATIOS:
        a = med.get(num, {}).get(metric)
        b = med.get(den, {}).get(metric)
        if a is None or b is None or b == 0:
            missing = [c for c, v in ((num, a), (den, b)) if v is None]
            why = "; ".join(f"{c}: {errors.get(c, 'missing')}" for c in missing) or "zero denominator"
            print(f"FAIL  {what}: {num} / {den} {metric}: n/a ({why})")
            ok = False
            continue
        ratio = a / b
        passed = ratio >= threshold if cmp == ">=" else ratio <= threshold
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {what}: {num} / {den} {metric} = "
              f"{fmt(metric, a)} / {fmt(metric, b)} = {ratio:.2f} (need {cmp} {threshold})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
