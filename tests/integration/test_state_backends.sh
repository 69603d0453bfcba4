#!/usr/bin/env bash
# state.redis and state.postgresql against real servers started here (loopback, free ports,
# temp dirs): the store contract through build/tests/sidecar/test_state_backends (restarts under
# load included), the storage layouts read with redis-cli and psql, and daprd loading both
# stores; the state HTTP API is exercised when daprd has it.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd
DRIVER=${DAPRC_TEST_BIN:-$ROOT/build/tests/sidecar}/test_state_backends
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

for tool in redis-server redis-cli "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql" "$DRIVER"; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
    bad "needed: $tool (make deps; make build/tests/sidecar/test_state_backends)"; finish; exit 1
  fi
done

# Postgres refuses to run as root: the data dir belongs to the postgres user then.
chmod 711 "$T_TMP"
AS=()
if [ "$(id -u)" -eq 0 ]; then AS=(runuser -u postgres --); fi

# ---- redis-server: AOF with fsync on every write, so that "acknowledged" means "on disk" ----
RDIR=$T_TMP/redis; mkdir -p "$RDIR"
RPORT=$(free_port)
cat >"$RDIR/start.sh" <<EOF
#!/usr/bin/env bash
# Start redis-server in the background (an orphan, stopped by the PID in redis.pid).
cd "$RDIR"
redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always \
  --dir "$RDIR" --daemonize no >>"$RDIR/redis.log" 2>&1 &
echo \$! >"$RDIR/redis.pid"
for i in \$(seq 1 200); do
  [ "\$(redis-cli -p $RPORT ping 2>/dev/null)" = PONG ] && exit 0
  sleep 0.05
done
exit 1
EOF
cat >"$RDIR/stop.sh" <<EOF
#!/usr/bin/env bash
# SIGKILL: only what Redis fsynced survives.
kill -9 "\$(cat "$RDIR/redis.pid")" 2>/dev/null
for i in \$(seq 1 200); do
  redis-cli -p $RPORT ping >/dev/null 2>&1 || exit 0
  sleep 0.05
done
exit 1
EOF
chmod +x "$RDIR/start.sh" "$RDIR/stop.sh"

