#!/usr/bin/env bash
# Builds shared_nothing and runs its tests, with the CMake presets (CMakePresets.json;
# each build tree is build/<preset>).
#
# Usage: scripts/test.sh [--full] [--yes]     (from anywhere)
#   (default)  Release (-Werror, preset `ci`): the whole ctest suite (unit, concurrency,
#              examples, fuzz replays of the seed corpora, bench checksums, docs, install
#              and packages, a real Prometheus)
#   --full     first formatting (clang-format changes nothing), then that, then:
#                ThreadSanitizer (preset `tsan`): the suite but for what only the Release
#                  tree runs (bench, docs, install, prometheus) and the fuzz replays
#                  (single-threaded: nothing for TSan to see);
#                AddressSanitizer + UndefinedBehaviorSanitizer (preset `asan`): the suite,
#                  not the examples (the Release and TSan stages run them) nor the fuzz
#                  replays (the next stage fuzzes under ASan + UBSan from the same seeds);
#                  this keeps the whole under CI's 45 minutes;
#                clang + libFuzzer (preset `fuzz`): each fuzz target for SN_FUZZ_SECONDS;
#                schedule perturbation (preset `perturb`): the stress tests, 10^8 messages
#                  through each channel kind and a pool (SN_STRESS_SECONDS, a guard with
#                  default 600, bounds each test's sending on a machine too slow for that).
#              This is what .ci/run runs.
#   --yes      install missing Debian packages without asking (scripts/deps.sh)
# Environment: SN_FUZZ_SECONDS (default 10), SN_STRESS_MESSAGES (default 10^8),
# SN_STRESS_SECONDS (default 600).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

full=
deps_args=()
for arg in "$@"; do
  case $arg in
    --full) full=yes ;;
    --yes | -y) deps_args+=(--yes) ;;
    -h | --help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
bash scripts/deps.sh "${deps_args[@]}" "$([[ -n $full ]] && echo full || echo tests)"

jobs=$(nproc)
started=$SECONDS
step() { echo "== [$(((SECONDS - started) / 60))m$(((SECONDS - started) % 60))s] $*"; }
# preset <name> <ctest jobs> [configure arguments...]: configure, build and test one preset.
preset() {
  local name=$1 test_jobs=$2
  shift 2
  cmake --preset "$name" "$@" > /dev/null
  cmake --build --preset "$name" -j "$jobs"
  ctest --preset "$name" -j "$test_jobs"
}

if [[ -n $full ]]; then
  step "Formatting (.clang-format)"
  bash scripts/check_format.sh
fi

step "Release build and the whole suite (preset ci)"
# The quick run leaves out compiling each public header on its own (a build step, not a
# test); --full does it.
preset ci "$jobs" $([[ -z $full ]] && echo -DSN_HEADER_CHECK=OFF)

if [[ -z $full ]]; then
  step "All tests passed (the sanitizer, fuzzing and stress stages: scripts/test.sh --full)."
  exit 0
fi

step "ThreadSanitizer build and suite (preset tsan)"
preset tsan "$jobs"

step "AddressSanitizer + UndefinedBehaviorSanitizer build and suite (preset asan)"
preset asan "$jobs"

step "libFuzzer targets (preset fuzz), ${SN_FUZZ_SECONDS:-10} s each"
preset fuzz "$jobs" -DSN_FUZZ_SECONDS="${SN_FUZZ_SECONDS:-10}"

step "Schedule perturbation: stress tests (preset perturb), ${SN_STRESS_MESSAGES:-100000000} messages each, sending for at most ${SN_STRESS_SECONDS:-600} s"
# One at a time: each stress test loads every core on purpose.
SN_STRESS_SECONDS="${SN_STRESS_SECONDS:-600}" preset perturb 1

step "All tests passed."
