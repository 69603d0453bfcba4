# Shared helpers of the end-to-end tests (bash). Source it, call `e2e_setup`, write checks with
# check/ok/bad, call `finish` at the end (last line "<name>: N passed, N failed").
#
# Cluster: by default a private kubelite (the in-memory API-server stand-in, see
# docs/internals/e2e.md) is started on a free loopback port and stopped at exit. With
# E2E_KUBECONFIG (or KUBECONFIG) set, that cluster is used instead and nothing is started; the tests
# then apply daprc's CRDs to it cluster-wide, so use a throwaway cluster.
# Tools: kubectl 1.35 and helm 4 from scripts/e2e-tools.sh (cached under build/e2e/tools).
# Processes started here are stopped by PID at exit, and only those. No sleep is used as
# synchronisation: every wait polls a readiness condition with a bounded deadline.
#
# Environment: E2E_KUBECONFIG / KUBECONFIG (existing cluster), KUBELITE_DIR (default
# $ROOT/../shared/kubelite), E2E_KEEP=1 (keep the temp dir and print it), KUBECTL/HELM (binaries).
# A test may set the array E2E_KUBELITE_ARGS before e2e_setup to pass more kubelite flags
# (e.g. --resolve for a webhook that runs as a local process).
# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing test scripts
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_DIR=$ROOT/e2e
KUBELITE_DIR=${KUBELITE_DIR:-$ROOT/../shared/kubelite}
T_PASS=0
T_FAIL=0
T_PIDS=()
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/daprc-e2e.XXXXXX")
E2E_STARTED=0      # 1 when the cluster is a kubelite started here (stopped at exit)
E2E_KUBELITE=0     # 1 when the API server is kubelite (no CRD schema validation; see README)
E2E_NS=            # per-test namespace created by e2e_namespace (deleted at exit)
E2E_MORE_NS=()     # further namespaces made by e2e_namespace_more (deleted at exit)
[ -n "${E2E_KUBELITE_ARGS+x}" ] || E2E_KUBELITE_ARGS=()

e2e_cleanup() {
    if [ -n "$E2E_NS" ] && [ "$E2E_STARTED" -eq 0 ]; then
        k delete namespace "$E2E_NS" "${E2E_MORE_NS[@]}" --wait=false >/dev/null 2>&1
    fi
    local p
    for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${T_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "e2e: kept $E2E_TMP" >&2
    else
        rm -rf "$E2E_TMP"
    fi
}
trap e2e_cleanup EXIT

ok() { T_PASS=$((T_PASS + 1)); printf '  ok    %s\n' "$1"; }
bad() {
    T_FAIL=$((T_FAIL + 1))
    printf '  FAIL  %s\n' "$1"
    [ $# -gt 1 ] && printf '        %s\n' "${@:2}"
    return 0
}
# check NAME EXPECTED ACTUAL
check() { if [ "$2" == "$3" ]; then ok "$1"; else bad "$1" "expected: $2" "actual:   $3"; fi; }
# check_contains NAME NEEDLE HAYSTACK
check_contains() { if [[ "$3" == *"$2"* ]]; then ok "$1"; else bad "$1" "missing: $2" "in: ${3:0:400}"; fi; }
# check_cmd NAME CMD...: ok when CMD exits 0; its output is shown on failure.
check_cmd() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "command: $*" "${out:0:600}"; fi
}
# check_fails NAME CMD...: ok when CMD exits non-zero (an expected rejection).
check_fails() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then bad "$name" "unexpectedly succeeded: $*" "${out:0:400}"; else ok "$name"; fi
}

finish() {
    echo "$(basename "$0" .sh): $T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
    # Never a port this run was already given (the kernel may reuse a just-released one); the
    # list is a file because callers use $(free_port), a subshell.
    local p
    while :; do
        p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
        grep -qx "$p" "$E2E_TMP/.ports" 2>/dev/null || break
    done
    echo "$p" >>"$E2E_TMP/.ports"
    echo "$p"
}

# start_bg LOGFILE CMD...: run in the background, remember the PID in $BG_PID (stopped at exit).
start_bg() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    BG_PID=$!
    T_PIDS+=("$BG_PID")
}

