#!/usr/bin/env bash
# Run every integration test script; print one summary line.
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0
for t in tests/integration/test_*.sh; do
  echo "== $t"
  out=$(bash "$t" 2>&1); rc=$?
  echo "$out"
  line=$(echo "$out" | grep -E '^[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' | tail -1)
  p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) failed/\1/')
  pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
  [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ] && fail=$((fail + 1))
done
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
