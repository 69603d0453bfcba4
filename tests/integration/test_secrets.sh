#!/usr/bin/env bash
# Secrets (sidecar-api.md §8, §20.4, §22.1, §22.6): local.file and local.env stores over HTTP,
# secret scopes from the Configuration, secretKeyRef in component metadata, bad input.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd

# term_rc PID: SIGTERM, wait up to 5 s, set RC to the exit status ("timeout" if still running).
term_rc() { kill -TERM "$1"; wait_exit "$1" 5; RC=$WAIT_RC; }

WORK=$T_TMP/work; RES=$WORK/res; mkdir -p "$RES"
cat >"$WORK/secrets.json" <<'J'
{"db": {"user": "admin", "password": "s3cr3t"}, "token": "abc", "ports": [80, 443],
 "prefixes": {"env": "IT_SEC_"}}
J
cat >"$WORK/multi.json" <<'J'
{"redis": {"host": "localhost", "password": "pw"}, "plain": "p", "hidden": "h"}
J
# secretsFile paths are relative to daprd's working directory ($WORK).
cat >"$RES/secrets.yaml" <<'Y'
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: localsecretstore}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - {name: secretsFile, value: ./secrets.json}
  - {name: nestedSeparator, value: "."}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: multistore}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - {name: secretsFile, value: multi.json}
  - {name: multiValued, value: "true"}
---
# The env store's prefix comes from localsecretstore through secretKeyRef: reading
# refstore/NAME returns $IT_SEC_NAME only if the reference was resolved.
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: refstore}
auth: {secretStore: localsecretstore}
spec:
  type: secretstores.local.env
  version: v1
  metadata:
  - name: prefix
    secretKeyRef: {name: prefixes.env, key: prefixes.env}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: envstore}
spec:
  type: secretstores.local.env
  version: v1
Y
cat >"$WORK/config.yaml" <<'Y'
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: secretsconfig}
spec:
  secrets:
    scopes:
    - storeName: multistore
      defaultAccess: allow
      deniedSecrets: [hidden]
    - storeName: envstore
      defaultAccess: deny
      allowedSecrets: [IT_SEC_VISIBLE, DAPR_IT_SECRET]
Y

HP=$(free_port)
# shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
start_bg "$T_TMP/daprd.log" env IT_SEC_VISIBLE=yes IT_SEC_OTHER=no DAPR_IT_SECRET=never \
  bash -c 'cd "$1" && shift && exec "$@"' _ "$WORK" \
  "$DAPRD" --app-id secapp --resources-path ./res --config ./config.yaml --dapr-http-port "$HP" \
  --dapr-listen-addresses 127.0.0.1 --enable-metrics=false
PID=$BG_PID
if ! wait_http "http://127.0.0.1:$HP/v1.0/healthz/outbound" 10; then
  bad "daprd came up" "$(cat "$T_TMP/daprd.log")"; finish; exit 1
fi
U=http://127.0.0.1:$HP/v1.0/secrets

echo "# get and bulk (local.file)"
check "get nested (separator '.')" '200 {"db.user":"admin"}' "$(http GET "$U/localsecretstore/db.user")"
check "get array element" '200 {"ports.1":"443"}' "$(http GET "$U/localsecretstore/ports.1")"
check "content type" "application/json" \
  "$(curl -s -o /dev/null -w '%{content_type}' "$U/localsecretstore/token")"
check "get missing: 500 ERR_SECRET_GET" \
  '500 {"errorCode":"ERR_SECRET_GET","message":"failed getting secret with key nope from secret store localsecretstore: secret nope not found"}' \
  "$(http GET "$U/localsecretstore/nope")"
check "bulk" \
  '200 {"db.password":{"db.password":"s3cr3t"},"db.user":{"db.user":"admin"},"ports.0":{"ports.0":"80"},"ports.1":{"ports.1":"443"},"prefixes.env":{"prefixes.env":"IT_SEC_"},"token":{"token":"abc"}}' \
  "$(http GET "$U/localsecretstore/bulk")"
check "multiValued get" '200 {"host":"localhost","password":"pw"}' "$(http GET "$U/multistore/redis")"
check "metadata.* query accepted" '200 {"plain":"p"}' "$(http GET "$U/multistore/plain?metadata.version_id=2")"

echo "# scopes"
check "deniedSecrets: 403" \
  '403 {"errorCode":"ERR_PERMISSION_DENIED","message":"access denied by policy to get \"hidden\" from \"multistore\""}' \
  "$(http GET "$U/multistore/hidden")"
check "bulk filtered by deniedSecrets" \
  '200 {"plain":{"plain":"p"},"redis":{"host":"localhost","password":"pw"}}' "$(http GET "$U/multistore/bulk")"
check "allowedSecrets: allowed" '200 {"IT_SEC_VISIBLE":"yes"}' "$(http GET "$U/envstore/IT_SEC_VISIBLE")"
r=$(http GET "$U/envstore/IT_SEC_OTHER")
check "defaultAccess deny: 403" 403 "${r%% *}"
check "bulk under allowedSecrets" '200 {"IT_SEC_VISIBLE":{"IT_SEC_VISIBLE":"yes"}}' "$(http GET "$U/envstore/bulk")"
check "DAPR_* never readable, even when allowed" '200 {"DAPR_IT_SECRET":""}' "$(http GET "$U/envstore/DAPR_IT_SECRET")"

echo "# secretKeyRef through auth.secretStore"
check "env prefix resolved from the file store" '200 {"VISIBLE":"yes"}' "$(http GET "$U/refstore/VISIBLE")"
md=$(curl -s "http://127.0.0.1:$HP/v1.0/metadata")
check "capabilities of the multiValued store" "['MULTIPLE_KEY_VALUES_PER_SECRET']" \
  "$(json_get "$md" '[c.get("capabilities") for c in d["components"] if c["name"] == "multistore"][0]')"
