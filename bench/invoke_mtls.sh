#!/usr/bin/env bash
# Issue 6 figure: two-sidecar service invocation (app -> daprd-A -> daprd-B -> app, HTTP, 1 KB
# POST, 1000 req/s over 16 keep-alive connections) with mutual TLS between the sidecars against
# without. Target: <= 0.05 ms added p50. The CA is build/bin/sentry when present, else the test
# CA (sentry's CA logic behind SignCertificate); certificates live 24 h (no rotation during the
# run). The two pairs run side by side on CPU 0, the load generator on CPU 1; the runs alternate
# (plain, mTLS, plain, mTLS) so that drift of the machine hits both.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
source bench/lib.sh

head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 >"$T_TMP/body1k"
APP=$(free_port); CA_PORT=$(free_port)
start_bg "$T_TMP/app.log" $SUT "$BIN/bench-app" "$APP"
if [ -x "$BIN/sentry" ]; then
  start_bg "$T_TMP/ca.log" "$BIN/sentry" --issuer-credentials "$T_TMP/ca" --port "$CA_PORT" \
    --trust-domain localhost --healthz-port "$(free_port)" --metrics-port "$(free_port)"
else
  start_bg "$T_TMP/ca.log" "$BIN/test-ca" --creds "$T_TMP/ca" --port "$CA_PORT"
fi
for ((i = 0; i < 200; i++)); do
  [ -s "$T_TMP/ca/ca.crt" ] && (: >"/dev/tcp/127.0.0.1/$CA_PORT") 2>/dev/null && break
  sleep 0.05
done
export DAPR_TRUST_ANCHORS_FILE=$T_TMP/ca/ca.crt

# sidecar NAME APP_ID [flags]: sets <NAME>_HP (HTTP port) and <NAME>_PID.
sidecar() {
  local name=$1 id=$2 hp; shift 2
  hp=$(free_port)
  start_bg "$T_TMP/$name.log" $SUT "$BIN/daprd" --app-id "$id" --dapr-http-port "$hp" \
    --dapr-listen-addresses 127.0.0.1 --enable-metrics=false --log-level warn "$@"
  printf -v "${name}_HP" %s "$hp"
  printf -v "${name}_PID" %s "$BG_PID"
}
MTLS=(--enable-mtls --sentry-address "127.0.0.1:$CA_PORT")
sidecar B0 bench-b --app-port "$APP"
sidecar A0 bench-a
sidecar B1 bench-bm --app-port "$APP" "${MTLS[@]}"
sidecar A1 bench-am "${MTLS[@]}"
for hp in "$A0_HP" "$B0_HP" "$A1_HP" "$B1_HP"; do
  wait_http "http://127.0.0.1:$hp/v1.0/healthz" 15 || { echo "bench: setup failed"; tail "$T_TMP"/*.log; exit 1; }
done
URL_PLAIN=http://127.0.0.1:$A0_HP/v1.0/invoke/bench-b/method/test
URL_MTLS=http://127.0.0.1:$A1_HP/v1.0/invoke/bench-bm/method/test
for u in "$URL_PLAIN" "$URL_MTLS"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T_TMP/body1k" "$u")
  [ "$code" = 200 ] || { echo "bench: $u answered $code"; tail "$T_TMP"/*.log; exit 1; }
  $LOAD "$BIN/loadgen" -c 16 -q 500 -d 2 -m POST -b "$T_TMP/body1k" "$u" >/dev/null # warm-up
done

echo "== issue 6: invocation through two sidecars with and without mTLS, 1 KB POST, 1000 req/s, 16 connections, ${SECS}s per run"
sum=0
for round in 1 2; do
  read -r p50 p90 p99 <<<"$(fixed "$URL_PLAIN" -m POST -b "$T_TMP/body1k")"
  read -r m50 m90 m99 <<<"$(fixed "$URL_MTLS" -m POST -b "$T_TMP/body1k")"
  printf 'run %d  %-10s p50 %7s ms  p90 %7s ms  p99 %7s ms\n' "$round" "plain" "$p50" "$p90" "$p99"
  printf 'run %d  %-10s p50 %7s ms  p90 %7s ms  p99 %7s ms   added p50 %s ms, p99 %s ms\n' "$round" \
    "mTLS" "$m50" "$m90" "$m99" "$(minus "$m50" "$p50")" "$(minus "$m99" "$p99")"
  sum=$(awk -v s="$sum" -v a="$m50" -v b="$p50" 'BEGIN { printf "%.4f", s + a - b }')
done
printf 'mTLS added p50, mean of 2 runs: %s ms (target <= 0.05 ms)\n' "$(awk -v s="$sum" 'BEGIN { printf "%.3f", s / 2 }')"
echo "RSS: daprd-A plain $(rss_mb "$A0_PID") MB, daprd-A mTLS $(rss_mb "$A1_PID") MB, daprd-B plain $(rss_mb "$B0_PID") MB, daprd-B mTLS $(rss_mb "$B1_PID") MB"

# Service time, less sensitive to a busy machine: one connection at 500 req/s, 5 alternating
# 3 s runs; the median of the per-pair differences.
echo "== issue 6: the same, one connection at 500 req/s (service time), 5 alternating 3 s runs"
diffs=()
for round in 1 2 3 4 5; do
  read -r p50 _ <<<"$($LOAD "$BIN/loadgen" -c 1 -q 500 -d 3 -m POST -b "$T_TMP/body1k" "$URL_PLAIN")"
  read -r m50 _ <<<"$($LOAD "$BIN/loadgen" -c 1 -q 500 -d 3 -m POST -b "$T_TMP/body1k" "$URL_MTLS")"
  printf 'run %d  plain p50 %s ms  mTLS p50 %s ms  added %s ms\n' "$round" "$p50" "$m50" "$(minus "$m50" "$p50")"
  diffs+=("$(minus "$m50" "$p50")")
done
printf 'mTLS added p50 (c=1), median of 5: %s ms\n' "$(printf '%s\n' "${diffs[@]}" | sort -g | sed -n 3p)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
