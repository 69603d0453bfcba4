# Helpers of the benchmark scripts (bash). Source after tests/lib.sh.
# Pinning (performance.md §5.1): the system under test on CPU 0, the load generator on CPU 1.
SUT="taskset -c 0"
LOAD="taskset -c 1"
SECS=${BENCH_SECS:-10}

# fixed URL [loadgen args]: fixed rate 1000 req/s over 16 keep-alive connections for $SECS,
# with bench/loadgen (microsecond percentiles); prints "p50 p90 p99" in milliseconds.
fixed() {
  local url=$1; shift
  $LOAD "$BIN/loadgen" -c 16 -q 1000 -d "$SECS" "$@" "$url" | awk '{print $1, $2, $3}'
}

# wrk_sat URL [LUA]: saturation with 16 connections for 5 s; prints requests/s.
wrk_sat() {
  local url=$1 lua=${2:-}
  if [ -n "$lua" ]; then
    $LOAD wrk -t1 -c16 -d5s -s "$lua" "$url" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
  else
    $LOAD wrk -t1 -c16 -d5s "$url" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
  fi
}

rss_mb() { awk '/^VmRSS:/ {printf "%.2f", $2 / 1024}' "/proc/$1/status"; }

# peak_rss_mb PID SECONDS: highest VmRSS seen while sampling every 100 ms.
peak_rss_mb() {
  local pid=$1 secs=$2 i max=0 k
  for ((i = 0; i < secs * 10; i++)); do
    k=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
    [ -n "$k" ] && [ "$k" -gt "$max" ] && max=$k
    sleep 0.1
  done
  awk -v k="$max" 'BEGIN { printf "%.2f", k / 1024 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
