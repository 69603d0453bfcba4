#!/usr/bin/env bash
# Banned functions (curl's checksrc spirit): unbounded or error-swallowing libc calls.
set -u
hits=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|atol|gets)\s*\(' | grep -v 'lint: allow')
if [ -n "$hits" ]; then
  echo "lint: banned functions:"; echo "$hits"; exit 1
fi
echo "lint: ok"
