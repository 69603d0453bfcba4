#!/usr/bin/env bash
# B3/B3g (performance.md §5.2): state save through daprd to Redis against redis-benchmark running
# the same save script directly; state get through daprd with state.in-memory against a direct
# GET of the bench app.
# Pinning (bench/lib.sh): redis-server, daprd and the bench app on CPU 0, the load generators
# (redis-benchmark, wrk) on CPU 1, so redis-server and its client sit on the same CPUs on both
# sides and daprd shares CPU 0 with redis-server (the conservative layout: the figure). B3 is
# repeated with nothing pinned (each side has both cores for everything) for reference.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
source bench/lib.sh

RP=$(free_port); HP=$(free_port); APP=$(free_port)
start_bg "$T_TMP/redis.log" $SUT redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$T_TMP"
R_PID=$BG_PID
start_bg "$T_TMP/app.log" $SUT "$BIN/bench-app" "$APP"
mkdir -p "$T_TMP/res"
cat >"$T_TMP/res/stores.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: redis}
spec:
  type: state.redis
  version: v1
  metadata:
  - {name: redisHost, value: "127.0.0.1:$RP"}
  - {name: poolSize, value: "32"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: mem}
spec: {type: state.in-memory, version: v1, metadata: []}
Y
for i in $(seq 1 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
start_bg "$T_TMP/d.log" $SUT "$BIN/daprd" --app-id bench-state --dapr-http-port "$HP" \
  --dapr-listen-addresses 127.0.0.1 --enable-metrics=false --log-level warn --resources-path "$T_TMP/res"
D_PID=$BG_PID
wait_http "http://127.0.0.1:$HP/v1.0/healthz" 10 && wait_http "http://127.0.0.1:$APP/" 5 ||
  { echo "bench: setup failed"; tail "$T_TMP"/*.log; exit 1; }

V1K=$(head -c 768 /dev/urandom | base64 -w0 | head -c 1000)
# The save script daprd's state.redis runs, taken from its source so both sides run the same one.
python3 - "$T_TMP/setq.lua" <<'PY'
import re, sys
src = open("sidecar/state_redis.c").read()
body = src[src.index("static const char set_script[] ="):]
body = body[:body.index(";\n")]
lua = "".join(bytes(s, "utf-8").decode("unicode_escape") for s in re.findall(r'"((?:[^"\\]|\\.)*)"', body))
open(sys.argv[1], "w").write(lua)
PY
SHA=$(redis-cli -p "$RP" SCRIPT LOAD "$(cat "$T_TMP/setq.lua")")

# peer PIN: redis-benchmark EVALSHA of the save script, 1 KB values, random keys; req/s.
peer() {
  $1 redis-benchmark -p "$RP" -c 16 -n 200000 -r 100000 -q EVALSHA "$SHA" 1 'key:__rand_int__' '' "$V1K" 0 '' 2>/dev/null |
    awk '{for (i=1;i<=NF;i++) if ($i ~ /requests/) {print $(i-1); exit}}'
}

echo "== B3 state save, 1 KB values, 16 connections"
peer=$(peer "$LOAD")
cat >"$T_TMP/save.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local v = "$V1K"
request = function()
  return wrk.format(nil, nil, nil, '[{"key":"k' .. math.random(1, 100000) .. '","value":"' .. v .. '"}]')
end
LUA
ours=$(wrk_sat "http://127.0.0.1:$HP/v1.0/state/redis" "$T_TMP/save.lua")
printf 'redis-benchmark EVALSHA (same script) %s req/s   daprd save -> redis %s req/s   ratio %s (target >= 0.7)\n' \
  "$peer" "$ours" "$(ratio "$ours" "$peer")"
taskset -a -p -c 0,1 "$R_PID" >/dev/null
taskset -a -p -c 0,1 "$D_PID" >/dev/null
peer=$(peer "")
ours=$(wrk -t1 -c16 -d5s -s "$T_TMP/save.lua" "http://127.0.0.1:$HP/v1.0/state/redis" 2>/dev/null |
  awk '/Requests\/sec/ {print $2}')
printf '  nothing pinned (reference): redis-benchmark %s req/s   daprd %s req/s   ratio %s\n' \
  "$peer" "$ours" "$(ratio "$ours" "$peer")"
taskset -a -p -c 0 "$R_PID" >/dev/null
taskset -a -p -c 0 "$D_PID" >/dev/null

echo "== B3g state get, state.in-memory, fixed 1000 req/s over 16 connections, ${SECS}s each"
curl -s -X POST "http://127.0.0.1:$HP/v1.0/state/mem" -d "[{\"key\":\"k1\",\"value\":\"$V1K\"}]" >/dev/null
read -r d50 d90 d99 <<<"$(fixed "http://127.0.0.1:$APP/test")"
read -r s50 s90 s99 <<<"$(fixed "http://127.0.0.1:$HP/v1.0/state/mem/k1")"
printf 'direct app GET        p50 %s ms  p99 %s ms\n' "$d50" "$d99"
printf 'daprd state GET (mem) p50 %s ms  p99 %s ms\n' "$s50" "$s99"
printf 'added p50 %s ms (target <= 0.1; upstream +0.28 ms over HTTP)\n' "$(minus "$s50" "$d50")"
