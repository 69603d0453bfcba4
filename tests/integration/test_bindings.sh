#!/usr/bin/env bash
# Bindings (sidecar-api.md §7, §22.5) through a real daprd and tests/apps/binding_app.py:
# bindings.cron firing into the app (OPTIONS probe, POST /<route>), bindings.localstorage with
# escape attempts refused, bindings.http against the Python app, bindings.redis against a
# redis-server, bindings.postgresql against a PostgreSQL and bindings.mqtt3 (input and output)
# against a mosquitto, all started here.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd
APP=$ROOT/tests/apps/binding_app.py
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
MOSQ=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}

for tool in redis-server redis-cli "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql" "$MOSQ" "$DAPRD"; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
    bad "needed: $tool (make deps; make)"; finish; exit 1
  fi
done

chmod 711 "$T_TMP"
AS=()
if [ "$(id -u)" -eq 0 ]; then AS=(runuser -u postgres --); fi

# ---- redis-server and PostgreSQL on free loopback ports, in the temp dir ----
RDIR=$T_TMP/redis; mkdir -p "$RDIR"; RPORT=$(free_port)
PDIR=$T_TMP/pg; mkdir -p "$PDIR"; PPORT=$(free_port)
MDIR=$T_TMP/mqtt; mkdir -p "$MDIR"; MQPORT=$(free_port)
[ ${#AS[@]} -gt 0 ] && chown postgres "$PDIR"
stop_servers() {
  [ -f "$RDIR/redis.pid" ] && kill -9 "$(cat "$RDIR/redis.pid")" 2>/dev/null
  [ -f "$MDIR/mosquitto.pid" ] && kill -9 "$(cat "$MDIR/mosquitto.pid")" 2>/dev/null
  if [ -f "$PDIR/data/postmaster.pid" ]; then
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$PDIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
      kill -9 "$(head -1 "$PDIR/data/postmaster.pid")" 2>/dev/null
  fi
  cleanup
}
trap stop_servers EXIT

# In a subshell: an orphan stopped by its PID file, not a job of this shell.
(redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RDIR" \
  --daemonize no >"$RDIR/redis.log" 2>&1 & echo $! >"$RDIR/redis.pid")
for i in $(seq 1 200); do [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
if [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" != PONG ]; then
  bad "redis-server started" "$(cat "$RDIR/redis.log")"; finish; exit 1
fi
ok "redis-server on 127.0.0.1:$RPORT"
printf 'listener %s 127.0.0.1\nallow_anonymous true\nlog_dest file %s/mosquitto.log\n' \
  "$MQPORT" "$MDIR" >"$MDIR/mosquitto.conf"
[ "$(id -u)" -eq 0 ] && echo "user root" >>"$MDIR/mosquitto.conf"
("$MOSQ" -c "$MDIR/mosquitto.conf" >"$MDIR/out.log" 2>&1 & echo $! >"$MDIR/mosquitto.pid")
for i in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$MQPORT") 2>/dev/null && break; sleep 0.05; done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$MQPORT") 2>/dev/null; then
  bad "mosquitto started" "$(cat "$MDIR/out.log" "$MDIR/mosquitto.log" 2>/dev/null)"; finish; exit 1
fi
ok "mosquitto on 127.0.0.1:$MQPORT"
if ! "${AS[@]}" "$PGBIN/initdb" -D "$PDIR/data" -U postgres -A trust --no-sync >"$PDIR/initdb.log" 2>&1; then
  bad "initdb" "$(cat "$PDIR/initdb.log")"; finish; exit 1
fi
if ! "${AS[@]}" "$PGBIN/pg_ctl" -D "$PDIR/data" -l "$PDIR/pg.log" -w -t 30 \
  -o "-p $PPORT -k $PDIR -c listen_addresses=127.0.0.1" start >/dev/null; then
  bad "postgres started" "$(cat "$PDIR/pg.log")"; finish; exit 1
fi
ok "postgres on 127.0.0.1:$PPORT"
PGCONN="host=127.0.0.1 port=$PPORT user=postgres dbname=postgres"

# ---- the app and daprd ----
APORT=$(free_port)
start_bg "$T_TMP/app.log" python3 "$APP" "$APORT"
wait_http "http://127.0.0.1:$APORT/events/x" 10 || { bad "app came up"; finish; exit 1; }

LS=$T_TMP/files; OUTSIDE=$T_TMP/outside; mkdir -p "$OUTSIDE"; echo topsecret >"$OUTSIDE/secret.txt"
RES=$T_TMP/res; mkdir -p "$RES"
cat >"$RES/bindings.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: tick}
spec:
  type: bindings.cron
  version: v1
  metadata:
  - {name: schedule, value: "@every 1s"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: unsubtick}
spec:
  type: bindings.cron
  version: v1
  metadata:
  - {name: schedule, value: "@every 1s"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: routed}
spec:
  type: bindings.cron
  version: v1
  metadata:
  - {name: schedule, value: "* * * * * *"}
  - {name: route, value: /unsub-but-explicit}
  - {name: direction, value: "input"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: files}
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - {name: rootPath, value: "$LS"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: web}
spec:
  type: bindings.http
  version: v1
  metadata:
  - {name: url, value: "http://127.0.0.1:$APORT"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: cache}
spec:
  type: bindings.redis
  version: v1
  metadata:
  - {name: redisHost, value: "127.0.0.1:$RPORT"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: db}
spec:
  type: bindings.postgresql
  version: v1
  metadata:
  - {name: connectionString, value: "$PGCONN"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: mq}
spec:
  type: bindings.mqtt3
  version: v1
  metadata:
  - {name: url, value: "tcp://127.0.0.1:$MQPORT"}
  - {name: topic, value: "bindings/in"}
  - {name: consumerID, value: "bapp-mq"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: flakymq}
spec:
  type: bindings.mqtt
  version: v1
  metadata:
  - {name: url, value: "tcp://127.0.0.1:$MQPORT"}
  - {name: topic, value: "bindings/flaky/#"}
  - {name: backOffMaxRetries, value: "2"}
Y

HP=$(free_port); MP=$(free_port)
start_bg "$T_TMP/daprd.log" "$DAPRD" --app-id bapp --app-port "$APORT" --resources-path "$RES" \
  --dapr-http-port "$HP" --metrics-port "$MP" --dapr-listen-addresses 127.0.0.1
if ! wait_http "http://127.0.0.1:$HP/v1.0/healthz/outbound" 10; then
  bad "daprd came up" "$(cat "$T_TMP/daprd.log")"; finish; exit 1
fi
B=http://127.0.0.1:$HP/v1.0/bindings
md=$(curl -s "http://127.0.0.1:$HP/v1.0/metadata")
caps() { json_get "$md" '[c.get("capabilities") for c in d["components"] if c["name"] == "'"$1"'"][0]'; }
check "metadata: cron is an input binding" "['INPUT_BINDING']" "$(caps tick)"
check "metadata: localstorage is an output binding" "['OUTPUT_BINDING']" "$(caps files)"
check "metadata: mqtt3 is both" "['INPUT_BINDING', 'OUTPUT_BINDING']" "$(caps mq)"
post() { http POST "$B/$1" -d "$2"; }

echo "# bindings.cron: @every 1s delivers to POST /tick (bounded wait for two events)"
n=0
for i in $(seq 1 100); do
  n=$(json_get "$(curl -s "http://127.0.0.1:$APORT/events/tick")" 'len(d["events"])')
  [ "$n" -ge 2 ] && break
  sleep 0.1
done
[ "$n" -ge 2 ] && ok "two cron events within 10 s" || bad "two cron events within 10 s" "got $n"
ev=$(curl -s "http://127.0.0.1:$APORT/events/tick")
check "OPTIONS probe before reading" "1" "$(json_get "$ev" 'd["options"]')"
check "event headers" "application/json Local True" \
  "$(json_get "$ev" 'd["events"][0]["headers"]["content-type"]+" "+d["events"][0]["headers"]["timezone"]+" "+str(d["events"][0]["headers"]["readtimeutc"].endswith("+0000 UTC"))')"
check "event body is empty" "" "$(json_get "$ev" 'd["events"][0]["body"]')"
ev=$(curl -s "http://127.0.0.1:$APORT/events/unsubtick")
check "a 404 to OPTIONS means not subscribed" "1 0" "$(json_get "$ev" 'str(d["options"])+" "+str(len(d["events"]))')"
for i in $(seq 1 50); do
  ev=$(curl -s "http://127.0.0.1:$APORT/events/unsub-but-explicit")
  [ "$(json_get "$ev" 'len(d["events"])')" -ge 1 ] && break; sleep 0.1
done
check "direction input skips the probe; route metadata is the path" "0 True" \
  "$(json_get "$ev" 'str(d["options"])+" "+str(len(d["events"])>=1)')"

echo "# output binding errors (§7.1)"
check "bad JSON" "400" "$(post files 'nope' | cut -d' ' -f1)"
check_contains "bad JSON code" '"errorCode":"ERR_MALFORMED_REQUEST"' "$(post files 'nope')"
check_contains "missing operation" 'error invoking output binding files: operation field is missing from request' "$(post files '{"data":1}')"
check_contains "unknown binding" "couldn't find output binding nobody" "$(post nobody '{"operation":"get"}')"
check_contains "unsupported operation" 'does not support operation frob. supported operations:create get list delete' \
  "$(post files '{"operation":"frob"}')"
check_contains "input-only binding is no output binding" "couldn't find output binding tick" "$(post tick '{"operation":"create"}')"

echo "# bindings.localstorage"
check "create" '200 {"fileName":"dir/a.txt"}' "$(post files '{"operation":"create","data":"hello","metadata":{"fileName":"dir/a.txt"}}')"
check "get (a JSON string is unquoted)" '200 hello' "$(post files '{"operation":"get","metadata":{"fileName":"dir/a.txt"}}')"
check "create base64" '200 {"fileName":"b.bin"}' "$(post files '{"operation":"create","data":"aGk=","metadata":{"fileName":"b.bin"}}')"
check "base64 decoded on disk" "hi" "$(cat "$LS/b.bin")"
check "object data stored as compact JSON" '{"a":2,"b":1}' \
  "$(post files '{"operation":"create","data":{"b":1,"a":2},"metadata":{"fileName":"o.json"}}' >/dev/null; cat "$LS/o.json")"
r=$(post files '{"operation":"create","data":"x"}')
check "random UUID name" "200" "${r%% *}"
[[ "$r" =~ \"fileName\":\"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\" ]] && ok "UUID v4 file name" || bad "UUID v4 file name" "$r"
r=$(post files '{"operation":"list"}')
check "list" "4 True" "$(json_get "${r#* }" 'str(len(d))+" "+str("'"$LS"'/dir/a.txt" in d)')"
check "delete" "204 " "$(post files '{"operation":"delete","metadata":{"fileName":"dir/a.txt"}}')"
check_contains "get after delete" "file not found: $LS/dir/a.txt" "$(post files '{"operation":"get","metadata":{"fileName":"dir/a.txt"}}')"

echo "# bindings.localstorage: escapes are refused"
ln -s "$OUTSIDE" "$LS/dirlink"; ln -s "$OUTSIDE/secret.txt" "$LS/filelink"
for name in "../outside/secret.txt" "dir/../../outside/secret.txt" "$OUTSIDE/secret.txt" \
            "/etc/passwd" "dirlink/secret.txt" "filelink" ".."; do
  for op in get create delete; do
    r=$(post files "{\"operation\":\"$op\",\"data\":\"pwned\",\"metadata\":{\"fileName\":\"$name\"}}")
    [[ "$r" == 500* && "$r" == *ERR_INVOKE_OUTPUT_BINDING* ]] && ok "$op $name refused" || bad "$op $name refused" "$r"
  done
done
check "list through a link refused" "500" "$(post files '{"operation":"list","metadata":{"fileName":"dirlink"}}' | cut -d' ' -f1)"
check "outside file untouched" "topsecret" "$(cat "$OUTSIDE/secret.txt")"
check "links still there" "yes" "$([ -L "$LS/dirlink" ] && [ -L "$LS/filelink" ] && echo yes)"
check "no file escaped" "" "$(find "$T_TMP" -name 'secret.txt' -newer "$RES/bindings.yaml" 2>/dev/null; ls /etc/passwd.tmp 2>/dev/null)"
# Percent-encoded names are just names: they stay inside the root.
check "encoded dots stay literal" '200 {"fileName":"%2e%2e/x"}' \
  "$(post files '{"operation":"create","data":"y","metadata":{"fileName":"%2e%2e/x"}}')"
check "literal file inside root" "y" "$(cat "$LS/%2e%2e/x")"
check "query metadata fileName escape refused" "500" \
  "$(http POST "$B/files?metadata.fileName=../outside/secret.txt" -d '{"operation":"get"}' | cut -d' ' -f1)"
check "NUL in a query metadata value refused" "400" \
  "$(http POST "$B/files?metadata.fileName=b.bin%00/../../x" -d '{"operation":"get"}' | cut -d' ' -f1)"
check "NUL escape in JSON metadata refused" "400" \
  "$(post files '{"operation":"get","metadata":{"fileName":"b.bin\u0000x"}}' | cut -d' ' -f1)"

echo "# bindings.http against the app"
r=$(curl -s -D "$T_TMP/h" -X POST "$B/web" -d '{"operation":"post","data":{"k":"v"},"metadata":{"path":"/echo/x","X-Token":"t1","lower":"no"}}')
check "post: method, path, body" "POST /echo/x {\"k\":\"v\"}" "$(json_get "$r" 'd["method"]+" "+d["path"]+" "+d["body"]')"
check "capitalised metadata is a header, lower-case is not" "t1 None" "$(json_get "$r" 'd["headers"].get("x-token","")+" "+str(d["headers"].get("lower"))')"
check "default content type" "application/json; charset=utf-8" "$(json_get "$r" 'd["headers"]["content-type"]')"
check_contains "statusCode metadata header" "metadata.statusCode: 200" "$(tr -d '\r' <"$T_TMP/h")"
check_contains "status metadata header" "metadata.status: 200 OK" "$(tr -d '\r' <"$T_TMP/h")"
check_contains "response headers as metadata" "metadata.X-Target: yes" "$(tr -d '\r' <"$T_TMP/h")"
r=$(curl -s -D "$T_TMP/h" -X POST "$B/web" -d '{"operation":"get","metadata":{"path":"status/404"}}')
check_contains "non-2xx is an error" "received status code 404" "$r"
check_contains "with statusCode metadata" "metadata.statusCode: 404" "$(tr -d '\r' <"$T_TMP/h")"
check "errorIfNot2XX false" "200 status 404" "$(post web '{"operation":"get","metadata":{"path":"status/404","errorIfNot2XX":"false"}}')"
check "create is POST" "POST" "$(json_get "$(post web '{"operation":"create","metadata":{"path":"echo"}}' | cut -d' ' -f2-)" 'd["method"]')"
check "delete" "DELETE" "$(json_get "$(post web '{"operation":"delete","metadata":{"path":"echo"}}' | cut -d' ' -f2-)" 'd["method"]')"

echo "# bindings.redis"
check "create with ttl" "204 " "$(post cache '{"operation":"create","data":{"n":1},"metadata":{"key":"k1","ttlInSeconds":"100"}}')"
check "stored value" '{"n":1}' "$(redis-cli -p "$RPORT" get k1)"
ttl=$(redis-cli -p "$RPORT" ttl k1); [ "$ttl" -gt 0 ] && [ "$ttl" -le 100 ] && ok "ttl set ($ttl)" || bad "ttl set" "$ttl"
check "get" '200 {"n":1}' "$(post cache '{"operation":"get","metadata":{"key":"k1"}}')"
check "increment" "204 " "$(post cache '{"operation":"increment","metadata":{"key":"ctr"}}')"
post cache '{"operation":"increment","metadata":{"key":"ctr"}}' >/dev/null
check "counter" "2" "$(redis-cli -p "$RPORT" get ctr)"
check "get with delete" '200 2' "$(post cache '{"operation":"get","metadata":{"key":"ctr","delete":"true"}}')"
check "deleted" "0" "$(redis-cli -p "$RPORT" exists ctr)"
check "delete" "204 " "$(post cache '{"operation":"delete","metadata":{"key":"k1"}}')"
check_contains "missing key" "missing key in request metadata" "$(post cache '{"operation":"get"}')"
check_contains "bad ttl" "ttlInSeconds value must be a valid integer" "$(post cache '{"operation":"create","data":1,"metadata":{"key":"x","ttlInSeconds":"abc"}}')"

echo "# bindings.postgresql"
r=$(curl -s -D "$T_TMP/h" -X POST "$B/db" -d '{"operation":"exec","metadata":{"sql":"CREATE TABLE t (id int PRIMARY KEY, name text, ok bool, j jsonb, at timestamptz)"}}')
check "exec create table" "" "$r"
r=$(curl -s -D "$T_TMP/h" -X POST "$B/db" -d '{"operation":"exec","metadata":{"sql":"INSERT INTO t VALUES ($1, $2, $3, $4, $5), (2, NULL, false, NULL, NULL)","params":"[1, \"ann\", true, {\"a\":1}, \"2024-01-02T03:04:05Z\"]"}}')
hd=$(tr -d '\r' <"$T_TMP/h")
check_contains "rows-affected" "metadata.rows-affected: 2" "$hd"
check_contains "operation metadata" "metadata.operation: exec" "$hd"
for k in sql start-time end-time duration; do check_contains "$k metadata" "metadata.$k: " "$hd"; done
r=$(post db '{"operation":"query","metadata":{"sql":"SELECT id, name, ok, j, at FROM t ORDER BY id"}}')
check "query rows" '200 [[1,"ann",true,{"a": 1},"2024-01-02T03:04:05Z"],[2,null,false,null,null]]' "$r"
check "query with params" '200 [["ann"]]' "$(post db '{"operation":"query","metadata":{"sql":"SELECT name FROM t WHERE id = $1","params":"[1]"}}')"
check_contains "sql error" "error executing query" "$(post db '{"operation":"exec","metadata":{"sql":"SELEC 1"}}')"
check_contains "missing sql" "required metadata not set: sql" "$(post db '{"operation":"query"}')"
check_contains "bad params" "invalid metadata property params" "$(post db '{"operation":"query","metadata":{"sql":"SELECT 1","params":"{"}}')"
check "close" "204 " "$(post db '{"operation":"close"}')"
check_contains "closed" "component is closed" "$(post db '{"operation":"query","metadata":{"sql":"SELECT 1"}}')"

echo "# bindings.mqtt3: output create, input delivered to POST /<name> (bounded waits)"
events() { curl -s "http://127.0.0.1:$APORT/events/$1"; }
wait_events() { # route count: the number of recorded POSTs once >= count, within 10 s
  local n=0
  for i in $(seq 1 200); do
    n=$(json_get "$(events "$1")" 'len(d["events"])'); [ "$n" -ge "$2" ] && break; sleep 0.05
  done
  echo "$n"
}
check "create" "204 " "$(post mq '{"operation":"create","data":{"b":1,"a":"x"}}')"
check "delivered to the app" "1" "$(wait_events mq 1)"
ev=$(events mq)
check "body is the published data" '{"a":"x","b":1}' "$(json_get "$ev" 'd["events"][0]["body"]')"
check "topic metadata header" "bindings/in" "$(json_get "$ev" 'd["events"][0]["headers"].get("topic")')"
check "probed with OPTIONS" "1" "$(json_get "$ev" 'd["options"]')"
check "request topic overrides (wildcard subscription)" "204 " \
  "$(post mq '{"operation":"create","data":"once","metadata":{"topic":"bindings/flaky/a"}}')"
check "app failure retried, then delivered" "2" "$(wait_events flakymq 2)"
ev=$(events flakymq)
check "same event twice, topic of the message" '"once" "once" bindings/flaky/a' \
  "$(json_get "$ev" 'd["events"][0]["body"]+" "+d["events"][1]["body"]+" "+d["events"][1]["headers"]["topic"]')"
check "nothing more for mq" "1" "$(json_get "$(events mq)" 'len(d["events"])')"
check_contains "unsupported operation" "does not support operation get. supported operations:create" \
  "$(post mq '{"operation":"get"}')"
check_contains "wildcard topic cannot be published to" "ERR_INVOKE_OUTPUT_BINDING" \
  "$(post mq '{"operation":"create","data":1,"metadata":{"topic":"a/#"}}')"
check_contains "bad retain" "mqtt binding: invalid retain maybe" \
  "$(post mq '{"operation":"create","data":1,"metadata":{"retain":"maybe"}}')"

echo "# component metrics"
m=$(curl -s "http://127.0.0.1:$MP/metrics")
check_contains "output binding count" 'dapr_component_output_binding_count{app_id="bapp",component="files",namespace="",operation="create",success="true"}' "$m"
check_contains "failed output binding count" 'dapr_component_output_binding_count{app_id="bapp",component="files",namespace="",operation="get",success="false"}' "$m"
check_contains "input binding latency" 'dapr_component_input_binding_latencies_bucket{app_id="bapp",component="tick",namespace="",success="true",le=' "$m"

echo "# bad components fail startup with a clear error"
BAD=$T_TMP/bad; mkdir -p "$BAD"
# bad_component <name> <type> <metadata lines>: daprd with only that component; sets WAIT_RC.
bad_component() {
  printf 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: %s}\nspec:\n  type: %s\n  version: v1\n  metadata:\n%s\n' \
    "$1" "$2" "$3" >"$BAD/c.yaml"
  "$DAPRD" --app-id badapp --resources-path "$BAD" --dapr-http-port "$(free_port)" \
    --metrics-port "$(free_port)" --dapr-listen-addresses 127.0.0.1 >"$T_TMP/bad.log" 2>&1 &
  BP=$!; T_PIDS+=("$BP")
  wait_exit "$BP" 10
}
bad_component badcron bindings.cron '  - {name: schedule, value: "61 * * * * *"}'
check "bad cron spec stops daprd" "1" "$WAIT_RC"
check_contains "bad cron message" "invalid schedule format '61 * * * * *': end of range (61) above maximum (59)" "$(cat "$T_TMP/bad.log")"
bad_component badmq bindings.mqtt3 "  - {name: url, value: \"tcp://127.0.0.1:$MQPORT\"}"
check "mqtt binding without topic stops daprd" "1" "$WAIT_RC"
check_contains "missing topic message" "mqtt binding: missing topic" "$(cat "$T_TMP/bad.log")"

finish
