#!/usr/bin/env bash
# bench/relay.sh: kcsplice against haproxy and socat as TCP relays, all on
# loopback and in the same run (method: doc/design.md, "bench/relay.sh:
# method").
#
#   bench/relay.sh [--quick] [--rounds N] [-t SECONDS] [BUILD_DIR]
#
# iperf3 runs directly, through kcsplice, through haproxy and through socat,
# then through kcsplice with a fast mirror (kcpeer sink) and with a mirror
# that never reads (kcpeer hold); redis-benchmark (GET, SET) runs through
# kcsplice and through haproxy, and through kcsplice --record, kcsplice
# with a mirror, and kcsplice with a mirror and --compare.  Every round runs each case once, in
# alternating order; each figure is the median over the rounds.  The last
# line is
#   relay: vs_haproxy=X vs_socat=X mirror_fast=X mirror_stalled=X redis_vs_haproxy=X
#       record=X compare=X
# record is redis through kcsplice --record over plain kcsplice; compare
# is redis through kcsplice with a mirror (a second redis-server) and
# --compare over the same without --compare.
# Every process it starts runs under timeout(1) and is killed on exit,
# failure or Ctrl-C.  BUILD_DIR (default build) holds tools/kcsplice/kcsplice
# and tools/kcpeer/kcpeer.
set -euo pipefail

die() {
	echo "relay: $*" >&2
	exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/args.sh
. "$root/bench/lib/args.sh"
bench_args "$@"
if [ "$quick" = 1 ]; then
	: "${rounds:=3}" "${secs:=1}"
	requests=20000
else
	: "${rounds:=5}" "${secs:=5}"
	requests=100000
fi
bench_args_check

"$root/scripts/deps.sh" bench ||
	die "the benchmark's peers are not installed (scripts/deps.sh bench)"
for t in iperf3 haproxy socat redis-server redis-benchmark timeout; do
	command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh bench)"
done
kcsplice=$build/tools/kcsplice/kcsplice
kcpeer=$build/tools/kcpeer/kcpeer
[ -x "$kcsplice" ] || die "$kcsplice not built (make all)"
[ -x "$kcpeer" ] || die "$kcpeer not built (make all)"

# The same pipe size and thread count for kcsplice and haproxy.
pipe=$(cat /proc/sys/fs/pipe-max-size)
threads=$(nproc)
clients=50	# redis-benchmark connections

# Every process runs under timeout(1) (its own process group, so that a
# relay's children are reached too); a server's cap outlasts the whole run.
client_cap=$((secs + 20))
redis_cap=120
server_cap=$((120 + rounds * (6 * client_cap + 2 * redis_cap)))

tmp=
pids=()
cleanup() {
	local pid i alive
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || :
	done
	for ((i = 0; i < 50; i++)); do
		alive=0
		for pid in "${pids[@]}"; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || :
	done
	wait 2>/dev/null || :
	if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tmp=$(mktemp -d "${TMPDIR:-/tmp}/relay.XXXXXX")

forget() {
	local p keep=()
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	pids=("${keep[@]}")
}

# start LOG CMD...: a server in the background; sets PID (timeout's), and
# the server's own pid goes to LOG.pid.
start() {
	local log=$1
	shift
	: >"$log"
	# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
	timeout -k 5 "$server_cap" sh -c 'echo $$ >"$0"; exec "$@"' "$log.pid" \
	    "$@" >"$log" 2>&1 </dev/null &
	PID=$!
	pids+=("$PID")
}

# run CAP LOG CMD...: a client, waited for (so that Ctrl-C is not held up).
run() {
	local cap=$1 log=$2 pid rc=0
	shift 2
	timeout -k 5 "$cap" "$@" >"$log" 2>&1 </dev/null &
	pid=$!
	pids+=("$pid")
	wait "$pid" || rc=$?
	forget "$pid"
	return "$rc"
}

# pick_port: a port no socket uses, below the ephemeral range; sets PORT.
picked=" "
pick_port() {
	local i p hex
	for ((i = 0; i < 500; i++)); do
		p=$((20000 + RANDOM % 12000))
		printf -v hex '%04X' "$p"
		case $picked in *" $p "*) continue ;; esac
		if grep -q -E "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp \
		    /proc/net/tcp6 2>/dev/null; then
			continue
		fi
		picked="$picked$p "
		PORT=$p
		return 0
	done
	die "no free TCP port found in 20000-31999"
}

