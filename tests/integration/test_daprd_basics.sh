#!/usr/bin/env bash
# daprd foundation: flags, resource loading, healthz, metadata, metrics, shutdown.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd

echo "# flags"
out=$("$DAPRD" --version); check "--version prints the version" "$(cat "$ROOT/VERSION")" "$out"
out=$("$DAPRD" --app-id a --no-such-flag 2>&1); rc=$?
check "unknown flag exits 1" 1 "$rc"
check "unknown flag: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
check_contains "unknown flag named" "unknown flag: --no-such-flag" "$out"
out=$("$DAPRD" --app-id a --dapr-http-port 99999 2>&1); rc=$?
check "bad port exits 1" 1 "$rc"
check_contains "bad port message" 'invalid value for --dapr-http-port' "$out"
out=$("$DAPRD" --app-id a --max-body-size 4Zi 2>&1); rc=$?
check "bad quantity exits 1" 1 "$rc"
out=$("$DAPRD" --app-id a.b 2>&1); rc=$?
check "app id with a dot exits 1" 1 "$rc"
out=$("$DAPRD" --dapr-http-port 1 2>&1); rc=$?
check "missing app id exits 1" 1 "$rc"

echo "# a running sidecar"
RES=$T_TMP/res; mkdir -p "$RES"
cat >"$RES/state.yaml" <<'Y'
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mystore
spec:
  type: state.in-memory
  version: v1
  metadata: []
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: otherapp-store
spec:
  type: state.in-memory
  version: v1
  metadata: []
scopes: [someoneelse]
Y
cat >"$RES/sub.yaml" <<'Y'
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: orders-sub
spec:
  pubsubname: pubsub
  topic: orders
  routes:
    rules:
    - match: event.type == "widget"
      path: /widgets
    default: /orders
  deadLetterTopic: poison
Y
cat >"$RES/endpoint.yaml" <<'Y'
apiVersion: dapr.io/v1alpha1
kind: HTTPEndpoint
metadata:
  name: external
spec:
  baseUrl: http://127.0.0.1:1
Y
cat >"$RES/deployment.yaml" <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: not-dapr
spec: {}
Y
HP=$(free_port); MP=$(free_port)
start_bg "$T_TMP/daprd.log" "$DAPRD" --app-id itapp --resources-path "$RES" --dapr-http-port "$HP" \
  --metrics-port "$MP" --dapr-listen-addresses 127.0.0.1 --log-as-json --dapr-graceful-shutdown-seconds 2
PID=$BG_PID
if ! wait_http "http://127.0.0.1:$HP/v1.0/healthz/outbound" 10; then
  bad "daprd came up" "$(cat "$T_TMP/daprd.log")"; finish; exit 1
fi
check "healthz 204" "204 " "$(http GET "http://127.0.0.1:$HP/v1.0/healthz")"
check "healthz/outbound 204" "204 " "$(http GET "http://127.0.0.1:$HP/v1.0/healthz/outbound")"
r=$(http GET "http://127.0.0.1:$HP/v1.0/healthz?appid=other")
check_contains "healthz appid mismatch" "ERR_HEALTH_APPID_NOT_MATCH" "$r"

md=$(curl -s "http://127.0.0.1:$HP/v1.0/metadata")
check "metadata id" itapp "$(json_get "$md" 'd["id"]')"
check "metadata components (scoped)" "[{'name': 'mystore', 'type': 'state.in-memory', 'version': 'v1', 'capabilities': ['ETAG', 'TRANSACTIONAL', 'TTL', 'DELETE_WITH_PREFIX', 'KEYS_LIKE', 'ACTOR']}]" \
  "$(json_get "$md" 'd["components"]')"
check "metadata subscription" "orders /widgets /orders poison DECLARATIVE" \
  "$(json_get "$md" '" ".join([d["subscriptions"][0]["topic"], d["subscriptions"][0]["rules"][0]["path"], d["subscriptions"][0]["rules"][1]["path"], d["subscriptions"][0]["deadLetterTopic"], d["subscriptions"][0]["type"]])')"
check "metadata default rule has no match" "False" "$(json_get "$md" '"match" in d["subscriptions"][0]["rules"][1]')"
check "metadata httpEndpoints" "external" "$(json_get "$md" 'd["httpEndpoints"][0]["name"]')"
check "metadata extended version" "$(cat "$ROOT/VERSION")" "$(json_get "$md" 'd["extended"]["daprRuntimeVersion"]')"
check "metadata actors disabled" "DISABLED" "$(json_get "$md" 'd["actorRuntime"]["runtimeStatus"]')"
check "metadata content type" "application/json" \
  "$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$HP/v1.0/metadata")"

check "PUT metadata 204" "204 " "$(http PUT "http://127.0.0.1:$HP/v1.0/metadata/appCommand" -d 'node app.js')"
md=$(curl -s "http://127.0.0.1:$HP/v1.0/metadata")
check "extended attribute stored" "node app.js" "$(json_get "$md" 'd["extended"]["appCommand"]')"

