#!/usr/bin/env bash
# e2e: the sidecar injector (build/bin/injector) as a local process behind a
# MutatingWebhookConfiguration, with the real kubectl against kubelite.
#   1. Certificates for dapr-sidecar-injector.dapr-system.svc (kubelite's mkcerts.sh: a throwaway
#      CA and a leaf with that DNS SAN); the injector serves HTTPS with them on a free port;
#      kubelite is started with --resolve so that the webhook service reaches that port.
#   2. The MutatingWebhookConfiguration `dapr-sidecar-injector` as upstream's chart has it
#      (service dapr-sidecar-injector/dapr-system path /mutate, pods CREATE, failurePolicy
#      Ignore, sideEffects None), caBundle = our CA.
#   3. Annotated Deployments: their pods carry daprd exactly as expected (e2e/injcheck.py), for
#      the defaults and for a matrix of annotations; an unannotated Deployment gets nothing.
#   4. Requesters: a pod created by a user outside the allowed list (kubectl --as=someuser)
#      gets nothing; one created by an admin (group system:masters) is injected, as upstream.
#   5. Bad annotation values: a sidecar with the defaults, and kubectl shows the warnings.
#   6. Configuration daprsystem with mtls.enabled=false (watched by the injector) drops
#      --enable-mtls from new pods.
#   7. Metrics (upstream's names) and /healthz.
#   8. TLS: with failurePolicy Fail, a caBundle that does not verify the injector's certificate
#      makes pod creation fail, ours makes it succeed; then the certificate files are replaced
#      by a pair from another CA and the injector serves it without a restart.
# kubelite only: on another cluster (E2E_KUBECONFIG) the API server cannot reach a local
# process, so the test is skipped there.
# shellcheck source=e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INJ=$ROOT/build/bin/injector
CHECK=(python3 "$E2E_DIR/injcheck.py")
SVC=dapr-sidecar-injector.dapr-system.svc

if [ -n "${E2E_KUBECONFIG:-${KUBECONFIG:-}}" ]; then
    echo "test_injector: skipped (needs the private kubelite to reach a local webhook)"
    finish
    exit $?
fi
[ -x "$INJ" ] || { echo "e2e: $INJ missing (make)" >&2; exit 2; }

INJ_PORT=$(free_port)
HZ_PORT=$(free_port)
MX_PORT=$(free_port)
E2E_KUBELITE_ARGS=(--resolve "$SVC:443=127.0.0.1:$INJ_PORT")
e2e_setup

echo "-- certificates and the injector"
bash "$KUBELITE_DIR/mkcerts.sh" "$E2E_TMP/ca1" >/dev/null 2>&1
bash "$KUBELITE_DIR/mkcerts.sh" "$E2E_TMP/ca2" >/dev/null 2>&1
mkdir -p "$E2E_TMP/tls"
cp "$E2E_TMP/ca1/webhook.crt" "$E2E_TMP/tls/tls.crt"
cp "$E2E_TMP/ca1/webhook.key" "$E2E_TMP/tls/tls.key"

k apply -f "$ROOT/crds/" >/dev/null
k create namespace dapr-system >/dev/null
start_bg "$E2E_TMP/injector.log" env SIDECAR_IMAGE=ghcr.io/dapr/daprd:e2e NAMESPACE=dapr-system \
    KUBE_CLUSTER_DOMAIN=cluster.local "$INJ" --port "$INJ_PORT" --listen-address 127.0.0.1 \
    --healthz-port "$HZ_PORT" --healthz-listen-address 127.0.0.1 --metrics-port "$MX_PORT" \
    --metrics-listen-address 127.0.0.1 --kubeconfig "$E2E_KUBECONFIG_FILE" \
    --tls-cert-file "$E2E_TMP/tls/tls.crt" --tls-key-file "$E2E_TMP/tls/tls.key" --log-level debug
INJ_PID=$BG_PID
if wait_until 20 curl -sf "http://127.0.0.1:$HZ_PORT/healthz"; then
    ok "injector ready (/healthz 200)"
