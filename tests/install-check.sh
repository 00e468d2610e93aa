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
    kc_executor_create.3 kc_alloc.3 kc_wait.3; do
	[ -e "$root/share/man/man3/$page" ] || fail "man page $page missing"
	[ -f "$root/share/man/man3/$page" ] || fail "man link $page dangles"
done
[ -f "$root/share/man/man7/kcont.7" ] || fail "kcont.7 missing"

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
export PKG_CONFIG_LIBDIR="$libdir/pkgconfig"
incdir=$(pkg-config --variable=includedir kcont)
[ "$(cd "$incdir" && pwd -P)" = "$(cd "$root/include" && pwd -P)" ] ||
    fail "kcont.pc includedir $incdir is not $root/include"
flags=$(pkg-config --cflags --libs kcont)
# shellcheck disable=SC2086
"$cc" ${KC_SANITIZE_FLAGS:-} -o "$stage/prog" "$stage/prog.c" $flags \
    -Wl,-rpath,"$libdir"
"$stage/prog" || fail "program built against the installed kcont failed"
echo "install-check: ok ($prefix under DESTDIR)"
