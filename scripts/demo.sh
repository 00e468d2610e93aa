#!/bin/sh
# make run: kcsplice relaying real traffic on loopback, mirrored, and checked.
#
#   client (kcpeer) --> kcsplice --> upstream (kcpeer echo)
#                          \-------> mirror   (kcpeer sink)
#
# Every connection sends DEMO_BYTES of its own pseudo-random stream and the
# upstream echoes it back through kcsplice; kcsplice shows its stats every
# second.  At the end the upstream and the mirror must each have received,
# on every connection, exactly what the client sent (count and hash), and
# every client must have got it back.  Exit 0 only then.
#
# Usage: scripts/demo.sh [BUILD_DIR]   (DEMO_CONNS=8 DEMO_BYTES=32M;
#        DEMO_TRACE=FILE: kcsplice --trace FILE, for kcdump(1))
# Needs only a POSIX shell, coreutils, grep and sed.
set -u

build=${1:-build}
conns=${DEMO_CONNS:-8}
bytes=${DEMO_BYTES:-32M}
trace=${DEMO_TRACE:-}
kcsplice=$build/tools/kcsplice/kcsplice
kcpeer=$build/tools/kcpeer/kcpeer

for p in "$kcsplice" "$kcpeer"; do
	if [ ! -x "$p" ]; then
		echo "demo: $p is missing; run make first" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kcsplice-demo.XXXXXX") || exit 1
pids=""

# Is the process alive (not gone, not a zombie waiting to be reaped)?  One
# read of its stat line, which names its state after the command name.
alive() {
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	case $st in
	''|*") Z "*|*") X "*) return 1 ;;
	esac
	return 0
}

# Wait up to $2 tenths of a second for process $1 to end.
wait_gone() {
	n=0
	while alive "$1" && [ "$n" -lt "$2" ]; do
		sleep 0.1
		n=$((n + 1))
	done
	! alive "$1"
}

cleanup() {
	trap - EXIT INT TERM HUP
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	for p in $pids; do
		wait_gone "$p" 30 || kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

fail() {
	echo "demo: FAIL: $*" >&2
	for f in "$tmp"/*.out "$tmp"/*.log; do
		[ -s "$f" ] || continue
		echo "--- $(basename "$f")" >&2
		tail -n 20 "$f" >&2
	done
	exit 1
}

# The address a program announced in its "listening on" line ($1 the file,
# $2 the program's name, $3 its pid), waiting up to 10 s.
listen_addr() {
	n=0
	while [ "$n" -lt 100 ]; do
		# kcsplice's lines start with a time stamp and a level.
		a=$(sed -n "s/^\(.* \)\{0,1\}$2: listening on \([^ ,]*\).*/\2/p" \
		    "$1" 2>/dev/null)
		if [ -n "$a" ]; then
			echo "$a"
			return 0
		fi
		alive "$3" || return 1
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

# Wait up to 20 s for $2 lines in file $1.
wait_lines() {
	n=0
	while [ "$n" -lt 200 ]; do
		[ -f "$1" ] && [ "$(grep -c . "$1")" -ge "$2" ] && return 0
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

# "bytes=N hash=H" of every line, sorted: a multiset to compare.
pairs() {
	cut -d' ' -f2,3 "$1" | sort
}

total() {
	t=0
	for b in $(cut -d' ' -f2 "$1" | sed 's/^bytes=//'); do
		t=$((t + b))
	done
	echo "$t"
}

"$kcpeer" echo tcp:127.0.0.1:0 --report "$tmp/upstream.txt" \
    --max-seconds 120 >"$tmp/upstream.out" 2>&1 &
up_pid=$!
pids="$pids $up_pid"
"$kcpeer" sink tcp:127.0.0.1:0 --report "$tmp/mirror.txt" \
    --max-seconds 120 >"$tmp/mirror.out" 2>&1 &
mir_pid=$!
pids="$pids $mir_pid"
upstream=$(listen_addr "$tmp/upstream.out" kcpeer $up_pid) ||
    fail "the upstream (kcpeer echo) did not start"
mirror=$(listen_addr "$tmp/mirror.out" kcpeer $mir_pid) ||
    fail "the mirror (kcpeer sink) did not start"

# The mirror may lag up to 64 MiB, more than a connection sends: on a busy
# machine it may fall behind, but it is never detached, so it must get all.
"$kcsplice" --stats 1 --mirror-budget 64M --mirror "$mirror" \
    ${trace:+--trace "$trace"} tcp:127.0.0.1:0 "$upstream" \
    2>"$tmp/kcsplice.log" &
ks_pid=$!
pids="$pids $ks_pid"
listen=$(listen_addr "$tmp/kcsplice.log" kcsplice $ks_pid) ||
    fail "kcsplice did not start"

echo "demo: upstream $upstream (kcpeer echo), mirror $mirror (kcpeer sink," \
    "may lag 64 MiB)"
echo "demo: $conns connections x $bytes through kcsplice on $listen, echoed back"
# kcsplice's own lines, as they come, until it exits.
tail --pid=$ks_pid -n +1 -f "$tmp/kcsplice.log" &
tail_pid=$!
pids="$pids $tail_pid"

seed=$(date +%s)
"$kcpeer" client "$listen" --conns "$conns" --bytes "$bytes" --seed "$seed" \
    --expect echo --report "$tmp/client.txt" --max-seconds 60 \
    >"$tmp/client.out" 2>&1
client_rc=$?
cat "$tmp/client.out"
[ "$client_rc" -eq 0 ] || fail "the client's connections did not all succeed"

wait_lines "$tmp/upstream.txt" "$conns" ||
    fail "the upstream did not see every connection end"
wait_lines "$tmp/mirror.txt" "$conns" ||
    fail "the mirror did not see every connection end"
# One more stats line now that everything has arrived.
kill -USR1 $ks_pid 2>/dev/null
sleep 0.2

kill -TERM $ks_pid
wait_gone $ks_pid 150 || fail "kcsplice did not stop within 15 s of SIGTERM"
wait $ks_pid
ks_rc=$?
wait_gone $tail_pid 20 || kill $tail_pid 2>/dev/null

sent=$(total "$tmp/client.txt")
got_up=$(total "$tmp/upstream.txt")
got_mir=$(total "$tmp/mirror.txt")
ok=1
echo "demo: client   sent $sent bytes on $conns connections, every echo matched"
if [ "$(pairs "$tmp/client.txt")" = "$(pairs "$tmp/upstream.txt")" ] &&
    [ "$(grep -c 'end=eof' "$tmp/upstream.txt")" -eq "$conns" ]; then
	echo "demo: upstream received $got_up bytes: every connection's count and hash match"
else
	echo "demo: upstream received $got_up bytes: MISMATCH"
	ok=0
fi
if [ "$(pairs "$tmp/client.txt")" = "$(pairs "$tmp/mirror.txt")" ] &&
    [ "$(grep -c 'end=eof' "$tmp/mirror.txt")" -eq "$conns" ]; then
	echo "demo: mirror   received $got_mir bytes: every connection's count and hash match"
else
	echo "demo: mirror   received $got_mir bytes: MISMATCH"
	ok=0
fi
if [ "$ks_rc" -eq 0 ]; then
	echo "demo: kcsplice stopped cleanly on SIGTERM (exit 0)"
else
	echo "demo: kcsplice exited $ks_rc on SIGTERM"
	ok=0
fi
if [ "$ok" -ne 1 ]; then
	for f in client upstream mirror; do
		echo "--- $f.txt" >&2
		cat "$tmp/$f.txt" >&2
	done
	fail "the relayed bytes do not match"
fi
echo "demo: PASS"
exit 0