else
    bad "injector ready" "$(tail -n 20 "$E2E_TMP/injector.log")"
    finish
    exit 1
fi
check_cmd "webhook answers over TLS verified by the CA, SAN $SVC" \
    curl -sf --cacert "$E2E_TMP/ca1/ca.crt" --resolve "$SVC:$INJ_PORT:127.0.0.1" \
    -o /dev/null -H 'Content-Type: application/json' --data '{}' "https://$SVC:$INJ_PORT/mutate"
check "wrong Content-Type: 415" 415 "$(curl -s -o /dev/null -w '%{http_code}' \
    --cacert "$E2E_TMP/ca1/ca.crt" --resolve "$SVC:$INJ_PORT:127.0.0.1" \
    -H 'Content-Type: text/plain' --data '{}' "https://$SVC:$INJ_PORT/mutate")"

# mwc CA_FILE POLICY: apply the webhook configuration (upstream chart's shape).
mwc() {
    cat >"$E2E_TMP/mwc.yaml" <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: dapr-sidecar-injector
  labels: {app: dapr-sidecar-injector}
webhooks:
- name: sidecar-injector.dapr.io
  clientConfig:
    service: {name: dapr-sidecar-injector, namespace: dapr-system, path: /mutate}
    caBundle: $(base64 -w0 "$1")
  rules:
  - {apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}
  failurePolicy: $2
  sideEffects: None
  admissionReviewVersions: [v1]
  reinvocationPolicy: IfNeeded
EOF
    # Replaced whole (PUT), not applied: kubelite's strategic merge patch of `webhooks` (merge key
    # name) drops the unchanged fields of the entry (rules, service), which a real API server keeps.
    if k get mutatingwebhookconfiguration dapr-sidecar-injector >/dev/null 2>&1; then
        k replace -f "$E2E_TMP/mwc.yaml" >/dev/null
    else
        k create -f "$E2E_TMP/mwc.yaml" >/dev/null
    fi
}
mwc "$E2E_TMP/ca1/ca.crt" Ignore
ok "MutatingWebhookConfiguration dapr-sidecar-injector applied"
e2e_namespace inj

# deploy NAME ANNOTATIONS_YAML [EXTRA_POD_SPEC_YAML]: a one-replica Deployment of app NAME.
deploy() {
    cat >"$E2E_TMP/deploy-$1.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $E2E_NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata:
      labels: {app: $1}
      annotations:
$2
    spec:
      containers:
      - name: app
        image: registry.example/app:1
${3:-}
EOF
    k apply -f "$E2E_TMP/deploy-$1.yaml" >/dev/null
}
pod_exists() { [ "$(k get pods -n "$E2E_NS" -l "app=$1" -o name | wc -l)" -ge 1 ]; }
# pod_check NAME CASE: wait for the Deployment's pod, then check it.
pod_check() {
    local out
    if ! wait_until 30 pod_exists "$1"; then
        bad "$1: pod created" "no pod for app=$1"
        return
    fi
    k get pods -n "$E2E_NS" -l "app=$1" -o json >"$E2E_TMP/pod-$1.json"
    if out=$("${CHECK[@]}" "$2" "$E2E_TMP/pod-$1.json"); then
        ok "$1: $2"
    else
        bad "$1: $2" "$out"
    fi
}

echo "-- Deployments"
deploy plain '        dapr.io/enabled: "true"
        dapr.io/app-id: plain'
