#!/usr/bin/env bash
# e2e: sentry (build/bin/sentry) in Kubernetes mode as a local process, against the API server
# through a kubeconfig, with the real kubectl (control-plane.md §2).
#   1. Bootstrap: with no trust bundle, sentry generates a root and an issuer, writes the Secret
#      dapr-trust-bundle (ca.crt, issuer.crt, issuer.key) and the ConfigMap dapr-trust-bundle
#      (ca.crt) in its namespace; a restart loads the Secret (same root, no write).
#   2. Bring-your-own: a Secret made from openssl files is loaded as it is; objects created empty
#      (as Helm does) are filled in, keeping their labels and other keys; a ConfigMap whose ca.crt
#      differs from the Secret's makes sentry generate a new CA (upstream's rule); a Secret whose
#      key does not match its issuer stops sentry. With the Secret's files mounted (as kubelet
#      does, --issuer-credentials), a broken set is refused and a new issuer is used without a
#      restart.
#   3. SignCertificate with the kubernetes validator: pod-bound service-account tokens
#      (kubectl create token --audience ... --bound-object-kind Pod) get
#      spiffe://<td>/ns/<ns>/<app-id>, the trust domain of the pod's Configuration, or the
#      control-plane identity (dapr-injector with its DNS SAN); refused with PermissionDenied and
#      upstream's message for another pod's token, another service account, a wrong audience, a
#      garbage or tampered token, a token with no pod, a deleted pod, an app-id or namespace that
#      does not match, and a control-plane annotation outside sentry's namespace.
#   4. daprd in Kubernetes mode (--mode kubernetes, DAPR_SENTRY_TOKEN_FILE holding the projected
#      token, DAPR_TRUST_ANCHORS from the ConfigMap) gets its certificate from this sentry.
# Runs on kubelite (default) or, with E2E_KUBECONFIG, on a throwaway cluster: sentry only needs
# API access. Checks that depend on a kubelite leniency are marked and skipped elsewhere.
# shellcheck source=e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SENTRY=$ROOT/build/bin/sentry
CTL=$ROOT/build/bin/sentryctl
DAPRD=$ROOT/build/bin/daprd
TD=cluster.local
for b in "$SENTRY" "$CTL" "$DAPRD"; do
    [ -x "$b" ] || { echo "e2e: $b missing (make)" >&2; exit 2; }
done

e2e_setup
k apply -f "$ROOT/crds/" >/dev/null
e2e_namespace sentry
CP=$E2E_NS # sentry's (control-plane) namespace
SENTRY_ID=spiffe://$TD/ns/$CP/dapr-sentry

# ---- helpers ------------------------------------------------------------------------------

# sentry_start NS LOG [flags...]: sentry in Kubernetes mode for namespace NS; waits for /healthz.
# Sets SENTRY_PID, SENTRY_PORT, SENTRY_MX. Returns 1 when it does not become ready. The mode is
# --mode kubernetes, or, with SENTRY_DETECT=1, detected from KUBERNETES_SERVICE_HOST.
sentry_start() {
    local ns=$1 log=$2 hz mode=(--mode kubernetes) envs=()
    shift 2
    SENTRY_PORT=$(free_port)
    SENTRY_MX=$(free_port)
    hz=$(free_port)
    if [ "${SENTRY_DETECT:-0}" = 1 ]; then
        mode=()
        envs=(KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=1)
    fi
    start_bg "$log" env NAMESPACE="$ns" "${envs[@]}" "$SENTRY" "${mode[@]}" \
        --kubeconfig "$E2E_KUBECONFIG_FILE" --trust-domain "$TD" \
        --port "$SENTRY_PORT" --listen-address 127.0.0.1 \
        --healthz-port "$hz" --healthz-listen-address 127.0.0.1 \
        --metrics-port "$SENTRY_MX" --metrics-listen-address 127.0.0.1 \
        --issuer-credentials "$E2E_TMP/no-credentials" --log-level debug "$@"
    SENTRY_PID=$BG_PID
    wait_until 20 curl -sf "http://127.0.0.1:$hz/healthz"
}
sentry_stop() {
    kill "$SENTRY_PID" 2>/dev/null
    wait "$SENTRY_PID" 2>/dev/null
}

