#!/usr/bin/env bash
# e2e: the sidecar injector with its certificate from sentry (control-plane.md §4.2), both as
# local processes, against kubelite with the real kubectl.
#   1. sentry in Kubernetes mode for dapr-system bootstraps the trust bundle (ConfigMap ca.crt =
#      the anchors the injector reads from DAPR_TRUST_ANCHORS_FILE).
#   2. The injector runs as the control-plane pod dapr-system/dapr-sidecar-injector-0
#      (dapr.io/control-plane: injector) with a token bound to that pod, and no certificate files:
#      it gets spiffe://cluster.local/ns/dapr-system/dapr-injector with the DNS SAN
#      dapr-sidecar-injector.dapr-system.svc and serves the webhook with it.
#   3. /healthz stays 503 while the MutatingWebhookConfiguration is missing; once it exists (with
#      a caBundle of another CA) the injector patches caBundle to base64(anchors) and turns ready.
#   4. kubelite calls the webhook (failurePolicy Fail) verifying the injector's certificate
#      against the patched caBundle: an annotated Deployment's pod carries daprd.
#   5. A second root appended to the anchors file (a rotation's overlap) reaches the caBundle
#      without a restart, and injection keeps working.
# kubelite only (the API server must reach a local process), as e2e/test_injector.sh.
# shellcheck source=e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INJ=$ROOT/build/bin/injector
SENTRY=$ROOT/build/bin/sentry
CP=dapr-system
TD=cluster.local
SVC=dapr-sidecar-injector.$CP.svc
SENTRY_ID=spiffe://$TD/ns/$CP/dapr-sentry

if [ -n "${E2E_KUBECONFIG:-${KUBECONFIG:-}}" ]; then
    echo "test_injector_sentry: skipped (needs the private kubelite to reach a local webhook)"
    finish
    exit $?
fi
for b in "$INJ" "$SENTRY"; do
    [ -x "$b" ] || { echo "e2e: $b missing (make)" >&2; exit 2; }
done

INJ_PORT=$(free_port)
HZ_PORT=$(free_port)
SENTRY_PORT=$(free_port)
SENTRY_HZ=$(free_port)
E2E_KUBELITE_ARGS=(--resolve "$SVC:443=127.0.0.1:$INJ_PORT")
e2e_setup
k apply -f "$ROOT/crds/" >/dev/null
k create namespace "$CP" >/dev/null

echo "-- sentry (Kubernetes mode, namespace $CP)"
start_bg "$E2E_TMP/sentry.log" env NAMESPACE="$CP" "$SENTRY" --mode kubernetes \
    --kubeconfig "$E2E_KUBECONFIG_FILE" --trust-domain "$TD" \
    --port "$SENTRY_PORT" --listen-address 127.0.0.1 \
    --healthz-port "$SENTRY_HZ" --healthz-listen-address 127.0.0.1 --enable-metrics=false \
    --issuer-credentials "$E2E_TMP/no-credentials"
if wait_until 20 curl -sf "http://127.0.0.1:$SENTRY_HZ/healthz"; then
    ok "sentry ready"
else
    bad "sentry ready" "$(tail -n 20 "$E2E_TMP/sentry.log")"
    finish
    exit 1
fi
ANCHORS=$E2E_TMP/anchors.pem
k -n "$CP" get configmap dapr-trust-bundle -o jsonpath='{.data.ca\.crt}' >"$ANCHORS"
check_contains "anchors from the ConfigMap dapr-trust-bundle" "BEGIN CERTIFICATE" "$(cat "$ANCHORS")"

echo "-- the injector as the control-plane pod $CP/dapr-sidecar-injector-0"
k -n "$CP" create serviceaccount dapr-injector >/dev/null
cat <<EOF2 | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata:
  name: dapr-sidecar-injector-0
  namespace: $CP
  annotations: {dapr.io/control-plane: injector}
spec:
  serviceAccountName: dapr-injector
  containers:
  - {name: dapr-sidecar-injector, image: registry.example/injector:1}
EOF2
# The projected token of the injector's pod: audience = sentry's SPIFFE id, bound to the pod.
k -n "$CP" create token dapr-injector --duration 1h --audience "$SENTRY_ID" \
    --bound-object-kind Pod --bound-object-name dapr-sidecar-injector-0 >"$E2E_TMP/token"
start_bg "$E2E_TMP/injector.log" env SIDECAR_IMAGE=ghcr.io/dapr/daprd:e2e NAMESPACE="$CP" \
    KUBE_CLUSTER_DOMAIN=cluster.local DAPR_SENTRY_ADDRESS="127.0.0.1:$SENTRY_PORT" \
    DAPR_TRUST_ANCHORS_FILE="$ANCHORS" DAPR_CONTROL_PLANE_TRUST_DOMAIN="$TD" \
    DAPR_SENTRY_TOKEN_FILE="$E2E_TMP/token" \
    "$INJ" --port "$INJ_PORT" --listen-address 127.0.0.1 \
    --healthz-port "$HZ_PORT" --healthz-listen-address 127.0.0.1 --enable-metrics=false \
    --kubeconfig "$E2E_KUBECONFIG_FILE" --log-level debug
INJ_PID=$BG_PID
webhook_up() { grep -q "Sidecar injector is listening" "$E2E_TMP/injector.log"; }
if wait_until 30 webhook_up; then
    ok "injector got its certificate from sentry and listens"
else
    bad "injector listens" "$(tail -n 20 "$E2E_TMP/injector.log")"
    finish
    exit 1
