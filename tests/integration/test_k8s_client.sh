#!/usr/bin/env bash
# libdc's Kubernetes client against kubelite (../shared/kubelite), through build/bin/k8sprobe:
# CRUD and patches, error mapping, raw watch, informer relist on 410, Lease elections, TLS with
# CA data and client certificates, bearer tokens (inline, file, in-cluster, rotation).
source "$(dirname "$0")/../lib.sh"
PROBE=$BIN/k8sprobe
KUBELITE=$ROOT/../shared/kubelite
if [ ! -f "$KUBELITE/server.py" ]; then
  echo "kubelite not found at $KUBELITE: skipped"; finish; exit $?
fi

TOKEN=secret-token-1
PORT=$(free_port)
TLS_PORT=$(free_port)
CERTS=$T_TMP/certs
bash "$KUBELITE/mkcerts.sh" "$CERTS" >/dev/null
# A client certificate signed by the same CA (kubelite accepts it without asking for it; the point
# is that curl loads and offers the PEM blobs).
openssl req -newkey rsa:2048 -nodes -subj "/CN=probe/O=system:masters" -keyout "$CERTS/client.key" \
  -out "$CERTS/client.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$CERTS/client.ext"
openssl x509 -req -in "$CERTS/client.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
  -CAcreateserial -days 1 -extfile "$CERTS/client.ext" -out "$CERTS/client.crt" 2>/dev/null

start_bg "$T_TMP/kubelite.log" python3 "$KUBELITE/server.py" --port "$PORT" --tls-port "$TLS_PORT" \
  --cert "$CERTS/apiserver.crt" --key "$CERTS/apiserver.key" --admin-token "$TOKEN" \
  --bookmark-interval 60
wait_http "http://127.0.0.1:$PORT/version" 15 || { bad "kubelite did not start" "$(cat "$T_TMP/kubelite.log")"; finish; exit 1; }

b64() { base64 -w0 <"$1"; }
# kubeconfig NAME SERVER CLUSTER-FIELDS USER-FIELDS: write $T_TMP/NAME.yaml
kubeconfig() {
  cat >"$T_TMP/$1.yaml" <<EOF
apiVersion: v1
kind: Config
current-context: ctx
contexts:
- name: ctx
  context:
    cluster: kl
    user: me
    namespace: default
clusters:
- name: kl
  cluster:
    server: $2
$3
users:
- name: me
  user:
$4
EOF
}
kubeconfig http "http://127.0.0.1:$PORT" "" "    token: $TOKEN"
K=(--kubeconfig "$T_TMP/http.yaml")
probe() { "$PROBE" "${K[@]}" "$@" 2>&1; }
cm() { printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s","labels":{"app":"%s"}},"data":{"a":"1"}}' "$1" "$2"; }
field() { json_get "$1" "$2" 2>/dev/null; }
# reap PID SECONDS: wait for a background probe; its exit status (or "timeout") goes to $RC.
reap() { wait_exit "$1" "$2"; RC=$WAIT_RC; }

echo "# create, get, patch, apply, list, delete"
out=$(cm one crud | probe create v1/configmaps -); rc=$?
check "create exits 0" 0 "$rc"
check "create returns the object" one "$(field "$out" 'd["metadata"]["name"]')"
out=$(probe get v1/configmaps one)
check "get data" 1 "$(field "$out" 'd["data"]["a"]')"
out=$(probe patch v1/configmaps one merge '{"data":{"b":"2"}}')
check "merge patch adds a key" 2 "$(field "$out" 'd["data"]["b"]')"
out=$(probe patch v1/configmaps one json '[{"op":"replace","path":"/data/a","value":"x"},{"op":"remove","path":"/data/b"}]')
check "json patch replaces and removes" "x None" "$(field "$out" 'd["data"]["a"] + " " + str(d["data"].get("b"))')"
out=$(probe patch v1/configmaps two apply '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"two","labels":{"app":"crud"}},"data":{"z":"9"}}' --field-manager k8sprobe)
check "server-side apply creates" 9 "$(field "$out" 'd["data"]["z"]')"
out=$(probe patch v1/configmaps two apply '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"two","labels":{"app":"crud"}},"data":{"z":"10"}}' --field-manager k8sprobe --force)
check "server-side apply updates" 10 "$(field "$out" 'd["data"]["z"]')"
out=$(probe patch v1/configmaps two apply '{}'); rc=$?
check_contains "apply without a field manager is refused" "DC_EINVAL" "$out"
cm three other | probe create v1/configmaps - >/dev/null
out=$(probe list v1/configmaps -l app=crud | awk '{print $1}' | sort | tr '\n' ' ')
check "list with labelSelector" "one two " "$out"
out=$(probe list v1/configmaps -l 'app in (crud,other),app!=crud' | awk '{print $1}' | tr '\n' ' ')
check "list with a set-based selector" "three " "$out"

echo "# errors"
out=$(probe get v1/configmaps nosuch); rc=$?
check "404 exits 1" 1 "$rc"
check_contains "404 maps to DC_ENOTFOUND" "error: DC_ENOTFOUND: NotFound" "$out"
out=$(cm one crud | probe create v1/configmaps -)
check_contains "409 AlreadyExists maps to DC_EEXIST" "error: DC_EEXIST: AlreadyExists" "$out"
out=$(printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"one","resourceVersion":"1"},"data":{}}' | probe update v1/configmaps one -)
check_contains "409 Conflict (stale resourceVersion) maps to DC_ECONFLICT" "error: DC_ECONFLICT: Conflict" "$out"
out=$(probe patch v1/configmaps one json '[{"op":"test","path":"/data/a","value":"nope"}]')
check_contains "failed JSON patch test is an error" "error: DC_E" "$out"
out=$(probe delete v1/configmaps one); rc=$?
check "delete exits 0" 0 "$rc"
out=$(probe get v1/configmaps one)
check_contains "deleted object is gone" "DC_ENOTFOUND" "$out"
out=$("$PROBE" --kubeconfig "$T_TMP/http.yaml" get nonsense 2>&1); rc=$?
check "bad resource is a usage error" 2 "$rc"

