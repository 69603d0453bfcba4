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

echo "== load average before the load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== SignCertificate, P-256 CSRs, TLS, reused connections (${SECS}s each, $(nproc) cores shared with the client)"
# CPU time of a process in clock ticks (utime + stime), and the signed-certificate counter.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
signed() { curl -s "http://127.0.0.1:$MP/metrics" | awk '/^dapr_sentry_cert_sign_success_total/ {print $2}'; }
TCK=$(getconf CLK_TCK)
for c in 4 16 64; do
  t0=$(cpu_ticks "$SP") n0=$(signed)
  read -r rate p50 p99 errs ccpu < <("$BIN/sentryctl" bench --address "127.0.0.1:$GP" \
    --anchors "$CREDS/ca.crt" -c "$c" -n 4 -d "$SECS")
  t1=$(cpu_ticks "$SP") n1=$(signed)
  scpu=$(awk -v t="$((t1 - t0))" -v n="$((n1 - n0))" -v h="$TCK" \
    'BEGIN { if (n > 0) printf "%.0f", t / h * 1e6 / n; else print "n/a" }')
  printf 'concurrency %3d: %6s certificates/s  p50 %s ms  p99 %s ms  errors %s  (target >= 5000/s)\n' \
    "$c" "$rate" "$p50" "$p99" "$errs"
  printf '                 CPU per certificate: sentry %s us, client %s us (2 cores: %s/s at most)\n' \
    "$scpu" "$ccpu" "$(awk -v s="$scpu" -v c="$ccpu" 'BEGIN { if (s + c > 0) printf "%.0f", 2e6 / (s + c) }')"
done
printf 'sentry after the load: RSS %s MB\n' "$(rss_mb "$SP")"
kill "$SP"; wait "$SP" 2>/dev/null

echo "== openssl speed -seconds 3 ecdsap256 (same machine, same run; one core)"
openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {printf "openssl ecdsap256: %s sign/s, %s verify/s per core\n", $(NF-1), $NF}'
