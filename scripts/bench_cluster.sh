#!/usr/bin/env bash
# Runs the cluster benchmark (bench/cluster_bench.cc) on 2 MPI ranks over loopback, prints
# rank 0's table (the other rank reports nothing), then the bars (scripts/bench_ratios.py).
#
#   scripts/bench_cluster.sh [benchmark flags...]
#   SN_BUILD_DIR=build-bench scripts/bench_cluster.sh --benchmark_filter=rtt
#
# SN_BUILD_DIR: the build tree (default build-bench, relative to the repository), which
# needs -DSN_BUILD_BENCHMARKS=ON and the cluster layer (SN_BUILD_CLUSTER with MPI found).
# mpirun's flags: the build's SN_MPIEXEC_FLAGS (cmake/MpiTest.cmake puts them in the cache),
# else the same defaults: oversubscribe the few cores, allow root (containers), leave the
# ranks unbound (Open MPI would bind each rank to one core, where sn's transport thread,
# worker and producer would take turns), keep every byte on lo. SN_MPIRUN_EXTRA adds more.
# SN_BENCH_JSON keeps the JSON report at that path (default: a temporary file).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SN_BUILD_DIR:-build-bench}
[[ $build = /* ]] || build="$root/$build"
binary="$build/bench/cluster_bench"
if [[ ! -x $binary ]]; then
  echo "bench_cluster: $binary is missing: cmake --build $build --target cluster_bench" >&2
  exit 1
fi

flags="--oversubscribe;--allow-run-as-root;--bind-to;none;--mca;btl;self,vader,tcp;--mca;btl_tcp_if_include;lo;--mca;oob_tcp_if_include;lo"
if cached=$(grep -m1 '^SN_MPIEXEC_FLAGS:' "$build/CMakeCache.txt" 2>/dev/null); then
  flags=${cached#*=}
fi
IFS=';' read -r -a mpirun_flags <<<"$flags"
read -r -a extra <<<"${SN_MPIRUN_EXTRA:-}"

json=${SN_BENCH_JSON:-}
if [[ -z $json ]]; then
  json=$(mktemp --suffix=.json)
  trap 'rm -f "$json" "${json%.json}.local.json"' EXIT
fi

# First the keys a rank owns itself: a one-rank cluster pool against the plain pool.
local_json=${json%.json}.local.json
mpirun "${mpirun_flags[@]}" "${extra[@]}" -np 1 "$build/bench/cluster_local_bench" \
  --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true --benchmark_out="$local_json" --benchmark_out_format=json
mpirun "${mpirun_flags[@]}" "${extra[@]}" -np 2 "$binary" \
  --benchmark_report_aggregates_only=true --benchmark_out="$json" --benchmark_out_format=json "$@"
echo
python3 "$root/scripts/bench_ratios.py" --quiet "$json" "$local_json"
