#!/usr/bin/env bash
# Run every unit-test binary given on the command line; print one summary line.
set -u
pass=0 fail=0 failed=()
for t in "$@"; do
  if out=$("$t" 2>&1); then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); failed+=("$t")
    printf '%s\n' "$out"
  fi
  # cmocka prints "[  PASSED  ] N test(s)." per group; keep its count visible.
  printf '%s: %s\n' "$(basename "$t")" "$(printf '%s\n' "$out" | grep -E 'PASSED|FAILED' | tail -1 | tr -s ' ')"
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { printf 'failed: %s\n' "${failed[@]}"; exit 1; }