# secret_key NS KEY / cm_key NS KEY: a data value of dapr-trust-bundle (decoded), "" if absent.
secret_key() {
    k -n "$1" get secret dapr-trust-bundle -o json 2>/dev/null | python3 -c '
import base64, json, sys
print(base64.b64decode(json.load(sys.stdin).get("data", {}).get(sys.argv[1], "")).decode(), end="")' "$2"
}
cm_key() {
    k -n "$1" get configmap dapr-trust-bundle -o json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("data",{}).get(sys.argv[1],""), end="")' "$2"
}
rv_of() { k -n "$1" get "$2" dapr-trust-bundle -o jsonpath='{.metadata.resourceVersion}'; }
fp() { openssl x509 -noout -fingerprint -sha256 | cut -d= -f2; }

# sign TOKEN ID NS [sentryctl flags...]: SignCertificate with the kubernetes validator against
# the running sentry, trusting $ANCHORS and requiring sentry's SPIFFE id. Prints sentryctl's
# last line: "OK id=..." or "ERROR code=... message=...".
sign() {
    local tok=$1 id=$2 ns=$3
    shift 3
    "$CTL" sign --address "127.0.0.1:$SENTRY_PORT" --anchors "$ANCHORS" --sentry-id "$SENTRY_ID" \
        --id "$id" --ns "$ns" --token "$tok" --validator 2 "$@" 2>&1 | tail -n 1
}
# token NS SA POD [kubectl flags...]: a token for SA bound to POD ("" = unbound) with the
# audiences sentry asks for (both, unless flags give others).
token() {
    local ns=$1 sa=$2 pod=$3
    shift 3
    [ $# -gt 0 ] || set -- --audience dapr.io/sentry --audience "$SENTRY_ID"
    k -n "$ns" create token "$sa" --duration 1h "$@" \
        ${pod:+--bound-object-kind Pod --bound-object-name "$pod"}
}
# pod NS NAME SA [annotation lines...]: create a pod (annotations as "key: value").
pod() {
    local ns=$1 name=$2 sa=$3 a
    shift 3
    {
        printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n' "$name" "$ns"
        if [ $# -gt 0 ]; then
            printf '  annotations:\n'
            for a in "$@"; do printf '    %s\n' "$a"; done
        fi
        printf 'spec:\n  serviceAccountName: %s\n' "$sa"
        printf '  containers:\n  - {name: app, image: registry.example/app:1}\n'
    } | k apply -f - >/dev/null
}
denied() { echo "ERROR code=PERMISSION_DENIED message=$1"; }

# ---- 1. bootstrap -------------------------------------------------------------------------
echo "-- bootstrap: no trust bundle in $CP"
if sentry_start "$CP" "$E2E_TMP/sentry1.log"; then
    ok "sentry ready in Kubernetes mode (namespace $CP)"
else
    bad "sentry ready" "$(tail -n 20 "$E2E_TMP/sentry1.log")"
    finish
    exit 1
fi
check_contains "log: generated" "Root and issuer certs not found in Secret $CP/dapr-trust-bundle" \
    "$(cat "$E2E_TMP/sentry1.log")"
check "Secret dapr-trust-bundle has ca.crt, issuer.crt, issuer.key" "ca.crt issuer.crt issuer.key" \
    "$(k -n "$CP" get secret dapr-trust-bundle -o json |
        python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["data"])))')"
secret_key "$CP" ca.crt >"$E2E_TMP/ca.crt"
secret_key "$CP" issuer.crt >"$E2E_TMP/issuer.crt"
secret_key "$CP" issuer.key >"$E2E_TMP/issuer.key"
cm_key "$CP" ca.crt >"$E2E_TMP/cm-ca.crt"
check_cmd "ConfigMap dapr-trust-bundle ca.crt = the Secret's" cmp "$E2E_TMP/ca.crt" "$E2E_TMP/cm-ca.crt"
check "issuer verifies to ca.crt" "$E2E_TMP/issuer.crt: OK" \
    "$(openssl verify -CAfile "$E2E_TMP/ca.crt" "$E2E_TMP/issuer.crt" 2>&1)"
