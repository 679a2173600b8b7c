#!/usr/bin/env bash
# Runs the inter-process benchmark (bench/ipc_bench.cc: sn::ipc against a Unix socket, a
# pipe and one bounced cache line, between two processes pinned to the first two CPUs this
# shell may use), prints its table of medians, then the bars (scripts/bench_ratios.py, the
# `ipc` suite): rtt p50 sn / cache line <= 1.3, 8B throughput sn / unix socket >= 20, and
# for information the 64B and pipe ratios.
#
#   scripts/bench_ipc.sh [benchmark flags...]
#   SN_BUILD_DIR=build-bench SN_BENCH_REPETITIONS=9 scripts/bench_ipc.sh --benchmark_filter=rtt
#
# SN_BUILD_DIR: the build tree (default build-bench, relative to the repository), built with
# -DSN_BUILD_BENCHMARKS=ON on Linux (the ipc_bench target). SN_BENCH_REPETITIONS: runs of
# each row (default 5); every figure is the median over them. The rows are interleaved at
# random across repetitions, so that both sides of a ratio see the same moments of a noisy
# machine. SN_BENCH_JSON keeps the JSON report at that path (default: a temporary file).
# Exit status: that of bench_ratios.py (0 when both bars pass).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SN_BUILD_DIR:-build-bench}
[[ $build = /* ]] || build="$root/$build"
binary="$build/bench/ipc_bench"
if [[ ! -x $binary ]]; then
  echo "bench_ipc: $binary is missing: cmake --build $build --target ipc_bench" >&2
  exit 1
fi

json=${SN_BENCH_JSON:-}
if [[ -z $json ]]; then
  json=$(mktemp --suffix=.json)
  trap 'rm -f "$json"' EXIT
fi

"$binary" --benchmark_repetitions="${SN_BENCH_REPETITIONS:-5}" --benchmark_report_aggregates_only=true \
  --benchmark_enable_random_interleaving=true --benchmark_out="$json" --benchmark_out_format=json "$@" >/dev/null
python3 "$root/scripts/bench_ratios.py" "$json"
