#!/usr/bin/env bash
# Injector figures (issue 5): AdmissionReviews over TLS at 50 concurrent requests, p50/p99
# latency next to the target p99 <= 2 ms; idle resident memory (RSS, anon, PSS) next to
# upstream's 14-17 MB (performance.md §1.2) and the target <= 3 MB.
# Load: bench/injload.c (built here; OpenSSL, one keep-alive TLS connection per client thread,
# closed loop), since no HTTP load tool is among the project's Debian dependencies. The injector
# runs without Kubernetes access (mTLS default), with an EC P-256 certificate made by openssl.
# Client and server share this machine's cores, so the latency includes the client's own CPU.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib.sh
source tests/lib.sh
IDLE_SECS=${BENCH_IDLE_SECS:-5}
REQUESTS=${BENCH_INJ_REQUESTS:-20000}
CONC=${BENCH_INJ_CONC:-50}
SVC=dapr-sidecar-injector.dapr-system.svc

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }

LOAD=$ROOT/build/bench/injload
mkdir -p "$(dirname "$LOAD")"
# shellcheck disable=SC2046  # pkg-config output is a word list
cc -O2 -o "$LOAD" bench/injload.c $(pkg-config --cflags --libs openssl) -lpthread ||
    { echo "injector bench: cannot build injload"; exit 1; }

# Certificates: a CA and a leaf for the webhook service name.
C=$T_TMP/certs
mkdir -p "$C"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
    -keyout "$C/ca.key" -out "$C/ca.crt" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$SVC" \
    -keyout "$C/tls.key" -out "$C/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$SVC" >"$C/ext"
openssl x509 -req -in "$C/tls.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial -days 1 \
    -extfile "$C/ext" -out "$C/tls.crt" 2>/dev/null

# A realistic review: a Deployment's pod (generateName, service-account volume, a few
# annotations) created by the replicaset controller.
python3 - "$T_TMP/review.json" <<'EOF'
import json, sys
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"generateName": "web-7d9f8b6c4-", "namespace": "apps",
                    "labels": {"app": "web", "pod-template-hash": "7d9f8b6c4"},
                    "annotations": {"dapr.io/enabled": "true", "dapr.io/app-id": "web",
                                    "dapr.io/app-port": "8080", "dapr.io/log-level": "debug",
                                    "dapr.io/sidecar-cpu-limit": "500m",
                                    "dapr.io/env": "FOO=bar,BAZ=qux"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                         "name": "web-7d9f8b6c4", "uid": "3f0e", "controller": True}]},
       "spec": {"containers": [{"name": "web", "image": "registry.example/web:1.4.2",
                                "ports": [{"containerPort": 8080}],
                                "volumeMounts": [{"name": "kube-api-access-x1", "readOnly": True,
                                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
                "serviceAccountName": "default",
                "volumes": [{"name": "kube-api-access-x1", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]}}
review = {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
          "request": {"uid": "0c5f4d3e-1b2a-4c3d-9e8f-7a6b5c4d3e2f",
                      "kind": {"group": "", "version": "v1", "kind": "Pod"},
                      "resource": {"group": "", "version": "v1", "resource": "pods"},
                      "namespace": "apps", "operation": "CREATE",
                      "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                                   "uid": "a1", "groups": ["system:serviceaccounts",
                                                           "system:serviceaccounts:kube-system",
                                                           "system:authenticated"]},
                      "object": pod, "oldObject": None, "dryRun": False,
                      "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}}}
open(sys.argv[1], "w").write(json.dumps(review))
EOF

PORT=$(free_port)
HZ=$(free_port)
MX=$(free_port)
start_bg "$T_TMP/injector.log" env HOME=/nonexistent KUBECONFIG= SIDECAR_IMAGE=ghcr.io/dapr/daprd:1.18.3 \
    NAMESPACE=dapr-system "$BIN/injector" --port "$PORT" --listen-address 127.0.0.1 \
    --healthz-port "$HZ" --healthz-listen-address 127.0.0.1 --metrics-port "$MX" \
    --metrics-listen-address 127.0.0.1 --tls-cert-file "$C/tls.crt" --tls-key-file "$C/tls.key" \
    --log-level warn
PID=$BG_PID
wait_http "http://127.0.0.1:$HZ/healthz" 10 || { echo "injector did not start"; cat "$T_TMP/injector.log"; exit 1; }

echo "== injector: idle memory (idle ${IDLE_SECS}s after one review; upstream 14-17 MB, performance.md §1.2)"
"$LOAD" 127.0.0.1 "$PORT" "$SVC" "$C/ca.crt" "$T_TMP/review.json" 1 1 >/dev/null
sleep "$IDLE_SECS"
k=$(rss_kb "$PID")
printf '%-30s idle RSS %5s MB (anon %s, PSS %s)  upstream 14-17 MB  target <= 3 MB\n' \
    "injector" "$(mb "$k")" "$(mb "$(anon_kb "$PID")")" "$(mb "$(pss_kb "$PID")")"

RATE=${BENCH_INJ_RATE:-2000}
# A review the injector answers without a patch (another kind): TLS + HTTP + JSON parse only.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["request"]["kind"]["kind"]="ConfigMap"; open(sys.argv[2],"w").write(json.dumps(d))' \
    "$T_TMP/review.json" "$T_TMP/review-noop.json"
load() { # LABEL BODY CONC REQUESTS RATE
    local out p50 p99
    out=$("$LOAD" 127.0.0.1 "$PORT" "$SVC" "$C/ca.crt" "$2" "$3" "$4" "$5")
    p50=$(sed -E 's/.*p50=([0-9.]+).*/\1/' <<<"$out")
    p99=$(sed -E 's/.*p99=([0-9.]+).*/\1/' <<<"$out")
    printf '%-50s p50 %6s ms  p99 %6s ms  (%s)  target p99 <= 2 ms: %s\n' "$1" "$p50" "$p99" \
        "$(sed -E 's/ p50=.*//' <<<"$out")" \
        "$(awk -v p="$p99" 'BEGIN { print (p <= 2.0) ? "met" : "MISSED" }')"
}
echo "== injector: AdmissionReviews over TLS (POST /mutate, keep-alive connections; 2 cores shared with the client)"
load "pod review, c=$CONC, as fast as possible" "$T_TMP/review.json" "$CONC" "$REQUESTS" 0
load "pod review, c=$CONC, paced at $RATE req/s" "$T_TMP/review.json" "$CONC" "$((RATE * 5))" "$RATE"
load "pod review, c=1 (service time)" "$T_TMP/review.json" 1 2000 0
load "floor: non-Pod review, c=$CONC, as fast as possible" "$T_TMP/review-noop.json" "$CONC" "$REQUESTS" 0
k2=$(rss_kb "$PID")
printf '%-30s RSS after load %5s MB (anon %s)\n' "injector" "$(mb "$k2")" "$(mb "$(anon_kb "$PID")")"
kill "$PID"
wait "$PID" 2>/dev/null
