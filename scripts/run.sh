#!/usr/bin/env bash
# `make run`: daprd on the embedded default resources (no server to set up). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/run/files build/run/keys
if [ ! -f build/run/keys/mykey.json ]; then
  (umask 077; printf '{"kty":"oct","k":"%s"}\n' \
    "$(openssl rand 32 | base64 | tr '+/' '-_' | tr -d '=\n')" >build/run/keys/mykey.json)
fi
# `scripts/run.sh --prepare`: only the folders and the key above (bench/run.sh measures daprd
# on the same defaults).
[ "${1:-}" = --prepare ] && exit 0
HTTP_PORT=${DAPR_HTTP_PORT:-3500}
METRICS_PORT=${DAPR_METRICS_PORT:-9090}
cat <<MSG
daprd (daprc) starting with the default resources in sidecar/defaults/
  Dapr HTTP API   http://localhost:${HTTP_PORT}   try: curl -i localhost:${HTTP_PORT}/v1.0/healthz
                                                       curl -s localhost:${HTTP_PORT}/v1.0/metadata
  Metrics         http://localhost:${METRICS_PORT}/metrics
Press Ctrl-C to stop.
MSG
exec build/bin/daprd --app-id daprc-app \
  --resources-path sidecar/defaults/resources \
  --config sidecar/defaults/config.yaml \
  --dapr-http-port "$HTTP_PORT" --metrics-port "$METRICS_PORT" "$@"
