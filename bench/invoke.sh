#!/usr/bin/env bash
# B1 (performance.md §5.2): service invocation app A -> daprd-A -> daprd-B -> app B, HTTP, 1 KB
# POST, against (i) the direct call and (ii) a two-hop nginx proxy_pass chain to the same app.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
source bench/lib.sh

head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 >"$T_TMP/body1k"
APP=$(free_port); HA=$(free_port); HB=$(free_port); N1=$(free_port); N2=$(free_port)
start_bg "$T_TMP/app.log" $SUT "$BIN/bench-app" "$APP"
APP_PID=$BG_PID
wait_http "http://127.0.0.1:$APP/" 5 || { echo "bench-app did not start"; exit 1; }

cat >"$T_TMP/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $T_TMP/nginx.pid;
error_log $T_TMP/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream app { server 127.0.0.1:$APP; keepalive 64; }
  upstream hop2 { server 127.0.0.1:$N2; keepalive 64; }
  server { listen 127.0.0.1:$N2; location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:$N1; location / { proxy_pass http://hop2; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGX
start_bg "$T_TMP/nginx.log" $SUT nginx -c "$T_TMP/nginx.conf" -p "$T_TMP"
NGINX_PID=$BG_PID

# Two sidecars sharing one name-resolution file (their private $HOME from tests/lib.sh).
start_bg "$T_TMP/b.log" $SUT "$BIN/daprd" --app-id bench-b --app-port "$APP" --dapr-http-port "$HB" \
  --dapr-listen-addresses 127.0.0.1 --enable-metrics=false --log-level warn
B_PID=$BG_PID
start_bg "$T_TMP/a.log" $SUT "$BIN/daprd" --app-id bench-a --dapr-http-port "$HA" \
  --dapr-listen-addresses 127.0.0.1 --enable-metrics=false --log-level warn
A_PID=$BG_PID
wait_http "http://127.0.0.1:$HA/v1.0/healthz" 10 && wait_http "http://127.0.0.1:$HB/v1.0/healthz" 10 &&
  wait_http "http://127.0.0.1:$N1/" 5 || { echo "bench: setup failed"; tail "$T_TMP"/*.log; exit 1; }
URL_DIRECT=http://127.0.0.1:$APP/test
URL_NGINX=http://127.0.0.1:$N1/test
URL_DAPR=http://127.0.0.1:$HA/v1.0/invoke/bench-b/method/test
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T_TMP/body1k" "$URL_DAPR")
[ "$code" = 200 ] || { echo "bench: invocation through daprd answered $code"; tail "$T_TMP"/*.log; exit 1; }

cat >"$T_TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$T_TMP/body1k"):read("*a")
LUA
# Warm-up (Dapr's harness warms up at low rate).
$LOAD "$BIN/loadgen" -c 4 -q 100 -d 2 -m POST -b "$T_TMP/body1k" "$URL_DAPR" >/dev/null

echo "== B1 service invocation, 1 KB POST, fixed 1000 req/s over 16 connections, ${SECS}s each"
# daprd-A's memory after the warm-up: VmRSS, and its anonymous part (heap, stacks, arenas; the
# rest is shared-library pages). docs/benchmarks.md "Memory" explains the split.
anon_mb() { awk '/^RssAnon:/ {printf "%.2f", $2 / 1024}' "/proc/$1/status"; }
RSS_BEFORE="$(rss_mb "$A_PID") MB (anonymous $(anon_mb "$A_PID") MB)"
read -r d50 d90 d99 <<<"$(fixed "$URL_DIRECT" -m POST -b "$T_TMP/body1k")"
read -r n50 n90 n99 <<<"$(fixed "$URL_NGINX" -m POST -b "$T_TMP/body1k")"
peak_rss_mb "$A_PID" "$SECS" >"$T_TMP/peakA" &
SAMPLER=$!
read -r a50 a90 a99 <<<"$(fixed "$URL_DAPR" -m POST -b "$T_TMP/body1k")"
wait "$SAMPLER"
printf '%-34s p50 %7s ms  p90 %7s ms  p99 %7s ms\n' "direct app" "$d50" "$d90" "$d99"
printf '%-34s p50 %7s ms  p90 %7s ms  p99 %7s ms\n' "nginx 2 hops" "$n50" "$n90" "$n99"
printf '%-34s p50 %7s ms  p90 %7s ms  p99 %7s ms\n' "daprd 2 sidecars" "$a50" "$a90" "$a99"
printf '%-34s p50 %7s ms  p99 %7s ms   target p50 <= 0.15, p99 <= 0.5; upstream +0.9-1.1 / +2-2.9 ms\n' \
  "added by the two sidecars" "$(minus "$a50" "$d50")" "$(minus "$a99" "$d99")"
printf '%-34s p50 %7s ms  p99 %7s ms\n' "added by nginx (peer)" "$(minus "$n50" "$d50")" "$(minus "$n99" "$d99")"
echo "daprd-A RSS during the run: peak $(cat "$T_TMP/peakA") MB (target <= 12 MB; upstream ~50 MB);" \
  "before it $RSS_BEFORE; after it $(rss_mb "$A_PID") MB (anonymous $(anon_mb "$A_PID") MB)"

# CPU and context switches per request of each process on the path (utime+stime and the
# threads' voluntary+involuntary switches from /proc, sampled inside a loadgen run at 2000 req/s,
# 16 connections; per request, so less sensitive to other load than the latencies).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ctxsw() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n + 0}'; }
per_req() { # URL PID... -> "us/req ctxsw/req" per PID
  local url=$1 n=$((2000 * (SECS - 2))) p out=""; shift
  local -a t0 c0
  # The sample is taken 1 s into the run and ends 1 s before it: it needs BENCH_SECS >= 3.
  if [ "$SECS" -lt 3 ]; then echo " n/a (BENCH_SECS < 3)"; return; fi
  $LOAD "$BIN/loadgen" -c 16 -q 2000 -d "$SECS" -m POST -b "$T_TMP/body1k" "$url" >/dev/null &
  local lg=$!
  sleep 1
  for p in "$@"; do t0+=("$(ticks "$p")"); c0+=("$(ctxsw "$p")"); done
  sleep $((SECS - 2))
  local i=0
  for p in "$@"; do
    out+=$(awk -v a="${t0[$i]}" -v b="$(ticks "$p")" -v c="${c0[$i]}" -v d="$(ctxsw "$p")" \
      -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf " %5.1f us %4.2f cs |", (b - a) * 1e6 / hz / n, (d - c) / n }')
    i=$((i + 1))
  done
  wait "$lg"
  echo "$out"
}
NGINX_W=$(pgrep -P "$NGINX_PID" | head -1)
echo "== B1 CPU per request (2000 req/s x 16 connections; us of CPU and context switches per request)"
echo "daprd 2 sidecars: daprd-A |daprd-B |app:$(per_req "$URL_DAPR" "$A_PID" "$B_PID" "$APP_PID")"
[ -n "$NGINX_W" ] && echo "nginx 2 hops: worker (both hops) |app:$(per_req "$URL_NGINX" "$NGINX_W" "$APP_PID")"

echo "== B1 saturation (wrk, 16 connections, 5 s)"
sd=$(wrk_sat "$URL_DIRECT" "$T_TMP/post.lua"); sn=$(wrk_sat "$URL_NGINX" "$T_TMP/post.lua")
sa=$(wrk_sat "$URL_DAPR" "$T_TMP/post.lua")
printf 'direct %s req/s   nginx 2 hops %s req/s   daprd 2 sidecars %s req/s   daprd/nginx %s (target >= 1.5)\n' \
  "$sd" "$sn" "$sa" "$(ratio "$sa" "$sn")"
kill "$NGINX_PID" 2>/dev/null
