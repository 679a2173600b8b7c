#!/usr/bin/env bash
# Builds shared_nothing and runs the demo: a tour of the three channel kinds with a
# throughput line per stage and a final table of channel stats.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/deps.sh
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSN_BUILD_TESTS=OFF -DSN_BUILD_BENCHMARKS=OFF
cmake --build build-demo --target channels_tour
./build-demo/examples/channels_tour "$@"
