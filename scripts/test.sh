#!/usr/bin/env bash
# Builds shared_nothing and runs every test:
#   1. a Release build (-Werror) of the library, tests, examples and benchmarks, and the whole ctest suite;
#   2. a ThreadSanitizer build running the concurrency-labelled tests.
# Usage: scripts/test.sh            (from anywhere; build trees go to ./build-ci*)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/deps.sh

jobs=$(nproc)
echo "== Release build and full test suite"
cmake -S . -B build-ci -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build-ci -j "$jobs"
ctest --test-dir build-ci --output-on-failure -j "$jobs"

echo "== ThreadSanitizer build: concurrency tests"
cmake -S . -B build-ci-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSN_SANITIZE=thread \
  -DSN_BUILD_BENCHMARKS=OFF -DSN_BUILD_EXAMPLES=OFF
cmake --build build-ci-tsan -j "$jobs"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ctest --test-dir build-ci-tsan --output-on-failure -L concurrency -j "$jobs"
echo "All tests passed."
