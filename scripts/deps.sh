#!/bin/sh
# Install the Debian packages kcont needs to build, test and benchmark.
# As root it runs apt-get; otherwise it prints the one line to run and fails.
# Usage: scripts/deps.sh [build|it|bench|fuzz]
#   it adds what integration tests drive kcsplice with (nginx as upstream
#   and mirror, wrk as the load), promtool (in prometheus) and the
#   Prometheus Python client's OpenMetrics parser to check its metrics,
#   systemd-analyze, strace and pgrep to check its systemd units, and
#   redis and PostgreSQL (with redis-benchmark and pgbench) as the servers
#   and loads of the mirror sample and turn pacing tests, dnsmasq and dig
#   for UDP recording and replay;
#   bench adds the benchmark peers; fuzz adds clang and its runtime
#   libraries (libFuzzer and the sanitizers), which clang only recommends.
set -eu

pkgs="cmake make gcc pkg-config libuv1-dev libevent-dev libev-dev liburing-dev mandoc python3"
case "${1:-build}" in
build) ;;
it) pkgs="$pkgs nginx wrk prometheus python3-prometheus-client systemd strace procps"
    # The mirrors' sample and turn pacing (tests/integration/shadow.c);
    # dnsmasq and dig: a UDP session recorded and replayed there.
    pkgs="$pkgs redis-server redis-tools postgresql"
    pkgs="$pkgs dnsmasq-base bind9-dnsutils" ;;
# The relay benchmark's load generators and peers (bench/relay.sh);
# redis-benchmark is in redis-tools; fio is bench-fileio's io_uring peer.
bench) pkgs="$pkgs iperf3 haproxy socat redis-server redis-tools fio" ;;
fuzz) pkgs="$pkgs clang libclang-rt-dev" ;;
*) echo "usage: $0 [build|it|bench|fuzz]" >&2; exit 64 ;;
esac
# kcnbd (tests/nbd, bench/nbd.sh): libnbd's tools and its Python module
# (nbdsh), qemu-img and qemu-nbd, fio and its nbd engine, nbdkit.
case "${1:-build}" in
it|bench) pkgs="$pkgs libnbd-bin python3-libnbd qemu-utils fio nbdkit" ;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "kcont needs these Debian packages; run:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
