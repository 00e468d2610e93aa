# shellcheck shell=bash disable=SC2034,SC2154
# (root and die come from the script; what is set here is the script's.)
# bench/lib/args.sh: the command line the benchmark scripts take,
#   SCRIPT [--quick] [--rounds N] [-t SECONDS] [BUILD_DIR]
# sourced by them (bash).  bench_args "$@" sets quick (0 or 1), rounds and
# secs (empty unless given) and build (default ROOT/build; the script sets
# root); the script then gives rounds and secs its defaults and calls
# bench_args_check, which calls the script's die() on a bad value.

bench_usage() {
	echo "usage: $0 [--quick] [--rounds N] [-t SECONDS] [BUILD_DIR]"
}

bench_args() {
	build=$root/build
	rounds=
	secs=
	quick=0
	while [ $# -gt 0 ]; do
		case $1 in
		--quick) quick=1 ;;
		--rounds)
			[ $# -ge 2 ] || { bench_usage >&2; exit 64; }
			rounds=$2
			shift
			;;
		--rounds=*) rounds=${1#*=} ;;
		-t)
			[ $# -ge 2 ] || { bench_usage >&2; exit 64; }
			secs=$2
			shift
			;;
		-h | --help) bench_usage; exit 0 ;;
		-*) bench_usage >&2; exit 64 ;;
		*) build=$1 ;;
		esac
		shift
	done
}

bench_args_check() {
	[[ $rounds =~ ^[1-9][0-9]{0,2}$ ]] ||
		die "--rounds: expected 1..999, got '$rounds'"
	[[ $secs =~ ^[1-9][0-9]{0,2}$ ]] ||
		die "-t: expected 1..999 seconds, got '$secs'"
}