check "issuer.key matches issuer.crt" \
    "$(openssl x509 -noout -pubkey -in "$E2E_TMP/issuer.crt")" \
    "$(openssl pkey -pubout -in "$E2E_TMP/issuer.key")"
check_contains "root subject O=$TD" "O=$TD" "$(openssl x509 -noout -subject -nameopt RFC2253 -in "$E2E_TMP/ca.crt")"
check_contains "issuer subject O=sentry's SPIFFE id" "O=$SENTRY_ID" \
    "$(openssl x509 -noout -subject -nameopt RFC2253 -in "$E2E_TMP/issuer.crt")"
ANCHORS=$E2E_TMP/cm-ca.crt
ROOT_FP=$(fp <"$E2E_TMP/ca.crt")
S_RV=$(rv_of "$CP" secret)
C_RV=$(rv_of "$CP" configmap)

echo "-- restart (mode detected from KUBERNETES_SERVICE_HOST): the Secret is loaded, not replaced"
sentry_stop
if SENTRY_DETECT=1 sentry_start "$CP" "$E2E_TMP/sentry2.log"; then ok "sentry restarted"; else bad "sentry restarted" "$(tail -n 5 "$E2E_TMP/sentry2.log")"; fi
check_contains "log: Kubernetes mode without --mode" "Sentry mode: kubernetes, namespace $CP" \
    "$(cat "$E2E_TMP/sentry2.log")"
check_contains "log: loaded from the Secret" "Root and issuer certs loaded from Secret $CP/dapr-trust-bundle" \
    "$(cat "$E2E_TMP/sentry2.log")"
check "same root after restart" "$ROOT_FP" "$(secret_key "$CP" ca.crt | fp)"
check "Secret not rewritten (resourceVersion)" "$S_RV" "$(rv_of "$CP" secret)"
check "ConfigMap not rewritten (resourceVersion)" "$C_RV" "$(rv_of "$CP" configmap)"

# ---- 2. bring-your-own material ---------------------------------------------------------
# mkca DIR: a root and an issuer made with openssl as the Dapr docs show (P-256, PKCS#8 key).
mkca() {
    mkdir -p "$1"
    openssl ecparam -name prime256v1 -genkey -noout -out "$1/root.key" 2>/dev/null
    openssl req -x509 -new -key "$1/root.key" -subj "/O=$TD" -days 30 -out "$1/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
        openssl pkcs8 -topk8 -nocrypt -out "$1/issuer.key"
    openssl req -new -key "$1/issuer.key" -subj "/O=byo-issuer" -out "$1/issuer.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n' >"$1/ext"
    openssl x509 -req -in "$1/issuer.csr" -CA "$1/ca.crt" -CAkey "$1/root.key" -CAcreateserial \
        -days 20 -extfile "$1/ext" -out "$1/issuer.crt" 2>/dev/null
}
# bundle NS DIR [SECRET_KEY_FILE]: the Secret (from DIR's files) and the ConfigMap (DIR/ca.crt).
bundle() {
    k -n "$1" create secret generic dapr-trust-bundle --from-file=ca.crt="$2/ca.crt" \
        --from-file=issuer.crt="$2/issuer.crt" --from-file=issuer.key="${3:-$2/issuer.key}" >/dev/null
    k -n "$1" create configmap dapr-trust-bundle --from-file=ca.crt="$2/ca.crt" >/dev/null
}

