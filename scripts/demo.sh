#!/usr/bin/env bash
# Builds shared_nothing (preset `release`: the library and the examples, no tests) and runs
# the demo: examples/word_count, a keyed word count over a pool that grows and shrinks
# while it runs (consistent hashing, state handed over), with a progress line, each
# resize, a final table of pool stats and its checks.
# Usage: scripts/demo.sh [--yes] [word_count's flags]   (--yes: install missing Debian
# packages without asking). word_count's flags: [--words=N] [--workers=W]
# [--producers=P], or --help.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
deps_args=()
args=()
for arg in "$@"; do
  if [[ $arg == --yes || $arg == -y ]]; then deps_args+=(--yes); else args+=("$arg"); fi
done
bash scripts/deps.sh "${deps_args[@]}" library
cmake --preset release > /dev/null
cmake --build --preset examples --target word_count
./build/release/examples/word_count "${args[@]}"
