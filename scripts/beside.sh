#!/usr/bin/env bash
# beside.sh 'BACKGROUND' 'FOREGROUND': runs two shell commands at the same
# time, the first with its output kept aside and printed once both are done
# (so the two do not interleave), and fails if either fails. `make test`
# runs deploy's module and the fuzz targets beside the kernel node's tests:
# the guest (qemu under TCG, one vCPU) keeps one CPU busy and leaves the
# other nearly idle, which on a fresh machine saves minutes of compiling.
# An interrupt or a failure of the foreground stops the background job.
set -uo pipefail
set -m # the background job in a process group of its own, to stop it whole
bg_cmd=$1
fg_cmd=$2
out=$(mktemp "${TMPDIR:-/tmp}/beside.XXXXXX")
bash -c "$bg_cmd" >"$out" 2>&1 &
bg=$!
stop_bg() { kill -TERM -- "-$bg" 2>/dev/null; wait "$bg" 2>/dev/null; }
trap 'stop_bg; rm -f "$out"; exit 130' INT TERM
bash -c "$fg_cmd"
fg_rc=$?
if [ $fg_rc -ne 0 ]; then
	stop_bg
	echo "--- the background job (stopped: the foreground failed): $bg_cmd"
	cat "$out"
	rm -f "$out"
	exit $fg_rc
fi
wait "$bg"
bg_rc=$?
echo "--- $(date -u +%T) the background job, run beside the above: $bg_cmd"
cat "$out"
rm -f "$out"
exit $bg_rc
