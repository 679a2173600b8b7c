#!/usr/bin/env bash
# Builds shared_nothing and runs the demo: examples/word_count, a keyed word count over
# a pool that grows and shrinks while it runs (consistent hashing, state handed over),
# with a progress line, each resize, a final table of pool stats and its checks.
# Arguments go to word_count: [--words=N] [--workers=W] [--producers=P] (or --help).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/deps.sh
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSN_BUILD_TESTS=OFF -DSN_BUILD_BENCHMARKS=OFF
cmake --build build-demo --target word_count
./build-demo/examples/word_count "$@"
