#!/usr/bin/env bash
# Installs the Debian 12 packages shared_nothing needs, if any are missing.
# As root it runs apt-get itself; otherwise it prints the one command to run and fails.
# Running it again when everything is present does nothing.
# Usage: deps.sh           what building and the demo need
#        deps.sh --tests   that, plus what the full test run needs (scripts/test.sh)
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config git
  libabsl-dev libmimalloc-dev libhwloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # The optional metrics endpoint (sn::http):
  libcpp-httplib-dev
  # Peers, used only by the benchmarks:
  libboost-dev libconcurrentqueue-dev libtbb-dev libcaf-dev
)
if [[ ${1:-} == --tests ]]; then
  packages+=(
    # The fuzzers: libFuzzer comes with clang's runtime.
    clang libclang-rt-14-dev clang-format
    # The API reference (docs.api_reference) and the real Prometheus (prometheus.scrape).
    doxygen prometheus curl python3
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  echo "Installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
