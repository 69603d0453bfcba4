#!/usr/bin/env bash
# sentry end to end: build/bin/sentry on free ports with a temporary credentials folder, and
# build/bin/sentryctl as the client (TLS verified against the anchors and sentry's SPIFFE id).
source "$(dirname "$0")/../lib.sh"

SENTRY=$BIN/sentry
CTL=$BIN/sentryctl
CREDS=$T_TMP/creds
GP=$(free_port) HP=$(free_port) MP=$(free_port)

start_sentry() { # extra args...
  start_bg "$T_TMP/sentry.log" "$SENTRY" --issuer-credentials "$CREDS" --port "$GP" \
    --healthz-port "$HP" --metrics-port "$MP" --listen-address 127.0.0.1 \
    --healthz-listen-address 127.0.0.1 --metrics-listen-address 127.0.0.1 \
    --config "$T_TMP/config.yaml" "$@"
  SENTRY_PID=$BG_PID
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/healthz")" = 200 ] && return 0
    sleep 0.05
  done
  echo "sentry did not become healthy"; cat "$T_TMP/sentry.log"; return 1
}
stop_sentry() { kill "$SENTRY_PID"; wait_exit "$SENTRY_PID" 10; }
sign() { "$CTL" sign --address "127.0.0.1:$GP" --anchors "$CREDS/ca.crt" "$@"; }
fp() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }

cat >"$T_TMP/config.yaml" <<'EOF'
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: daprsystem
spec:
  mtls:
    enabled: true
    workloadCertTTL: 2h
    allowedClockSkew: 10m
EOF

echo "== bootstrap (self-hosted: generate and store)"
start_sentry || exit 1
for f in ca.crt issuer.crt issuer.key; do
  [ -s "$CREDS/$f" ] && ok "$f stored" || bad "$f stored"
done
check "issuer.key mode 0600" 600 "$(stat -c %a "$CREDS/issuer.key")"
check "issuer verifies to ca.crt" "$CREDS/issuer.crt: OK" "$(openssl verify -CAfile "$CREDS/ca.crt" "$CREDS/issuer.crt" 2>&1)"
ROOT1=$(fp "$CREDS/ca.crt")

echo "== SignCertificate"
out=$(sign --id myapp --ns prod --out-chain "$T_TMP/chain.pem" --out-key "$T_TMP/leaf.key")
check_contains "P-256 CSR signed, chain verifies, SPIFFE id" "OK id=spiffe://public/ns/prod/myapp" "$out"
line=$(echo "$out" | grep '^OK')
nb=$(echo "$line" | sed -E 's/.*not_before=([0-9]+).*/\1/'); na=$(echo "$line" | sed -E 's/.*not_after=([0-9]+).*/\1/')
now=$(echo "$line" | sed -E 's/.* now=([0-9]+).*/\1/')
check "TTL from workloadCertTTL (2h) + back-dating (10m)" 7800 "$((na - nb))"
d=$((now - nb)); [ "$d" -ge 599 ] && [ "$d" -le 602 ] && ok "NotBefore back-dated by allowedClockSkew" || bad "NotBefore back-dated" "now-nb=$d"
leaf=$(openssl x509 -noout -text -in "$T_TMP/chain.pem")
check_contains "leaf: empty subject, URI SAN" "URI:spiffe://public/ns/prod/myapp" "$leaf"
check_contains "leaf: client+server auth" "TLS Web Server Authentication, TLS Web Client Authentication" "$leaf"
check "openssl verify (leaf + issuer, anchors)" "$T_TMP/chain.pem: OK" \
  "$(openssl verify -CAfile "$CREDS/ca.crt" -untrusted <(sed -n '/END/,$p' "$T_TMP/chain.pem" | sed 1d) "$T_TMP/chain.pem" 2>&1)"
check_contains "trust domain from the request" "OK id=spiffe://example.org/ns/default/a" "$(sign --id a --td example.org)"
check_contains "Ed25519 CSR" "OK id=" "$(sign --id a --key ed25519)"
check_contains "RSA-2048 CSR" "OK id=" "$(sign --id a --key rsa)"

echo "== errors"
head -c 300 /dev/urandom >"$T_TMP/garbage"
check_contains "garbage CSR -> InvalidArgument" "ERROR code=INVALID_ARGUMENT" "$(sign --id a --csr-file "$T_TMP/garbage")"
check_contains "id with a dot -> PermissionDenied" "ERROR code=PERMISSION_DENIED" "$(sign --id a.b)"
check_contains "no namespace -> PermissionDenied" "ERROR code=PERMISSION_DENIED" "$(sign --id a --ns '')"
check_contains "kubernetes validator not enabled -> InvalidArgument" "ERROR code=INVALID_ARGUMENT" "$(sign --id a --validator 2)"
check_contains "wrong sentry SPIFFE id -> TLS refused" "ERROR code=UNAVAILABLE" \
  "$(sign --id a --sentry-id spiffe://other/ns/default/dapr-sentry 2>/dev/null)"