r=$(http GET "http://127.0.0.1:$HP/v1.0/nothing/here")
check "unknown path falls to invocation: 404" "404" "${r%% *}"
check_contains "unknown path error code" '"errorCode":"ERR_DIRECT_INVOKE"' "$r"
r=$(http DELETE "http://127.0.0.1:$HP/v1.0/metadata")
check "wrong method falls to invocation: 404" "404" "${r%% *}"

http GET "http://127.0.0.1:$HP/v1.0/state/mystore/k1" >/dev/null
m=$(curl -s "http://127.0.0.1:$MP/metrics")
check_contains "metrics state get count" 'dapr_component_state_count{app_id="itapp",component="mystore",namespace="",operation="get",success="true"} 1' "$m"
check_contains "metrics state latency" 'dapr_component_state_latencies_count{app_id="itapp",component="mystore",namespace="",operation="get",success="true"} 1' "$m"
check_contains "metrics request count" 'dapr_http_server_request_count{app_id="itapp",method="GET",path="/v1.0/metadata",status="200"}' "$m"
check_contains "metrics latency histogram" 'dapr_http_server_latency_bucket{' "$m"
check_contains "metrics component loaded" 'dapr_runtime_component_loaded{app_id="itapp"} 1' "$m"
check_contains "metrics component init" 'dapr_runtime_component_init_total{app_id="itapp",component="state.in-memory"} 1' "$m"

log=$(cat "$T_TMP/daprd.log")
line=$(grep -m1 'dapr initialized' "$T_TMP/daprd.log")
check "JSON log line parses" "info dapr.runtime itapp log" \
  "$(json_get "$line" '" ".join([d["level"], d["scope"], d["app_id"], d["type"]])')"

kill -TERM "$PID"
wait_exit "$PID" 5; check "SIGTERM: clean exit 0" 0 "$WAIT_RC"
check_contains "shutdown logged" "shutdown gracefully" "$(cat "$T_TMP/daprd.log")"

echo "# POST /v1.0/shutdown"
HP=$(free_port)
start_bg "$T_TMP/d2.log" "$DAPRD" --app-id itapp2 --dapr-http-port "$HP" --enable-metrics=false
PID=$BG_PID
wait_http "http://127.0.0.1:$HP/v1.0/healthz" 10 || bad "second daprd came up"
check "shutdown API 204" "204 " "$(http POST "http://127.0.0.1:$HP/v1.0/shutdown")"
wait_exit "$PID" 5; check "shutdown API: exit 0" 0 "$WAIT_RC"

echo "# resources that must be rejected (one line naming file and line)"
reject() { # NAME FILE-CONTENT-GENERATOR EXPECTED-IN-MESSAGE
  local name=$1 dir=$T_TMP/bad-$RANDOM
  mkdir -p "$dir"; (cd "$dir" && eval "$2")
  local out rc
  out=$(timeout 20 "$DAPRD" --app-id x --resources-path "$dir" --dapr-http-port "$(free_port)" --enable-metrics=false 2>&1); rc=$?
  local msg; msg=$(printf '%s\n' "$out" | grep -E 'level=fatal' | head -1)
  check "$name: exit 1" 1 "$rc"
  check_contains "$name: names the file and line" "$3" "$msg"
}
reject "YAML syntax error" "printf 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: a\n' > syntax.yaml" "syntax.yaml:"
reject "Component without spec.type" "printf 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  version: v1\n' > notype.yaml" "notype.yaml:"
reject "wrong apiVersion" "printf 'apiVersion: dapr.io/v9\nkind: Component\nmetadata:\n  name: a\nspec:\n  type: state.redis\n  version: v1\n' > apiver.yaml" "apiver.yaml:"
reject "duplicate component" "printf 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  type: state.redis\n  version: v1\n' > one.yaml; cp one.yaml two.yaml" "two.yaml:"
reject "10 MB document" "python3 -c 'import sys; sys.stdout.write(\"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: big\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n\" + \"  - name: k\n    value: \" + \"x\"*(10*1024*1024) + \"\n\")' > big.yaml" "big.yaml"
reject "alias bomb" "python3 -c '
print(\"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: bomb\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n  - name: k\n    value:\")
print(\"      a: &a [\\\"lol\\\",\\\"lol\\\",\\\"lol\\\",\\\"lol\\\",\\\"lol\\\",\\\"lol\\\",\\\"lol\\\",\\\"lol\\\",\\\"lol\\\"]\")
prev=\"a\"
for n in \"bcdefghi\":
    print(\"      %s: &%s [%s]\" % (n, n, \",\".join([\"*\"+prev]*9))); prev=n
' > bomb.yaml" "bomb.yaml:"
finish