echo "# raw watch from a resourceVersion"
out=$(cm w1 watched | probe create v1/configmaps -)
rv=$(field "$out" 'd["metadata"]["resourceVersion"]')
start_bg "$T_TMP/watch.out" "$PROBE" "${K[@]}" watch v1/configmaps 3 -l app=watched --rv "$rv"
wpid=$BG_PID
probe patch v1/configmaps w1 merge '{"data":{"a":"2"}}' >/dev/null
probe delete v1/configmaps w1 >/dev/null
cm w2 watched | probe create v1/configmaps - >/dev/null
cm unrelated other | probe create v1/configmaps - >/dev/null
reap "$wpid" 10
check "watch ends after 3 events" 0 "$RC"
check "watch sees MODIFIED, DELETED, ADDED" "MODIFIED w1 DELETED w1 ADDED w2" \
  "$(awk '{print $1, $2}' "$T_TMP/watch.out" | tr '\n' ' ' | sed 's/ $//')"

echo "# informer: add, update, delete, relist after 410"
start_bg "$T_TMP/inform.out" "$PROBE" "${K[@]}" inform v1/configmaps 6 -l app=inf --watch-timeout 1 --seconds 20
ipid=$BG_PID
cm i0 inf | probe create v1/configmaps - >/dev/null   # may land in the list or the watch
for i in $(seq 100); do grep -qs '^SYNCED 1' "$T_TMP/inform.out" && break; sleep 0.05; done
cm i1 inf | probe create v1/configmaps - >/dev/null
probe patch v1/configmaps i1 merge '{"data":{"a":"3"}}' >/dev/null
probe delete v1/configmaps i1 >/dev/null
# Move the global resourceVersion past the informer's, then forget the event log: its next watch
# (the server ends each one after 1 s) resumes from a too-old version and gets an ERROR 410.
printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"bump"}}' | probe create v1/secrets - >/dev/null
curl -s "http://127.0.0.1:$PORT/_kubelite/compact" >/dev/null
reap "$ipid" 15
check "informer stops after its events" 0 "$RC"
got=$(cat "$T_TMP/inform.out")
check_contains "informer synced" "SYNCED 1" "$got"
check_contains "informer add i0" "ADD i0" "$got"
check_contains "informer add" "ADD i1" "$got"
check_contains "informer update" "UPDATE i1" "$got"
check_contains "informer delete" "DELETE i1" "$got"
check_contains "informer relists after 410" "SYNCED 2" "$got"
check_contains "informer stop is clean" "STOPPED" "$got"
t0=$(date +%s%N)
"$PROBE" "${K[@]}" inform v1/configmaps 1000 --seconds 1 >/dev/null 2>&1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$ms" -lt 2000 ]; then ok "informer stop is prompt (${ms} ms)"; else bad "informer stop took ${ms} ms"; fi

echo "# leases"
L=(--duration 3000 --renew 2000 --retry 300)
start_bg "$T_TMP/lease-a.out" "$PROBE" "${K[@]}" lease dapr-test a 3 "${L[@]}"
apid=$BG_PID
for i in $(seq 100); do grep -qs '^LEADER a' "$T_TMP/lease-a.out" && break; sleep 0.05; done
check_contains "first contender leads" "LEADER a" "$(cat "$T_TMP/lease-a.out")"
start_bg "$T_TMP/lease-b.out" "$PROBE" "${K[@]}" lease dapr-test b 9 "${L[@]}"
bpid=$BG_PID
sleep 1
check "second contender waits while the holder renews" "" "$(grep '^LEADER' "$T_TMP/lease-b.out")"
wait_exit "$apid" 5
for i in $(seq 160); do grep -qs '^LEADER b' "$T_TMP/lease-b.out" && break; sleep 0.05; done
check_contains "second contender takes over after the holder stops renewing" "LEADER b" "$(cat "$T_TMP/lease-b.out")"
check_contains "first contender reported the loss" "LOST a" "$(cat "$T_TMP/lease-a.out")"
out=$(probe get coordination.k8s.io/v1/leases dapr-test)
check "lease names the new holder" b "$(field "$out" 'd["spec"]["holderIdentity"]')"
check "lease counted the transition" 1 "$(field "$out" 'd["spec"]["leaseTransitions"]')"
wait_exit "$bpid" 12
# Release on stop: the successor does not wait for the lease to expire.
start_bg "$T_TMP/lease-c.out" "$PROBE" "${K[@]}" lease dapr-rel c 2 --duration 20000 --renew 10000 --retry 300 --release
cpid=$BG_PID
for i in $(seq 100); do grep -qs '^LEADER c' "$T_TMP/lease-c.out" && break; sleep 0.05; done
start_bg "$T_TMP/lease-d.out" "$PROBE" "${K[@]}" lease dapr-rel d 6 --duration 20000 --renew 10000 --retry 300
wait_exit "$cpid" 5
for i in $(seq 100); do grep -qs '^LEADER d' "$T_TMP/lease-d.out" && break; sleep 0.05; done
check_contains "a released lease is taken at once (not after 20 s)" "LEADER d" "$(cat "$T_TMP/lease-d.out")"

