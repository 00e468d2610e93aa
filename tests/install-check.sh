#!/bin/sh
# Install the build tree into a staging DESTDIR under a prefix, then check
# what a user gets: headers, both libraries, man pages with their links, a
# kcont.pc that points at the prefix, and a program built with pkg-config.
# Usage: install-check.sh BUILD_DIR CC
set -eu
build=$1
cc=${2:-cc}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
prefix=/opt/kcont-test

DESTDIR="$stage" cmake --install "$build" --prefix "$prefix" >/dev/null
root="$stage$prefix"
fail() { echo "install-check: $*" >&2; exit 1; }

[ -f "$root/include/kcont.h" ] || fail "kcont.h not installed"
[ -f "$root/include/kcont/kc.h" ] || fail "kcont/kc.h not installed"
libdir=$(ls -d "$root"/lib* | head -n 1)
[ -f "$libdir/libkcont.a" ] || fail "static library not installed"
[ -e "$libdir/libkcont.so" ] || fail "shared library not installed"
pc="$libdir/pkgconfig/kcont.pc"
[ -f "$pc" ] || fail "kcont.pc not installed"
for page in kcont.3 kc_init.3 kc_run.3 kc_run_all.3 kc_cancel_sync.3 \
    kc_executor_create.3 kc_alloc.3 kc_wait.3 \
    kqueue.3 kevent.3 EV_SET.3 kc_executor_kqueue.3 \
    kc_msg.3 kc_msg_send.3 kc_port_init.3 \
    kc_chain.3 kc_chain_split.3 kc_seg_wrap.3; do
	[ -e "$root/share/man/man3/$page" ] || fail "man page $page missing"
	[ -f "$root/share/man/man3/$page" ] || fail "man link $page dangles"
done
[ -f "$root/share/man/man7/kcont.7" ] || fail "kcont.7 missing"
[ -f "$root/share/man/man1/kcdump.1" ] || fail "kcdump.1 missing"
[ -f "$root/share/man/man5/kcont-trace.5" ] || fail "kcont-trace.5 missing"
[ -x "$root/bin/kcdump" ] || fail "kcdump not installed"
[ -x "$root/bin/kcsplice" ] || fail "kcsplice not installed"
[ -f "$root/share/man/man1/kcsplice.1" ] || fail "kcsplice.1 missing"
# The page as the build dated it, not the source's placeholder.
grep -q '^\.Dd [A-Z][a-z]* [1-9][0-9]*, [0-9][0-9][0-9][0-9]$' \
    "$root/share/man/man1/kcsplice.1" ||
    fail "kcsplice.1 installed without its date: $(head -n 1 \
    "$root/share/man/man1/kcsplice.1")"
# The systemd units, naming the kcsplice of this prefix.
for unit in kcsplice.service kcsplice@.service; do
	f="$root/lib/systemd/system/$unit"
	[ -f "$f" ] || fail "$unit not installed in lib/systemd/system"
	grep -q "^ExecStart=$prefix/bin/kcsplice -f " "$f" ||
	    fail "$unit: ExecStart does not run $prefix/bin/kcsplice"
	if grep -q '@[A-Z_]*@' "$f"; then
		fail "$unit: not configured: $(grep '@[A-Z_]*@' "$f")"
	fi
done

# A program built the way a user would, against the staged tree.
cat > "$stage/prog.c" <<'PROG'
#include <kcont.h>
#include <stdio.h>
static void hello(void *obj, void *env, int status)
{
	(void)obj;
	*(int *)env = status;
}
int main(void)
{
	struct kc kc;
	int got = 0;
	if (kc_init(&kc, hello, &got, NULL, 0) != 0 || kc_run(&kc, NULL, 42) != 0)
		return 1;
	return got == 42 ? 0 : 1;
}
PROG
# The staged files first, then the system's own directories (where
# liburing.pc, which kcont.pc requires privately, is): a PKG_CONFIG_PATH of
# the user's would be searched before PKG_CONFIG_LIBDIR, and may hold
# another kcont.pc.
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
syspc=$(PKG_CONFIG_LIBDIR= pkg-config --variable pc_path pkg-config)
export PKG_CONFIG_LIBDIR="$libdir/pkgconfig:$syspc"
incdir=$(pkg-config --variable=includedir kcont)
[ "$(cd "$incdir" && pwd -P)" = "$(cd "$root/include" && pwd -P)" ] ||
    fail "kcont.pc includedir $incdir is not $root/include"
flags=$(pkg-config --cflags --libs kcont)
# shellcheck disable=SC2086
"$cc" ${KC_SANITIZE_FLAGS:-} -o "$stage/prog" "$stage/prog.c" $flags \
    -Wl,-rpath,"$libdir"
"$stage/prog" || fail "program built against the installed kcont failed"

# An unmodified kqueue program, as written for FreeBSD: one pkg-config line,
# against the installed tree and against the build tree.
cat > "$stage/kq.c" <<'PROG'
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <err.h>
#include <unistd.h>
int main(void)
{
	struct kevent ch, ev;
	struct timespec ts = { 5, 0 };
	int kq, p[2];

	if ((kq = kqueue()) == -1 || pipe(p) == -1)
		err(1, "kqueue");
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	if (kevent(kq, &ch, 1, NULL, 0, NULL) == -1)
		err(1, "kevent");
	if (write(p[1], "abc", 3) != 3)
		err(1, "write");
	if (kevent(kq, NULL, 0, &ev, 1, &ts) != 1)
		errx(1, "no event");
	if ((int)ev.ident != p[0] || ev.filter != EVFILT_READ || ev.data != 3)
		errx(1, "wrong event");
	close(kq);
	return 0;
}
PROG
[ -f "$root/include/kcont-kqueue/sys/event.h" ] || fail "sys/event.h not installed"
[ -f "$libdir/pkgconfig/kcont-kqueue.pc" ] || fail "kcont-kqueue.pc not installed"
flags=$(pkg-config --cflags --libs kcont-kqueue)
# shellcheck disable=SC2086
"$cc" ${KC_SANITIZE_FLAGS:-} -o "$stage/kq" "$stage/kq.c" $flags \
    -Wl,-rpath,"$libdir"
"$stage/kq" || fail "kqueue program built against the installed kcont failed"
flags=$(PKG_CONFIG_LIBDIR="$syspc" PKG_CONFIG_PATH="$build/pkgconfig" \
    pkg-config --cflags --libs kcont-kqueue)
# shellcheck disable=SC2086
"$cc" ${KC_SANITIZE_FLAGS:-} -o "$stage/kq-build" "$stage/kq.c" $flags
"$stage/kq-build" || fail "kqueue program built against the build tree failed"
echo "install-check: ok ($prefix under DESTDIR)"
