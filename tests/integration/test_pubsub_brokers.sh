#!/usr/bin/env bash
# pubsub.redis (Redis Streams) and pubsub.mqtt3 against real servers started here (loopback,
# free ports, temp dirs): the pub/sub contract through build/tests/sidecar/test_pubsub_brokers
# (at-least-once across a consumer killed mid-stream, nothing acknowledged before the handler
# returned, broker down at startup and mid-run), then the stream layout read with redis-cli.
source "$(dirname "$0")/../lib.sh"
DRIVER=${DAPRC_TEST_BIN:-$ROOT/build/tests/sidecar}/test_pubsub_brokers
MOSQ=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}

for tool in redis-server redis-cli "$MOSQ" "$DRIVER"; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
    bad "needed: $tool (make deps; make build/tests/sidecar/test_pubsub_brokers)"; finish; exit 1
  fi
done

# ---- redis-server: AOF fsync always, so an entry XADD acknowledged survives a SIGKILL ----
RDIR=$T_TMP/redis; mkdir -p "$RDIR"
RPORT=$(free_port)
cat >"$RDIR/start.sh" <<S
#!/usr/bin/env bash
cd "$RDIR"
redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always \
  --dir "$RDIR" --daemonize no >>"$RDIR/redis.log" 2>&1 &
echo \$! >"$RDIR/redis.pid"
for i in \$(seq 1 200); do
  [ "\$(redis-cli -p $RPORT ping 2>/dev/null)" = PONG ] && exit 0
  sleep 0.05
done
exit 1
S
cat >"$RDIR/stop.sh" <<S
#!/usr/bin/env bash
kill -9 "\$(cat "$RDIR/redis.pid")" 2>/dev/null
for i in \$(seq 1 200); do
  redis-cli -p $RPORT ping >/dev/null 2>&1 || exit 0
  sleep 0.05
done
exit 1
S

# ---- mosquitto: persistence on, so sessions and queued QoS 1 messages survive a restart ----
MDIR=$T_TMP/mqtt; mkdir -p "$MDIR"
MPORT=$(free_port)
cat >"$MDIR/mosquitto.conf" <<C
listener $MPORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $MDIR/
autosave_interval 1
max_queued_messages 100000
log_dest file $MDIR/mosquitto.log
C
[ "$(id -u)" -eq 0 ] && echo "user root" >>"$MDIR/mosquitto.conf"
cat >"$MDIR/start.sh" <<S
#!/usr/bin/env bash
"$MOSQ" -c "$MDIR/mosquitto.conf" >>"$MDIR/out.log" 2>&1 &
echo \$! >"$MDIR/mosquitto.pid"
for i in \$(seq 1 200); do
  (exec 3<>/dev/tcp/127.0.0.1/$MPORT) 2>/dev/null && exit 0
  sleep 0.05
done
exit 1
S
# SIGTERM: mosquitto saves its persistence file on the way out.
cat >"$MDIR/stop.sh" <<S
#!/usr/bin/env bash
p=\$(cat "$MDIR/mosquitto.pid")
kill "\$p" 2>/dev/null
for i in \$(seq 1 200); do
  kill -0 "\$p" 2>/dev/null || exit 0
  sleep 0.05
done
kill -9 "\$p" 2>/dev/null
exit 0
S
chmod +x "$RDIR/start.sh" "$RDIR/stop.sh" "$MDIR/start.sh" "$MDIR/stop.sh"

stop_servers() {
  [ -f "$RDIR/redis.pid" ] && kill -9 "$(cat "$RDIR/redis.pid")" 2>/dev/null
  [ -f "$MDIR/mosquitto.pid" ] && kill -9 "$(cat "$MDIR/mosquitto.pid")" 2>/dev/null
  cleanup
}
trap stop_servers EXIT

if ! "$RDIR/start.sh"; then bad "redis-server started" "$(cat "$RDIR/redis.log")"; finish; exit 1; fi
ok "redis-server on 127.0.0.1:$RPORT"
if ! "$MDIR/start.sh"; then bad "mosquitto started" "$(cat "$MDIR/out.log" "$MDIR/mosquitto.log" 2>/dev/null)"; finish; exit 1; fi
ok "mosquitto on 127.0.0.1:$MPORT"

echo "# the pub/sub contract (test driver)"
out=$(DAPRC_REDIS_ADDR=127.0.0.1:$RPORT DAPRC_MQTT_URL=tcp://127.0.0.1:$MPORT \
      DAPRC_REDIS_STOP_CMD="$RDIR/stop.sh" DAPRC_REDIS_START_CMD="$RDIR/start.sh" \
      DAPRC_MQTT_STOP_CMD="$MDIR/stop.sh" DAPRC_MQTT_START_CMD="$MDIR/start.sh" \
      timeout 400 "$DRIVER" 2>&1); rc=$?
printf '%s\n' "$out" | grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|crash:|outage:|down |never|^[^[]' | sed 's/^/    /'
check "test driver exit status" 0 "$rc"
check "no test skipped" "" "$(printf '%s\n' "$out" | grep -E 'SKIPPED \] t_')"
check "redis and mqtt: consumer killed mid-stream, nothing lost" 2 \
  "$(printf '%s\n' "$out" | grep -c 'crash: .* 0 lost')"

echo "# the stream layout as upstream reads it"
s=$(redis-cli -p "$RPORT" --scan --pattern 't*-basic' | head -1)
check "stream entry fields: data and metadata" "data m0 metadata {\"k\":\"v1\"}" \
  "$(redis-cli -p "$RPORT" XRANGE "$s" - + COUNT 1 | tail -4 | paste -sd' ')"
check "consumer group named after consumerID, nothing pending" "${s%-basic}-grp 0" \
  "$(redis-cli -p "$RPORT" XINFO GROUPS "$s" | awk 'NR==2{n=$0} NR==6{print n, $0}')"
finish