# wait_listen NAME LOG PID PORT: until 127.0.0.1:PORT listens.
wait_listen() {
	local name=$1 log=$2 pid=$3 hex i
	printf -v hex '%04X' "$4"
	for ((i = 0; i < 200; i++)); do
		if grep -q -E "^ *[0-9]+: 0100007F:$hex [0-9A-F]+:[0-9A-F]+ 0A " \
		    /proc/net/tcp; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null ||
			die "$name exited at start: $(tail -n 1 "$log")"
		sleep 0.05
	done
	die "$name: 127.0.0.1:$4 not listening after 10 s"
}

# wait_addr NAME LOG PID: until the tool prints "listening on
# tcp:127.0.0.1:PORT" (kcsplice, kcpeer); sets PORT.
wait_addr() {
	local name=$1 log=$2 pid=$3 line i
	for ((i = 0; i < 200; i++)); do
		line=$(grep -m 1 -o 'listening on tcp:127\.0\.0\.1:[0-9]*' "$log" || :)
		if [ -n "$line" ]; then
			PORT=${line##*:}
			return 0
		fi
		kill -0 "$pid" 2>/dev/null ||
			die "$name exited at start: $(tail -n 1 "$log")"
		sleep 0.05
	done
	die "$name printed no listening address after 10 s"
}

# start_kcsplice_with NAME UPSTREAM_PORT [ARG...]: kcsplice with the
# common options and ARG...; sets PORT.
start_kcsplice_with() {
	local name=$1 log=$tmp/$1.log up=$2
	shift 2
	start "$log" "$kcsplice" -q -j "$threads" --pipe-size "$pipe" "$@" \
	    tcp:127.0.0.1:0 "tcp:127.0.0.1:$up"
	wait_addr "$name" "$log" "$PID"
}

# start_kcsplice NAME UPSTREAM_PORT [MIRROR_PORT [BUDGET]]: sets PORT.
start_kcsplice() {
	local args=()
	[ $# -ge 3 ] && args+=(-m "tcp:127.0.0.1:$3")
	# A fast mirror is a separate process on the same two cores: it lags
	# by a scheduling slice at times (64 MiB is 30 ms at 17 Gbit/s).  Its
	# budget stays 64 MiB, as it was when the default was 4 MiB, so that
	# the figure compares with earlier runs; the stalled one gets the
	# default (1 GiB) and is detached there.
	[ $# -ge 4 ] && args+=(--mirror-budget "$4")
	start_kcsplice_with "$1" "$2" "${args[@]}"
}

# start_kcpeer MODE [OPTION...]: sets PORT.
start_kcpeer() {
	local log=$tmp/kcpeer-$1.log
	start "$log" "$kcpeer" "$1" tcp:127.0.0.1:0 --max-seconds "$server_cap" \
	    "${@:2}"
	wait_addr "kcpeer $1" "$log" "$PID"
}

# kc_stats NAME: kcsplice NAME's counters (SIGUSR1 prints them), shown.
kc_stats() {
	local log=$tmp/$1.log pid n i line
	pid=$(cat "$log.pid" 2>/dev/null) || return 0
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = kcsplice ] || return 0
	# After the line's time stamp and level (kcsplice(1), LOGGING).
	n=$(grep -c ' kcsplice: stats ' "$log" || :)
	kill -USR1 "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 40; i++)); do
		[ "$(grep -c ' kcsplice: stats ' "$log" || :)" -gt "$n" ] && break
		sleep 0.05
	done
	line=$(grep ' kcsplice: stats ' "$log" | tail -n 1 || :)
	STATS=${line#* kcsplice: stats }
	if [ -n "$line" ]; then echo "relay: $1 stats $STATS"; fi
}

# field KEY: KEY's value in STATS (0 if absent).
field() {
	local f
	for f in $STATS; do
		case $f in "$1"=*) echo "${f#*=}"; return 0 ;; esac
	done
	echo 0
}

# scrape PORT FAMILY: FAMILY's samples on kcsplice's metrics at PORT, one
# line.
scrape() {
	local page
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 0
	printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
	page=$(timeout 5 cat <&3 || :)
	exec 3<&-
	printf '%s\n' "$page" | grep "^$2{" | tr '\n' ' '
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
	    END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", (b > 0) ? a / b : 0 }'
}

# --- the servers -------------------------------------------------------

pick_port
iperf_port=$PORT
start "$tmp/iperf3-server.log" iperf3 -s -B 127.0.0.1 -p "$iperf_port"
wait_listen "iperf3 -s" "$tmp/iperf3-server.log" "$PID" "$iperf_port"

pick_port
redis_port=$PORT
mkdir "$tmp/redis"
start "$tmp/redis-server.log" redis-server --bind 127.0.0.1 \
    --port "$redis_port" --save '' --appendonly no --dir "$tmp/redis"
wait_listen "redis-server" "$tmp/redis-server.log" "$PID" "$redis_port"
# A second one: the mirror of the shadow-testing cases.
pick_port
redis_mport=$PORT
mkdir "$tmp/redis-m"
start "$tmp/redis-mirror.log" redis-server --bind 127.0.0.1 \
    --port "$redis_mport" --save '' --appendonly no --dir "$tmp/redis-m"
wait_listen "redis-server (mirror)" "$tmp/redis-mirror.log" "$PID" \
    "$redis_mport"

# haproxy: one process, a TCP proxy for each upstream.  Bulk transfer
# splices always (splice-request and splice-response: splice-auto alone
# rarely splices iperf3's stream and runs at half the speed); redis keeps
# splice-auto, whose heuristic leaves small requests to recv/send.
pick_port
ha_port=$PORT
pick_port
ha_redis_port=$PORT
cat >"$tmp/haproxy.cfg" <<EOF
global
	nbthread $threads
	maxconn 1000
	tune.pipesize $pipe

defaults
	mode tcp
	option splice-auto
	maxconn 1000
	timeout connect 5s
	timeout client 60s
	timeout server 60s

listen iperf3
	bind 127.0.0.1:$ha_port
	option splice-request
	option splice-response
	server iperf3 127.0.0.1:$iperf_port

listen redis
	bind 127.0.0.1:$ha_redis_port
	server redis 127.0.0.1:$redis_port
EOF
haproxy -c -q -f "$tmp/haproxy.cfg" >"$tmp/haproxy-check.log" 2>&1 ||
	die "haproxy rejects its configuration: $(tail -n 1 "$tmp/haproxy-check.log")"
start "$tmp/haproxy.log" haproxy -db -f "$tmp/haproxy.cfg"
ha_pid=$PID
wait_listen haproxy "$tmp/haproxy.log" "$ha_pid" "$ha_port"
wait_listen haproxy "$tmp/haproxy.log" "$ha_pid" "$ha_redis_port"

# socat: a process per connection (fork), large transfer blocks.
pick_port
socat_port=$PORT
start "$tmp/socat.log" socat -b "$pipe" \
    "TCP-LISTEN:$socat_port,bind=127.0.0.1,fork,reuseaddr" \
    "TCP:127.0.0.1:$iperf_port"
wait_listen socat "$tmp/socat.log" "$PID" "$socat_port"

# kcsplice: plain, with a fast mirror, with a stalled mirror, before redis.
start_kcpeer sink --no-hash
sink_port=$PORT
start_kcpeer hold
hold_port=$PORT
start_kcsplice kcsplice "$iperf_port"
kc_port=$PORT
start_kcsplice kcsplice+sink "$iperf_port" "$sink_port" 64M
kc_sink_port=$PORT
start_kcsplice kcsplice+hold "$iperf_port" "$hold_port"
kc_hold_port=$PORT
start_kcsplice kcsplice+redis "$redis_port"
kc_redis_port=$PORT
# Shadow testing's costs: recording every connection; a mirror, without
# and with the comparison of its replies.
mkdir -m 700 "$tmp/rec"
pick_port
rec_mport=$PORT
start_kcsplice_with kcsplice+rec "$redis_port" --record "$tmp/rec" \
    --metrics "tcp:127.0.0.1:$rec_mport"
kc_rec_port=$PORT
start_kcsplice kcsplice+mir "$redis_port" "$redis_mport"
kc_mir_port=$PORT
pick_port
cmp_mport=$PORT
start_kcsplice_with kcsplice+cmp "$redis_port" -m "tcp:127.0.0.1:$redis_mport" \
    --compare --metrics "tcp:127.0.0.1:$cmp_mport"
kc_cmp_port=$PORT

# --- the rounds --------------------------------------------------------

names=(direct kcsplice haproxy socat kcsplice+sink kcsplice+hold)
declare -A port=(
	[direct]=$iperf_port [kcsplice]=$kc_port [haproxy]=$ha_port
	[socat]=$socat_port [kcsplice+sink]=$kc_sink_port
	[kcsplice+hold]=$kc_hold_port
)
declare -A gbps=()
rnames=(kcsplice haproxy kcsplice+rec kcsplice+mir kcsplice+cmp)
declare -A rport=([kcsplice]=$kc_redis_port [haproxy]=$ha_redis_port
	[kcsplice+rec]=$kc_rec_port [kcsplice+mir]=$kc_mir_port
	[kcsplice+cmp]=$kc_cmp_port)
declare -A get=() set=()

# relay_said NAME: the last line of kcsplice NAME's log, if any.
relay_said() {
	local log=$tmp/$1.log
	case $1 in kcsplice*) ;; *) return 0 ;; esac
	if [ -s "$log" ]; then echo "; kcsplice said: $(tail -n 1 "$log")"; fi
}

