# Shared helpers of the integration tests (bash). Source it; call `finish` at the end.
# Processes started with `start_bg` are stopped by PID at exit, and only those.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${DAPRC_BIN:-$ROOT/build/bin}
T_PASS=0
T_FAIL=0
T_PIDS=()
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/daprc-it.XXXXXX")
# Each test gets its own $HOME: daprd's default name-resolution registry lives in
# $HOME/.dapr/nr.db, and sidecars of one test must find each other but not another test's.
export HOME=$T_TMP/home
mkdir -p "$HOME"

cleanup() {
  for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${T_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T_TMP"
}
trap cleanup EXIT

ok() { T_PASS=$((T_PASS + 1)); printf '  ok    %s\n' "$1"; }
bad() { T_FAIL=$((T_FAIL + 1)); printf '  FAIL  %s\n' "$1"; [ $# -gt 1 ] && printf '        %s\n' "${@:2}"; return 0; }

# check NAME EXPECTED ACTUAL
check() { if [ "$2" == "$3" ]; then ok "$1"; else bad "$1" "expected: $2" "actual:   $3"; fi; }
# check_contains NAME NEEDLE HAYSTACK
check_contains() { if [[ "$3" == *"$2"* ]]; then ok "$1"; else bad "$1" "missing: $2" "in: ${3:0:400}"; fi; }

# free_port: a free TCP port on 127.0.0.1 (the kernel picks it), never one this test was already
# given: the kernel may hand out a just-released port again, and two listeners of one test must
# not collide. Handed-out ports are remembered in a file (callers use $(free_port), a subshell).
free_port() {
  local p
  while :; do
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    grep -qx "$p" "$T_TMP/.ports" 2>/dev/null || break
  done
  echo "$p" >>"$T_TMP/.ports"
  echo "$p"
}

# start_bg LOGFILE CMD...: run in the background, remember the PID in $BG_PID.
start_bg() { local log=$1; shift; "$@" >"$log" 2>&1 & BG_PID=$!; T_PIDS+=("$BG_PID"); }

# wait_http URL [SECONDS]: poll until the URL answers (any status); readiness, not a sleep.
wait_http() {
  local url=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    curl -s -o /dev/null "$url" && return 0
    sleep 0.05
  done
  return 1
}

# wait_exit PID SECONDS: wait (in this shell, not a subshell: only the parent can reap) until
# the process is gone; sets WAIT_RC to its exit status, or "timeout".
wait_exit() {
  local pid=$1 secs=$2 i st
  WAIT_RC=timeout
  for ((i = 0; i < secs * 20; i++)); do
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    if [ -z "$st" ] || [ "$st" = Z ]; then wait "$pid" 2>/dev/null; WAIT_RC=$?; return 0; fi
    sleep 0.05
  done
}

# http METHOD URL [curl args...]: prints "STATUS BODY".
http() { local m=$1 u=$2; shift 2; curl -s -X "$m" -o "$T_TMP/body" -w '%{http_code}' "$u" "$@"; printf ' %s' "$(cat "$T_TMP/body")"; }

# json_get JSON PYEXPR: evaluate a Python expression over the parsed document `d`.
json_get() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

finish() {
  echo "$(basename "$0" .sh): $T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" -eq 0 ]
}