# ---- PostgreSQL: a throwaway cluster, TCP on 127.0.0.1 only, socket in the temp dir ----
PDIR=$T_TMP/pg; mkdir -p "$PDIR"
PPORT=$(free_port)
[ ${#AS[@]} -gt 0 ] && chown postgres "$PDIR"
cat >"$PDIR/start.sh" <<EOF
#!/usr/bin/env bash
${AS[*]} "$PGBIN/pg_ctl" -D "$PDIR/data" -l "$PDIR/pg.log" -w -t 30 \
  -o "-p $PPORT -k $PDIR -c listen_addresses=127.0.0.1" start >/dev/null
EOF
cat >"$PDIR/stop.sh" <<EOF
#!/usr/bin/env bash
${AS[*]} "$PGBIN/pg_ctl" -D "$PDIR/data" -m fast -w -t 30 stop >/dev/null
EOF
chmod +x "$PDIR/start.sh" "$PDIR/stop.sh"

stop_servers() {
  [ -f "$RDIR/redis.pid" ] && kill -9 "$(cat "$RDIR/redis.pid")" 2>/dev/null
  if [ -f "$PDIR/data/postmaster.pid" ]; then
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$PDIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
      kill -9 "$(head -1 "$PDIR/data/postmaster.pid")" 2>/dev/null
  fi
  cleanup
}
trap stop_servers EXIT

if ! "$RDIR/start.sh"; then bad "redis-server started" "$(cat "$RDIR/redis.log")"; finish; exit 1; fi
ok "redis-server on 127.0.0.1:$RPORT"
if ! "${AS[@]}" "$PGBIN/initdb" -D "$PDIR/data" -U postgres -A trust --no-sync >"$PDIR/initdb.log" 2>&1; then
  bad "initdb" "$(cat "$PDIR/initdb.log")"; finish; exit 1
fi
if ! "$PDIR/start.sh"; then bad "postgres started" "$(cat "$PDIR/pg.log")"; finish; exit 1; fi
ok "postgres on 127.0.0.1:$PPORT"
PGCONN="host=127.0.0.1 port=$PPORT user=postgres dbname=postgres"
PSQL=("$PGBIN/psql" -X -q -t -A -h 127.0.0.1 -p "$PPORT" -U postgres postgres)

echo "# the store contract (test driver)"
out=$(DAPRC_REDIS_ADDR=127.0.0.1:$RPORT DAPRC_PG_CONN=$PGCONN \
      DAPRC_REDIS_STOP_CMD="$RDIR/stop.sh" DAPRC_REDIS_START_CMD="$RDIR/start.sh" \
      DAPRC_PG_STOP_CMD="$PDIR/stop.sh" DAPRC_PG_START_CMD="$PDIR/start.sh" \
      timeout 300 "$DRIVER" 2>&1); rc=$?
printf '%s\n' "$out" | grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|restart:|^[^[]' | sed 's/^/    /'
check "test driver exit status" 0 "$rc"
check "no test skipped" "" "$(printf '%s\n' "$out" | grep -E 'SKIPPED \] t_')"
check_contains "redis restart: nothing acknowledged was lost" "REDIS restart:" "$out"
check_contains "postgres restart: nothing acknowledged was lost" "PG restart:" "$out"

echo "# storage layouts as upstream reads them"
k=$(redis-cli -p "$RPORT" --scan --pattern 't*-r||lay' | head -1)
check "redis HGETALL shows data and version" "data {\"v\":2} version 2" \
  "$(redis-cli -p "$RPORT" HGETALL "$k" | paste -sd' ')"
check "postgres migration level" "2" \
  "$("${PSQL[@]}" -c "SELECT value FROM dapr_metadata WHERE key = 'migrations'")"
check "postgres state table columns" "key text NO,value jsonb NO,isbinary boolean NO,insertdate timestamp with time zone NO,updatedate timestamp with time zone YES,expiredate timestamp with time zone YES" \
  "$("${PSQL[@]}" -c "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'state'")"
check "postgres primary key on key" "key" \
  "$("${PSQL[@]}" -c "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'state'::regclass AND i.indisprimary")"

echo "# daprd with both stores"
RES=$T_TMP/res; mkdir -p "$RES"
cat >"$RES/stores.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: redisstore
spec:
  type: state.redis
  version: v1
  metadata:
  - {name: redisHost, value: "127.0.0.1:$RPORT"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pgstore
spec:
  type: state.postgresql
  version: v1
  metadata:
  - {name: connectionString, value: "$PGCONN"}
  - {name: tableName, value: itstate}
Y
HP=$(free_port)
start_bg "$T_TMP/daprd.log" "$DAPRD" --app-id itapp --resources-path "$RES" --dapr-http-port "$HP" \
  --dapr-listen-addresses 127.0.0.1 --enable-metrics=false
DPID=$BG_PID
if ! wait_http "http://127.0.0.1:$HP/v1.0/healthz/outbound" 20; then
  bad "daprd came up with both stores" "$(cat "$T_TMP/daprd.log")"; finish; exit 1
fi
ok "daprd came up with both stores"
log=$(cat "$T_TMP/daprd.log")
check_contains "redis component loaded" "Component loaded: redisstore (state.redis/v1)" "$log"
check_contains "postgres component loaded" "Component loaded: pgstore (state.postgresql/v1)" "$log"
check "postgres table created by daprd" "itstate" \
  "$("${PSQL[@]}" -c "SELECT table_name FROM information_schema.tables WHERE table_name = 'itstate'")"

U=http://127.0.0.1:$HP
probe=$(http POST "$U/v1.0/state/redisstore" -H 'Content-Type: application/json' -d '[]')
if [[ "$probe" == *ERR_DIRECT_INVOKE* ]]; then
  echo "  skip  state HTTP API not in this daprd yet: the HTTP checks are skipped"
else
  for st in redisstore pgstore; do
    echo "# HTTP API on $st"
    check "$st: save 204" "204 " "$(http POST "$U/v1.0/state/$st" -H 'Content-Type: application/json' \
      -d '[{"key":"k1","value":{"n":1}}]')"
    r=$(curl -s -D "$T_TMP/h" "$U/v1.0/state/$st/k1")
    check "$st: get value" "1" "$(json_get "$r" 'd["n"]')"
    etag=$(grep -i '^etag:' "$T_TMP/h" | cut -d' ' -f2 | tr -d '\r')
    [ -n "$etag" ] && ok "$st: ETag header" || bad "$st: ETag header"
    r=$(http POST "$U/v1.0/state/$st" -H 'Content-Type: application/json' \
      -d '[{"key":"k1","value":2,"etag":"12345"}]')
    check "$st: ETag mismatch 409" "409" "${r%% *}"
    check_contains "$st: ETag mismatch code" "ERR_STATE_SAVE" "$r"
    check "$st: save with the ETag 204" "204 " "$(http POST "$U/v1.0/state/$st" \
      -H 'Content-Type: application/json' -d "[{\"key\":\"k1\",\"value\":2,\"etag\":\"$etag\"}]")"
    r=$(http POST "$U/v1.0/state/$st/transaction" -H 'Content-Type: application/json' \
      -d '{"operations":[{"operation":"upsert","request":{"key":"t1","value":1}},{"operation":"upsert","request":{"key":"k1","value":3,"etag":"12345"}}]}')
    check "$st: failing transaction 500" "500" "${r%% *}"
    check "$st: failing transaction left nothing" "204 " "$(http GET "$U/v1.0/state/$st/t1")"
    check "$st: TTL save 204" "204 " "$(http POST "$U/v1.0/state/$st" -H 'Content-Type: application/json' \
      -d '[{"key":"ttl","value":1,"metadata":{"ttlInSeconds":"1"}}]')"
    gone=no
    for i in $(seq 1 100); do
      [ "$(http GET "$U/v1.0/state/$st/ttl")" = "204 " ] && { gone=yes; break; }
      sleep 0.05
    done
    check "$st: TTL expiry" yes "$gone"
    check "$st: delete 204" "204 " "$(http DELETE "$U/v1.0/state/$st/k1")"
    check "$st: deleted" "204 " "$(http GET "$U/v1.0/state/$st/k1")"
  done
  http POST "$U/v1.0/state/redisstore" -H 'Content-Type: application/json' -d '[{"key":"lay","value":"v"}]' >/dev/null
  check "redis layout via daprd (appid||key)" 'data "v" version 1' \
    "$(redis-cli -p "$RPORT" HGETALL 'itapp||lay' | paste -sd' ')"
  http POST "$U/v1.0/state/pgstore" -H 'Content-Type: application/json' \
    -d '[{"key":"p1","value":{"org":"a","n":1}},{"key":"p2","value":{"org":"b","n":2}},{"key":"p3","value":{"org":"a","n":3}}]' >/dev/null
  r=$(curl -s -X POST "$U/v1.0-alpha1/state/pgstore/query" -H 'Content-Type: application/json' \
    -d '{"filter":{"EQ":{"org":"a"}},"sort":[{"key":"n","order":"DESC"}],"page":{"limit":1}}')
  check "postgres query via daprd" "p3 1" "$(json_get "$r" 'd["results"][0]["key"] + " " + d["token"]')"
fi

kill -TERM "$DPID"
# Not in $(...): a subshell cannot wait for the main shell's child (bash 5.2 reports -1).
wait_exit "$DPID" 10
check "daprd exits cleanly" 0 "$WAIT_RC"
finish
