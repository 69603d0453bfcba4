#!/usr/bin/env bash
# Cross-cutting HTTP API behaviour: API token, CORS, limits, API logging, trace context.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd

CFG=$T_TMP/config.yaml
cat >"$CFG" <<'Y'
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: tracing
spec:
  tracing:
    samplingRate: "1"
Y
HP=$(free_port); PP=$(free_port)
start_bg "$T_TMP/daprd.log" env DAPR_API_TOKEN=s3cret "$DAPRD" --app-id httpapi \
  --dapr-http-port "$HP" --dapr-listen-addresses 127.0.0.1 --enable-metrics=false --config "$CFG" \
  --allowed-origins "http://a.example, http://b.example" --enable-api-logging --max-body-size 1Ki \
  --read-buffer-size 1Ki --dapr-public-port "$PP" --dapr-public-listen-address 127.0.0.1
wait_http "http://127.0.0.1:$HP/v1.0/healthz/outbound" 10 || { bad "daprd came up" "$(cat "$T_TMP/daprd.log")"; finish; exit 1; }
U=http://127.0.0.1:$HP

echo "# API token"
check "healthz needs no token" "204 " "$(http GET "$U/v1.0/healthz")"
check "healthz/outbound needs no token" "204 " "$(http GET "$U/v1.0/healthz/outbound")"
r=$(http GET "$U/v1.0/metadata")
check "metadata without token: 401 text" "401 invalid api token" "$r"
check "401 content type" "text/plain; charset=utf-8" "$(curl -s -o /dev/null -w '%{content_type}' "$U/v1.0/metadata")"
check "wrong token: 401" "401" "$(curl -s -o /dev/null -w '%{http_code}' -H 'dapr-api-token: nope' "$U/v1.0/metadata")"
check "right token: 200" "200" "$(curl -s -o /dev/null -w '%{http_code}' -H 'dapr-api-token: s3cret' "$U/v1.0/metadata")"
check "unknown path without token: 401" "401" "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1.0/nothing")"

check "public port: metadata without token" "200" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PP/v1.0/metadata")"
check "public port: healthz" "204" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PP/v1.0/healthz")"
check "public port: nothing else" "404" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PP/v1.0/state/x/y")"

echo "# CORS"
h=$(curl -s -D - -o /dev/null -X OPTIONS -H 'Origin: http://b.example' -H 'Access-Control-Request-Method: PUT' "$U/v1.0/metadata/x")
check_contains "preflight: 204" "HTTP/1.1 204" "$h"
check_contains "preflight: allow origin" "Access-Control-Allow-Origin: http://b.example" "$h"
check_contains "preflight: allow methods" "Access-Control-Allow-Methods: HEAD, GET, POST, PUT, PATCH, DELETE" "$h"
h=$(curl -s -D - -o /dev/null -H 'dapr-api-token: s3cret' -H 'Origin: http://a.example' "$U/v1.0/metadata")
check_contains "simple request: allow origin" "Access-Control-Allow-Origin: http://a.example" "$h"
h=$(curl -s -D - -o /dev/null -H 'dapr-api-token: s3cret' -H 'Origin: http://evil.example' "$U/v1.0/metadata")
if [[ "$h" == *Access-Control-Allow-Origin* ]]; then bad "other origin gets no CORS header"; else ok "other origin gets no CORS header"; fi

echo "# limits"
big=$(head -c 2048 /dev/zero | tr '\0' a)
r=$(http PUT "$U/v1.0/metadata/k" -H 'dapr-api-token: s3cret' --data-binary "$big")
check "body over --max-body-size: 400" "400" "${r%% *}"
check_contains "body over limit: ERR_BODY_READ" '"errorCode":"ERR_BODY_READ"' "$r"
hdrs=(); for i in $(seq 1 300); do hdrs+=(-H "X-Filler-$i: $big"); done
check "header block over the limit: 431" "431" "$(curl -s -o /dev/null -w '%{http_code}' "${hdrs[@]}" "$U/v1.0/healthz")"

echo "# trace context"
tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
h=$(curl -s -D - -o /dev/null -H "traceparent: $tp" -H 'tracestate: k=v' -H 'dapr-api-token: s3cret' "$U/v1.0/metadata")
check_contains "response traceparent keeps the trace id" "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-" "$h"
check_contains "response tracestate" "tracestate: k=v" "$h"

echo "# API logging"
check_contains "API call logged" 'msg="HTTP API Called: GET /v1.0/metadata code=200' "$(cat "$T_TMP/daprd.log")"
check_contains "API log scope" "scope=dapr.runtime.http-info" "$(cat "$T_TMP/daprd.log")"
finish
