#!/usr/bin/env bash
# Pub/sub with pubsub.in-memory and a real daprd (sidecar-api.md §6): publish -> deliver for every
# app response kind, dead letters, inbound resiliency retries, routing rules, declarative and
# programmatic subscriptions, raw payloads, bulk publish and bulk subscribe, scoping, bad input.
source "$(dirname "$0")/../lib.sh"

DAPRD=$BIN/daprd
SUBAPP=$ROOT/tests/apps/sub_app.py
RES=$T_TMP/res
mkdir -p "$RES"

cat >"$RES/pubsub.yaml" <<'Y'
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pubsub}
spec:
  type: pubsub.in-memory
  version: v1
  metadata:
  - {name: backOffDuration, value: 100ms}
  - {name: backOffMaxRetries, value: "3"}
  - {name: concurrency, value: "4"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: scoped}
spec:
  type: pubsub.in-memory
  version: v1
  metadata:
  - {name: publishingScopes, value: "subapp=a1,a2;other=b1"}
  - {name: protectedTopics, value: "prot"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: limited}
spec:
  type: pubsub.in-memory
  version: v1
  metadata:
  - {name: allowedTopics, value: "only"}
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: decl}
spec:
  pubsubname: pubsub
  topic: decl
  routes:
    rules:
    - {match: 'event.data.kind == "special"', path: /decl-special}
    default: /decl-default
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: declv1}
spec: {pubsubname: pubsub, topic: declv1, route: declv1}
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: notme}
spec: {pubsubname: pubsub, topic: notme, routes: {default: /notme}}
scopes: [otherapp]
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: res}
spec:
  policies:
    retries:
      quick: {policy: constant, duration: 50ms, maxRetries: 2}
  targets:
    components:
      pubsub: {inbound: {retry: quick}}
Y

cat >"$T_TMP/subs.json" <<'J'
[{"pubsubname":"pubsub","topic":"ok","route":"/ok/success"},
 {"pubsubname":"pubsub","topic":"retry","route":"/r/retry","deadLetterTopic":"dlt"},
 {"pubsubname":"pubsub","topic":"drop","route":"/d/drop","deadLetterTopic":"dlt"},
 {"pubsubname":"pubsub","topic":"nf","route":"/n/404"},
 {"pubsubname":"pubsub","topic":"err","route":"/e/500","deadLetterTopic":"dlt"},
 {"pubsubname":"pubsub","topic":"redeliver","route":"/rd/500"},
 {"pubsubname":"pubsub","topic":"dlt","route":"/dlt/success"},
 {"pubsubname":"pubsub","topic":"flaky","route":"/f/flaky2"},
 {"pubsubname":"pubsub","topic":"empty","route":"em/empty"},
 {"pubsubname":"pubsub","topic":"rules","routes":{"rules":[
    {"match":"event.type == \"widget\"","path":"/rules/widget"},
    {"match":"event.data.n > 5 && event.data.tag.startsWith(\"x\")","path":"/rules/big"}],
    "default":"/rules/default"}},
 {"pubsubname":"pubsub","topic":"badrule","routes":{"rules":[{"match":"event.type ==","path":"/bad"}]}},
 {"pubsubname":"pubsub","topic":"norule","routes":{"rules":[{"match":"event.type == \"x\"","path":"/never"}]}},
 {"pubsubname":"pubsub","topic":"raw","route":"/raw/success","metadata":{"rawPayload":"true"}},
 {"pubsubname":"pubsub","topic":"bulkpub","route":"/bulkpub/success"},
 {"pubsubname":"pubsub","topic":"bulk","route":"/bulk/bulk",
  "bulkSubscribe":{"enabled":true,"maxMessagesCount":3,"maxAwaitDurationMs":300}},
 {"pubsubname":"scoped","topic":"a1","route":"/a1/success"}]
J

APORT=$(free_port)
start_bg "$T_TMP/app.log" python3 "$SUBAPP" "$APORT" "$T_TMP/subs.json"
wait_http "http://127.0.0.1:$APORT/deliveries" 10 || bad "sub app came up"
HP=$(free_port)
MP=$(free_port)
start_bg "$T_TMP/daprd.log" "$DAPRD" --app-id subapp --app-port "$APORT" --dapr-http-port "$HP" \
  --dapr-internal-grpc-port "$(free_port)" --metrics-port "$MP" --dapr-listen-addresses 127.0.0.1 \
  --dapr-internal-grpc-listen-address 127.0.0.1 --resources-path "$RES" --max-body-size 64Ki \
  --log-level debug