fi
check_contains "its id: spiffe://$TD/ns/$CP/dapr-injector" \
    "webhook identity: workload certificate for spiffe://$TD/ns/$CP/dapr-injector" \
    "$(cat "$E2E_TMP/injector.log")"
# served: the chain the webhook presents, verified against the anchors for the service name.
served() {
    openssl s_client -connect "127.0.0.1:$INJ_PORT" -servername "$SVC" -showcerts </dev/null \
        2>/dev/null | sed -n '/BEGIN CERT/,/END CERT/p'
}
served >"$E2E_TMP/served.pem"
check_contains "served certificate: the SPIFFE id and the DNS SAN $SVC" \
    "URI:spiffe://$TD/ns/$CP/dapr-injector, DNS:$SVC" \
    "$(openssl x509 -noout -ext subjectAltName -in "$E2E_TMP/served.pem" 2>&1)"
mutate_ok() {
    curl -sf --cacert "$1" --resolve "$SVC:$INJ_PORT:127.0.0.1" -o /dev/null \
        -H 'Content-Type: application/json' --data '{}' "https://$SVC:$INJ_PORT/mutate"
}
check_cmd "webhook answers over TLS verified by the anchors for $SVC" mutate_ok "$ANCHORS"

echo "-- readiness waits for the caBundle"
hz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HZ_PORT/healthz"; }
patch_retrying() { grep -q "caBundle of MutatingWebhookConfiguration dapr-sidecar-injector.*retrying" "$E2E_TMP/injector.log"; }
if wait_until 20 patch_retrying; then ok "no webhook configuration yet: the patch is retried"; else
    bad "patch retried" "$(tail -n 5 "$E2E_TMP/injector.log")"
fi
check "/healthz 503 before the caBundle is set" 503 "$(hz)"
bash "$KUBELITE_DIR/mkcerts.sh" "$E2E_TMP/other" >/dev/null 2>&1
cat >"$E2E_TMP/mwc.yaml" <<EOF2
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: dapr-sidecar-injector
  labels: {app: dapr-sidecar-injector}
webhooks:
- name: sidecar-injector.dapr.io
  clientConfig:
    service: {name: dapr-sidecar-injector, namespace: $CP, path: /mutate}
    caBundle: $(base64 -w0 "$E2E_TMP/other/ca.crt")
  rules:
  - {apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
EOF2
k create -f "$E2E_TMP/mwc.yaml" >/dev/null
hz_ok() { [ "$(hz)" = 200 ]; }
if wait_until 20 hz_ok; then ok "/healthz 200 once the caBundle is patched"; else
    bad "/healthz 200" "$(tail -n 5 "$E2E_TMP/injector.log")"
fi
cabundle() { k get mutatingwebhookconfiguration dapr-sidecar-injector -o jsonpath='{.webhooks[0].clientConfig.caBundle}'; }
check "caBundle = base64(anchors)" "$(base64 -w0 "$ANCHORS")" "$(cabundle)"
check "the rest of the webhook kept (service, failurePolicy)" "dapr-sidecar-injector Fail" \
    "$(k get mutatingwebhookconfiguration dapr-sidecar-injector \
        -o jsonpath='{.webhooks[0].clientConfig.service.name} {.webhooks[0].failurePolicy}')"

echo "-- injection through kubelite, verified by the patched caBundle"
e2e_namespace inj
# deploy NAME: a one-replica annotated Deployment.
deploy() {
    cat <<EOF2 | k apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $E2E_NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata:
      labels: {app: $1}
      annotations: {dapr.io/enabled: "true", dapr.io/app-id: $1}
    spec:
      containers:
      - {name: app, image: registry.example/app:1}
EOF2
}
containers() { k get pods -n "$E2E_NS" -l "app=$1" -o jsonpath='{.items[0].spec.containers[*].name}' 2>/dev/null; }
injected() { [ "$(containers "$1")" = "app daprd" ]; }
deploy app1
if wait_until 30 injected app1; then ok "app1's pod carries daprd"; else
    bad "app1's pod carries daprd" "containers: $(containers app1)" "$(tail -n 5 "$E2E_TMP/injector.log")"
fi
check "daprd gets the anchors (DAPR_TRUST_ANCHORS)" "$(cat "$ANCHORS")" \
    "$(k get pods -n "$E2E_NS" -l app=app1 -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)["items"][0]["spec"]["containers"]
print(next(e.get("value", "") for c in d if c["name"] == "daprd" for e in c.get("env", []) if e["name"] == "DAPR_TRUST_ANCHORS"))')"

echo "-- a second root in the anchors file reaches the caBundle without a restart"
cat "$ANCHORS" "$E2E_TMP/other/ca.crt" >"$E2E_TMP/anchors.new"
mv "$E2E_TMP/anchors.new" "$ANCHORS"
want=$(base64 -w0 "$ANCHORS")
cabundle_is_new() { [ "$(cabundle)" = "$want" ]; }
if wait_until 20 cabundle_is_new; then ok "caBundle = base64(both roots)"; else
    bad "caBundle updated" "$(tail -n 5 "$E2E_TMP/injector.log")"
fi
deploy app2
if wait_until 30 injected app2; then ok "app2's pod carries daprd after the anchors change"; else
    bad "app2 injected" "containers: $(containers app2)" "$(tail -n 5 "$E2E_TMP/injector.log")"
fi
check "injector still the same process" "yes" "$(kill -0 "$INJ_PID" 2>/dev/null && echo yes)"

finish
