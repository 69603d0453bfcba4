#!/usr/bin/env bash
# sentry figures: SignCertificate throughput with P-256 CSRs over TLS on reused connections
# (build/bin/sentryctl bench), printed beside `openssl speed ecdsap256` from the same run, and
# sentry's idle memory beside upstream (13-33 MB) and the target (<= 3 MB).
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
source bench/lib.sh
SECS=${BENCH_SECS:-5}

CREDS=$T_TMP/creds
GP=$(free_port) HP=$(free_port) MP=$(free_port)
start_bg "$T_TMP/sentry.log" "$BIN/sentry" --issuer-credentials "$CREDS" --port "$GP" \
  --healthz-port "$HP" --metrics-port "$MP" --listen-address 127.0.0.1 --log-level warn \
  --config /nonexistent
SP=$BG_PID
wait_http "http://127.0.0.1:$HP/healthz" 10 || { echo "sentry did not start"; cat "$T_TMP/sentry.log"; exit 1; }

echo "== sentry memory (idle ${BENCH_IDLE_SECS:-3}s; upstream 13-33 MB, target <= 3 MB)"
sleep "${BENCH_IDLE_SECS:-3}"
printf 'sentry idle: RSS %s MB (anon %s MB, PSS %s MB)\n' "$(rss_mb "$SP")" \
  "$(awk '/^RssAnon:/ {printf "%.2f", $2 / 1024}' "/proc/$SP/status")" \
  "$(awk '/^Pss:/ {printf "%.2f", $2 / 1024}' "/proc/$SP/smaps_rollup")"
"$BIN/sentryctl" sign --address "127.0.0.1:$GP" --anchors "$CREDS/ca.crt" --id warm >/dev/null
printf 'sentry after one request: RSS %s MB (anon %s MB)\n' "$(rss_mb "$SP")" \
  "$(awk '/^RssAnon:/ {printf "%.2f", $2 / 1024}' "/proc/$SP/status")"

echo "== SignCertificate, P-256 CSRs, TLS, reused connections (${SECS}s each, $(nproc) cores shared with the client)"
for c in 4 16 64; do
  read -r rate p50 p99 errs < <("$BIN/sentryctl" bench --address "127.0.0.1:$GP" \
    --anchors "$CREDS/ca.crt" -c "$c" -n 4 -d "$SECS")
  printf 'concurrency %3d: %6s certificates/s  p50 %s ms  p99 %s ms  errors %s  (target >= 5000/s)\n' \
    "$c" "$rate" "$p50" "$p99" "$errs"
done
printf 'sentry after the load: RSS %s MB\n' "$(rss_mb "$SP")"
kill "$SP"; wait "$SP" 2>/dev/null

echo "== openssl speed -seconds 3 ecdsap256 (same machine, same run; one core)"
openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {printf "openssl ecdsap256: %s sign/s, %s verify/s per core\n", $(NF-1), $NF}'
