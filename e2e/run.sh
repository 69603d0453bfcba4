#!/usr/bin/env bash
# Run every e2e/test_*.sh (or the scripts given as arguments); print one summary line
# "e2e: N passed, N failed". A script that ends without its own summary line, or exits non-zero
# without counting a failure (e.g. the cluster could not be set up), counts as one failure.
set -u
cd "$(dirname "$0")/.." || exit 2
if [ $# -gt 0 ]; then tests=("$@"); else tests=(e2e/test_*.sh); fi
pass=0 fail=0
for t in "${tests[@]}"; do
    echo "== $t"
    out=$(bash "$t" 2>&1)
    rc=$?
    echo "$out"
    line=$(grep -E '^[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -1)
    if [ -z "$line" ]; then
        fail=$((fail + 1))
        continue
    fi
    p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*passed, ([0-9]+) failed/\1/' <<<"$line")
    pass=$((pass + p))
    fail=$((fail + f))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && fail=$((fail + 1))
done
echo "e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