echo "-- a Secret made with openssl is loaded as it is"
e2e_namespace_more BYO byo
mkca "$E2E_TMP/byo"
mkca "$E2E_TMP/other"
bundle "$BYO" "$E2E_TMP/byo"
S_RV=$(rv_of "$BYO" secret)
if sentry_start "$BYO" "$E2E_TMP/sentry-byo.log"; then ok "sentry ready (namespace $BYO)"; else bad "sentry ready (byo)" "$(tail -n 5 "$E2E_TMP/sentry-byo.log")"; fi
check_contains "log: loaded from the Secret" "Root and issuer certs loaded from Secret $BYO/dapr-trust-bundle" \
    "$(cat "$E2E_TMP/sentry-byo.log")"
check "Secret untouched" "$S_RV" "$(rv_of "$BYO" secret)"
check_cmd "ConfigMap ca.crt untouched" cmp "$E2E_TMP/byo/ca.crt" <(cm_key "$BYO" ca.crt)
BYO_SENTRY_PORT=$SENTRY_PORT

echo "-- the Secret as kubelet mounts it: a broken set is refused, a new issuer is reloaded"
# mount_files DIR SRC: write ca.crt, issuer.crt, issuer.key of SRC into DIR, each by a rename.
mount_files() {
    local f
    mkdir -p "$1"
    for f in issuer.key issuer.crt ca.crt; do
        cp "$2/$f" "$1/.$f.tmp" && mv "$1/.$f.tmp" "$1/$f"
    done
}
MOUNT=$E2E_TMP/mount
mkdir -p "$MOUNT"
if sentry_start "$BYO" "$E2E_TMP/sentry-mount.log" --issuer-credentials "$MOUNT"; then ok "sentry ready (mounted credentials)"; else bad "sentry ready (mount)" "$(tail -n 5 "$E2E_TMP/sentry-mount.log")"; fi
# A set whose key does not match: refused, the loaded material keeps signing.
mkdir -p "$E2E_TMP/broken"
cp "$E2E_TMP/byo/ca.crt" "$E2E_TMP/byo/issuer.crt" "$E2E_TMP/broken/"
cp "$E2E_TMP/other/issuer.key" "$E2E_TMP/broken/"
mount_files "$MOUNT" "$E2E_TMP/broken"
if wait_until 20 grep -q "issuer credentials not reloaded yet: issuer key does not match" \
    "$E2E_TMP/sentry-mount.log"; then
    ok "a broken mounted set is refused"
else
    bad "a broken mounted set is refused" "$(tail -n 3 "$E2E_TMP/sentry-mount.log")"
fi
# A second issuer under the same root, as a rotation would bring.
N=$E2E_TMP/byo2
mkdir -p "$N"
cp "$E2E_TMP/byo/ca.crt" "$N/ca.crt"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$N/issuer.key"
openssl req -new -key "$N/issuer.key" -subj "/O=byo-issuer-2" -out "$N/issuer.csr" 2>/dev/null
openssl x509 -req -in "$N/issuer.csr" -CA "$E2E_TMP/byo/ca.crt" -CAkey "$E2E_TMP/byo/root.key" \
    -CAcreateserial -days 20 -extfile "$E2E_TMP/byo/ext" -out "$N/issuer.crt" 2>/dev/null
mount_files "$MOUNT" "$N"
if wait_until 20 grep -q "Issuer credentials changed; reloading" "$E2E_TMP/sentry-mount.log"; then
    ok "new issuer in the mounted files: reloaded without a restart"
else
    bad "new issuer reloaded" "$(tail -n 5 "$E2E_TMP/sentry-mount.log")"
fi
check_contains "issuercert changed once (the broken set did not count)" "dapr_sentry_issuercert_changed_total 1" \
    "$(curl -s "http://127.0.0.1:$SENTRY_MX/metrics")"
MOUNT_SENTRY_PORT=$SENTRY_PORT
MOUNT_SENTRY_PID=$SENTRY_PID