check "no capabilities for a single-valued store" "None" \
  "$(json_get "$md" '[c.get("capabilities") for c in d["components"] if c["name"] == "localsecretstore"][0]')"

echo "# errors and bad input"
check "unknown store: 401" \
  '401 {"errorCode":"ERR_SECRET_STORE_NOT_FOUND","message":"failed finding secret store with key nosuch"}' \
  "$(http GET "$U/nosuch/token")"
r=$(http GET "$U/nosuch/bulk"); check "unknown store bulk: 401" 401 "${r%% *}"
r=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$U/localsecretstore/../../../etc/passwd")
check "dot segments are cleaned, not secrets (404 fallback)" 404 "$r"
r=$(curl -s --path-as-is -o "$T_TMP/b" -w '%{http_code}' "$U/localsecretstore/..%2F..%2Fetc%2Fpasswd")
check "encoded slashes are part of the name: 500" 500 "$r"
check_contains "encoded slashes: names the decoded key" 'secret ../../etc/passwd not found' "$(cat "$T_TMP/b")"
r=$(http GET "$U/%2e%2e/token"); check "encoded dots as the store: 401" 401 "${r%% *}"
r=$(http GET "$U/localsecretstore/a%00b"); check "NUL in the name: 500" 500 "${r%% *}"
r=$(http GET "$U/localsecretstore/%ff%fe"); check "invalid UTF-8 name: 500" 500 "${r%% *}"
check "invalid UTF-8 name: valid JSON body" "ERR_SECRET_GET" "$(json_get "${r#* }" 'd["errorCode"]')"
r=$(http GET "$U/localsecretstore/%zz"); check "bad escape: 400" 400 "${r%% *}"
long=$(head -c 3000 /dev/zero | tr '\0' k)
r=$(http GET "$U/localsecretstore/$long"); check "3000-byte name: 500" 500 "${r%% *}"
long=$(head -c 20000 /dev/zero | tr '\0' k)
r=$(curl -s -o /dev/null -w '%{http_code}' "$U/localsecretstore/$long")
check "20000-byte path: 431 (header limit)" 431 "$r"
r=$(http POST "$U/localsecretstore/token"); check "POST falls to invocation: 404" 404 "${r%% *}"
check "daprd still serving" '200 {"token":"abc"}' "$(http GET "$U/localsecretstore/token")"
term_rc "$PID"
check "clean exit" 0 "$RC"

echo "# no secret store"
HP=$(free_port); mkdir -p "$T_TMP/empty"
start_bg "$T_TMP/d2.log" "$DAPRD" --app-id secapp2 --resources-path "$T_TMP/empty" \
  --dapr-http-port "$HP" --dapr-listen-addresses 127.0.0.1 --enable-metrics=false
PID=$BG_PID
wait_http "http://127.0.0.1:$HP/v1.0/healthz" 10 || bad "second daprd came up"
check "no stores: 500 ERR_SECRET_STORES_NOT_CONFIGURED" \
  '500 {"errorCode":"ERR_SECRET_STORES_NOT_CONFIGURED","message":"secret store is not configured"}' \
  "$(http GET "http://127.0.0.1:$HP/v1.0/secrets/any/key")"
term_rc "$PID"
check "clean exit" 0 "$RC"

echo "# secretKeyRef failures stop daprd, naming the store and secret"
fails() { # NAME YAML EXPECTED-IN-FATAL-LINE
  local dir=$T_TMP/bad-$RANDOM out rc msg
  mkdir -p "$dir"; printf '%s\n' "$2" >"$dir/c.yaml"; cp "$WORK/secrets.json" "$dir/"
  out=$(cd "$dir" && timeout 20 "$DAPRD" --app-id x --resources-path . \
    --dapr-http-port "$(free_port)" --enable-metrics=false 2>&1); rc=$?
  msg=$(printf '%s\n' "$out" | grep -E 'level=fatal' | head -1)
  check "$1: exit 1" 1 "$rc"
  check_contains "$1: message" "$3" "$msg"
}
STORE='apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: files}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - {name: secretsFile, value: secrets.json}
---'
fails "missing secret" "$STORE
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: user}
auth: {secretStore: files}
spec:
  type: secretstores.local.env
  version: v1
  metadata:
  - name: prefix
    secretKeyRef: {name: no-such-secret}" \
  "component user (secretstores.local.env/v1) failed to init: metadata prefix: secretKeyRef no-such-secret from secret store files: secret no-such-secret not found"
fails "missing key" "$STORE
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: user}
auth: {secretStore: files}
spec:
  type: secretstores.local.env
  version: v1
  metadata:
  - name: prefix
    secretKeyRef: {name: token, key: other}" \
  "secretKeyRef token from secret store files: the secret has no key other"
fails "store not loaded" "apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: user}
auth: {secretStore: ghost}
spec:
  type: secretstores.local.env
  version: v1
  metadata:
  - name: prefix
    secretKeyRef: {name: token}" \
  "secretKeyRef token: secret store ghost is not loaded"
fails "no auth.secretStore in standalone mode" "$STORE
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: user}
spec:
  type: secretstores.local.env
  version: v1
  metadata:
  - name: prefix
    secretKeyRef: {name: token}" \
  "secretKeyRef token: the component has no auth.secretStore"
fails "secretsFile missing" "apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: files}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - {name: secretsFile, value: ./nowhere.json}" \
  "secretsFile ./nowhere.json: No such file or directory"

finish
