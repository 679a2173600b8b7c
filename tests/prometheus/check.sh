#!/usr/bin/env bash
# The `prometheus` test: a real Prometheus server (Debian's package) scrapes the
# metrics_endpoint example on loopback, and its query API must show a pool counter that
# is there and increasing.
#
# Usage: check.sh <path to metrics_endpoint>
# Needs Debian's prometheus, curl and python3 (bash scripts/deps.sh tests installs them);
# without them it says what to run and exits 77, a skip.
set -euo pipefail
endpoint=${1:?usage: check.sh <metrics_endpoint binary>}

missing=()
for tool in prometheus curl python3; do
  command -v "$tool" > /dev/null || missing+=("$tool")
done
if ((${#missing[@]} != 0)); then
  # 77: ctest reports a skip (SKIP_RETURN_CODE); tests never install packages themselves.
  echo "SKIPPED: missing ${missing[*]}. Run:  bash scripts/deps.sh tests   (or: sudo apt-get install ${missing[*]})" >&2
  exit 77
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# 1. The example, serving a pool under steady load.
"$endpoint" --seconds=0 --port_file="$work/port" > "$work/endpoint.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
[[ -s $work/port ]] || { echo "the example did not start"; cat "$work/endpoint.log"; exit 1; }
target_port=$(cat "$work/port")

# 2. Prometheus on loopback, scraping it every second.
cat > "$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: shared_nothing
    static_configs:
      - targets: ['127.0.0.1:${target_port}']
YAML
prom_port=$(free_port)
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:${prom_port}" > "$work/prometheus.log" 2>&1 &
pids+=($!)

# 3. Ask its query API until the counter has been scraped twice with a larger value.
query() {
  curl -sf --get "http://127.0.0.1:${prom_port}/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
first=""
for _ in $(seq 120); do
  sleep 0.5
  value=$(query 'sn_pool_accepted_total{pool="demo",job="shared_nothing"}' 2> /dev/null || true)
  [[ -z $value ]] && continue
  if [[ -z $first ]]; then
    first=$value
    echo "first scrape: sn_pool_accepted_total = $first"
  elif python3 -c "import sys; sys.exit(0 if float('$value') > float('$first') else 1)"; then
    echo "later scrape: sn_pool_accepted_total = $value (increasing)"
    up=$(query 'up{job="shared_nothing"}')
    workers=$(query 'sum(sn_worker_processed_total{pool="demo"})')
    echo "up = $up, sum of sn_worker_processed_total = $workers"
    [[ $up == 1 ]] || { echo "the target is not up"; exit 1; }
    [[ -n $workers ]] || { echo "no worker series"; exit 1; }
    echo "prometheus check passed"
    exit 0
  fi
done
echo "Prometheus never showed an increasing sn_pool_accepted_total (first: '${first}')"
echo "--- prometheus log"; tail -20 "$work/prometheus.log"
echo "--- endpoint log"; tail -5 "$work/endpoint.log"
exit 1