echo "-- objects created empty, as Helm does, are filled in"
e2e_namespace_more HELM helm
k -n "$HELM" create secret generic dapr-trust-bundle --from-literal=unrelated=kept >/dev/null
k -n "$HELM" label secret dapr-trust-bundle app=dapr-sentry >/dev/null
k -n "$HELM" create configmap dapr-trust-bundle >/dev/null
k -n "$HELM" label configmap dapr-trust-bundle app=dapr-sentry >/dev/null
if sentry_start "$HELM" "$E2E_TMP/sentry-helm.log"; then ok "sentry ready (namespace $HELM)"; else bad "sentry ready (helm)" "$(tail -n 5 "$E2E_TMP/sentry-helm.log")"; fi
sentry_stop
check "Secret filled in, other keys kept" "ca.crt issuer.crt issuer.key unrelated" \
    "$(k -n "$HELM" get secret dapr-trust-bundle -o json |
        python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["data"])))')"
check "Secret label kept" "dapr-sentry" \
    "$(k -n "$HELM" get secret dapr-trust-bundle -o jsonpath='{.metadata.labels.app}')"
check "ConfigMap filled in, label kept" "dapr-sentry $(secret_key "$HELM" ca.crt | fp)" \
    "$(k -n "$HELM" get configmap dapr-trust-bundle -o jsonpath='{.metadata.labels.app}') $(cm_key "$HELM" ca.crt | fp)"

echo "-- a ConfigMap with another ca.crt: a new CA (upstream's rule)"
e2e_namespace_more MISMATCH mismatch
k -n "$MISMATCH" create secret generic dapr-trust-bundle --from-file=ca.crt="$E2E_TMP/byo/ca.crt" \
    --from-file=issuer.crt="$E2E_TMP/byo/issuer.crt" --from-file=issuer.key="$E2E_TMP/byo/issuer.key" >/dev/null
k -n "$MISMATCH" create configmap dapr-trust-bundle --from-file=ca.crt="$E2E_TMP/other/ca.crt" >/dev/null
if sentry_start "$MISMATCH" "$E2E_TMP/sentry-mm.log"; then ok "sentry ready (namespace $MISMATCH)"; else bad "sentry ready (mismatch)" "$(tail -n 5 "$E2E_TMP/sentry-mm.log")"; fi
sentry_stop
new_fp=$(secret_key "$MISMATCH" ca.crt | fp)
if [ -n "$new_fp" ] && [ "$new_fp" != "$(fp <"$E2E_TMP/byo/ca.crt")" ] &&
    [ "$new_fp" != "$(fp <"$E2E_TMP/other/ca.crt")" ]; then
    ok "a new root was generated"
else
    bad "a new root was generated" "$new_fp"
fi
check "ConfigMap ca.crt = the new root" "$new_fp" "$(cm_key "$MISMATCH" ca.crt | fp)"

echo "-- a Secret whose key does not match its issuer stops sentry"
e2e_namespace_more BROKEN broken
bundle "$BROKEN" "$E2E_TMP/byo" "$E2E_TMP/other/issuer.key"
S_RV=$(rv_of "$BROKEN" secret)
if sentry_start "$BROKEN" "$E2E_TMP/sentry-broken.log"; then
    bad "sentry refuses a broken Secret" "it became ready"
    sentry_stop
else
    wait "$SENTRY_PID" 2>/dev/null
    st=$?
    if [ "$st" -ne 0 ]; then ok "sentry exits (status $st)"; else bad "sentry exits non-zero" "status $st"; fi
fi
check_contains "log says why" "level=fatal" "$(cat "$E2E_TMP/sentry-broken.log")"
check "broken Secret left as it was" "$S_RV" "$(rv_of "$BROKEN" secret)"

# ---- 3. SignCertificate with the kubernetes validator -------------------------------------
echo "-- signing (sentry of $CP)"
if sentry_start "$CP" "$E2E_TMP/sentry3.log"; then ok "sentry ready (namespace $CP)"; else bad "sentry ready" "$(tail -n 5 "$E2E_TMP/sentry3.log")"; fi
e2e_namespace_more APP app
e2e_namespace_more OTHER other
for sa in sa1 sa2; do k -n "$APP" create serviceaccount "$sa" >/dev/null; done
k -n "$OTHER" create serviceaccount sa1 >/dev/null
k -n "$CP" create serviceaccount dapr-injector >/dev/null
cat <<EOF | k apply -f - >/dev/null
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: appconfig, namespace: $APP}
spec:
  accessControl: {defaultAction: allow, trustDomain: example.org}
