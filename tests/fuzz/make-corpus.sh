#!/bin/sh
# Write the seed corpus of fuzz_segment into DIR (default: the corpus/
# directory beside this script).  Seeds are small binary files; offsets come
# from src/layout.h through make_corpus.c.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/corpus}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cc" -std=gnu11 -D_GNU_SOURCE -I"$root/include" -I"$root/src" -I"$here" \
	-o "$tmp/make_corpus" "$here/make_corpus.c"
mkdir -p "$out"
"$tmp/make_corpus" "$out"
ls "$out"