# iperf3 NAME: one run through NAME; appends Gbit/s to gbps[NAME].
iperf3_once() {
	local log=$tmp/iperf3-$1.json bps try
	for try in 1 2 3; do
		if run "$client_cap" "$log" iperf3 -c 127.0.0.1 -p "${port[$1]}" \
		    -t "$secs" -J; then
			break
		fi
		# The server takes a moment between tests; "busy" is retried.
		grep -q 'server is busy' "$log" && [ "$try" -lt 3 ] &&
			{ sleep 0.5; continue; }
		die "iperf3 through $1 failed:" \
		    "$(grep -m 1 '"error"' "$log" || tail -n 1 "$log")$(relay_said "$1")"
	done
	bps=$(awk '/"sum_received"/ { f = 1 }
	    f && /"bits_per_second"/ { gsub(/[^0-9.eE+]/, "", $2); print $2; exit }' \
	    "$log")
	[ -n "$bps" ] || die "iperf3 through $1: no receiver throughput in its output"
	gbps[$1]="${gbps[$1]:-} $(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e9 }')"
}

# redis_once NAME: redis-benchmark GET and SET through NAME.
redis_once() {
	local log=$tmp/redis-$1.csv g s
	run "$redis_cap" "$log" redis-benchmark -h 127.0.0.1 -p "${rport[$1]}" \
	    -t get,set -n "$requests" -c "$clients" -P 1 --csv ||
		die "redis-benchmark through $1 failed:" \
		    "$(tail -n 1 "$log")$(relay_said "$1+redis")"
	g=$(awk -F, '$1 == "\"GET\"" { gsub(/"/, "", $2); print $2 }' "$log")
	s=$(awk -F, '$1 == "\"SET\"" { gsub(/"/, "", $2); print $2 }' "$log")
	if [ -z "$g" ] || [ -z "$s" ]; then
		die "redis-benchmark through $1: no GET/SET rates in its output"
	fi
	get[$1]="${get[$1]:-} $g"
	set[$1]="${set[$1]:-} $s"
}

echo "relay: $rounds rounds; iperf3 -t $secs; redis-benchmark -n $requests" \
    "-c $clients -P 1; $threads threads; pipe size $pipe bytes"
start_time=$SECONDS
for ((r = 0; r < rounds; r++)); do
	order=("${names[@]}")
	rorder=("${rnames[@]}")
	if ((r % 2)); then
		order=()
		for ((i = ${#names[@]} - 1; i >= 0; i--)); do order+=("${names[i]}"); done
		rorder=()
		for ((i = ${#rnames[@]} - 1; i >= 0; i--)); do rorder+=("${rnames[i]}"); done
	fi
	for n in "${order[@]}"; do iperf3_once "$n"; done
	for n in "${rorder[@]}"; do redis_once "$n"; done
	echo "relay: round $((r + 1))/$rounds done ($((SECONDS - start_time)) s)"
done

# --- the figures -------------------------------------------------------

declare -A med=()
for n in "${names[@]}"; do
	# shellcheck disable=SC2086 # a list of numbers
	med[$n]=$(median ${gbps[$n]})
	printf 'relay: iperf3 %-14s median %8.2f Gbit/s  rounds:%s\n' \
	    "$n" "${med[$n]}" "${gbps[$n]}"
done
declare -A mget=() mset=()
for n in "${rnames[@]}"; do
	# shellcheck disable=SC2086
	mget[$n]=$(median ${get[$n]})
	# shellcheck disable=SC2086
	mset[$n]=$(median ${set[$n]})
	printf 'relay: redis GET via %-9s median %9.0f req/s  rounds:%s\n' \
	    "$n" "${mget[$n]}" "${get[$n]}"
	printf 'relay: redis SET via %-9s median %9.0f req/s  rounds:%s\n' \
	    "$n" "${mset[$n]}" "${set[$n]}"
done
# redis_vs A B: A's GET and SET rates over B's, their geometric mean.
redis_vs() {
	awk -v kg="${mget[$1]}" -v ks="${mset[$1]}" -v hg="${mget[$2]}" \
	    -v hs="${mset[$2]}" \
	    'BEGIN { printf "%.2f\n", (hg > 0 && hs > 0) ? sqrt(kg / hg * ks / hs) : 0 }'
}
redis_ratio=$(redis_vs kcsplice haproxy)
# What the mirrors got: a figure only means what it says if the fast
# mirror kept up (never detached) and the stalled one was detached.
for n in kcsplice kcsplice+sink kcsplice+hold kcsplice+redis; do
	STATS=
	kc_stats "$n"
	case $n in
	kcsplice+sink)
		pct=$(awk -v m="$(field mirror_bytes)" -v u="$(field up_bytes)" \
		    'BEGIN { printf "%.0f", (u > 0) ? 100 * m / u : 0 }')
		if [ "$(field mirror_detached)" != 0 ]; then
			echo "relay: WARNING: the fast mirror was detached" \
			    "$(field mirror_detached) times and received $pct% of" \
			    "the bytes: mirror_fast is not the cost of a full mirror"
		else
			echo "relay: the fast mirror received $pct% of the bytes"
		fi ;;
	kcsplice+hold)
		echo "relay: the stalled mirror was detached" \
		    "$(field mirror_detached) times" ;;
	esac
done
# The shadow-testing figures only mean what they say if the recording
# kept up (nothing incomplete) and every mirror connection was compared.
echo "relay: kcsplice+rec: $(scrape "$rec_mport" kcsplice_record_connections_total)"
echo "relay: kcsplice+cmp: $(scrape "$cmp_mport" kcsplice_compare_total)"
if scrape "$rec_mport" kcsplice_record_connections_total |
    grep -q 'incomplete"} [1-9]'; then
	echo "relay: WARNING: the recording fell behind: record is not the" \
	    "cost of recording everything"
fi
echo "relay: $((SECONDS - start_time)) s"
echo "relay: vs_haproxy=$(ratio "${med[kcsplice]}" "${med[haproxy]}")" \
    "vs_socat=$(ratio "${med[kcsplice]}" "${med[socat]}")" \
    "mirror_fast=$(ratio "${med[kcsplice+sink]}" "${med[kcsplice]}")" \
    "mirror_stalled=$(ratio "${med[kcsplice+hold]}" "${med[kcsplice]}")" \
    "redis_vs_haproxy=$redis_ratio" \
    "record=$(redis_vs kcsplice+rec kcsplice)" \
    "compare=$(redis_vs kcsplice+cmp kcsplice+mir)"
