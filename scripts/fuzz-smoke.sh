#!/usr/bin/env bash
# Short run of every libFuzzer target over its checked-in seed corpus. New inputs go to a temp
# dir, never into the repository. FUZZ_SECONDS sets the budget per target (default 10).
set -u
dir=$1
secs=${FUZZ_SECONDS:-10}
# The targets are built with recoverable UBSan checks: without halt_on_error a finding is only
# printed and the run still exits 0.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
pass=0 fail=0
for t in "$dir"/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  corpus=
  for c in */fuzz/corpus/"${name#fuzz_}"; do [ -d "$c" ] && corpus=$c; done
  tmp=$(mktemp -d)
  if "$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 "$tmp" $corpus >"$tmp.log" 2>&1; then
    pass=$((pass + 1)); echo "fuzz $name: ok ($(grep -c . "$tmp.log") log lines)"
  else
    fail=$((fail + 1)); echo "fuzz $name: FAILED"; tail -40 "$tmp.log"
  fi
  rm -rf "$tmp" "$tmp.log"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
