#!/bin/sh
# Parse what a command prints with the OpenMetrics 1.0.0 parser of the
# Prometheus Python client (Debian's python3-prometheus-client, which
# scripts/deps.sh it installs), which refuses anything the format does
# not allow: openmetrics.sh COMMAND [ARG...].  Without it the test is
# skipped (exit 77), except where CI is set: there it fails.
set -eu
py=/usr/bin/python3
if ! [ -x $py ] || ! $py -c 'import prometheus_client.openmetrics.parser' \
    2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "python3-prometheus-client is missing (scripts/deps.sh it)" >&2
		exit 1
	fi
	echo "SKIP: python3-prometheus-client is not installed (scripts/deps.sh it)"
	exit 77
fi
"$@" | $py -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = sys.stdin.read()
fams = list(text_string_to_metric_families(text))
if not fams:
    sys.exit("no metric families")
print("OpenMetrics parser: ok (%d families, %d samples)" %
      (len(fams), sum(len(f.samples) for f in fams)))
'
