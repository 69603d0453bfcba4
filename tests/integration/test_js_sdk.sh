#!/usr/bin/env bash
# Compatibility: the official Dapr JavaScript SDK (@dapr/dapr from npm, HTTP mode) against daprd
# for metadata, state, secrets and service invocation. The SDK is installed once into
# build/compat (npm registry); node's test runner reports each case.
source "$(dirname "$0")/../lib.sh"
DAPRD=$BIN/daprd
COMPAT=$ROOT/build/compat

if [ ! -d "$COMPAT/node_modules/@dapr/dapr" ]; then
  mkdir -p "$COMPAT"
  cp "$ROOT/tests/compat/package.json" "$COMPAT/"
  if ! (cd "$COMPAT" && npm install --no-audit --no-fund --loglevel=error >"$T_TMP/npm.log" 2>&1); then
    bad "npm install @dapr/dapr" "$(tail -5 "$T_TMP/npm.log")"; finish; exit 1
  fi
fi
cp "$ROOT"/tests/compat/*.mjs "$COMPAT/"

RES=$T_TMP/res; mkdir -p "$RES"
cat >"$T_TMP/secrets.json" <<'J'
{"sdk-secret": "sdk-value"}
J
cat >"$RES/components.yaml" <<Y
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore}
spec: {type: state.sqlite, version: v1, metadata: [{name: connectionString, value: "$T_TMP/state.db"}]}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: secretstore}
spec: {type: secretstores.local.file, version: v1, metadata: [{name: secretsFile, value: "$T_TMP/secrets.json"}]}
Y
AP=$(free_port); HP=$(free_port)
start_bg "$T_TMP/app.log" python3 "$ROOT/tests/apps/echo_app.py" "$AP"
start_bg "$T_TMP/daprd.log" "$DAPRD" --app-id sdkapp --app-port "$AP" --dapr-http-port "$HP" \
  --dapr-listen-addresses 127.0.0.1 --enable-metrics=false --resources-path "$RES"
wait_http "http://127.0.0.1:$HP/v1.0/healthz" 15 || { bad "daprd ready" "$(tail -5 "$T_TMP/daprd.log")"; finish; exit 1; }

out=$(cd "$COMPAT" && DAPR_HTTP_PORT=$HP APP_ID=sdkapp STATE_STORE=statestore SECRET_STORE=secretstore \
  timeout 120 node --test --test-reporter=tap sdk_http.test.mjs 2>&1)
# One check per SDK test case, from the TAP lines of node's runner.
while IFS= read -r line; do
  case "$line" in
    "ok "*) ok "SDK: ${line#ok [0-9]* - }" ;;
    "not ok "*) bad "SDK: ${line#not ok [0-9]* - }" "$(printf '%s\n' "$out" | grep -A12 "$line" | head -14)" ;;
  esac
done < <(printf '%s\n' "$out" | grep -E '^(not )?ok [0-9]+ - ')
[ "$T_PASS" -ge 5 ] || bad "the SDK ran its cases" "$(printf '%s\n' "$out" | tail -20)"
finish
