#!/usr/bin/env bash
# State API (sidecar-api.md §5) through a real daprd: state.in-memory and state.sqlite.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd

RES=$T_TMP/res; mkdir -p "$RES"
cat >"$RES/state.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mem
spec:
  type: state.in-memory
  version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: sq
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: "$T_TMP/state.db"
  - name: cleanupInterval
    value: 1s
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: shared
spec:
  type: state.in-memory
  version: v1
  metadata:
  - name: keyPrefix
    value: none
Y

start_daprd() {
  HP=$(free_port); MP=$(free_port)
  start_bg "$T_TMP/daprd-$1.log" "$DAPRD" --app-id stapp --resources-path "$RES" \
    --dapr-http-port "$HP" --metrics-port "$MP" --dapr-listen-addresses 127.0.0.1
  PID=$BG_PID
  if ! wait_http "http://127.0.0.1:$HP/v1.0/healthz/outbound" 10; then
    bad "daprd came up" "$(cat "$T_TMP/daprd-$1.log")"; finish; exit 1
  fi
  B=http://127.0.0.1:$HP/v1.0
}
start_daprd 1

echo "# metadata lists the stores with their features"
md=$(curl -s "$B/metadata")
check "in-memory capabilities" "['ETAG', 'TRANSACTIONAL', 'TTL', 'DELETE_WITH_PREFIX', 'KEYS_LIKE', 'ACTOR']" \
  "$(json_get "$md" '[c for c in d["components"] if c["name"]=="mem"][0]["capabilities"]')"
check "sqlite capabilities" "['ETAG', 'TRANSACTIONAL', 'TTL', 'KEYS_LIKE', 'ACTOR']" \
  "$(json_get "$md" '[c for c in d["components"] if c["name"]=="sq"][0]["capabilities"]')"

for S in mem sq; do
  echo "# $S: save, get, delete"
  check "$S save 204" "204 " "$(http POST "$B/state/$S" -d '[{"key":"order","value":{"id":1,"items":["a"]}}]')"
  check "$S get 200" '200 {"id":1,"items":["a"]}' "$(http GET "$B/state/$S/order")"
  etag=$(curl -s -D - -o /dev/null "$B/state/$S/order" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
  [ -n "$etag" ] && ok "$S ETag header" || bad "$S ETag header"
  check "$S missing key 204" "204 " "$(http GET "$B/state/$S/nothing")"

  echo "# $S: ETag conflicts"
  r=$(http POST "$B/state/$S" -d '[{"key":"order","value":2,"etag":"not-it"}]')
  check "$S stale ETag 409" 409 "${r%% *}"
  check_contains "$S stale ETag code" '"errorCode":"ERR_STATE_SAVE"' "$r"
  check "$S right ETag 204" "204 " "$(http POST "$B/state/$S" -d "[{\"key\":\"order\",\"value\":2,\"etag\":\"$etag\"}]")"
  r=$(http DELETE "$B/state/$S/order" -H "If-Match: $etag")
  check "$S delete stale If-Match 409" 409 "${r%% *}"
  check_contains "$S delete code" '"errorCode":"ERR_STATE_DELETE"' "$r"
  check "$S delete 204" "204 " "$(http DELETE "$B/state/$S/order")"
  check "$S gone" "204 " "$(http GET "$B/state/$S/order")"

  echo "# $S: first-write under 20 concurrent writers: exactly one wins"
  seq 1 20 | xargs -P 20 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST "$B/state/$S" \
    -d '[{"key":"race","value":{},"options":{"concurrency":"first-write"}}]' >"$T_TMP/race-$S"
  check "$S one 204" 1 "$(grep -c '^204$' "$T_TMP/race-$S")"
  check "$S nineteen 409" 19 "$(grep -c '^409$' "$T_TMP/race-$S")"

  echo "# $S: TTL expiry"
  check "$S save with TTL" "204 " "$(http POST "$B/state/$S?metadata.ttlInSeconds=1" -d '[{"key":"short","value":1}]')"
  h=$(curl -s -D - -o /dev/null "$B/state/$S/short" | tr -d '\r')
  check_contains "$S ttlExpireTime header" "metadata.ttlexpiretime: " "${h,,}"
  st=200
  for ((i = 0; i < 100 && st == 200; i++)); do
    st=$(curl -s -o /dev/null -w '%{http_code}' "$B/state/$S/short"); [ "$st" = 200 ] && sleep 0.05
  done
  check "$S expired within 5s" 204 "$st"

  echo "# $S: transactions"
  http POST "$B/state/$S" -d '[{"key":"t1","value":"old"}]' >/dev/null
  r=$(http POST "$B/state/$S/transaction" -d '{"operations":[
      {"operation":"upsert","request":{"key":"t1","value":"new"}},
      {"operation":"upsert","request":{"key":"t2","value":"x"}},
      {"operation":"delete","request":{"key":"t3","etag":"stale"}}]}')
  check "$S failing transaction 500" 500 "${r%% *}"
  check_contains "$S failing transaction code" '"errorCode":"ERR_STATE_TRANSACTION"' "$r"
  check "$S nothing applied (t1 unchanged)" '200 "old"' "$(http GET "$B/state/$S/t1")"
  check "$S nothing applied (t2 absent)" "204 " "$(http GET "$B/state/$S/t2")"
  check "$S transaction 204" "204 " "$(http POST "$B/state/$S/transaction" -d '{"operations":[
      {"operation":"upsert","request":{"key":"t2","value":"x"}},
      {"operation":"delete","request":{"key":"t1"}}]}')"
  check "$S transaction applied" '200 "x"' "$(http GET "$B/state/$S/t2")"
  r=$(http POST "$B/state/$S/transaction" -d '{"operations":[{"operation":"patch","request":{}}]}')
  check_contains "$S unknown operation" '400 {"errorCode":"ERR_NOT_SUPPORTED_STATE_OPERATION"' "$r"

  echo "# $S: bulk get"
  r=$(curl -s -X POST "$B/state/$S/bulk" -d '{"keys":["t2","none","race"],"parallelism":2}')
  check "$S bulk order and shape" "t2 x True none 1 race" \
    "$(json_get "$r" '" ".join(map(str,[d[0]["key"], d[0]["data"], "etag" in d[0], d[1]["key"], len(d[1]), d[2]["key"]]))')"

  echo "# $S: bad input"
  r=$(http POST "$B/state/$S" -d '[{"key":')
  check_contains "$S malformed JSON" '400 {"errorCode":"ERR_MALFORMED_REQUEST"' "$r"
  r=$(http POST "$B/state/$S" -d '[{"key":1}]')
  check_contains "$S wrong type" '400 {"errorCode":"ERR_MALFORMED_REQUEST"' "$r"
  r=$(http POST "$B/state/$S" -d '[{"key":"a||b","value":1}]')
  check "$S key with || 400" 400 "${r%% *}"
  check_contains "$S key with || reason" '"reason":"DAPR_STATE_ILLEGAL_KEY"' "$r"
  r=$(http GET "$B/state/$S/a%00b")
  check_contains "$S key with NUL" '"reason":"DAPR_STATE_ILLEGAL_KEY"' "$r"
  r=$(http GET "$B/state/$S/a%FFb")
  check_contains "$S key with invalid UTF-8" '"reason":"DAPR_STATE_ILLEGAL_KEY"' "$r"
  r=$(http POST "$B/state/$S" --data-binary $'[{"key":"a\xff","value":1}]')
  check_contains "$S invalid UTF-8 in JSON" '400 {"errorCode":"ERR_MALFORMED_REQUEST"' "$r"
  r=$(http GET "$B/state/$S/..")
  check_contains "$S '..' path: not a state route" '404 {"errorCode":"ERR_DIRECT_INVOKE"' "$r"
