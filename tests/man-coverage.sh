#!/bin/sh
# Every function the public headers export (KC_EXPORT) is named by a page in
# man/man3 (.Nm), and every function a page in man/man3 names is exported:
# the pages and the headers say the same.
# Usage: man-coverage.sh SOURCE_DIR
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The function's name is the last word before its '(' on the KC_EXPORT line.
grep -h '^KC_EXPORT' "$src"/include/kcont/*.h |
    sed -E 's/^([^(]*[ *\t])([a-z_0-9]+)\(.*/\2/' >"$tmp/exported"
# And the inline functions a header defines (the name starts the next line).
grep -h -A1 '^static inline' "$src"/include/kcont/*.h |
    sed -nE 's/^(kc_[a-z_0-9]+)\(.*/\1/p' >>"$tmp/exported"
sort -u -o "$tmp/exported" "$tmp/exported"
grep -h '^\.Nm kc_' "$src"/man/man3/*.3 | sed -E 's/^\.Nm ([a-z_0-9]+).*/\1/' |
    sort -u >"$tmp/named"
status=0
if ! [ -s "$tmp/exported" ]; then
	echo "man-coverage: no exported function found" >&2
	exit 1
fi
comm -23 "$tmp/exported" "$tmp/named" | while read -r f; do
	echo "man-coverage: $f is exported but no page in man3 names it" >&2
	echo x >>"$tmp/bad"
done
comm -13 "$tmp/exported" "$tmp/named" | while read -r f; do
	echo "man-coverage: a page names $f, which no header exports" >&2
	echo x >>"$tmp/bad"
done
[ -e "$tmp/bad" ] && status=1
echo "man-coverage: $(wc -l <"$tmp/exported") exported functions checked"
exit $status
