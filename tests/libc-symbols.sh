#!/bin/sh
# libc-symbols.sh LIBKCONT LIBKCONT_KQUEUE CC: libkcont.so defines no
# function the C library defines (it replaces none); libkcont-kqueue.so
# defines the BSD calls and the wrappers its emulation needs, and nothing
# else of the C library's.
set -eu
kc=$1 kq=$2 cc=$3
libc=$("$cc" -print-file-name=libc.so.6)
[ -f "$libc" ] || { echo "libc-symbols: no libc.so.6 from $cc" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
defs() { nm -D --defined-only "$1" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u; }
defs "$libc" >"$tmp/libc"
defs "$kc" >"$tmp/kc"
defs "$kq" >"$tmp/kq"
[ -s "$tmp/libc" ] && [ -s "$tmp/kc" ] ||
	{ echo "libc-symbols: nm read nothing" >&2; exit 1; }
comm -12 "$tmp/kc" "$tmp/libc" >"$tmp/both"
if [ -s "$tmp/both" ]; then
	echo "libc-symbols: libkcont.so defines C library functions:" \
	    $(cat "$tmp/both") >&2
	exit 1
fi
grep -qx kc_executor_create "$tmp/kc" ||
	{ echo "libc-symbols: $kc does not look like libkcont" >&2; exit 1; }
comm -12 "$tmp/kq" "$tmp/libc" >"$tmp/kqboth"
printf '%s\n' close dup2 dup3 sigaction signal >"$tmp/want"
if ! cmp -s "$tmp/kqboth" "$tmp/want"; then
	echo "libc-symbols: libkcont-kqueue.so replaces" $(cat "$tmp/kqboth") \
	    "; expected" $(cat "$tmp/want") >&2
	exit 1
fi
for f in kqueue kevent; do
	grep -qx "$f" "$tmp/kq" ||
		{ echo "libc-symbols: libkcont-kqueue.so lacks $f" >&2; exit 1; }
done
echo "libc-symbols: libkcont.so replaces nothing of $(wc -l <"$tmp/libc")" \
    "C library symbols; libkcont-kqueue.so replaces" $(cat "$tmp/kqboth")