deploy full '        dapr.io/enabled: "true"
        dapr.io/app-id: full
        dapr.io/app-port: "8080"
        dapr.io/app-protocol: grpc
        dapr.io/config: appconfig
        dapr.io/log-level: debug
        dapr.io/sidecar-cpu-limit: 500m
        dapr.io/sidecar-memory-limit: 256Mi
        dapr.io/sidecar-cpu-request: 100m
        dapr.io/sidecar-memory-request: 64Mi
        dapr.io/env: FOO=bar,BAZ=qux
        dapr.io/volume-mounts: cfg:/mnt/cfg
        dapr.io/volume-mounts-rw: data:/mnt/data
        dapr.io/unix-domain-socket-path: /tmp/dapr
        dapr.io/sidecar-listen-addresses: 0.0.0.0
        dapr.io/graceful-shutdown-seconds: "7"
        dapr.io/placement-host-address: my-placement.elsewhere:50005' \
    '      volumes:
      - {name: cfg, emptyDir: {}}
      - {name: data, emptyDir: {}}'
deploy unannotated '        example.com/other: "x"'
deploy disabled '        dapr.io/enabled: "false"
        dapr.io/app-id: disabled'
pod_check plain defaults
pod_check full full
pod_check unannotated none
pod_check disabled none

echo "-- requesters"
run_pod() { # NAME [kubectl args...]: a bare annotated pod
    local name=$1
    shift
    k run "$name" -n "$E2E_NS" --image=registry.example/app:1 --restart=Never \
        --annotations=dapr.io/enabled=true --annotations="dapr.io/app-id=$name" "$@"
}
run_pod byuser --as=someuser >/dev/null 2>&1
k get pod byuser -n "$E2E_NS" -o json >"$E2E_TMP/pod-byuser.json" 2>/dev/null
check_cmd "pod created by someuser (not allowed): no sidecar" \
    "${CHECK[@]}" none "$E2E_TMP/pod-byuser.json"
run_pod bysa --as=system:serviceaccount:default:builder >/dev/null 2>&1
k get pod bysa -n "$E2E_NS" -o json >"$E2E_TMP/pod-bysa.json" 2>/dev/null
check_cmd "pod created by an unlisted service account: no sidecar" \
    "${CHECK[@]}" none "$E2E_TMP/pod-bysa.json"
run_pod byadmin >/dev/null 2>&1
k get pod byadmin -n "$E2E_NS" -o json >"$E2E_TMP/pod-byadmin.json" 2>/dev/null
check "pod created by an admin (system:masters): injected" \
    "byadmin daprd" "$(json_get "$(cat "$E2E_TMP/pod-byadmin.json")" \
    '" ".join([d["metadata"]["labels"].get("dapr.io/app-id","-")] + [c["name"] for c in d["spec"]["containers"] if c["name"]=="daprd"])')"
check "pod created by the replicaset controller path: injected" "true" \
    "$(json_get "$(cat "$E2E_TMP/pod-plain.json")" \
    'str(any(c["name"]=="daprd" for c in d["items"][0]["spec"]["containers"])).lower()')"

echo "-- bad annotation values"
out=$(run_pod badvals --annotations=dapr.io/app-port=abc \
    --annotations=dapr.io/sidecar-cpu-limit=lots --annotations=dapr.io/sidecar-memory-limit=128Mi \
    --annotations=dapr.io/app-protocol=carrier-pigeon --annotations=dapr.io/log-level=loud 2>&1)
k get pod badvals -n "$E2E_NS" -o json >"$E2E_TMP/pod-badvals.json" 2>/dev/null
check_cmd "bad values: sidecar with the defaults" "${CHECK[@]}" bad-values "$E2E_TMP/pod-badvals.json"
check_contains "kubectl shows the app-port warning" "Warning: annotation dapr.io/app-port" "$out"
check_contains "kubectl shows the cpu-limit warning" "dapr.io/sidecar-cpu-limit" "$out"
check_contains "kubectl shows the app-protocol warning" "dapr.io/app-protocol" "$out"
out=$(run_pod badid --annotations=dapr.io/app-id=Not_Valid 2>&1)
check_contains "invalid app ID: pod rejected with the reason" "denied the request" "$out"

echo "-- Configuration daprsystem: mTLS off"
cat >"$E2E_TMP/daprsystem.yaml" <<EOF
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: daprsystem, namespace: dapr-system}
spec:
  mtls: {enabled: false}
