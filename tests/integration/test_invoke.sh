#!/usr/bin/env bash
# Service invocation (sidecar-api.md §4, §17): two sidecars both ways, verbs, query strings,
# headers and status codes passed through, the dapr-app-id and Basic forms, namespaced ids,
# HTTPEndpoints, self-invocation, access control, readiness on the app port, app health, the
# app channel's token and concurrency limit, one of two instances killed under load,
# resiliency (timeout, retries, circuit breaker), and bad input.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd
ECHO=$ROOT/tests/apps/echo_app.py

# start_app NAME: an echo app on a free port; sets <NAME>_PORT.
start_app() {
  local name=$1 port; port=$(free_port)
  start_bg "$T_TMP/app-$name.log" python3 "$ECHO" "$port" "$name"
  printf -v "${name}_PORT" %s "$port"
  printf -v "${name}_APID" %s "$BG_PID"
  wait_http "http://127.0.0.1:$port/healthz" 10 || bad "app $name came up"
}

# start_sidecar NAME APP_ID APP_PORT(or "") [flags...]: sets <NAME>_U (API base URL), <NAME>_PID.
start_sidecar() {
  local name=$1 id=$2 aport=$3 hp ip; shift 3
  hp=$(free_port); ip=$(free_port)
  start_bg "$T_TMP/daprd-$name.log" "$DAPRD" --app-id "$id" ${aport:+--app-port "$aport"} \
    --dapr-http-port "$hp" --dapr-internal-grpc-port "$ip" --enable-metrics=false \
    --dapr-listen-addresses 127.0.0.1 --dapr-internal-grpc-listen-address 127.0.0.1 \
    --log-level debug "$@"
  printf -v "${name}_U" %s "http://127.0.0.1:$hp"
  printf -v "${name}_PID" %s "$BG_PID"
  wait_http "http://127.0.0.1:$hp/v1.0/healthz/outbound" 10 ||
    bad "daprd $name came up" "$(tail -5 "$T_TMP/daprd-$name.log")"
}

