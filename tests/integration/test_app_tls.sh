#!/usr/bin/env bash
# --app-protocol https (sidecar-api.md §17): daprd talks TLS to the app without verifying its
# certificate, as upstream does. That call goes through libcurl, which is loaded on first use
# and brings its own shared OpenSSL, while daprd itself links OpenSSL statically (crypto API,
# mTLS): this test runs both in one process, interleaved, and checks neither disturbs the other.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd
ECHO=$ROOT/tests/apps/echo_app.py

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=app \
  -keyout "$T_TMP/app.key" -out "$T_TMP/app.crt" >/dev/null 2>&1 || { bad "make a certificate"; finish; exit 1; }
AP=$(free_port)
start_bg "$T_TMP/app.log" env ECHO_TLS_CERT="$T_TMP/app.crt" ECHO_TLS_KEY="$T_TMP/app.key" \
  python3 "$ECHO" "$AP" tlsapp
for i in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$AP/healthz" && break; sleep 0.05; done

KEYS=$T_TMP/keys RES=$T_TMP/res
mkdir -p "$KEYS" "$RES"
head -c 32 /dev/urandom | python3 -c 'import base64,json,sys; print(json.dumps({"kty":"oct","k":base64.urlsafe_b64encode(sys.stdin.buffer.read()).rstrip(b"=").decode()}))' >"$KEYS/k.json"
cat >"$RES/crypto.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: localkeys
spec:
  type: crypto.dapr.localstorage
  version: v1
  metadata:
  - {name: path, value: "$KEYS"}
Y
HP=$(free_port)
start_bg "$T_TMP/daprd.log" "$DAPRD" --app-id tlsapp --app-port "$AP" --app-protocol https \
  --resources-path "$RES" --dapr-http-port "$HP" --dapr-listen-addresses 127.0.0.1 \
  --enable-metrics=false
if ! wait_http "http://127.0.0.1:$HP/v1.0/healthz" 10; then
  bad "daprd came up" "$(cat "$T_TMP/daprd.log")"; finish; exit 1
fi
U=http://127.0.0.1:$HP
DPID=$BG_PID

echo "# invocation over TLS to the app, crypto in the same process"
r=$(http POST "$U/v1.0/invoke/tlsapp/method/hello?x=1" -d 'over tls')
check "invoke over https: 200" "200" "${r%% *}"
check_contains "the app saw the body" '"body": "over tls"' "$r"
check_contains "the app saw the path" '"path": "/hello"' "$r"
if grep -q 'libcurl.*so' "/proc/$DPID/maps" && grep -q 'libssl.so' "/proc/$DPID/maps"; then
  ok "libcurl and its shared OpenSSL are loaded in daprd"
else
  bad "libcurl and its shared OpenSSL are loaded in daprd"
fi
fails=0
for i in $(seq 1 20); do
  printf 'secret %s' "$i" >"$T_TMP/plain"
  c=$(curl -s -X PUT --data-binary "@$T_TMP/plain" -o "$T_TMP/enc" -w '%{http_code}' \
    -H 'dapr-key-name: k.json' -H 'dapr-key-wrap-algorithm: A256KW' "$U/v1.0-alpha1/crypto/localkeys/encrypt")
  d=$(curl -s -X PUT --data-binary "@$T_TMP/enc" -H 'dapr-key-name: k.json' "$U/v1.0-alpha1/crypto/localkeys/decrypt")
  v=$(curl -s -X POST -d "n$i" "$U/v1.0/invoke/tlsapp/method/n$i")
  [ "$c" = 200 ] && [ "$d" = "secret $i" ] && [[ "$v" == *"\"body\": \"n$i\""* ]] || fails=$((fails + 1))
done
check "20 rounds of encrypt, decrypt and https invocation" "0" "$fails"
r=$(http GET "$U/v1.0/invoke/tlsapp/method/status/404")
check "the app's 404 passes through over TLS" "404" "${r%% *}"
finish