echo "# TLS and credentials"
TLS="https://127.0.0.1:$TLS_PORT"
kubeconfig tls-data "$TLS" "    certificate-authority-data: $(b64 "$CERTS/ca.crt")" \
  "    client-certificate-data: $(b64 "$CERTS/client.crt")
    client-key-data: $(b64 "$CERTS/client.key")
    token: $TOKEN"
out=$("$PROBE" --kubeconfig "$T_TMP/tls-data.yaml" get v1/configmaps two 2>&1)
check "TLS with CA data, client cert data and token" two "$(field "$out" 'd["metadata"]["name"]')"
cp "$CERTS/ca.crt" "$CERTS/client.crt" "$CERTS/client.key" "$T_TMP/"
printf '%s\n' "$TOKEN" >"$T_TMP/token"
kubeconfig tls-files "$TLS" "    certificate-authority: ca.crt" \
  "    client-certificate: client.crt
    client-key: client.key
    tokenFile: token"
out=$("$PROBE" --kubeconfig "$T_TMP/tls-files.yaml" get v1/configmaps two 2>&1)
check "TLS with relative CA, cert, key and token files" two "$(field "$out" 'd["metadata"]["name"]')"
kubeconfig tls-none "$TLS" "" "    token: $TOKEN"
out=$("$PROBE" --kubeconfig "$T_TMP/tls-none.yaml" get v1/configmaps two 2>&1)
check_contains "unknown CA is a TLS error" "error: DC_ETLS" "$out"
kubeconfig tls-insecure "$TLS" "    insecure-skip-tls-verify: true" "    token: $TOKEN"
out=$("$PROBE" --kubeconfig "$T_TMP/tls-insecure.yaml" get v1/configmaps two 2>&1)
check "insecure-skip-tls-verify" two "$(field "$out" 'd["metadata"]["name"]')"
kubeconfig bad-token "$TLS" "    certificate-authority-data: $(b64 "$CERTS/ca.crt")" "    token: wrong"
out=$("$PROBE" --kubeconfig "$T_TMP/bad-token.yaml" get v1/configmaps two 2>&1)
check_contains "401 maps to DC_EPERM" "error: DC_EPERM: Unauthorized" "$out"
out=$(KUBECONFIG="$T_TMP/missing.yaml:$T_TMP/tls-data.yaml" "$PROBE" get v1/configmaps two 2>&1)
check "KUBECONFIG list: first existing file" two "$(field "$out" 'd["metadata"]["name"]')"
out=$("$PROBE" --kubeconfig "$T_TMP/http.yaml" --context nope get v1/configmaps two 2>&1)
check_contains "unknown --context" 'kubeconfig: context "nope" not found' "$out"
check_contains "unknown --context is DC_ENOTFOUND" "error: DC_ENOTFOUND" "$out"

echo "# in-cluster service account"
SA=$T_TMP/sa; mkdir -p "$SA"
cp "$CERTS/ca.crt" "$SA/ca.crt"; printf default >"$SA/namespace"; printf '%s' "$TOKEN" >"$SA/token"
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$TLS_PORT
out=$("$PROBE" --in-cluster "$SA" get v1/configmaps two 2>&1)
check "in-cluster config" two "$(field "$out" 'd["metadata"]["name"]')"
# Rotation: the first list gets 401 with a stale token; once the file changes the retry after the
# 401 re-reads it and the informer syncs.
printf stale >"$SA/token"
start_bg "$T_TMP/rotate.out" "$PROBE" --in-cluster "$SA" inform v1/configmaps 1 -l app=crud --seconds 10
rpid=$BG_PID
for i in $(seq 100); do grep -qs 'DC_EPERM' "$T_TMP/rotate.out" && break; sleep 0.05; done
check_contains "stale token is refused" "DC_EPERM" "$(cat "$T_TMP/rotate.out")"
printf '%s' "$TOKEN" >"$SA/token"
reap "$rpid" 10
check "rotated token is picked up" 0 "$RC"
check_contains "informer synced with the rotated token" "SYNCED 1" "$(cat "$T_TMP/rotate.out")"
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT

finish
