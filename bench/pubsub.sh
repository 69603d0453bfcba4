#!/usr/bin/env bash
# Issue 4 pub/sub figures. (a) publish through daprd to Redis Streams (pubsub.redis, XADD)
# against redis-benchmark XADD of the same 1 KB payload, 16 connections each. (b) pubsub.in-memory,
# publish -> bench-sub (a C app on libdc answering {"status":"SUCCESS"}) : p50 of the
# publish-to-delivery latency at 1000 msg/s (loadgen -t stamps the send time into the payload,
# bench-sub subtracts it on delivery; same host, CLOCK_MONOTONIC), and end-to-end throughput
# under wrk saturation (deliveries per second counted by the app between its first and last
# delivery), with the system under test on CPU 0 and with everything sharing both cores.
# (a) pins as bench/lib.sh: redis-server and daprd on CPU 0, redis-benchmark and wrk on CPU 1
# (redis-server and its client on the same CPUs on both sides; daprd shares CPU 0 with
# redis-server: the figure), then repeats with nothing pinned for reference.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
source bench/lib.sh

RP=$(free_port); HP=$(free_port); APP=$(free_port)
start_bg "$T_TMP/redis.log" $SUT redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$T_TMP"
R_PID=$BG_PID
start_bg "$T_TMP/sub.log" $SUT "$BIN/bench-sub" "$APP" mem
S_PID=$BG_PID
mkdir -p "$T_TMP/res"
cat >"$T_TMP/res/pubsub.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: redis}
spec:
  type: pubsub.redis
  version: v1
  metadata:
  - {name: redisHost, value: "127.0.0.1:$RP"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: mem}