done

echo "# errors common to every route"
r=$(http GET "$B/state/nostore/k")
check "unknown store 400" 400 "${r%% *}"
check_contains "unknown store code" '"errorCode":"ERR_STATE_STORE_NOT_FOUND"' "$r"
python3 -c 'import sys; sys.stdout.write("[" + " " * (5 * 1024 * 1024) + "]")' >"$T_TMP/big.json"
r=$(http POST "$B/state/mem" --data-binary @"$T_TMP/big.json")
check_contains "body over --max-body-size" '400 {"errorCode":"ERR_BODY_READ"' "$r"
check_contains "daprd still serving" "204" "$(http GET "$B/healthz")"
r=$(http POST "http://127.0.0.1:$HP/v1.0-alpha1/state/mem/query" -d '{"filter":{}}')
check_contains "query unsupported" '"reason":"DAPR_STATE_QUERYING_NOT_SUPPORTED"' "$r"

echo "# keyPrefix none shares keys across apps"
http POST "$B/state/shared" -d '[{"key":"common","value":7}]' >/dev/null
check "prefix none get" "200 7" "$(http GET "$B/state/shared/common")"

m=$(curl -s "http://127.0.0.1:$MP/metrics")
check_contains "metrics per state route" 'path="/v1.0/state/{storeName}/{key}"' "$m"

echo "# sqlite keeps data across restarts"
http POST "$B/state/sq" -d '[{"key":"durable","value":{"v":1}}]' >/dev/null
kill -TERM "$PID"; wait_exit "$PID" 5 >/dev/null
check_contains "graceful shutdown" "shutdown gracefully" "$(cat "$T_TMP/daprd-1.log")"
start_daprd 2
check "sqlite value after restart" '200 {"v":1}' "$(http GET "$B/state/sq/durable")"
check "in-memory is empty after restart" "204 " "$(http GET "$B/state/mem/t2")"
kill -TERM "$PID"; wait_exit "$PID" 5 >/dev/null
finish
