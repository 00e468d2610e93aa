#!/bin/sh
# Extract the C example from README.md (the block after "<!-- example -->"),
# build it with the project's warning flags and run it: the README never
# shows code that does not compile or does not work.
# Usage: readme-example.sh README.md CC INCLUDE_DIR LIBKCONT_A
set -eu
readme=$1 cc=$2 inc=$3 lib=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk '/<!-- example -->/ { want = 1; next }
     want && /^```c/ { inblock = 1; next }
     inblock && /^```/ { exit }
     inblock { print }' "$readme" > "$dir/example.c"
[ -s "$dir/example.c" ] || { echo "readme-example: no example in $readme" >&2; exit 1; }
san=""
case "${KC_SANITIZE_FLAGS:-}" in ?*) san=$KC_SANITIZE_FLAGS ;; esac
# shellcheck disable=SC2086
"$cc" -std=gnu11 -Wall -Wextra -Wshadow -Wmissing-prototypes \
    -Wstrict-prototypes -Werror $san -I"$inc" -o "$dir/example" \
    "$dir/example.c" "$lib" -pthread
"$dir/example"