EOF
pod "$APP" pod1 sa1 'dapr.io/enabled: "true"' 'dapr.io/app-id: myapp'
pod "$APP" pod2 sa2 'dapr.io/enabled: "true"' 'dapr.io/app-id: app2'
pod "$APP" pod3 sa1 'dapr.io/enabled: "true"'
pod "$APP" pod4 sa1 'dapr.io/app-id: cfgapp' 'dapr.io/config: appconfig'
pod "$APP" pod5 sa1 'dapr.io/app-id: nocfg' 'dapr.io/config: missing'
pod "$APP" pod6 sa1 'dapr.io/control-plane: injector'
pod "$APP" gone sa1 'dapr.io/app-id: gone'
pod "$OTHER" pod1 sa1 'dapr.io/app-id: myapp'
pod "$CP" dapr-sidecar-injector-0 dapr-injector 'dapr.io/control-plane: injector'
T1=$(token "$APP" sa1 pod1)

out=$(sign "$T1" myapp "$APP" --out-chain "$E2E_TMP/leaf1.pem")
check_contains "pod1's token: certificate for spiffe://public/ns/$APP/myapp" \
    "OK id=spiffe://public/ns/$APP/myapp" "$out"
check "chain verifies to the ConfigMap's ca.crt (openssl)" "$E2E_TMP/leaf1.pem: OK" \
    "$(openssl verify -CAfile "$ANCHORS" -untrusted <(sed -n '/END/,$p' "$E2E_TMP/leaf1.pem" | sed 1d) \
        "$E2E_TMP/leaf1.pem" 2>&1)"
check "the leaf's only SAN is the SPIFFE id" "URI:spiffe://public/ns/$APP/myapp" \
    "$(openssl x509 -noout -ext subjectAltName -in "$E2E_TMP/leaf1.pem" | sed 1d | xargs)"
check_contains "validator UNKNOWN: the default (kubernetes)" "OK id=spiffe://public/ns/$APP/myapp" \
    "$(sign "$T1" myapp "$APP" --validator 0)"
check_contains "audience = sentry's SPIFFE id only (the injector's projected token)" "OK id=" \
    "$(sign "$(token "$APP" sa1 pod1 --audience "$SENTRY_ID")" myapp "$APP")"
check_contains "audience = dapr.io/sentry only (legacy)" "OK id=" \
    "$(sign "$(token "$APP" sa1 pod1 --audience dapr.io/sentry)" myapp "$APP")"
check_contains "no dapr.io/app-id: the pod name is the id" "OK id=spiffe://public/ns/$APP/pod3" \
    "$(sign "$(token "$APP" sa1 pod3)" pod3 "$APP")"
check_contains "dapr.io/config: the Configuration's trust domain" \
    "OK id=spiffe://example.org/ns/$APP/cfgapp" \
    "$(sign "$(token "$APP" sa1 pod4)" cfgapp "$APP" --td example.org)"
out=$(sign "$(token "$CP" dapr-injector dapr-sidecar-injector-0)" dapr-injector "$CP" --td "$TD" \
    --out-chain "$E2E_TMP/injector.pem")
check_contains "control-plane pod: spiffe://$TD/ns/$CP/dapr-injector" \
    "OK id=spiffe://$TD/ns/$CP/dapr-injector" "$out"
check_contains "control-plane pod: DNS SAN dapr-sidecar-injector.$CP.svc" \
    "DNS:dapr-sidecar-injector.$CP.svc" \
    "$(openssl x509 -noout -ext subjectAltName -in "$E2E_TMP/injector.pem" 2>&1)"
