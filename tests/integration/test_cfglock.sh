#!/usr/bin/env bash
# Configuration and distributed lock (sidecar-api.md §9, §10) against real servers started here
# (loopback, free ports, temp dirs): configuration.redis with keyspace notifications,
# configuration.postgresql with LISTEN/NOTIFY and a user trigger, changes pushed to a Python app
# within 1 s, unsubscribe stopping the pushes; lock.redis shared by three daprd (one holder at a
# time over many attempts, unlock by another owner, expiry), lock.in-memory.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd
APP=$ROOT/tests/apps/config_app.py
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

for tool in redis-server redis-cli "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql" "$DAPRD"; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
    bad "needed: $tool (make deps; make)"; finish; exit 1
  fi
done

# Postgres refuses to run as root: the data dir belongs to the postgres user then.
chmod 711 "$T_TMP"
AS=()
if [ "$(id -u)" -eq 0 ]; then AS=(runuser -u postgres --); fi

RDIR=$T_TMP/redis; mkdir -p "$RDIR"
RPORT=$(free_port)
PDIR=$T_TMP/pg; mkdir -p "$PDIR"
PPORT=$(free_port)
[ ${#AS[@]} -gt 0 ] && chown postgres "$PDIR"

stop_servers() {
  if [ -f "$PDIR/data/postmaster.pid" ]; then
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$PDIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
      kill -9 "$(head -1 "$PDIR/data/postmaster.pid")" 2>/dev/null
  fi
  cleanup
}
trap stop_servers EXIT

start_bg "$RDIR/redis.log" redis-server --port "$RPORT" --bind 127.0.0.1 --save '' \
  --appendonly no --dir "$RDIR" --notify-keyspace-events KEA
for ((i = 0; i < 200; i++)); do
  [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] && break
  sleep 0.05
done
if [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" != PONG ]; then
  bad "redis-server started" "$(cat "$RDIR/redis.log")"; finish; exit 1
fi
ok "redis-server on 127.0.0.1:$RPORT (notify-keyspace-events KEA)"
if ! "${AS[@]}" "$PGBIN/initdb" -D "$PDIR/data" -U postgres -A trust --no-sync >"$PDIR/initdb.log" 2>&1; then
  bad "initdb" "$(cat "$PDIR/initdb.log")"; finish; exit 1
fi
if ! "${AS[@]}" "$PGBIN/pg_ctl" -D "$PDIR/data" -l "$PDIR/pg.log" -w -t 30 \
  -o "-p $PPORT -k $PDIR -c listen_addresses=127.0.0.1" start >/dev/null; then
  bad "postgres started" "$(cat "$PDIR/pg.log")"; finish; exit 1
fi
ok "postgres on 127.0.0.1:$PPORT"
PGCONN="host=127.0.0.1 port=$PPORT user=postgres dbname=postgres"
PSQL=("$PGBIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PPORT" -U postgres postgres)

# The table and the user trigger upstream's docs describe (§22.7).
"${PSQL[@]}" >/dev/null <<'SQL'
CREATE TABLE appconfig (key text PRIMARY KEY, value text NOT NULL, version text NOT NULL,
                        metadata json);
CREATE FUNCTION notify_appconfig() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('config_ch', json_build_object('data', row_to_json(NEW))::text);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER appconfig_changed AFTER INSERT OR UPDATE ON appconfig
  FOR EACH ROW EXECUTE PROCEDURE notify_appconfig();
INSERT INTO appconfig VALUES ('pk1', 'pv1', '1', '{"owner":"team-a"}');
SQL
check "postgres table and trigger created" "pv1" \
  "$("${PSQL[@]}" -c "SELECT value FROM appconfig WHERE key = 'pk1'")"

RES=$T_TMP/res; mkdir -p "$RES"
cat >"$RES/components.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: rcfg}
spec:
  type: configuration.redis
  version: v1
  metadata:
  - {name: redisHost, value: "127.0.0.1:$RPORT"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pcfg}
spec:
  type: configuration.postgresql
  version: v1
  metadata:
  - {name: connectionString, value: "$PGCONN"}
  - {name: table, value: appconfig}
  - {name: notifyChannel, value: config_ch}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: rlock}
spec:
  type: lock.redis
  version: v1
  metadata:
  - {name: redisHost, value: "127.0.0.1:$RPORT"}
  - {name: keyPrefix, value: none}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: mlock}
spec:
  type: lock.in-memory
  version: v1
Y

AP=$(free_port)
start_bg "$T_TMP/app.log" python3 "$APP" "$AP"
if ! wait_http "http://127.0.0.1:$AP/events" 10; then bad "config app up" "$(cat "$T_TMP/app.log")"; finish; exit 1; fi

declare -a HP DPID
for n in 0 1 2; do
  HP[$n]=$(free_port)
  args=(--app-id "cfg$n" --resources-path "$RES" --dapr-http-port "${HP[$n]}"
        --dapr-listen-addresses 127.0.0.1 --enable-metrics=false --dapr-grpc-port "$(free_port)")
  [ "$n" -eq 0 ] && args+=(--app-port "$AP")
  start_bg "$T_TMP/daprd$n.log" "$DAPRD" "${args[@]}"
  DPID[$n]=$BG_PID
done
for n in 0 1 2; do
  if ! wait_http "http://127.0.0.1:${HP[$n]}/v1.0/healthz/outbound" 20; then
    bad "daprd $n up" "$(cat "$T_TMP/daprd$n.log")"; finish; exit 1
  fi
done
ok "three daprd up"
U=http://127.0.0.1:${HP[0]}

echo "# configuration.redis"
redis-cli -p "$RPORT" SET k1 'v1||1' >/dev/null
redis-cli -p "$RPORT" SET k2 'plain' >/dev/null
redis-cli -p "$RPORT" HSET notastring f 1 >/dev/null
check "get one key" '200 {"k1":{"value":"v1","version":"1"}}' "$(http GET "$U/v1.0/configuration/rcfg?key=k1")"
check "get two keys, value without version" '200 {"k1":{"value":"v1","version":"1"},"k2":{"value":"plain"}}' \
  "$(http GET "$U/v1.0/configuration/rcfg?key=k2&key=k1")"
check "alpha1 route" '200 {"k1":{"value":"v1","version":"1"}}' "$(http GET "$U/v1.0-alpha1/configuration/rcfg?key=k1")"
r=$(http GET "$U/v1.0/configuration/rcfg")
check "get all keys (non-strings skipped)" "['k1', 'k2']" "$(json_get "${r#* }" 'sorted(d)')"
check "missing key: 204" "204 " "$(http GET "$U/v1.0/configuration/rcfg?key=nope")"
r=$(http GET "$U/v1.0/configuration/nostore?key=k1")
check_contains "unknown store: 400" "400 " "$r"
check_contains "unknown store: ERR_CONFIGURATION_STORE_NOT_FOUND" '"errorCode":"ERR_CONFIGURATION_STORE_NOT_FOUND","message":"configuration store nostore not found"' "$r"
r=$(http GET "http://127.0.0.1:${HP[1]}/v1.0/configuration/rcfg/subscribe?key=k1")
check_contains "subscribe without app channel: 500 ERR_APP_CHANNEL_NIL" '500 {"errorCode":"ERR_APP_CHANNEL_NIL"' "$r"

r=$(http GET "$U/v1.0/configuration/rcfg/subscribe?key=k1&key=k3")
check_contains "subscribe: 200" "200 " "$r"
SUB=$(json_get "${r#* }" 'd["id"]')
check "subscription id is a UUID" 36 "${#SUB}"
t0=$(python3 -c 'import time; print(time.time())')
redis-cli -p "$RPORT" SET k1 'v2||2' >/dev/null
ev=$(curl -s "http://127.0.0.1:$AP/events/wait?n=1&timeout=3")
check "change pushed to the app" "1" "$(json_get "$ev" 'len(d["events"])')"
check "pushed within 1 s" "True" "$(json_get "$ev" "d['events'][0]['t'] - $t0 < 1.0")"
check "callback path /configuration/rcfg/k1" "rcfg k1" "$(json_get "$ev" 'd["events"][0]["store"] + " " + d["events"][0]["key"]')"
check "callback content type" "application/json" "$(json_get "$ev" 'd["events"][0]["content_type"]')"
check "callback body: id and items keyed by key" \
  "{'id': '$SUB', 'items': {'k1': {'value': 'v2', 'version': '2'}}}" "$(json_get "$ev" 'd["events"][0]["body"]')"
redis-cli -p "$RPORT" SET other 'x||1' >/dev/null
redis-cli -p "$RPORT" DEL k3 >/dev/null
redis-cli -p "$RPORT" SET k3 'v3||7' >/dev/null
ev=$(curl -s "http://127.0.0.1:$AP/events/wait?n=2&timeout=3")
check "second subscribed key pushed, unsubscribed key not" "k1 k3" \
  "$(json_get "$ev" '" ".join(e["key"] for e in d["events"])')"
redis-cli -p "$RPORT" DEL k1 >/dev/null
ev=$(curl -s "http://127.0.0.1:$AP/events/wait?n=3&timeout=3")
check "deleted key pushed as an empty item" "{'k1': {}}" "$(json_get "$ev" 'd["events"][2]["body"]["items"]')"

check "unsubscribe: 200 ok" '200 {"ok":true}' "$(http GET "$U/v1.0/configuration/rcfg/$SUB/unsubscribe")"
curl -s -X DELETE "http://127.0.0.1:$AP/events" >/dev/null
redis-cli -p "$RPORT" SET k1 'v4||4' >/dev/null
ev=$(curl -s "http://127.0.0.1:$AP/events/wait?n=1&timeout=1.5")
check "no push after unsubscribe (1.5 s)" "0" "$(json_get "$ev" 'len(d["events"])')"
r=$(http GET "$U/v1.0/configuration/rcfg/$SUB/unsubscribe")
check "unsubscribe again: 500 with message" \
  "500 {\"message\":\"failed to unsubscribe to configuration request $SUB: subscription with id $SUB does not exist\"}" "$r"

r=$(http GET "$U/v1.0-alpha1/configuration/rcfg/subscribe")
ALL=$(json_get "${r#* }" 'd["id"]')
curl -s -X DELETE "http://127.0.0.1:$AP/events" >/dev/null
redis-cli -p "$RPORT" SET anykey 'a||1' >/dev/null
ev=$(curl -s "http://127.0.0.1:$AP/events/wait?n=1&timeout=3")
check "subscription to all keys sees any key" "anykey" "$(json_get "$ev" 'd["events"][0]["key"] if d["events"] else ""')"
check "unsubscribe all-keys subscription" '200 {"ok":true}' "$(http GET "$U/v1.0-alpha1/configuration/rcfg/$ALL/unsubscribe")"

echo "# configuration.postgresql"
check "get with metadata" '200 {"pk1":{"value":"pv1","version":"1","metadata":{"owner":"team-a"}}}' \
  "$(http GET "$U/v1.0/configuration/pcfg?key=pk1")"
check "get missing: 204" "204 " "$(http GET "$U/v1.0/configuration/pcfg?key=nope")"
r=$(http GET "$U/v1.0/configuration/pcfg/subscribe?key=pk1&key=pk2")
PSUB=$(json_get "${r#* }" 'd["id"]')
check "subscribe: id" 36 "${#PSUB}"
curl -s -X DELETE "http://127.0.0.1:$AP/events" >/dev/null
t0=$(python3 -c 'import time; print(time.time())')
"${PSQL[@]}" -c "UPDATE appconfig SET value = 'pv2', version = '2' WHERE key = 'pk1'" >/dev/null
ev=$(curl -s "http://127.0.0.1:$AP/events/wait?n=1&timeout=3")
check "postgres change pushed" "1" "$(json_get "$ev" 'len(d["events"])')"
check "postgres change pushed within 1 s" "True" "$(json_get "$ev" "d['events'][0]['t'] - $t0 < 1.0")"
check "postgres callback body" \
  "{'id': '$PSUB', 'items': {'pk1': {'value': 'pv2', 'version': '2', 'metadata': {'owner': 'team-a'}}}}" \
  "$(json_get "$ev" 'd["events"][0]["body"]')"
"${PSQL[@]}" -c "INSERT INTO appconfig VALUES ('other', 'o', '1', NULL)" >/dev/null
"${PSQL[@]}" -c "INSERT INTO appconfig VALUES ('pk2', 'p2', '1', NULL)" >/dev/null
ev=$(curl -s "http://127.0.0.1:$AP/events/wait?n=2&timeout=3")
check "only subscribed keys pushed" "pk1 pk2" "$(json_get "$ev" '" ".join(e["key"] for e in d["events"])')"
check "postgres unsubscribe" '200 {"ok":true}' "$(http GET "$U/v1.0/configuration/pcfg/$PSUB/unsubscribe")"
curl -s -X DELETE "http://127.0.0.1:$AP/events" >/dev/null
"${PSQL[@]}" -c "UPDATE appconfig SET value = 'pv3' WHERE key = 'pk1'" >/dev/null
ev=$(curl -s "http://127.0.0.1:$AP/events/wait?n=1&timeout=1.5")
check "no postgres push after unsubscribe (1.5 s)" "0" "$(json_get "$ev" 'len(d["events"])')"

echo "# lock API validation"
L=$U/v1.0-alpha1
j='Content-Type: application/json'
check "lock: expiry 0 is 400" \
  '400 {"errorCode":"ERR_MALFORMED_REQUEST","message":"ExpiryInSeconds is not positive in lock store rlock"}' \
  "$(http POST "$L/lock/rlock" -H "$j" -d '{"resourceId":"r","lockOwner":"o","expiryInSeconds":0}')"
check "lock: empty owner is 400" \
  '400 {"errorCode":"ERR_MALFORMED_REQUEST","message":"LockOwner is empty in lock store rlock"}' \
  "$(http POST "$L/lock/rlock" -H "$j" -d '{"resourceId":"r","expiryInSeconds":5}')"
check "lock: empty resource is 400" \
  '400 {"errorCode":"ERR_MALFORMED_REQUEST","message":"ResourceId is empty in lock store rlock"}' \
  "$(http POST "$L/unlock/rlock" -H "$j" -d '{"lockOwner":"o"}')"
check "lock: unknown store is 400" \
  '400 {"errorCode":"ERR_LOCK_STORE_NOT_FOUND","message":"lock store nolock not found"}' \
  "$(http POST "$L/lock/nolock" -H "$j" -d '{"resourceId":"r","lockOwner":"o","expiryInSeconds":5}')"
check_contains "lock: || in resourceId is 500 ERR_TRY_LOCK" '500 {"errorCode":"ERR_TRY_LOCK"' \
  "$(http POST "$L/lock/rlock" -H "$j" -d '{"resourceId":"a||b","lockOwner":"o","expiryInSeconds":5}')"
check_contains "lock: bad JSON is 400 ERR_MALFORMED_REQUEST" '400 {"errorCode":"ERR_MALFORMED_REQUEST"' \
  "$(http POST "$L/lock/rlock" -H "$j" -d '{"resourceId":')"

echo "# lock.redis across three sidecars"
L0=http://127.0.0.1:${HP[0]}/v1.0-alpha1 L1=http://127.0.0.1:${HP[1]}/v1.0-alpha1
check "A takes r1" '200 {"success":true}' \
  "$(http POST "$L0/lock/rlock" -H "$j" -d '{"resourceId":"r1","lockOwner":"A","expiryInSeconds":30}')"
check "B cannot take r1" '200 {"success":false}' \
  "$(http POST "$L1/lock/rlock" -H "$j" -d '{"resourceId":"r1","lockOwner":"B","expiryInSeconds":30}')"
check "stored as lock||r1 holding the owner (keyPrefix none)" "A" "$(redis-cli -p "$RPORT" GET 'lock||r1')"
check "B unlocking A's lock: status 2" '200 {"status":2}' \
  "$(http POST "$L1/unlock/rlock" -H "$j" -d '{"resourceId":"r1","lockOwner":"B"}')"
check "A unlocks: status 0" '200 {"status":0}' \
  "$(http POST "$L0/unlock/rlock" -H "$j" -d '{"resourceId":"r1","lockOwner":"A"}')"
check "unlock of a free lock: status 1" '200 {"status":1}' \
  "$(http POST "$L0/unlock/rlock" -H "$j" -d '{"resourceId":"r1","lockOwner":"A"}')"

check "A takes r2 for 1 s" '200 {"success":true}' \
  "$(http POST "$L0/lock/rlock" -H "$j" -d '{"resourceId":"r2","lockOwner":"A","expiryInSeconds":1}')"
out=$(python3 - "$L1" <<'PY'
import json, sys, time, urllib.request
url = sys.argv[1] + "/lock/rlock"
body = json.dumps({"resourceId": "r2", "lockOwner": "B", "expiryInSeconds": 5}).encode()
t0 = time.time(); first = None
while time.time() - t0 < 4:
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    ok = json.load(urllib.request.urlopen(req))["success"]
    if first is None: first = ok
    if ok: print(first, round(time.time() - t0, 1) >= 0.5, time.time() - t0 < 2.5); break
    time.sleep(0.05)
else:
    print(first, "never")
PY
)
check "expiry releases the lock (refused first, taken after ~1 s)" "False True True" "$out"

out=$(python3 - "http://127.0.0.1:${HP[0]}" "http://127.0.0.1:${HP[1]}" "http://127.0.0.1:${HP[2]}" <<'PY'
import json, sys, threading, time, urllib.request
holder = [None]; guard = threading.Lock(); violations = [0]; got = {}; errors = [0]
def call(base, path, body):
    req = urllib.request.Request(base + "/v1.0-alpha1/" + path + "/rlock",
                                 json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=5))
def worker(i, base):
    me = "owner-%d" % i
    for _ in range(150):
        if not call(base, "lock", {"resourceId": "hot", "lockOwner": me, "expiryInSeconds": 10})["success"]:
            continue
        with guard:
            if holder[0] is not None: violations[0] += 1
            holder[0] = me
            got[me] = got.get(me, 0) + 1
        time.sleep(0.001)
        with guard:
            if holder[0] != me: violations[0] += 1
            holder[0] = None
        if call(base, "unlock", {"resourceId": "hot", "lockOwner": me})["status"] != 0: errors[0] += 1
ts = [threading.Thread(target=worker, args=(i * 2 + k, b)) for i, b in enumerate(sys.argv[1:]) for k in (0, 1)]
[t.start() for t in ts]; [t.join() for t in ts]
print(violations[0], errors[0], len(got), sum(got.values()) >= 30)
PY
)
check "contention: 6 owners on 3 sidecars, 900 attempts: no overlap, unlocks ok, all won, many rounds" "0 0 6 True" "$out"

echo "# lock.in-memory"
check "in-memory: take" '200 {"success":true}' \
  "$(http POST "$L0/lock/mlock" -H "$j" -d '{"resourceId":"m","lockOwner":"A","expiryInSeconds":30}')"
check "in-memory: second owner refused" '200 {"success":false}' \
  "$(http POST "$L0/lock/mlock" -H "$j" -d '{"resourceId":"m","lockOwner":"B","expiryInSeconds":30}')"
check "in-memory: other owner unlock status 2" '200 {"status":2}' \
  "$(http POST "$L0/unlock/mlock" -H "$j" -d '{"resourceId":"m","lockOwner":"B"}')"
check "in-memory: unlock status 0" '200 {"status":0}' \
  "$(http POST "$L0/unlock/mlock" -H "$j" -d '{"resourceId":"m","lockOwner":"A"}')"

echo "# shutdown with a live subscription"
r=$(http GET "$U/v1.0/configuration/rcfg/subscribe?key=k1")
check_contains "subscribe before shutdown" "200 " "$r"
kill -TERM "${DPID[0]}"
wait_exit "${DPID[0]}" 15
check "daprd with a live subscription exits cleanly" "0" "$WAIT_RC"

finish
