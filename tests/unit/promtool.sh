#!/bin/sh
# promtool check metrics on what a command prints (the Prometheus text
# format): promtool.sh COMMAND [ARG...].  promtool is in Debian's
# prometheus package (scripts/deps.sh it).  Without it the test is skipped
# (exit 77), except where CI is set: there it fails.
set -eu
if ! command -v promtool >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "promtool is missing (scripts/deps.sh it installs it)" >&2
		exit 1
	fi
	echo "SKIP: promtool is not installed (scripts/deps.sh it)"
	exit 77
fi
out=$("$@")
[ -n "$out" ] || { echo "no output from $*" >&2; exit 1; }
printf '%s\n' "$out" | promtool check metrics
echo "promtool check metrics: ok ($(printf '%s\n' "$out" | wc -l) lines)"