spec: {type: pubsub.in-memory, version: v1, metadata: []}
Y
for i in $(seq 1 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
start_bg "$T_TMP/d.log" $SUT "$BIN/daprd" --app-id bench-pubsub --app-port "$APP" --dapr-http-port "$HP" \
  --dapr-listen-addresses 127.0.0.1 --enable-metrics=false --log-level warn --resources-path "$T_TMP/res"
D_PID=$BG_PID
wait_http "http://127.0.0.1:$HP/v1.0/healthz" 10 ||
  { echo "bench: setup failed"; tail "$T_TMP"/*.log; exit 1; }
for i in $(seq 1 100); do
  curl -s "http://127.0.0.1:$HP/v1.0/metadata" | grep -q '"topic":"bench"' && break; sleep 0.1
done

PAD=$(head -c 768 /dev/urandom | base64 -w0 | head -c 970)
BODY="{\"t\":\"TTTTTTTTTTTTTTTTTTTT\",\"p\":\"$PAD\"}" # 1000 bytes
printf '%s' "$BODY" >"$T_TMP/body.json"
cat >"$T_TMP/pub.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$(printf '%s' "$BODY" | sed 's/T\{20\}/00000000000000000000/')'
LUA

# xadd_peer PIN: redis-benchmark XADD of the payload; req/s.
xadd_peer() {
  $1 redis-benchmark -p "$RP" -c 16 -n 200000 -q XADD peer-stream '*' data "$BODY" 2>/dev/null |
    awk '{for (i=1;i<=NF;i++) if ($i ~ /requests/) {print $(i-1); exit}}'
}

echo "== pub/sub (a): publish 1 KB to Redis Streams, 16 connections"
peer=$(xadd_peer "$LOAD")
ours=$(wrk_sat "http://127.0.0.1:$HP/v1.0/publish/redis/bench-redis" "$T_TMP/pub.lua")
printf 'redis-benchmark XADD 1 KB %s req/s   daprd publish -> pubsub.redis %s req/s   ratio %s (target >= 0.7)\n' \
  "$peer" "$ours" "$(ratio "$ours" "$peer")"
printf '  (daprd XADDs the CloudEvent around the payload: %s bytes per entry)\n' \
  "$(redis-cli -p "$RP" --raw XREVRANGE bench-redis + - COUNT 1 | sed -n 3p | wc -c)"
taskset -a -p -c 0,1 "$R_PID" >/dev/null
taskset -a -p -c 0,1 "$D_PID" >/dev/null
peer=$(xadd_peer "")
ours=$(wrk -t1 -c16 -d5s -s "$T_TMP/pub.lua" "http://127.0.0.1:$HP/v1.0/publish/redis/bench-redis" 2>/dev/null |
  awk '/Requests\/sec/ {print $2}')
printf '  nothing pinned (reference): redis-benchmark %s req/s   daprd %s req/s   ratio %s\n' \
  "$peer" "$ours" "$(ratio "$ours" "$peer")"
taskset -a -p -c 0 "$R_PID" >/dev/null
taskset -a -p -c 0 "$D_PID" >/dev/null

echo "== pub/sub (b): pubsub.in-memory publish -> app -> SUCCESS, 1 KB"
curl -s -X POST "http://127.0.0.1:$APP/reset"
read -r p50 p90 p99 prate perr <<<"$($LOAD "$BIN/loadgen" -c 16 -q 1000 -d "$SECS" -t -m POST \
  -b "$T_TMP/body.json" -H "Content-Type: application/json" "http://127.0.0.1:$HP/v1.0/publish/mem/bench")"
sleep 0.5
read -r n d50 d90 d99 drate <<<"$(curl -s "http://127.0.0.1:$APP/stats")"
printf 'publish HTTP call at 1000 msg/s     p50 %s ms  p90 %s  p99 %s  (%s errors; upstream publish alone p50 0.35 ms)\n' \
  "$p50" "$p90" "$p99" "$perr"
printf 'publish -> delivery at 1000 msg/s   p50 %s ms  p90 %s  p99 %s  (%s delivered; target p50 <= 0.3 ms)\n' \
  "$d50" "$d90" "$d99" "$n"

# sat LABEL PIN: wrk saturation of publish for 5 s, then the app's count once deliveries stop.
# End to end = messages published (2xx) AND delivered to the app, which answered SUCCESS to each,
# per second between the first and the last delivery (the queue drained: the rate covers every
# accepted publish). CPU per message (utime+stime / delivered) of daprd, the app and wrk itself,
# so that the load generator's share of the cores is visible.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sat() {
  local label=$1 pin=$2 w prev=-1 cur d0 s0 d1 s1 wcpu hz
  hz=$(getconf CLK_TCK)
  curl -s -X POST "http://127.0.0.1:$APP/reset"
  d0=$(ticks "$D_PID"); s0=$(ticks "$S_PID")
  wcpu=$( { TIMEFORMAT='%U %S'; time $pin wrk -t1 -c16 -d5s -s "$T_TMP/pub.lua" \
    "http://127.0.0.1:$HP/v1.0/publish/mem/bench" >"$T_TMP/wrk.out" 2>/dev/null; } 2>&1)
  w=$(cat "$T_TMP/wrk.out")
  for i in $(seq 1 100); do
    cur=$(curl -s "http://127.0.0.1:$APP/stats" | awk '{print $1}')
    [ "$cur" = "$prev" ] && break
    prev=$cur; sleep 0.2
  done
  d1=$(ticks "$D_PID"); s1=$(ticks "$S_PID")
  read -r n d50 d90 d99 drate <<<"$(curl -s "http://127.0.0.1:$APP/stats")"
  local pub non
  pub=$(awk '/requests in/ {print $1}' <<<"$w")
  non=$(awk '/Non-2xx/ {print $NF}' <<<"$w" | grep . || echo 0)
  printf '%-34s publish %s req/s (%s non-2xx)  delivered %s of %s published at %s msg/s (target >= 20000)\n' \
    "$label" "$(awk '/Requests\/sec/ {print $2}' <<<"$w")" "$non" "$n" "$pub" "$drate"
  awk -v n="$n" -v d=$((d1 - d0)) -v s=$((s1 - s0)) -v hz="$hz" -v w="$wcpu" 'BEGIN {
    split(w, t, " "); if (n < 1) n = 1
    printf "%-34s CPU per message: daprd %.1f us, app %.1f us, wrk %.1f us\n", "",
      d * 1e6 / hz / n, s * 1e6 / hz / n, (t[1] + t[2]) * 1e6 / n }'
}
sat "end to end, daprd+app on CPU 0" "$LOAD"
# Both cores for everything: re-pin daprd and the app to CPUs 0-1, wrk unpinned.
taskset -a -p -c 0,1 "$D_PID" >/dev/null
taskset -a -p -c 0,1 "$S_PID" >/dev/null
sat "end to end, all on 2 cores" ""
