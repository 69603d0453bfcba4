#!/usr/bin/env bash
# gRPC interoperability with an independent implementation: Debian's python3-grpcio (gRPC C-core)
# as client of our server and as server for our client, over h2c and TLS (ALPN h2, a throwaway
# P-256 certificate): the four call shapes, metadata, errors, deadlines, large messages (4 MiB
# both ways, one byte over refused), cancellation, unknown methods.
# C side: build/bin/grpc-echo (tests/interop/grpc_echo.c); Python side: tests/interop/echo.py.
source "$(dirname "$0")/../lib.sh"

PY=/usr/bin/python3 # Debian's interpreter, where python3-grpcio lives
DESC=$ROOT/build/gen/daprc_test.desc
ECHO_PY=$ROOT/tests/interop/echo.py

if ! "$PY" -c 'import grpc, google.protobuf' 2>/dev/null; then
  bad "python3-grpcio and python3-protobuf are installed (make deps)"
  finish; exit
fi
[ -x "$BIN/grpc-echo" ] && [ -f "$DESC" ] || { bad "build/bin/grpc-echo and $DESC are built"; finish; exit; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$T_TMP/key.pem" -out "$T_TMP/cert.pem" 2>/dev/null

# wait_port LOG: the "PORT n" line a server prints once it listens.
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    PORT=$(awk '/^PORT/{print $2}' "$1" 2>/dev/null)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  return 1
}

# run_side NAME CMD...: run a client, turn its "ok x"/"FAIL x: why" lines into results.
run_side() {
  local name=$1 out rc line
  shift
  out=$(timeout 120 "$@" 2>&1); rc=$?
  while IFS= read -r line; do
    case $line in
      "ok "*) ok "$name: ${line#ok }" ;;
      "FAIL "*) bad "$name: ${line#FAIL }" ;;
    esac
  done <<<"$out"
  [ $rc -eq 0 ] || bad "$name: client exit status $rc" "${out: -600}"
}

for mode in h2c tls; do
  srv_tls=() cli_tls_c=() cli_tls_py=()
  if [ $mode = tls ]; then
    srv_tls=(--tls "$T_TMP/cert.pem" "$T_TMP/key.pem")
    cli_tls_c=(--tls "$T_TMP/cert.pem" localhost)
    cli_tls_py=(--tls "$T_TMP/cert.pem" localhost)
  fi

  # python client -> our server
  start_bg "$T_TMP/c-$mode.log" "$BIN/grpc-echo" server "${srv_tls[@]}"
  cpid=$BG_PID
  if wait_port "$T_TMP/c-$mode.log"; then
    run_side "python->daprc $mode" "$PY" "$ECHO_PY" "$DESC" client "127.0.0.1:$PORT" "${cli_tls_py[@]}"
    kill -TERM "$cpid"; wait_exit "$cpid" 10
    check "python->daprc $mode: server drains and exits 0 on SIGTERM" 0 "$WAIT_RC"
  else
    bad "python->daprc $mode: grpc-echo server starts" "$(cat "$T_TMP/c-$mode.log")"
  fi

  # our client -> python server
  start_bg "$T_TMP/p-$mode.log" "$PY" "$ECHO_PY" "$DESC" server "${srv_tls[@]}"
  ppid=$BG_PID
  if wait_port "$T_TMP/p-$mode.log"; then
    run_side "daprc->python $mode" "$BIN/grpc-echo" client "127.0.0.1:$PORT" "${cli_tls_c[@]}"
  else
    bad "daprc->python $mode: python server starts" "$(cat "$T_TMP/p-$mode.log")"
  fi
  kill -TERM "$ppid" 2>/dev/null; wait_exit "$ppid" 10
done

finish
