#!/usr/bin/env bash
# Builds shared_nothing and runs every test (build trees go to ./build-ci*):
#   0. formatting: clang-format with the committed .clang-format changes nothing;
#   1. Release (-Werror): the whole ctest suite (unit, concurrency, examples, fuzz replays
#      of the seed corpora, bench checksums, docs, install, prometheus);
#   2. ThreadSanitizer: the suite but for what only the Release tree can run (bench,
#      docs, install, prometheus) and the single-threaded fuzz replays;
#   3. AddressSanitizer + UndefinedBehaviorSanitizer: likewise;
#   4. clang + libFuzzer (+ ASan/UBSan): each fuzz target for SN_FUZZ_SECONDS;
#   5. schedule perturbation (SN_PERTURB): the stress tests, 10^8 messages through each
#      channel kind and a pool; SN_STRESS_SECONDS (a guard, default 600) bounds each
#      test's sending on a machine too slow for that.
# Usage: scripts/test.sh   (from anywhere). Environment: SN_FUZZ_SECONDS (default 20),
# SN_STRESS_MESSAGES (default 10^8), SN_STRESS_SECONDS (default 600).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/deps.sh --tests

jobs=$(nproc)
started=$SECONDS
step() { echo "== [$(( (SECONDS - started) / 60 ))m$(( (SECONDS - started) % 60 ))s] $*"; }
# Only what a sanitizer build cannot run: the benchmarks are not built there, the docs
# and the install test do not depend on the build, and one real Prometheus run is enough.
sanitizer_excludes="bench|docs|install|prometheus"
lean=(-DSN_BUILD_BENCHMARKS=OFF)

step "Formatting (.clang-format)"
bash scripts/check_format.sh

step "Release build and full test suite"
cmake -S . -B build-ci -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build-ci -j "$jobs"
ctest --test-dir build-ci --output-on-failure -j "$jobs"

step "ThreadSanitizer build and suite"
cmake -S . -B build-ci-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSN_SANITIZE=thread "${lean[@]}"
cmake --build build-ci-tsan -j "$jobs"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ctest --test-dir build-ci-tsan --output-on-failure -LE "$sanitizer_excludes|fuzz" -j "$jobs"

step "AddressSanitizer + UndefinedBehaviorSanitizer build and suite"
# -O1, as AddressSanitizer's documentation advises: the UBSan-instrumented templates take
# far longer to compile at -O2, and -O1 keeps the reports exact.
cmake -S . -B build-ci-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSN_SANITIZE=address,undefined "${lean[@]}" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG"
cmake --build build-ci-asan -j "$jobs"
ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 strict_string_checks=1" UBSAN_OPTIONS="print_stacktrace=1" \
  ctest --test-dir build-ci-asan --output-on-failure -LE "$sanitizer_excludes" -j "$jobs"

step "libFuzzer targets (clang, ASan + UBSan), ${SN_FUZZ_SECONDS:-20} s each"
CXX=clang++ cmake -S . -B build-ci-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSN_SANITIZE=address,undefined \
  -DSN_FUZZ_ONLY=ON -DSN_FUZZ_SECONDS="${SN_FUZZ_SECONDS:-20}" -DSN_BUILD_HTTP=OFF
cmake --build build-ci-fuzz -j "$jobs"
ctest --test-dir build-ci-fuzz --output-on-failure -L fuzz

step "Schedule perturbation: stress tests, ${SN_STRESS_MESSAGES:-100000000} messages each, sending for at most ${SN_STRESS_SECONDS:-600} s"
cmake -S . -B build-ci-perturb -G Ninja -DCMAKE_BUILD_TYPE=Release -DSN_PERTURB=ON "${lean[@]}" \
  -DSN_BUILD_EXAMPLES=OFF -DSN_BUILD_HTTP=OFF -DSN_BUILD_FUZZERS=OFF
cmake --build build-ci-perturb -j "$jobs" --target stress_tests
SN_STRESS_SECONDS="${SN_STRESS_SECONDS:-600}" ctest --test-dir build-ci-perturb --output-on-failure -L stress

step "All tests passed."
