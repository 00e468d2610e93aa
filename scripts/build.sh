#!/bin/sh
# Build quietly: what the compiler says goes to BUILD/build.log, and only
# what the user needs is printed: every warning and error in full (with
# the lines that follow them), then one line saying how the build went.
# Usage: scripts/build.sh BUILD_DIR JOBS
set -u
build=$1
jobs=$2
log="$build/build.log"

cmake --build "$build" -j "$jobs" -- --no-print-directory >"$log" 2>&1
rc=$?
# A compiler's message and its context: the lines from "warning:" or
# "error:" to the next progress line.
awk '
	/^\[ *[0-9]+%\]/ { show = 0; next }
	/(warning|error|Error)[: ]/ || / \*\*\* / { show = 1 }
	show { print }
' "$log"
built=$(grep -c 'Building C object\|Linking C' "$log")
if [ "$rc" -ne 0 ]; then
	echo "build: FAILED (whole log: $log)" >&2
	exit "$rc"
fi
echo "build: ok, $built files compiled or linked (log: $log)"
