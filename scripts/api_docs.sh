#!/usr/bin/env bash
# Builds the API reference from the public headers with Doxygen (docs/Doxyfile) and fails
# on any warning. Output: build-docs/api/html/index.html, or <dir>/html/index.html with
#   bash scripts/api_docs.sh <dir>
# Needs doxygen (bash scripts/deps.sh tests installs it); without it, it says what to run
# and exits 77, which ctest reports as a skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/build-docs/api}"

if ! command -v doxygen > /dev/null 2>&1; then
  echo "SKIPPED: doxygen is missing. Run:  bash scripts/deps.sh tests   (or: sudo apt-get install doxygen)" >&2
  exit 77
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -rf "$out/html"

# The Doxyfile's paths are relative to the repository root; WARN_AS_ERROR=FAIL_ON_WARNINGS
# makes doxygen report every warning, then exit non-zero.
cd "$root"
if ! SN_DOCS_OUT="$out" doxygen docs/Doxyfile; then
  echo "api_docs: doxygen reported warnings (above); the API reference must build without any" >&2
  exit 1
fi
echo "API reference: $out/html/index.html"
