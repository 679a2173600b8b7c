#!/usr/bin/env bash
# Fails when clang-format (with the committed .clang-format) would change any tracked C++
# file, and names the files. Usage: scripts/check_format.sh [--fix]   (--fix rewrites them).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check_format: clang-format is missing (Debian package clang-format)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.h' '*.cc')
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]} != 0)); then
  echo "check_format: clang-format would change these files (run scripts/check_format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files formatted as .clang-format says"
