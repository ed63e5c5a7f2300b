#!/usr/bin/env bash
# Run one stage of `make test`/`make demo` with a header, a timer and a clear verdict.
#   stage.sh "name" command args...
set -uo pipefail
name=$1; shift
start=$(date +%s)
printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$name"
"$@"
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -eq 0 ]; then
  printf '<== %s: ok (%ss)\n' "$name" "$took"
else
  printf '<== %s: FAILED with exit %s after %ss\n' "$name" "$rc" "$took" >&2
fi
exit $rc