EOF
k apply -f "$E2E_TMP/daprsystem.yaml" >/dev/null
no_mtls() {
    k run nomtls -n "$E2E_NS" --image=registry.example/app:1 --restart=Never \
        --annotations=dapr.io/enabled=true --annotations=dapr.io/app-id=nomtls \
        --dry-run=server -o json >"$E2E_TMP/pod-nomtls.json" 2>/dev/null &&
        "${CHECK[@]}" defaults-no-mtls "$E2E_TMP/pod-nomtls.json"
}
if wait_until 20 no_mtls; then ok "mtls.enabled=false: no --enable-mtls"; else
    bad "mtls.enabled=false: no --enable-mtls" "$("${CHECK[@]}" defaults-no-mtls "$E2E_TMP/pod-nomtls.json")"
fi
k delete -f "$E2E_TMP/daprsystem.yaml" >/dev/null

echo "-- metrics and health"
m=$(curl -s "http://127.0.0.1:$MX_PORT/metrics")
check_contains "requests_total" "dapr_injector_sidecar_injection_requests_total " "$m"
check_contains "succeeded_total for app full" \
    'dapr_injector_sidecar_injection_succeeded_total{app_id="full"} 1' "$m"
check_contains "failed_total reason pod_patch for the unauthorized pod" \
    'dapr_injector_sidecar_injection_failed_total{app_id="byuser",reason="pod_patch"} 1' "$m"
check_contains "failed_total reason patch for the invalid app ID" \
    'dapr_injector_sidecar_injection_failed_total{app_id="Not_Valid",reason="patch"} 1' "$m"

echo "-- TLS: caBundle and certificate reload"
mwc "$E2E_TMP/ca2/ca.crt" Fail
if ! out=$(run_pod wrongca 2>&1) && [[ $out == *"failed calling webhook"* ]]; then
    ok "caBundle of another CA + failurePolicy Fail: pod creation fails"
else
    bad "caBundle of another CA + failurePolicy Fail: pod creation fails" "${out:0:400}"
fi
mwc "$E2E_TMP/ca1/ca.crt" Fail
out=$(run_pod rightca 2>&1)
check_contains "our CA + failurePolicy Fail: pod created" "pod/rightca created" "$out"
# Rotate: the files get a pair from CA 2, the webhook configuration trusts CA 2 only.
cp "$E2E_TMP/ca2/webhook.key" "$E2E_TMP/tls/tls.key.new"
cp "$E2E_TMP/ca2/webhook.crt" "$E2E_TMP/tls/tls.crt.new"
mv "$E2E_TMP/tls/tls.crt.new" "$E2E_TMP/tls/tls.crt"
mv "$E2E_TMP/tls/tls.key.new" "$E2E_TMP/tls/tls.key"
served_by_ca2() {
    curl -sf --cacert "$E2E_TMP/ca2/ca.crt" --resolve "$SVC:$INJ_PORT:127.0.0.1" -o /dev/null \
        -H 'Content-Type: application/json' --data '{}' "https://$SVC:$INJ_PORT/mutate"
}
if wait_until 10 served_by_ca2; then ok "rotated certificate served without a restart"; else
    bad "rotated certificate served without a restart" "$(tail -n 5 "$E2E_TMP/injector.log")"
fi
mwc "$E2E_TMP/ca2/ca.crt" Fail
out=$(run_pod rotated 2>&1)
check_contains "after rotation: pod created through the webhook" "pod/rotated created" "$out"
k get pod rotated -n "$E2E_NS" -o json >"$E2E_TMP/pod-rotated.json" 2>/dev/null
check "after rotation: injected" "rotated" "$(json_get "$(cat "$E2E_TMP/pod-rotated.json")" \
    'd["metadata"]["labels"].get("dapr.io/app-id","-")')"
check "injector still the same process" "yes" "$(kill -0 "$INJ_PID" 2>/dev/null && echo yes)"

finish
