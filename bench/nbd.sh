#!/usr/bin/env bash
# bench/nbd.sh: kcnbd against nbdkit's file plugin and qemu-nbd, serving
# the same file from the page cache, with fio's nbd engine as the client,
# all on UNIX sockets and in the same run.
#
#   bench/nbd.sh [--quick] [--rounds N] [-t SECONDS] [BUILD_DIR]
#
# Cases, each against each server: 4 KiB random reads and 4 KiB random
# writes at queue depth 32 over 4 connections (fio numjobs=4), and 1 MiB
# sequential reads (queue depth 8, one connection).  The servers are set up
# for speed as their documentation says: nbdkit with its parallel thread
# model (the file plugin's default) and -t threads; qemu-nbd with
# --cache=writeback, --aio=io_uring (threads where its build lacks it)
# and --shared so that 4 connections are let in; kcnbd with a worker per
# CPU.  Every round runs each server once per case, in rotating order; each
# figure is the median over the rounds.  csw_per_req is kcnbd's voluntary
# context switches (a thread going to sleep to wait: getrusage of every
# thread, its statistics line's vcsw) per request during its random-read
# runs; the line before it also gives all of them (csw: with preemption by
# the load generator and everything else on the machine).  The last line
# is exactly
#   nbd: vs_nbdkit=X vs_qemu_nbd=X seq_vs_nbdkit=X csw_per_req=N
# (ours over the peer's; the first two are random-read IOPS ratios).
# Lines before it also give each server's requests per CPU second it used
# (/proc/PID/stat): on a machine whose CPUs the clients, the servers and
# other jobs share, the scheduler gives out CPU time by thread, and the
# IOPS ratios then tell how many threads a server runs as much as how
# fast it is.
# Every process it starts runs under timeout(1) and is killed on exit.
set -euo pipefail

die() {
	echo "nbd: $*" >&2
	exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/args.sh
. "$root/bench/lib/args.sh"
bench_args "$@"
if [ "$quick" = 1 ]; then
	: "${rounds:=1}" "${secs:=2}"
	size_mb=256
else
	: "${rounds:=3}" "${secs:=8}"
	size_mb=1024
fi
bench_args_check
build=$(cd "$build" && pwd) || die "no build directory $build"
kcnbd=$build/tools/kcnbd/kcnbd
[ -x "$kcnbd" ] || die "$kcnbd not built (make)"

"$root/scripts/deps.sh" bench ||
	die "the benchmark's peers are not installed (scripts/deps.sh bench)"
for t in fio nbdkit qemu-nbd timeout; do
	command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh bench)"
done
fio --enghelp 2>/dev/null | grep -qw nbd ||
	die "this fio has no nbd engine"

tmp=$(mktemp -d /tmp/kcnbd-bench.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ncpu=$(nproc)
img=$tmp/disk.img
echo "nbd: a ${size_mb} MiB file in the page cache, ${secs} s a run," \
    "$rounds round(s), $ncpu CPUs"
head -c $((size_mb << 20)) /dev/urandom >"$img"
cat "$img" >/dev/null
limit=$((secs * 20 * rounds + 600))

wait_sock() {
	local i
	for i in $(seq 1 200); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	die "no socket $1"
}

# The servers, started once and kept for the whole run.
timeout "$limit" "$kcnbd" -q -j "$ncpu" -l "unix:$tmp/kcnbd.sock" \
    "disk=$img" 2>"$tmp/kcnbd.log" &
kcnbd_pid=$!
pids+=("$kcnbd_pid")
timeout "$limit" nbdkit -f -U "$tmp/nbdkit.sock" -t 16 file "file=$img" \
    2>"$tmp/nbdkit.log" &
nbdkit_pid=$!
pids+=("$nbdkit_pid")
qaio=io_uring
if ! qemu-nbd --help 2>&1 | grep -q io_uring; then
	qaio=threads
fi
timeout "$limit" qemu-nbd -f raw --cache=writeback --aio="$qaio" \
    --shared=8 -t -k "$tmp/qemu.sock" "$img" 2>"$tmp/qemu.log" &
qemu_pid=$!
pids+=("$qemu_pid")
wait_sock "$tmp/kcnbd.sock"
wait_sock "$tmp/nbdkit.sock"
wait_sock "$tmp/qemu.sock"
# Each server's timeout(1) is its parent: statistics and CPU time come
# from the child.
kpid=$(pgrep -P "$kcnbd_pid" kcnbd || echo "$kcnbd_pid")
declare -A spid
spid[kcnbd]=$kpid
spid[nbdkit]=$(pgrep -P "$nbdkit_pid" nbdkit || echo "$nbdkit_pid")
spid[qemu-nbd]=$(pgrep -P "$qemu_pid" qemu-nbd || echo "$qemu_pid")

# A process's CPU time so far (user + system), in clock ticks.
ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

uri() {
	case $1 in
	kcnbd) echo "nbd+unix:///disk?socket=$tmp/kcnbd.sock" ;;
	nbdkit) echo "nbd+unix:///?socket=$tmp/nbdkit.sock" ;;
	qemu-nbd) echo "nbd+unix:///?socket=$tmp/qemu.sock" ;;
	esac
}