echo "== metrics and health"
m=$(curl -s "http://127.0.0.1:$MP/metrics")
check_contains "request_received_total" "dapr_sentry_cert_sign_request_received_total 8" "$m"
check_contains "success_total" "dapr_sentry_cert_sign_success_total 4" "$m"
check_contains "failure_total{reason=cert_parse}" 'dapr_sentry_cert_sign_failure_total{reason="cert_parse"} 1' "$m"
check_contains "issuercert_expiry_timestamp" "dapr_sentry_issuercert_expiry_timestamp 1" "$m"
check "healthz" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/healthz")"

echo "== restart with the same folder"
stop_sentry
check "clean exit on SIGTERM" 0 "$WAIT_RC"
start_sentry || exit 1
check "same root after restart" "$ROOT1" "$(fp "$CREDS/ca.crt")"
check_contains "signing after restart" "OK id=" "$(sign --id a)"

echo "== issuer rotation without restart"
N=$T_TMP/new
mkdir -p "$N"
openssl ecparam -name prime256v1 -genkey -noout -out "$N/root.key" 2>/dev/null
openssl req -x509 -new -key "$N/root.key" -subj "/O=localhost" -days 30 -out "$N/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$N/issuer.key"
openssl req -new -key "$N/issuer.key" -subj "/O=rotated-issuer" -out "$N/issuer.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n' >"$N/ext"
openssl x509 -req -in "$N/issuer.csr" -CA "$N/ca.crt" -CAkey "$N/root.key" -CAcreateserial -days 20 \
  -extfile "$N/ext" -out "$N/issuer.crt" 2>/dev/null
# Both roots during the overlap, then the new issuer (ca.crt last, as a rotation tool would).
cat "$CREDS/ca.crt" "$N/ca.crt" >"$N/both.crt"
cp "$N/issuer.key" "$CREDS/issuer.key.tmp" && mv "$CREDS/issuer.key.tmp" "$CREDS/issuer.key"
cp "$N/issuer.crt" "$CREDS/issuer.crt.tmp" && mv "$CREDS/issuer.crt.tmp" "$CREDS/issuer.crt"
cp "$N/both.crt" "$CREDS/ca.crt.tmp" && mv "$CREDS/ca.crt.tmp" "$CREDS/ca.crt"
reloaded=
for ((i = 0; i < 60; i++)); do
  grep -q "Issuer credentials changed; reloading" "$T_TMP/sentry.log" && { reloaded=1; break; }
  sleep 0.1
done
[ -n "$reloaded" ] && ok "reload logged within 6 s" || bad "reload logged" "$(tail -5 "$T_TMP/sentry.log")"
sleep 0.3
out=$(sign --id rotated --out-chain "$T_TMP/chain2.pem")
check_contains "signing after rotation (serving cert renewed under the new issuer)" "OK id=spiffe://public/ns/default/rotated" "$out"
check_contains "two anchors in the response" "anchors=2" "$out"
iss=$(sed -n '/END/,$p' "$T_TMP/chain2.pem" | sed 1d)
check "chain carries the new issuer" "$(fp "$N/issuer.crt")" "$(fp <(echo "$iss"))"
check "new leaf verifies to the new root alone" "$T_TMP/chain2.pem: OK" \
  "$(openssl verify -CAfile "$N/ca.crt" -untrusted <(echo "$iss") "$T_TMP/chain2.pem" 2>&1)"
na2=$(echo "$out" | grep '^OK' | sed -E 's/.*not_after=([0-9]+).*/\1/')
check "issuercert_changed_total" "dapr_sentry_issuercert_changed_total 1" \
  "$(curl -s "http://127.0.0.1:$MP/metrics" | grep '^dapr_sentry_issuercert_changed_total')"
exp=$(curl -s "http://127.0.0.1:$MP/metrics" | awk '/^dapr_sentry_issuercert_expiry_timestamp/ {print $2}')
check "leaf NotAfter <= issuer NotAfter" 1 "$([ "$na2" -le "$exp" ] && echo 1 || echo 0)"
check_contains "30-day expiry warning logged" "issuer certificate expires in" "$(cat "$T_TMP/sentry.log")"

echo "== a broken issuer file is refused, old material kept"
echo "not a pem" >"$CREDS/issuer.key"
sleep 1.5
check_contains "still signing with the last good issuer" "OK id=" "$(sign --id a)"
check_contains "warning logged" "issuer credentials not reloaded yet" "$(cat "$T_TMP/sentry.log")"
stop_sentry

finish
