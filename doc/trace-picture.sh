#!/bin/sh
# doc/trace-picture.sh: the picture in the README.  Runs the demo (kcsplice
# in front of an echo upstream and a sink mirror, on loopback) with
# --trace, draws the trace with kcdump --svg, and renders that SVG to PNG
# in headless Chromium (Debian's chromium package, installed if missing).
#
#   doc/trace-picture.sh [BUILD_DIR] [OUT.png]   (default build, doc/trace.png)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=${2:-$root/doc/trace.png}
kcdump=$build/tools/kcdump/kcdump
[ -x "$kcdump" ] || { echo "trace-picture: $kcdump not built (make)" >&2; exit 1; }

if ! command -v chromium >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "trace-picture: needs chromium: sudo apt-get install -y chromium" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trace-picture.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
DEMO_CONNS=4 DEMO_BYTES=4M DEMO_TRACE=$tmp/run.kct \
    sh "$root/scripts/demo.sh" "$build" >"$tmp/demo.log" 2>&1 ||
    { cat "$tmp/demo.log" >&2; exit 1; }
"$kcdump" --svg -o "$tmp/run.svg" "$tmp/run.kct"
# The window is the drawing's own size (its width and height attributes).
size=$(sed -n 's/^<svg [^>]* width="\([0-9]*\)" height="\([0-9]*\)".*/\1,\2/p' \
    "$tmp/run.svg" | head -n 1)
[ -n "$size" ] || { echo "trace-picture: no size in the SVG" >&2; exit 1; }
# No network: the SVG is self-contained, and Chromium is told so.
timeout 120 chromium --headless --no-sandbox --disable-gpu \
    --hide-scrollbars --disable-background-networking \
    --proxy-server='127.0.0.1:9' --window-size="$size" \
    --screenshot="$out" "file://$tmp/run.svg" >/dev/null 2>&1
[ -s "$out" ] || { echo "trace-picture: chromium made no picture" >&2; exit 1; }
echo "trace-picture: $out ($size)"