# One fio run: prints IOPS (random) or MiB/s (sequential).
run_fio() {	# server case
	local args
	case $2 in
	randread) args="--rw=randread --bs=4k --iodepth=32 --numjobs=4" ;;
	randwrite) args="--rw=randwrite --bs=4k --iodepth=32 --numjobs=4" ;;
	seqread) args="--rw=read --bs=1m --iodepth=8 --numjobs=1" ;;
	esac
	# shellcheck disable=SC2086
	timeout $((secs + 60)) fio --name=b --ioengine=nbd --uri="$(uri "$1")" \
	    $args --size=$((size_mb))m --time_based --runtime="$secs" \
	    --group_reporting --output-format=json >"$tmp/fio.json" \
	    2>"$tmp/fio.err" || die "fio $2 against $1 failed: $(cat "$tmp/fio.err")"
	python3 - "$tmp/fio.json" "$2" <<'EOF'
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]
if j["error"]:
    sys.exit("fio error %d" % j["error"])
side = "write" if sys.argv[2] == "randwrite" else "read"
if sys.argv[2] == "seqread":
    print("%.1f" % (j[side]["bw_bytes"] / 1048576.0))
else:
    print("%.0f" % j[side]["iops"])
EOF
}

# kcnbd's statistics line: field NAME of the last one.
kstat() {	# field
	grep -o "stats .*" "$tmp/kcnbd.log" | tail -1 |
	    grep -o " $1=[0-9]*" | cut -d= -f2
}

kstats_now() {
	local n
	n=$(grep -c "stats " "$tmp/kcnbd.log" || true)
	kill -USR1 "$kpid"
	for _ in $(seq 1 100); do
		[ "$(grep -c "stats " "$tmp/kcnbd.log" || true)" -gt "$n" ] &&
		    return 0
		sleep 0.02
	done
	die "kcnbd printed no statistics"
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'
}

declare -A res eff
servers=(kcnbd nbdkit qemu-nbd)
csw=0
vcsw=0
reqs=0
for r in $(seq 1 "$rounds"); do
	for c in randread randwrite seqread; do
		for i in 0 1 2; do
			s=${servers[$(((i + r) % 3))]}
			if [ "$s" = kcnbd ] && [ "$c" = randread ]; then
				kstats_now
				c0=$(kstat csw)
				v0=$(kstat vcsw)
				q0=$(kstat reqs)
			fi
			t0=$(ticks "${spid[$s]}")
			v=$(run_fio "$s" "$c")
			t1=$(ticks "${spid[$s]}")
			if [ "$s" = kcnbd ] && [ "$c" = randread ]; then
				kstats_now
				csw=$((csw + $(kstat csw) - c0))
				vcsw=$((vcsw + $(kstat vcsw) - v0))
				reqs=$((reqs + $(kstat reqs) - q0))
			fi
			res[$s.$c]="${res[$s.$c]:-} $v"
			# Work per CPU second of the server (random cases).
			if [ "$c" != seqread ]; then
				eff[$s.$c]="${eff[$s.$c]:-} $(awk -v v="$v" \
				    -v t=$((t1 - t0)) -v s="$secs" \
				    -v hz="$(getconf CLK_TCK)" 'BEGIN {
				    printf "%.0f", (t > 0) ? v * s / (t / hz) : 0 }')"
			fi
			echo "nbd: round $r $c $s: $v $([ "$c" = seqread ] &&
			    echo MiB/s || echo IOPS)"
		done
	done
done

declare -A med
for s in "${servers[@]}"; do
	for c in randread randwrite seqread; do
		# shellcheck disable=SC2086
		med[$s.$c]=$(median ${res[$s.$c]})
	done
done
for c in randread randwrite seqread; do
	echo "nbd: $c median: kcnbd=${med[kcnbd.$c]} nbdkit=${med[nbdkit.$c]}" \
	    "qemu-nbd=${med[qemu-nbd.$c]}"
done
for c in randread randwrite; do
	# shellcheck disable=SC2086
	echo "nbd: $c requests per server CPU second (median):" \
	    "kcnbd=$(median ${eff[kcnbd.$c]})" \
	    "nbdkit=$(median ${eff[nbdkit.$c]})" \
	    "qemu-nbd=$(median ${eff[qemu-nbd.$c]})"
done
echo "nbd: randwrite vs_nbdkit=$(ratio "${med[kcnbd.randwrite]}" \
    "${med[nbdkit.randwrite]}") vs_qemu_nbd=$(ratio \
    "${med[kcnbd.randwrite]}" "${med[qemu-nbd.randwrite]}")"
echo "nbd: kcnbd: $vcsw voluntary context switches ($csw with preemption)" \
    "for $reqs requests (random reads): $(awk -v a="$csw" -v b="$reqs" \
    'BEGIN { printf "%.4f", (b > 0) ? a / b : 0 }') per request in all"
cpr=$(awk -v a="$vcsw" -v b="$reqs" 'BEGIN { printf "%.4f", (b > 0) ? a / b : 0 }')
echo "nbd: vs_nbdkit=$(ratio "${med[kcnbd.randread]}" "${med[nbdkit.randread]}")" \
    "vs_qemu_nbd=$(ratio "${med[kcnbd.randread]}" "${med[qemu-nbd.randread]}")" \
    "seq_vs_nbdkit=$(ratio "${med[kcnbd.seqread]}" "${med[nbdkit.seqread]}")" \
    "csw_per_req=$cpr"
