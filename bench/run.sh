#!/usr/bin/env bash
# daprc benchmarks. Each figure is printed beside its peer or upstream anchor.
# Memory (B7 of performance.md §5): VmRSS of an idle daprd, measured the way upstream's
# dapr/dapr#6066 proposes (after it has been idle), with no components and with the defaults.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
IDLE_SECS=${BENCH_IDLE_SECS:-5}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }

idle_rss() { # LABEL ARGS...
  local label=$1; shift
  local hp; hp=$(free_port)
  start_bg "$T_TMP/bench-$label.log" "$BIN/daprd" --app-id bench --dapr-http-port "$hp" \
    --metrics-port "$(free_port)" --dapr-listen-addresses 127.0.0.1 "$@"
  local pid=$BG_PID
  wait_http "http://127.0.0.1:$hp/v1.0/healthz" 10 || { echo "daprd did not start"; cat "$T_TMP/bench-$label.log"; return 1; }
  # Touch the API once so the measured process has served traffic, then let it idle.
  curl -s -o /dev/null "http://127.0.0.1:$hp/v1.0/metadata"
  sleep "$IDLE_SECS"
  local k; k=$(rss_kb "$pid")
  local anon; anon=$(anon_kb "$pid")
  local pss; pss=$(pss_kb "$pid")
  for i in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$hp/v1.0/metadata"; done
  local k2; k2=$(rss_kb "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null
  printf '%-30s idle RSS %5s MB (anon %s, PSS %s)  after 200 req %5s MB  upstream 33-36 MB  ratio %s  target < 4 MB\n' \
    "daprd ($label)" "$(mb "$k")" "$(mb "$anon")" "$(mb "$pss")" "$(mb "$k2")" \
    "$(awk -v k="$k" 'BEGIN { printf "%.3f", (k / 1024) / 34.5 }')"
}

echo "== memory (idle ${IDLE_SECS}s; upstream anchor: performance.md §1.2, 33-36 MB near idle)"
idle_rss "no components"
./scripts/run.sh --prepare
idle_rss "default resources" --resources-path sidecar/defaults/resources --config sidecar/defaults/config.yaml
bash bench/injector.sh

./bench/state.sh
./bench/invoke.sh
./bench/sentry.sh
./bench/pubsub.sh
./bench/invoke_mtls.sh