U=http://127.0.0.1:$HP
wait_http "$U/v1.0/healthz/outbound" 10 || bad "daprd came up" "$(tail -5 "$T_TMP/daprd.log")"
APP=http://127.0.0.1:$APORT

# wait_count PATH N SECONDS: poll the app until PATH saw at least N deliveries.
wait_count() {
  local i c
  for ((i = 0; i < $3 * 20; i++)); do
    c=$(curl -s "$APP/count?path=$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    [ "$c" -ge "$2" ] && { echo "$c"; return 0; }
    sleep 0.05
  done
  echo "$c"
  return 1
}
count() { curl -s "$APP/count?path=$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
# last_body PATH: the body of the last delivery to PATH.
last() { curl -s "$APP/deliveries" | python3 -c '
import json,sys
d=[x for x in json.load(sys.stdin)["deliveries"] if x["path"]==sys.argv[1]]
print(json.dumps(d[-1] if d else {}))' "$1"; }

# Subscriptions are loaded once the app is reachable: wait until metadata lists them.
for ((i = 0; i < 200; i++)); do
  MD=$(curl -s "$U/v1.0/metadata")
  [[ "$MD" == *'"topic":"ok"'* ]] && break
  sleep 0.05
done
check "GET /dapr/subscribe carries Dapr-App-Id" "subapp" \
  "$(curl -s "$APP/deliveries" | python3 -c 'import json,sys; print([d for d in json.load(sys.stdin)["deliveries"] if d["path"]=="/dapr/subscribe"][0]["headers"].get("Dapr-App-Id"))')"
check_contains "metadata lists programmatic" '"topic":"ok","rules":[{"path":"/ok/success"}],"deadLetterTopic":"","type":"PROGRAMMATIC"' "$MD"
check_contains "metadata lists declarative v2 with its rule" '"rules":[{"match":"event.data.kind == \"special\"","path":"/decl-special"},{"path":"/decl-default"}],"deadLetterTopic":"","type":"DECLARATIVE"' "$MD"
check_contains "declarative v1 route gets its leading /" '"topic":"declv1","rules":[{"path":"/declv1"}]' "$MD"
[[ "$MD" != *'"topic":"notme"'* ]] && ok "subscription scoped to another app is absent" || bad "notme absent"
[[ "$MD" != *'"topic":"badrule"'* ]] && ok "programmatic rule that does not parse is skipped" || bad "badrule absent"
check_contains "bad rule logged clearly" "does not parse" "$(cat "$T_TMP/daprd.log")"

# --- publish -> deliver, SUCCESS ---
R=$(http POST "$U/v1.0/publish/pubsub/ok" -H 'Content-Type: application/json' -d '{"status":"completed","n":1}')
check "publish JSON -> 204" "204 " "$R"
wait_count /ok/success 1 5 >/dev/null
D=$(last /ok/success)
check "delivery content type" "application/cloudevents+json" "$(json_get "$D" 'd["headers"]["Content-Type"]')"
check "delivery pubsubName header" "pubsub" "$(json_get "$D" 'd["headers"].get("pubsubName")')"
EV=$(json_get "$D" 'd["body"]')
check "CE data is the parsed JSON" "{'n': 1, 'status': 'completed'}" "$(json_get "$EV" 'd["data"]')"
check "CE fields" "subapp|com.dapr.event.sent|1.0|application/json|ok|pubsub|36" \
  "$(json_get "$EV" '"|".join([d["source"],d["type"],d["specversion"],d["datacontenttype"],d["topic"],d["pubsubname"],str(len(d["id"]))])')"
check "CE keys sorted, traceid==traceparent" "True True" \
  "$(json_get "$EV" 'str(list(d)==sorted(d))+" "+str(d["traceid"]==d["traceparent"])')"

# text/plain default, octet-stream -> data_base64, app-built CloudEvent passes through
http POST "$U/v1.0/publish/pubsub/ok" -d 'hello' -H 'Content-Type:' >/dev/null
http POST "$U/v1.0/publish/pubsub/ok" --data-binary 'bin' -H 'Content-Type: application/octet-stream' >/dev/null
http POST "$U/v1.0/publish/pubsub/ok" -H 'Content-Type: application/cloudevents+json' \
  -d '{"id":"my-id","source":"mine","type":"my.type","specversion":"1.0","data":{"a":1},"topic":"wrong"}' >/dev/null
wait_count /ok/success 4 5 >/dev/null
ALL=$(curl -s "$APP/deliveries")
check "text/plain data is a string" "hello text/plain" "$(json_get "$ALL" '[json.loads(x["body"]) for x in d["deliveries"] if x["path"]=="/ok/success"][1]["data"]+" "+[json.loads(x["body"]) for x in d["deliveries"] if x["path"]=="/ok/success"][1]["datacontenttype"]')"
check "octet-stream -> data_base64" "Ymlu" "$(json_get "$ALL" '[json.loads(x["body"]) for x in d["deliveries"] if x["path"]=="/ok/success"][2]["data_base64"]')"
check "app CloudEvent kept, topic overwritten" "my-id mine my.type ok pubsub" "$(json_get "$ALL" '" ".join((lambda e: [e["id"],e["source"],e["type"],e["topic"],e["pubsubname"]])([json.loads(x["body"]) for x in d["deliveries"] if x["path"]=="/ok/success"][3]))')"

# --- RETRY / DROP / 404 / 500 / empty / flaky ---
http POST "$U/v1.0/publish/pubsub/retry" -d '"r"' -H 'Content-Type: application/json' >/dev/null
http POST "$U/v1.0/publish/pubsub/drop" -d '"d"' -H 'Content-Type: application/json' >/dev/null
http POST "$U/v1.0/publish/pubsub/nf" -d '"n"' -H 'Content-Type: application/json' >/dev/null
http POST "$U/v1.0/publish/pubsub/err" -d '"e"' -H 'Content-Type: application/json' >/dev/null
http POST "$U/v1.0/publish/pubsub/flaky" -d '"f"' -H 'Content-Type: application/json' >/dev/null
http POST "$U/v1.0/publish/pubsub/empty" -d '"m"' -H 'Content-Type: application/json' >/dev/null
http POST "$U/v1.0/publish/pubsub/redeliver" -d '"x"' -H 'Content-Type: application/json' >/dev/null
check "RETRY: inbound policy retries twice, then dead letter" "3" "$(wait_count /r/retry 3 5)"
check "DROP: delivered once" "1" "$(wait_count /d/drop 1 5)"
check "500: inbound policy retries twice" "3" "$(wait_count /e/500 3 5)"
check "flaky: succeeds on the 3rd attempt" "3" "$(wait_count /f/flaky2 3 5)"
check "empty 200 body is success" "1" "$(wait_count /em/empty 1 5)"
check "dead letters of retry, drop, 500" "3" "$(wait_count /dlt/success 3 5)"
check "dead letters carry the original events" "['drop', 'err', 'retry']" \
  "$(json_get "$(curl -s "$APP/deliveries")" 'sorted(json.loads(x["body"])["topic"] for x in d["deliveries"] if x["path"]=="/dlt/success")')"
# Without a dead-letter topic a failed message goes back to the broker: in-memory redelivers
# (backOffMaxRetries 3 -> 4 rounds of 3 attempts).
check "500 without dead letter: broker redelivers" "12" "$(wait_count /rd/500 12 10)"
check "404: dropped, not redelivered" "1" "$(count /n/404)"
check "flaky not dead-lettered" "3" "$(count /dlt/success)"

# --- component metrics (upstream's names and labels) ---
M=$(curl -s "http://127.0.0.1:$MP/metrics")
check_contains "egress count" 'dapr_component_pubsub_egress_count{app_id="subapp",component="pubsub",namespace="",success="true",topic="ok"} 4' "$M"
check_contains "ingress success" 'dapr_component_pubsub_ingress_count{app_id="subapp",component="pubsub",namespace="",process_status="success",topic="ok",status="success"} 4' "$M"
check_contains "ingress drop" 'dapr_component_pubsub_ingress_count{app_id="subapp",component="pubsub",namespace="",process_status="drop",topic="drop",status="drop"} 1' "$M"
check_contains "ingress retry" 'process_status="retry",topic="retry",status="retry"}' "$M"
check_contains "egress latency" 'dapr_component_pubsub_egress_latencies_bucket{app_id="subapp",component="pubsub",namespace="",success="true",topic="ok",le=' "$M"

# --- routing rules ---
http POST "$U/v1.0/publish/pubsub/rules" -H 'Content-Type: application/cloudevents+json' \
  -d '{"specversion":"1.0","type":"widget","source":"s","id":"1","data":{}}' >/dev/null
http POST "$U/v1.0/publish/pubsub/rules" -H 'Content-Type: application/json' -d '{"n":10,"tag":"xy"}' >/dev/null
http POST "$U/v1.0/publish/pubsub/rules" -H 'Content-Type: application/json' -d '{"n":1,"tag":"xy"}' >/dev/null
http POST "$U/v1.0/publish/pubsub/norule" -H 'Content-Type: application/json' -d '{}' >/dev/null
check "rule event.type == widget" "1" "$(wait_count /rules/widget 1 5)"
check "rule with && and startsWith" "1" "$(wait_count /rules/big 1 5)"
check "default route" "1" "$(wait_count /rules/default 1 5)"
http POST "$U/v1.0/publish/pubsub/decl" -H 'Content-Type: application/json' -d '{"kind":"special"}' >/dev/null
http POST "$U/v1.0/publish/pubsub/decl" -H 'Content-Type: application/json' -d '{"kind":"plain"}' >/dev/null
http POST "$U/v1.0/publish/pubsub/declv1" -d 'x' >/dev/null
check "declarative v2 rule" "1" "$(wait_count /decl-special 1 5)"
check "declarative v2 default" "1" "$(wait_count /decl-default 1 5)"
check "declarative v1 route" "1" "$(wait_count /declv1 1 5)"
check "no matching rule: not delivered" "0" "$(count /never)"

# --- raw payloads ---
http POST "$U/v1.0/publish/pubsub/raw?metadata.rawPayload=true" -d 'rawbytes' >/dev/null
wait_count /raw/success 1 5 >/dev/null
EV=$(json_get "$(last /raw/success)" 'd["body"]')
check "rawPayload subscription gets data_base64 of the bytes" "cmF3Ynl0ZXM= application/octet-stream Dapr" \
  "$(json_get "$EV" 'd["data_base64"]+" "+d["datacontenttype"]+" "+d["source"]')"

# --- bulk publish ---
R=$(http POST "$U/v1.0-alpha1/publish/bulk/pubsub/bulkpub" -H 'Content-Type: application/json' \
  -d '[{"entryId":"1","event":"first","contentType":"text/plain"},{"EntryID":"2","event":{"m":2},"contentType":"application/json","metadata":{"k":"v"}}]')
check "bulk publish -> 204" "204 " "$R"
check "bulk publish delivers each entry" "2" "$(wait_count /bulkpub/success 2 5)"
R=$(http POST "$U/v1.0/publish/bulk/pubsub/bulkpub" -d '[{"event":"x","contentType":"text/plain"}]')
check_contains "bulk publish without entryId -> 400" '400 {"details"' "$R"
check_contains "  ERR_PUBSUB_EVENTS_SER" '"errorCode":"ERR_PUBSUB_EVENTS_SER"' "$R"
R=$(http POST "$U/v1.0-alpha1/publish/bulk/pubsub/bulkpub" -d '{"not":"array"}')
check_contains "bulk publish body not an array -> 400" '"reason":"DAPR_PUBSUB_UNMARSHAL_EVENTS"' "$R"
R=$(http POST "$U/v1.0-alpha1/publish/bulk/pubsub/bulkpub" -d '[{"entryId":"1","event":7,"contentType":"text/plain"}]')
check_contains "bulk entry type mismatch -> 400" '"reason":"DAPR_PUBSUB_MARSHAL_EVENTS"' "$R"

# --- bulk subscribe ---
for i in 1 2 3; do http POST "$U/v1.0/publish/pubsub/bulk" -d "b$i" >/dev/null; done
wait_count /bulk/bulk 1 5 >/dev/null
for ((i = 0; i < 100; i++)); do
  N=$(json_get "$(curl -s "$APP/deliveries")" 'sum(len(json.loads(x["body"])["entries"]) for x in d["deliveries"] if x["path"]=="/bulk/bulk")')
  [ "$N" -ge 3 ] && break
  sleep 0.05
done
check "bulk subscribe delivers the 3 events in batches" "3" "$N"
B=$(json_get "$(last /bulk/bulk)" 'd["body"]')
check "bulk request shape" "com.dapr.event.sent.bulk bulk pubsub application/cloudevents+json" \
  "$(json_get "$B" 'd["type"]+" "+d["topic"]+" "+d["pubsubname"]+" "+d["entries"][0]["contentType"]')"

# --- scoping and errors ---
check "publishingScopes allows a1" "204 " "$(http POST "$U/v1.0/publish/scoped/a1" -d x)"
R=$(http POST "$U/v1.0/publish/scoped/b1" -d x)
check_contains "publishingScopes denies b1 -> 403" '403 {"details"' "$R"
check_contains "  message" '"message":"topic b1 is not allowed for app id subapp"' "$R"
check_contains "  errorCode" '"errorCode":"ERR_PUBSUB_FORBIDDEN"' "$R"
check_contains "protectedTopics deny" "403" "$(http POST "$U/v1.0/publish/scoped/prot" -d x)"
check "allowedTopics allow" "204 " "$(http POST "$U/v1.0/publish/limited/only" -d x)"
check_contains "allowedTopics deny" '"errorCode":"ERR_PUBSUB_FORBIDDEN"' "$(http POST "$U/v1.0/publish/limited/other" -d x)"
R=$(http POST "$U/v1.0/publish/nope/t" -d x)
check_contains "unknown pubsub -> 404" '404 {"details"' "$R"
check_contains "  kit error" '"reason":"DAPR_PUBSUB_NOT_FOUND"},{"@type":"type.googleapis.com/google.rpc.ResourceInfo"' "$R"
check_contains "  message" '"errorCode":"ERR_PUBSUB_NOT_FOUND","message":"pubsub nope not found"' "$R"
R=$(http POST "$U/v1.0/publish/pubsub/ok?metadata.rawPayload=maybe" -d x)
check_contains "bad rawPayload -> 400" '400 {"details"' "$R"
check_contains "  ERR_PUBSUB_REQUEST_METADATA" '"errorCode":"ERR_PUBSUB_REQUEST_METADATA"' "$R"
R=$(http POST "$U/v1.0/publish/pubsub/ok" -H 'Content-Type: application/cloudevents+json' -d 'not json')
check_contains "invalid CloudEvent -> 500" '500 {"details"' "$R"
check_contains "  ERR_PUBSUB_CLOUD_EVENTS_SER" '"errorCode":"ERR_PUBSUB_CLOUD_EVENTS_SER","message":"cannot create cloudevent"' "$R"
R=$(http POST "$U/v1.0/publish/pubsub/ok" -H 'Content-Type: application/cloudevents+json' -d '[1,2]')
check_contains "CloudEvent that is not an object -> 500" '"ERR_PUBSUB_CLOUD_EVENTS_SER"' "$R"
head -c 70000 /dev/zero | tr '\0' a >"$T_TMP/big"
R=$(http POST "$U/v1.0/publish/pubsub/ok" --data-binary @"$T_TMP/big")
check_contains "oversized message -> 400" "400" "$R"
check "GET on the publish route is an invocation (404)" "404" "$(http GET "$U/v1.0/publish/pubsub/ok" | cut -c1-3)"
check "PUT publishes too" "204 " "$(http PUT "$U/v1.0/publish/pubsub/ok" -d put)"

# --- a declarative rule that does not parse stops daprd at load ---
BAD=$T_TMP/badres
mkdir -p "$BAD"
cp "$RES/pubsub.yaml" "$BAD/"
cat >"$BAD/sub.yaml" <<'Y'
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: broken}
spec:
  pubsubname: pubsub
  topic: t
  routes:
    rules:
    - {match: 'event.type == && true', path: /x}
Y
start_bg "$T_TMP/daprd-bad.log" "$DAPRD" --app-id bad --dapr-http-port "$(free_port)" \
  --dapr-internal-grpc-port "$(free_port)" --enable-metrics=false --dapr-listen-addresses 127.0.0.1 \
  --dapr-internal-grpc-listen-address 127.0.0.1 --resources-path "$BAD"
BADPID=$BG_PID
wait_exit "$BADPID" 10
[ "$WAIT_RC" != timeout ] && [ "$WAIT_RC" != 0 ] && ok "daprd with an unparsable rule exits ($WAIT_RC)" ||
  bad "daprd with an unparsable rule exits" "rc=$WAIT_RC"
check_contains "  with a clear error naming file, line and rule" \
  "sub.yaml:9: Subscription broken: routing rule 1 (match" "$(cat "$T_TMP/daprd-bad.log")"
check_contains "  and the column" "does not parse: column 15: unexpected" "$(cat "$T_TMP/daprd-bad.log")"

finish