# wait_until SECONDS CMD...: poll CMD (every 50 ms) until it succeeds; 1 on timeout.
wait_until() {
    local secs=$1 deadline
    shift
    deadline=$((SECONDS + secs))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# k ARGS...: kubectl against the test cluster, with a private discovery cache.
k() { "$KUBECTL" --kubeconfig "$E2E_KUBECONFIG_FILE" --cache-dir "$E2E_TMP/kcache" "$@"; }
# h ARGS...: helm against the test cluster, with private cache/config/data dirs.
h() {
    HELM_CACHE_HOME=$E2E_TMP/helm/cache HELM_CONFIG_HOME=$E2E_TMP/helm/config \
        HELM_DATA_HOME=$E2E_TMP/helm/data "$HELM" --kubeconfig "$E2E_KUBECONFIG_FILE" "$@"
}

# e2e_tools: set KUBECTL and HELM (fetched once by scripts/e2e-tools.sh).
e2e_tools() {
    local out
    out=$("$ROOT/scripts/e2e-tools.sh") || { echo "e2e: cannot get kubectl/helm" >&2; return 1; }
    eval "$out"
}

# kubelite_alive: the API stand-in answers /readyz.
kubelite_alive() { curl -sf -o /dev/null "$E2E_API/readyz"; }

# kubelite_start: start a private kubelite on a free loopback port and write a kubeconfig for it.
# Retries with another port if the chosen one was taken meanwhile (the server then exits).
kubelite_start() {
    local try port
    [ -f "$KUBELITE_DIR/server.py" ] || { echo "e2e: no kubelite at $KUBELITE_DIR" >&2; return 1; }
    for try in 1 2 3; do
        port=$(free_port)
        E2E_API=http://127.0.0.1:$port
        start_bg "$E2E_TMP/kubelite.$try.log" python3 "$KUBELITE_DIR/server.py" --port "$port" \
            --controllers --bookmark-interval 1 "${E2E_KUBELITE_ARGS[@]}"
        E2E_KUBELITE_PID=$BG_PID
        local deadline=$((SECONDS + 20))
        while kill -0 "$E2E_KUBELITE_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            if kubelite_alive; then
                E2E_STARTED=1
                E2E_KUBECONFIG_FILE=$E2E_TMP/kubeconfig
                cat >"$E2E_KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubelite
  cluster: {server: "$E2E_API"}
contexts:
- name: kubelite
  context: {cluster: kubelite, user: admin, namespace: default}
current-context: kubelite
users:
- name: admin
  user: {token: admin-token}
EOF
                return 0
            fi
            sleep 0.05
        done
        kill "$E2E_KUBELITE_PID" 2>/dev/null
        wait "$E2E_KUBELITE_PID" 2>/dev/null
    done
    echo "e2e: kubelite did not become ready; log:" >&2
    tail -n 20 "$E2E_TMP/kubelite.3.log" >&2
    return 1
}

# e2e_setup: tools + cluster. Exits the test (status 2) if either is unavailable.
e2e_setup() {
    e2e_tools || exit 2
    local given=${E2E_KUBECONFIG:-${KUBECONFIG:-}}
    if [ -n "$given" ]; then
        E2E_KUBECONFIG_FILE=$given
        echo "e2e: using the cluster of $given"
    else
        kubelite_start || exit 2
        echo "e2e: kubelite at $E2E_API (pid $E2E_KUBELITE_PID)"
    fi
    if ! wait_until 30 k version; then
        echo "e2e: the API server does not answer" >&2
        exit 2
    fi
    # kubelite reports gitVersion "v1.xx.0-kubelite".
    case $(k version -o json 2>/dev/null | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') in
        *kubelite*) E2E_KUBELITE=1 ;;
    esac
}

# e2e_namespace PREFIX: create a fresh namespace, set $E2E_NS (deleted at exit unless the cluster
# is our own kubelite, which goes away anyway).
e2e_namespace() {
    E2E_NS=$1-$(printf '%s' "$RANDOM$RANDOM" | cut -c1-8)
    k create namespace "$E2E_NS" >/dev/null
}

# e2e_namespace_more VAR SUFFIX: after e2e_namespace, create the namespace "$E2E_NS-SUFFIX" and
# store its name in VAR (deleted at exit like $E2E_NS).
e2e_namespace_more() {
    printf -v "$1" '%s' "$E2E_NS-$2"
    E2E_MORE_NS+=("$E2E_NS-$2")
    k create namespace "$E2E_NS-$2" >/dev/null
}

# json_get JSON PYEXPR: evaluate a Python expression over the parsed document `d`.
json_get() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
