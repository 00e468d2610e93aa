#!/bin/sh
# kcsplice's systemd units (contrib/), as the build configured them:
# the settings the sandbox promises are there, `systemd-analyze verify`
# has nothing to say about them (a warning fails as an error does), their
# exposure by `systemd-analyze security` stays at or under 2.0, and a
# broken copy of each is caught, so that the check itself can fail.
# No running systemd is needed: verify runs without generators or man
# page look-ups, security --offline on the files.
# Usage: systemd-units.sh UNIT_DIR KCSPLICE BINDIR
#   UNIT_DIR  the configured units; KCSPLICE the built binary, which stands
#   in for BINDIR/kcsplice (the installed one, named in the units).
set -eu
units=$1
kcsplice=$2
bindir=$3
fail() { echo "systemd-units: $*" >&2; exit 1; }

sa=$(command -v systemd-analyze || true)
if [ -z "$sa" ]; then
	# CI installs it (scripts/deps.sh it): missing there is a failure.
	[ -z "${CI:-}" ] || fail "systemd-analyze missing (scripts/deps.sh it)"
	echo "systemd-units: SKIP: no systemd-analyze (package systemd)"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SYSTEMD_LOG_COLOR=0 SYSTEMD_PAGER=cat

for u in kcsplice.service kcsplice@.service; do
	f="$units/$u"
	[ -f "$f" ] || fail "$f: not configured"
	case $u in
	kcsplice@*) conf='/etc/kcsplice/%i.conf' ;;
	*) conf='${KCSPLICE_CONF}' ;;
	esac
	for want in "ExecStart=$bindir/kcsplice -f $conf" \
	    "ExecStartPre=$bindir/kcsplice --check -f $conf" \
	    "ExecReload=$bindir/kcsplice --check -f $conf" \
	    'ExecReload=/bin/kill -HUP $MAINPID' \
	    DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict \
	    ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
	    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
	    MemoryDenyWriteExecute=yes SystemCallFilter=@system-service \
	    KillSignal=SIGTERM Restart=on-failure LimitNOFILE= \
	    WantedBy=multi-user.target; do
		grep -qF -- "$want" "$f" || fail "$u: no line with '$want'"
	done
	# The drain (--shutdown-timeout, 10 s by default) ends before SIGKILL.
	stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$f")
	[ -n "$stop" ] && [ "$stop" -gt 10 ] ||
	    fail "$u: TimeoutStopSec='$stop' is not above 10 s"
	# The installed kcsplice is not there yet: the built one stands in.
	sed "s|$bindir/kcsplice|$kcsplice|g" "$f" > "$work/$u"
done

# verify DIR UNIT...: exit 0 and no output, or fail with the output.
verify() {
	dir=$1
	shift
	if out=$(cd "$dir" && "$sa" verify --man=no --generators=no "$@" 2>&1)
	then rc=0; else rc=$?; fi
	[ "$rc" -eq 0 ] && [ -z "$out" ]
}

verify "$work" ./kcsplice.service ./kcsplice@example.service ||
    fail "systemd-analyze verify (exit $rc):
$out"
for u in kcsplice.service kcsplice@.service; do
	x=$(cd "$work" && "$sa" security --offline=true --threshold=20 \
	    "./$u" 2>&1) || fail "$u: exposure above 2.0:
$(echo "$x" | tail -n 3)"
	echo "systemd-units: $u: $(echo "$x" | grep 'Overall exposure')"
done

# Broken copies must be caught: a misspelt setting, a value out of range,
# an ExecStart that is not there, no ExecStart at all.
n=0
for broken in 's/^ProtectSystem=/ProtectSystm=/' \
    's/^ProtectSystem=strict/ProtectSystem=stricter/' \
    "s|^ExecStart=$kcsplice|ExecStart=$work/no-such-kcsplice|" \
    '/^ExecStart=/d'; do
	n=$((n + 1))
	mkdir "$work/b$n"
	sed "$broken" "$work/kcsplice.service" > "$work/b$n/kcsplice.service"
	sed "$broken" "$work/kcsplice@.service" > "$work/b$n/kcsplice@.service"
	cmp -s "$work/kcsplice.service" "$work/b$n/kcsplice.service" &&
	    fail "'$broken' changed nothing in kcsplice.service"
	cmp -s "$work/kcsplice@.service" "$work/b$n/kcsplice@.service" &&
	    fail "'$broken' changed nothing in kcsplice@.service"
	for u in ./kcsplice.service ./kcsplice@example.service; do
		if verify "$work/b$n" "$u"; then
			fail "verify passed $u broken by '$broken'"
		fi
	done
done
echo "systemd-units: ok (verify clean, $n kinds of breakage caught)"