# wait_status URL STATUS SECONDS [curl args]: poll until the URL answers STATUS.
wait_status() {
  local url=$1 want=$2 secs=$3 i; shift 3
  for ((i = 0; i < secs * 20; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")" = "$want" ] && return 0
    sleep 0.05
  done
  return 1
}

# inv URL [curl args]: sets ST (status) and BODY.
inv() {
  local u=$1; shift
  ST=$(curl -s --path-as-is -o "$T_TMP/inv" -w '%{http_code}' "$@" "$u")
  BODY=$(cat "$T_TMP/inv")
}
j() { json_get "$BODY" "$1" 2>/dev/null; }

RES_A=$T_TMP/res-a; mkdir -p "$RES_A"
CFG_B=$T_TMP/config-b.yaml
cat >"$CFG_B" <<'Y'
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: acl-b
spec:
  accessControl:
    defaultAction: allow
    trustDomain: public
    policies:
    - appId: a
      defaultAction: allow
      trustDomain: public
      namespace: default
      operations:
      - name: /denied/**
        httpVerb: ['*']
        action: deny
Y

echo "# two sidecars"
start_app appA; start_app appB1
cat >"$RES_A/endpoint.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: HTTPEndpoint
metadata:
  name: echo-ep
spec:
  baseUrl: http://127.0.0.1:$appB1_PORT/
  headers:
  - name: X-EP
    value: from-endpoint
Y
cat >"$RES_A/resiliency.yaml" <<'Y'
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: inv-res
spec:
  policies:
    timeouts:
      short: 300ms
    retries:
      three:
        policy: constant
        duration: 50ms
        maxRetries: 3
    circuitBreakers:
      cb:
        maxRequests: 1
        timeout: 2s
        trip: consecutiveFailures > 5
  targets:
    apps:
      r:
        timeout: short
        retry: three
        circuitBreaker: cb
Y
MPA=$(free_port); MPB=$(free_port)
start_sidecar A a "$appA_PORT" --resources-path "$RES_A" --enable-metrics=true --metrics-port "$MPA"
start_sidecar B1 b "$appB1_PORT" --config "$CFG_B" --enable-metrics=true --metrics-port "$MPB"
wait_status "$A_U/v1.0/healthz" 204 10 || bad "A ready"
wait_status "$B1_U/v1.0/healthz" 204 10 || bad "B1 ready"

inv "$A_U/v1.0/invoke/b/method/echo/x?y=1&z=a%20b&z=2" -X POST -H 'X-Custom: v1' \
  -H 'Content-Type: text/plain' -H 'dapr-caller-app-id: evil' -H 'dapr-api-token: leak' \
  -H 'Connection: keep-alive, X-Hop' -H 'X-Hop: 1' --data-binary 'hello'
check "A->B: 200" 200 "$ST"
check "A->B: method" POST "$(j 'd["method"]')"
check "A->B: path" /echo/x "$(j 'd["path"]')"
check "A->B: raw query" 'y=1&z=a%20b&z=2' "$(j 'd["query"]')"
check "A->B: body" hello "$(j 'd["body"]')"
check "A->B: header passed" v1 "$(j 'd["headers"]["x-custom"]')"
check "A->B: content type passed" text/plain "$(j 'd["headers"]["content-type"]')"
check "A->B: dapr-caller-app-id set (caller value overwritten)" a "$(j 'd["headers"]["dapr-caller-app-id"]')"
check "A->B: dapr-caller-namespace" default "$(j 'd["headers"]["dapr-caller-namespace"]')"
check "A->B: dapr-callee-app-id" b "$(j 'd["headers"]["dapr-callee-app-id"]')"
check "A->B: X-Forwarded-For on the remote hop" True "$(j '"x-forwarded-for" in d["headers"]')"
check_contains "A->B: Forwarded" "for=" "$(j 'd["headers"]["forwarded"]')"
check "A->B: dapr-api-token not forwarded" False "$(j '"dapr-api-token" in d["headers"]')"
check "A->B: hop-by-hop header named in Connection dropped" False "$(j '"x-hop" in d["headers"]')"
check "A->B: no internal headers reach the app" "[]" \
  "$(j '[k for k in d["headers"] if k.startswith("dapr-internal")]')"
h=$(curl -s -D - -o /dev/null "$A_U/v1.0/invoke/b/method/hdr")
check_contains "A->B: app response header passed back" "X-App-Header: yes" "$h"

MA=$(curl -s "http://127.0.0.1:$MPA/metrics"); MB=$(curl -s "http://127.0.0.1:$MPB/metrics")
check_contains "metrics A: request sent" 'dapr_runtime_service_invocation_req_sent_total{app_id="a",dst_app_id="b",type="unary"} 2' "$MA"
check_contains "metrics A: response received" 'dapr_runtime_service_invocation_res_recv_total{app_id="a",src_app_id="b",status="200",type="unary"} 2' "$MA"
check_contains "metrics A: latency" 'dapr_runtime_service_invocation_res_recv_latency_ms_count{app_id="a",src_app_id="b",status="200"} 2' "$MA"
check_contains "metrics B: request received" 'dapr_runtime_service_invocation_req_recv_total{app_id="b",src_app_id="a"} 2' "$MB"
check_contains "metrics B: response sent" 'dapr_runtime_service_invocation_res_sent_total{app_id="b",dst_app_id="a",status="200"} 2' "$MB"

inv "$B1_U/v1.0/invoke/a/method/from-b"
check "B->A: 200" 200 "$ST"
check "B->A: reached app A" appA "$(j 'd["instance"]')"
check "B->A: caller is b" b "$(j 'd["headers"]["dapr-caller-app-id"]')"

echo "# verbs"
for v in GET POST PUT DELETE PATCH OPTIONS TRACE; do
  inv "$A_U/v1.0/invoke/b/method/verb" -X "$v"
  check "$v passed through" "200 $v" "$ST $(j 'd["method"]')"
done
check "HEAD passed through" "200" "$(curl -s -o /dev/null -w '%{http_code}' -I "$A_U/v1.0/invoke/b/method/verb")"
inv "$A_U/v1.0/invoke/b/method/verb" -X CONNECT
check "CONNECT refused" 500 "$ST"
check_contains "CONNECT: ERR_DIRECT_INVOKE" '"errorCode":"ERR_DIRECT_INVOKE"' "$BODY"

echo "# status codes and bodies"
for code in 201 400 404 418 500 503; do
  inv "$A_U/v1.0/invoke/b/method/status/$code"
  check "app $code passed through with the app's body" "$code {\"status\": $code}" "$ST $BODY"
done
inv "$A_U/v1.0/invoke/b/method/status/204"
check "app 204 passed through" "204 " "$ST $BODY"
head -c 1048576 /dev/zero | tr '\0' x >"$T_TMP/big"
inv "$A_U/v1.0/invoke/b/method/big" -X PUT --data-binary "@$T_TMP/big"
check "1 MiB body" "200 1048576" "$ST $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["body_len"])' "$T_TMP/inv")"

echo "# streamed responses: SSE and bodies over --max-body-size (4Mi), A <- B <- app"
GATE=$T_TMP/sse-gate
curl -s -N -D "$T_TMP/sse.h" -o "$T_TMP/sse.out" "$A_U/v1.0/invoke/b/method/sse/3?gate=$GATE" &
SSE=$!
for i in $(seq 1 200); do grep -q 'event 1' "$T_TMP/sse.out" 2>/dev/null && break; sleep 0.05; done
check "SSE: the first event reaches the caller" yes "$(grep -q 'data: event 1' "$T_TMP/sse.out" && echo yes)"
check "SSE: ... while the app still holds the last one" no \
  "$(grep -q 'event 3' "$T_TMP/sse.out" && echo yes || echo no)"
touch "$GATE"
wait_exit "$SSE" 20
check "SSE: the whole stream, in order" 'data: event 1||data: event 2||data: event 3||' \
  "$(tr '\n' '|' <"$T_TMP/sse.out")"
check_contains "SSE: relayed chunked" "Transfer-Encoding: chunked" "$(cat "$T_TMP/sse.h")"
check_contains "SSE: content type passed" "Content-Type: text/event-stream" "$(cat "$T_TMP/sse.h")"
check_contains "SSE: app headers passed" "X-App-Header: yes" "$(cat "$T_TMP/sse.h")"
check "SSE to an HTTP/1.0 caller (ends with the close)" 'data: event 1||data: event 2||' \
  "$(curl -s --http1.0 "$A_U/v1.0/invoke/b/method/sse/2" | tr '\n' '|')"
check "SSE through self-invocation" 'data: event 1||data: event 2||' \
  "$(curl -s "$B1_U/v1.0/invoke/b/method/sse/2" | tr '\n' '|')"
want_sum() { python3 -c 'import hashlib,sys; n=int(sys.argv[1]); p=bytes(range(256))*256; print(n, hashlib.md5((p*(n//len(p)+1))[:n]).hexdigest())' "$1"; }
got_sum() { python3 -c 'import hashlib,sys; d=open(sys.argv[1],"rb").read(); print(len(d), hashlib.md5(d).hexdigest())' "$1"; }
ST=$(curl -s -D "$T_TMP/big.h" -o "$T_TMP/big.out" -w '%{http_code}' "$A_U/v1.0/invoke/b/method/bytes/6291456")
check "6 MiB response with Content-Length (over the limit): 200, whole" "200 $(want_sum 6291456)" "$ST $(got_sum "$T_TMP/big.out")"
check_contains "6 MiB response: its Content-Length relayed" "Content-Length: 6291456" "$(cat "$T_TMP/big.h")"
ST=$(curl -s -o "$T_TMP/big.out" -w '%{http_code}' "$A_U/v1.0/invoke/b/method/bytes/6291456?chunked=1")
check "6 MiB chunked response: 200, whole" "200 $(want_sum 6291456)" "$ST $(got_sum "$T_TMP/big.out")"
h=$(curl -s -D - -o /dev/null "$A_U/v1.0/invoke/b/method/bytes/1000")
check_contains "small response: still buffered (Content-Length)" "Content-Length: 1000" "$h"

echo "# addressing forms"
inv "$A_U/some/path?q=1" -H 'dapr-app-id: b'
check "dapr-app-id header form" "200 /some/path q=1" "$ST $(j 'd["path"]') $(j 'd["query"]')"
check "dapr-app-id header not forwarded" False "$(j '"dapr-app-id" in d["headers"]')"
inv "$A_U/v1.0/state/x" -X PATCH -H 'dapr-app-id: b'
check "dapr-app-id on another API's path with another verb" "200 /v1.0/state/x" "$ST $(j 'd["path"]')"
inv "$A_U/basic/path" -u dapr-app-id:b
check "Basic auth form" "200 /basic/path" "$ST $(j 'd["path"]')"
inv "$A_U/v1.0/invoke/b.default/method/ns"
check "namespaced id b.default" "200 appB1" "$ST $(j 'd["instance"]')"
inv "$A_U/v1.0/invoke/b.other/method/ns"
check "namespaced id in another namespace: 500" 500 "$ST"
check_contains "other namespace: ERR_DIRECT_INVOKE" '"errorCode":"ERR_DIRECT_INVOKE"' "$BODY"
inv "$A_U/v1.0/invoke/nobody/method/x"
check "unknown app id: 500" 500 "$ST"
check_contains "unknown app id: message" 'failed to invoke, id: nobody, err:' "$BODY"
inv "$A_U/v1.0/nothing"
check "no app id: 404" 404 "$ST"
check_contains "no app id: message" 'failed getting app id either from the URL path or the header dapr-app-id' "$BODY"

echo "# HTTPEndpoint and URL targets"
inv "$A_U/v1.0/invoke/echo-ep/method/ep/x?k=v"
check "HTTPEndpoint: 200 to its baseUrl" "200 appB1 /ep/x k=v" "$ST $(j 'd["instance"]') $(j 'd["path"]') $(j 'd["query"]')"
check "HTTPEndpoint: its headers" from-endpoint "$(j 'd["headers"]["x-ep"]')"
inv "$A_U/v1.0/invoke/http%3A%2F%2F127.0.0.1%3A$appB1_PORT/method/url"
check "encoded URL target" "200 /url" "$ST $(j 'd["path"]')"
inv "$A_U/v1.0/invoke/http://127.0.0.1:$appB1_PORT/method/raw-url"
check "raw URL target" "200 /raw-url" "$ST $(j 'd["path"]')"

echo "# self-invocation"
inv "$A_U/v1.0/invoke/a/method/self"
check "self: reaches the local app" "200 appA" "$ST $(j 'd["instance"]')"
check "self: caller and callee a" "a a" "$(j 'd["headers"]["dapr-caller-app-id"]') $(j 'd["headers"]["dapr-callee-app-id"]')"
check "self: no X-Forwarded-For (no remote hop)" False "$(j '"x-forwarded-for" in d["headers"]')"

echo "# access control on the callee"
inv "$A_U/v1.0/invoke/b/method/denied/x" -X POST
check "ACL deny: 403" 403 "$ST"
check_contains "ACL deny: ERR_DIRECT_INVOKE" '"errorCode":"ERR_DIRECT_INVOKE"' "$BODY"
check_contains "ACL deny: upstream's message" 'access control policy has denied access to id: spiffe://public/ns/default/a operation: denied/x verb: POST' "$BODY"
inv "$A_U/v1.0/invoke/b/method/Denied/../denied/y"
check "ACL deny after normalisation" 403 "$ST"
inv "$A_U/v1.0/invoke/b/method/allowed"
check "ACL allows other operations" 200 "$ST"
inv "$B1_U/v1.0/invoke/b/method/denied/x"
check "self-invocation skips the ACL" 200 "$ST"

echo "# bad input"
bad_req() { # NAME EXPECTED_STATUS NEEDLE URL [curl args]
  local name=$1 want=$2 needle=$3 u=$4; shift 4
  inv "$u" "$@"
  check "$name: $want" "$want" "$ST"
  check_contains "$name: message" "$needle" "$BODY"
}
bad_req "app id ../b" 500 'invalid app id' "$A_U/v1.0/invoke/..%2Fb/method/x"
bad_req "app id a/b" 500 'invalid app id' "$A_U/v1.0/invoke/a%2Fb/method/x"
bad_req "app id with dots a.b.c" 500 'invalid app id' "$A_U/v1.0/invoke/a.b.c/method/x"
bad_req "app id .." 500 'invalid app id' "$A_U/v1.0/invoke/../method/x" -H 'dapr-app-id: ..'
bad_req "app id header ../b" 500 'invalid app id' "$A_U/x" -H 'dapr-app-id: ../b'
bad_req "app id with NUL" 500 'invalid app id' "$A_U/v1.0/invoke/b%00c/method/x"
bad_req "method with NUL" 500 'invalid method: method contains forbidden character' "$A_U/v1.0/invoke/b/method/x%00y"
bad_req "method with #" 500 'forbidden character' "$A_U/v1.0/invoke/b/method/x%23y"
bad_req "method with ?" 500 'forbidden character' "$A_U/v1.0/invoke/b/method/x%3Fy"
bad_req "method with CRLF" 500 'control character' "$A_U/v1.0/invoke/b/method/x%0d%0aX-Injected:%201"
bad_req "method with DEL" 500 'control character' "$A_U/v1.0/invoke/b/method/x%7f"
inv "$A_U/v1.0/invoke/b/method/../../../etc/passwd"
check "leading .. dropped" "200 /etc/passwd" "$ST $(j 'd["path"]')"
inv "$A_U/v1.0/invoke/b/method/%2e%2e/%2E%2E/secret"
check "encoded .. resolved too" "200 /secret" "$ST $(j 'd["path"]')"
inv "$A_U/v1.0/invoke/b/method/a%2Fb/c/"
check "encoded slash kept, trailing slash kept" "200 /a%2Fb/c/" "$ST $(j 'd["path"]')"
r=$(printf 'GET /v1.0/invoke/b/method/a\001b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
  python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(sys.stdin.buffer.read()); print(s.recv(200).decode("latin-1").split("\r\n")[0])' "${A_U##*:}")
check_contains "raw control byte in the path: a 4xx/5xx answer" "HTTP/1.1 " "$r"

echo "# the app port is not open yet"
CPORT=$(free_port)
start_sidecar C c "$CPORT" --enable-app-health-check --app-health-probe-interval 1 \
  --app-health-threshold 1 --app-max-concurrency 1
check "healthz 500 until the app listens" "500" "$(curl -s -o /dev/null -w '%{http_code}' "$C_U/v1.0/healthz")"
check_contains "healthz: ERR_HEALTH_NOT_READY" ERR_HEALTH_NOT_READY "$(curl -s "$C_U/v1.0/healthz")"
check "healthz/outbound already 204" "204" "$(curl -s -o /dev/null -w '%{http_code}' "$C_U/v1.0/healthz/outbound")"
inv "$A_U/v1.0/invoke/c/method/early"
check "invoking an app whose port is closed: 500" 500 "$ST"
check_contains "closed app port: message" 'app channel not initialized' "$BODY"
start_bg "$T_TMP/app-C.log" env python3 "$ECHO" "$CPORT" appC
wait_status "$C_U/v1.0/healthz" 204 10 && ok "healthz 204 once the app listens" || bad "healthz 204 once the app listens"

echo "# app health checks, token, concurrency"
wait_status "$A_U/v1.0/invoke/c/method/up" 200 10 && ok "healthy app reachable" || bad "healthy app reachable"
curl -s -o /dev/null "http://127.0.0.1:$CPORT/control/health/503"
wait_status "$A_U/v1.0/invoke/c/method/h" 500 10 && ok "unhealthy app: invocations fail" || bad "unhealthy app: invocations fail"
inv "$A_U/v1.0/invoke/c/method/h"
check_contains "unhealthy app: message" 'app is not in a healthy state' "$BODY"
check_contains "unhealthy app: ERR_DIRECT_INVOKE" '"errorCode":"ERR_DIRECT_INVOKE"' "$BODY"
curl -s -o /dev/null "http://127.0.0.1:$CPORT/control/health/200"
wait_status "$A_U/v1.0/invoke/c/method/h" 200 10 && ok "recovered app: invocations succeed" || bad "recovered app: invocations succeed"
t0=$(date +%s%N)
curl -s -o /dev/null "$A_U/v1.0/invoke/c/method/slow/400" & p1=$!
curl -s -o /dev/null "$A_U/v1.0/invoke/c/method/slow/400" & p2=$!
wait "$p1" "$p2"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$ms" -ge 790 ]; then ok "--app-max-concurrency 1 serialises app calls (${ms} ms)"; else bad "--app-max-concurrency 1 serialises app calls" "took ${ms} ms"; fi
# A sidecar with APP_API_TOKEN: the app gets it, the health probe does not.
start_app appT
start_bg "$T_TMP/daprd-T.log" env APP_API_TOKEN=apptok "$DAPRD" --app-id t --app-port "$appT_PORT" \
  --dapr-http-port "$(free_port)" --dapr-internal-grpc-port "$(free_port)" --enable-metrics=false \
  --dapr-listen-addresses 127.0.0.1 --dapr-internal-grpc-listen-address 127.0.0.1 \
  --enable-app-health-check --app-health-probe-interval 1
wait_status "$A_U/v1.0/invoke/t/method/tok" 200 10 || bad "sidecar t reachable"
inv "$A_U/v1.0/invoke/t/method/tok" -H 'dapr-api-token: from-caller'
check "APP_API_TOKEN sent to the app as dapr-api-token" apptok "$(j 'd["headers"]["dapr-api-token"]')"
BODY=$(curl -s "http://127.0.0.1:$appT_PORT/control/last-health")
check "health probe carries no token" False "$(j '"dapr-api-token" in d["headers"]')"

echo "# one of two instances killed under load"
start_app appB2
start_sidecar B2 b "$appB2_PORT" --config "$CFG_B"
wait_status "$B2_U/v1.0/healthz" 204 10 || bad "B2 ready"
seen2=no
for i in $(seq 1 100); do
  inv "$A_U/v1.0/invoke/b/method/lb"
  [ "$(j 'd["instance"]')" = appB2 ] && { seen2=yes; break; }
  sleep 0.05
done
check "load balanced: the second instance serves calls" yes "$seen2"
N=600
python3 - "${A_U##*:}" "$N" >"$T_TMP/load.txt" <<'PY' &
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for i in range(n):
    try:
        c.request("POST", "/v1.0/invoke/b/method/lb", b"x" * 1024)
        r = c.getresponse(); body = r.read()
        inst = body.split(b'"instance": "')[1].split(b'"')[0].decode() if r.status == 200 else "-"
        print(r.status, inst, flush=True)
    except Exception as e:
        print("ERR", type(e).__name__, flush=True)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
PY
LOAD=$!
for i in $(seq 1 200); do [ "$(wc -l <"$T_TMP/load.txt")" -ge 150 ] && break; sleep 0.05; done
kill -9 "$B2_PID" "$appB2_APID"
wait "$B2_PID" "$appB2_APID" 2>/dev/null
wait_exit "$LOAD" 60
total=$(wc -l <"$T_TMP/load.txt")
okc=$(grep -c '^200 ' "$T_TMP/load.txt")
check "all $N calls made" "$N" "$total"
if [ "$okc" -ge $((N - 10)) ]; then ok "nearly all calls succeed ($okc/$N)"; else bad "nearly all calls succeed" "$okc/$N" "$(grep -v '^200 ' "$T_TMP/load.txt" | sort | uniq -c)"; fi
check "the last 200 calls all succeed on the survivor" "200 appB1" "$(tail -200 "$T_TMP/load.txt" | sort -u)"
check "both instances served before the kill" "2" "$(head -150 "$T_TMP/load.txt" | awk '$1==200{print $2}' | sort -u | wc -l)"

echo "# resiliency: timeout, retries, circuit breaker (policy on A for app r)"
if [ -f "$ROOT/sidecar/resiliency_stub.c" ]; then
  echo "  SKIP  the resiliency engine is not merged in this tree"
else
  start_app appR
  start_sidecar R r "$appR_PORT"
  wait_status "$R_U/v1.0/healthz" 204 10 || bad "R ready"
  RA=http://127.0.0.1:$appR_PORT
  # Retries first (a success resets the breaker's consecutive failures).
  inv "$A_U/v1.0/invoke/r/method/flaky/k1/2"
  check "two failures then success: retried to 200" 200 "$ST"
  check "retries reached the app 3 times" 3 "$(json_get "$(curl -s "$RA/count/k1")" 'd["count"]')"
  t0=$(date +%s%N)
  inv "$A_U/v1.0/invoke/r/method/slow/2000"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  check "slow app past the 300ms timeout: 500" 500 "$ST"
  check_contains "timeout: ERR_DIRECT_INVOKE" '"errorCode":"ERR_DIRECT_INVOKE"' "$BODY"
  check_contains "timeout: deadline message" 'deadline exceeded' "$BODY"
  if [ "$ms" -lt 1900 ]; then ok "timeouts cancel the calls (4 attempts in ${ms} ms)"; else bad "timeouts cancel the calls" "${ms} ms"; fi
  check "timeout retried 3 times (4 attempts reached the app)" 4 "$(json_get "$(curl -s "$RA/count/slow")" 'd["count"]')"
  # 4 consecutive failures so far; 2 more app 500s trip the breaker (> 5) mid-call.
  inv "$A_U/v1.0/invoke/r/method/flaky/k2/1000"
  check "failing app: 500" 500 "$ST"
  check_contains "breaker trips during the retries" 'circuit breaker is open' "$BODY"
  check "the breaker stopped the retries after 2 app calls" 2 "$(json_get "$(curl -s "$RA/count/k2")" 'd["count"]')"
  inv "$A_U/v1.0/invoke/r/method/flaky/k2/1000"
  check "open circuit: 500" 500 "$ST"
  check_contains "open circuit: message" 'circuit breaker is open' "$BODY"
  check "open circuit: the app is not called" 2 "$(json_get "$(curl -s "$RA/count/k2")" 'd["count"]')"
  inv "$A_U/v1.0/invoke/r/method/ok"
  check_contains "open circuit applies to every method of the app" 'circuit breaker is open' "$BODY"
  wait_status "$A_U/v1.0/invoke/r/method/ok" 200 10 && ok "circuit closes again after its timeout" || bad "circuit closes again after its timeout"
  inv "$A_U/v1.0/invoke/r/method/ok"
  check "closed circuit: calls succeed" 200 "$ST"
fi

echo "# shutdown while a relayed stream waits for its source"
start_app appE
start_sidecar E e "$appE_PORT" --dapr-graceful-shutdown-seconds 1
start_sidecar F f "" --dapr-graceful-shutdown-seconds 1
wait_status "$F_U/v1.0/invoke/e/method/up" 200 10 || bad "F -> E reachable"
# The app sends one event and then nothing (its gate never opens).
sse_idle() {
  rm -f "$T_TMP/idle.out"
  curl -s -N -o "$T_TMP/idle.out" "$F_U/v1.0/invoke/e/method/sse/2?gate=$T_TMP/never" & IDLE=$!
  for i in $(seq 1 200); do grep -q 'event 1' "$T_TMP/idle.out" 2>/dev/null && break; sleep 0.05; done
  check "idle stream: the first event arrived" yes "$(grep -q 'event 1' "$T_TMP/idle.out" && echo yes)"
}
sse_idle
kill -TERM "$F_PID"
wait_exit "$F_PID" 15
check "SIGTERM to the caller's sidecar: it exits (the relay notices its server stopping)" yes \
  "$([ "$WAIT_RC" != timeout ] && echo yes)"
wait_exit "$IDLE" 5
check "the caller's stream ends with the sidecar" yes "$([ "$WAIT_RC" != timeout ] && echo yes)"
start_sidecar F f "" --dapr-graceful-shutdown-seconds 1
wait_status "$F_U/v1.0/invoke/e/method/up" 200 10 || bad "F -> E reachable again"
sse_idle
kill -TERM "$E_PID"
wait_exit "$E_PID" 15
check "SIGTERM to the callee's sidecar: it exits" yes "$([ "$WAIT_RC" != timeout ] && echo yes)"
wait_exit "$IDLE" 5
check "the cut stream ends at the caller too" yes "$([ "$WAIT_RC" != timeout ] && echo yes)"
check "the cut stream is not reported complete (curl: partial transfer)" 18 "$WAIT_RC"

echo "# no crash"
for p in "$A_PID" "$B1_PID" "$C_PID"; do
  if kill -0 "$p" 2>/dev/null; then ok "daprd $p still running"; else bad "daprd $p still running"; fi
done
finish
