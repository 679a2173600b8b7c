#!/usr/bin/env bash
# Installs the Debian 12 packages that one of shared_nothing's commands needs, and only
# those; it asks first unless given --yes or run by CI (CI set in the environment).
#
# Usage: deps.sh [--yes] [--check] <set>...
#   library  build the library (sn::sn) and the examples: compiler, CMake, Ninja, Abseil,
#            mimalloc, hwloc                                  (scripts/demo.sh)
#   http     the optional metrics endpoint sn::http: cpp-httplib
#   cluster  the optional cluster layer sn::cluster (pools across MPI ranks): Open MPI
#   tests    library + http + cluster + GoogleTest, Google Benchmark and the peers the
#            benchmarks run (Boost, moodycamel, oneTBB, CAF), doxygen, Prometheus, curl,
#            python3                                           (scripts/test.sh)
#   full     tests + clang, libFuzzer's runtime and clang-format (scripts/test.sh --full)
#   --check  only report what is missing (exit 1 if anything is)
#
# Installing needs root: as root it runs apt-get; otherwise it prints the one command to
# run and fails. Running it again when everything is present does nothing.
set -euo pipefail

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

declare -A sets=(
  [library]="cmake ninja-build g++ pkg-config libabsl-dev libmimalloc-dev libhwloc-dev"
  [http]="libcpp-httplib-dev"
  [cluster]="openmpi-bin libopenmpi-dev"
  [tests]="libgtest-dev libgmock-dev libbenchmark-dev libboost-dev libconcurrentqueue-dev libtbb-dev libcaf-dev doxygen prometheus curl python3"
  [full]="clang libclang-rt-14-dev clang-format"
)
declare -A implies=([library]="" [http]="library" [cluster]="library" [tests]="library http cluster"
  [full]="library http cluster tests")

yes=${CI:+yes}
check_only=
chosen=()
for arg in "$@"; do
  case $arg in
    --yes | -y) yes=yes ;;
    --check) check_only=yes ;;
    -h | --help) usage; exit 0 ;;
    library | http | cluster | tests | full) chosen+=("$arg") ;;
    *) echo "deps.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done
((${#chosen[@]})) || { echo "deps.sh: say which set: library, http, cluster, tests or full" >&2; usage >&2; exit 2; }

declare -A wanted=()
for set in "${chosen[@]}"; do
  for s in $set ${implies[$set]}; do
    for p in ${sets[$s]}; do wanted[$p]=1; done
  done
done

missing=()
for p in "${!wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
((${#missing[@]})) || exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort)

command="apt-get install -y --no-install-recommends ${missing[*]}"
echo "Missing Debian packages for '${chosen[*]}': ${missing[*]}"
if [[ -n $check_only ]]; then
  echo "Install them with:  sudo apt-get update && sudo $command" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "Run:  sudo apt-get update && sudo $command   (or run this script as root)" >&2
  exit 1
fi
if [[ -z $yes ]]; then
  if [[ ! -t 0 ]]; then
    echo "Not installing without asking: rerun with --yes, or run:  apt-get update && $command" >&2
    exit 1
  fi
  read -r -p "Install them now with apt-get? [y/N] " answer
  [[ $answer == [yY]* ]] || { echo "Nothing installed. To do it yourself:  apt-get update && $command" >&2; exit 1; }
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