out=$(SENTRY_PORT=$BYO_SENTRY_PORT ANCHORS=$E2E_TMP/byo/ca.crt \
    SENTRY_ID=spiffe://$TD/ns/$BYO/dapr-sentry sign "$T1" myapp "$APP" --out-chain "$E2E_TMP/byo.pem")
check_contains "bring-your-own sentry signs" "OK id=spiffe://public/ns/$APP/myapp" "$out"
check "its chain carries the openssl issuer" "$(fp <"$E2E_TMP/byo/issuer.crt")" \
    "$(sed -n '/END/,$p' "$E2E_TMP/byo.pem" | sed 1d | fp)"
out=$(SENTRY_PORT=$MOUNT_SENTRY_PORT ANCHORS=$E2E_TMP/byo/ca.crt \
    SENTRY_ID=spiffe://$TD/ns/$BYO/dapr-sentry sign "$T1" myapp "$APP" --out-chain "$E2E_TMP/byo2.pem")
check_contains "after the reload: signed" "OK id=spiffe://public/ns/$APP/myapp" "$out"
check "... by the new issuer" "$(fp <"$N/issuer.crt")" "$(sed -n '/END/,$p' "$E2E_TMP/byo2.pem" | sed 1d | fp)"
kill "$MOUNT_SENTRY_PID"

echo "-- refusals"
check "another pod's token (pod2: app2)" "$(denied "app-id mismatch. expected: app2, received: myapp")" \
    "$(sign "$(token "$APP" sa2 pod2)" myapp "$APP")"
check "app-id that does not match the pod" "$(denied "app-id mismatch. expected: myapp, received: other")" \
    "$(sign "$T1" other "$APP")"
check "namespace that does not match the token" \
    "$(denied "namespace mismatch; received namespace: $OTHER")" "$(sign "$T1" myapp "$OTHER")"
check "token of $OTHER/sa1 for $APP" "$(denied "namespace mismatch; received namespace: $APP")" \
    "$(sign "$(token "$OTHER" sa1 pod1)" myapp "$APP")"
if tok=$(token "$APP" sa2 pod1 2>/dev/null); then
    # kubelite issues it; a real API server refuses to bind sa2's token to a pod of sa1.
    check "sa2's token bound to pod1 (runs as sa1)" "$(denied "pod service account mismatch")" \
        "$(sign "$tok" myapp "$APP")"
else
    ok "the API server refuses to bind sa2's token to pod1"
fi
check_contains "wrong audience" "$(denied "invalid token: ")" \
    "$(sign "$(token "$APP" sa1 pod1 --audience https://kubernetes.default.svc)" myapp "$APP")"
check_contains "garbage token" "$(denied "invalid token: ")" "$(sign garbage.token.here myapp "$APP")"
IFS=. read -r jh jp js <<<"$T1"
jp2=$(printf '%s' "$jp" | python3 -c '
import base64, sys
s = sys.stdin.read(); d = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
print(base64.urlsafe_b64encode(d.replace(b"\"pod1\"", b"\"pod2\"")).decode().rstrip("="), end="")')
check_contains "token with a changed pod claim (signature no longer valid)" "$(denied "invalid token: ")" \
    "$(sign "$jh.$jp2.$js" app2 "$APP")"
# An empty token is reviewed as upstream does: a real API server answers 400, kubelite reviews it.
if [ "$E2E_KUBELITE" = 1 ]; then
    want=$(denied "invalid token: invalid bearer token")
else
    want=$(denied "token review failed: token is required for TokenReview in authentication")
fi
check "empty token" "$want" "$(sign "" myapp "$APP")"
check "token bound to no pod" \
    "$(denied "kubernetes.io/pod/name claim is missing from Kubernetes token")" \
    "$(sign "$(token "$APP" sa1 "")" myapp "$APP")"
check "dapr.io/config names a missing Configuration" "$(denied "failed to get configuration")" \
    "$(sign "$(token "$APP" sa1 pod5)" nocfg "$APP")"
check "control-plane annotation outside sentry's namespace" \
    "$(denied "control plane service in namespace '$APP' is not allowed")" \
    "$(sign "$(token "$APP" sa1 pod6)" dapr-injector "$APP")"
tok=$(token "$APP" sa1 gone)
k -n "$APP" delete pod gone --wait=true >/dev/null
# kubelite: the pod is not found; a real API server already fails the TokenReview.
check_contains "token of a deleted pod" "ERROR code=PERMISSION_DENIED" "$(sign "$tok" gone "$APP")"
check "insecure validator not enabled in Kubernetes mode" \
    "ERROR code=INVALID_ARGUMENT message=the requested validator is not enabled" \
    "$(sign "$T1" myapp "$APP" --validator 1)"
check_contains "metric: validation failures counted" \
    'dapr_sentry_cert_sign_failure_total{reason="req_id_validation"} 13' \
    "$(curl -s "http://127.0.0.1:$SENTRY_MX/metrics")"

# ---- 4. daprd in Kubernetes mode ----------------------------------------------------------
# daprd_start NAME APP_ID TOKEN_FILE: as the injector starts it (control-plane.md §4.4), with the
# projected token's path in DAPR_SENTRY_TOKEN_FILE (the pod's own path needs root here).
daprd_start() {
    local hp
    hp=$(free_port)
    DAPRD_URL=http://127.0.0.1:$hp
    start_bg "$E2E_TMP/daprd-$1.log" env NAMESPACE="$APP" POD_NAME=pod1 \
        DAPR_TRUST_ANCHORS="$(cat "$ANCHORS")" DAPR_SENTRY_TOKEN_FILE="$3" \
        DAPR_CONTROLPLANE_NAMESPACE="$CP" DAPR_CONTROLPLANE_TRUST_DOMAIN="$TD" \
        KUBECONFIG="$E2E_KUBECONFIG_FILE" \
        "$DAPRD" --mode kubernetes --app-id "$2" --dapr-http-port "$hp" \
        --dapr-grpc-port "$(free_port)" --dapr-internal-grpc-port "$(free_port)" \
        --dapr-public-port "$(free_port)" --dapr-listen-addresses 127.0.0.1 \
        --dapr-internal-grpc-listen-address 127.0.0.1 --enable-metrics=false \
        --sentry-address "127.0.0.1:$SENTRY_PORT" --enable-mtls --log-level debug
    DAPRD_PID=$BG_PID
}
echo "-- daprd --mode kubernetes gets its certificate from this sentry"
mkdir -p "$E2E_TMP/sentrytoken"
# The injector's projected volume: audience = sentry's SPIFFE id, 7200 s, bound to the pod.
token "$APP" sa1 pod1 --audience "$SENTRY_ID" --duration 7200s >"$E2E_TMP/sentrytoken/token"
daprd_start good myapp "$E2E_TMP/sentrytoken/token"
if wait_until 20 curl -sf "$DAPRD_URL/v1.0/healthz/outbound"; then
    ok "daprd ready"
else
    bad "daprd ready" "$(tail -n 10 "$E2E_TMP/daprd-good.log")"
fi
check_contains "daprd holds spiffe://public/ns/$APP/myapp" \
    "mTLS: workload certificate for spiffe://public/ns/$APP/myapp" "$(cat "$E2E_TMP/daprd-good.log")"
kill "$DAPRD_PID"
wait "$DAPRD_PID" 2>/dev/null
daprd_start wrong notmyapp "$E2E_TMP/sentrytoken/token"
if wait_until 20 grep -q 'app-id mismatch. expected: myapp, received: notmyapp' "$E2E_TMP/daprd-wrong.log"; then
    ok "daprd with another app-id is refused (PermissionDenied, upstream's message)"
else
    bad "daprd with another app-id is refused" "$(tail -n 10 "$E2E_TMP/daprd-wrong.log")"
fi
check_contains "the refusal is PERMISSION_DENIED" "PERMISSION_DENIED" "$(grep 'app-id mismatch' "$E2E_TMP/daprd-wrong.log" | head -n 1)"
kill "$DAPRD_PID"
wait "$DAPRD_PID" 2>/dev/null

finish
