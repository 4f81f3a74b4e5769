#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/abi-check.sh [BUILD_DIR] - the ABI is exactly the documented API.
#
# Four lists of names must be the same set:
#   header   the functions include/pooter.h declares, as the compiler sees
#            them (gcc -aux-info), cross-checked by a plain text scan of the
#            preprocessed header so that neither parse can miss one silently;
#   map      the global: entries of src/libpooter.map (the version script);
#   exports  the dynamic symbols libpooter.so defines (nm -D --defined-only),
#            version nodes left out; each must carry a POOTER_* version;
#   man      the pages man/NAME.3: one for every function.  A page may also
#            document a function-like macro the header defines
#            (pooter_cqe_is_aux), and no other name.
# Also: the header defines no function (no inlines: the layout is private).
#
# BUILD_DIR: a configured build tree whose libpooter.so to check (built if
# needed).  Without it, a throwaway build under /tmp.  Writes only there.
# Exits non-zero, with a diff, on any difference.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/pooter-abi.XXXXXX)
trap 'rm -rf "$work"' EXIT

fail=0
say() { printf '%s\n' "$*"; }
bad() { printf 'FAIL: %s\n' "$*"; fail=1; }

if (($# > 1)); then
	echo "usage: $0 [BUILD_DIR]" >&2
	exit 2
fi
if (($# == 1)); then
	build=$(cd "$1" && pwd)
	[[ -f $build/CMakeCache.txt ]] || {
		echo "$0: $build is not a configured build tree" >&2
		exit 2
	}
else
	build=$work/build
	say "abi-check: building libpooter in $build"
	cmake -S "$src" -B "$build" -DPOOTER_BUILD_TESTS=OFF >"$work/cmake.log" ||
		{ cat "$work/cmake.log"; exit 1; }
fi
cmake --build "$build" --target pooter -j"$(nproc)" >"$work/build.log" ||
	{ cat "$work/build.log"; exit 1; }

lib=$(find "$build" -name 'libpooter.so' \( -type f -o -type l \) -print -quit)
[[ -n $lib ]] || { echo "$0: no libpooter.so under $build" >&2; exit 1; }
lib=$(readlink -f "$lib")
header=$src/include/pooter.h
map=$src/src/libpooter.map
say "abi-check: header $header"
say "abi-check: map    $map"
say "abi-check: lib    $lib"

# --- header: what the compiler declares --------------------------------------
printf '#include "%s"\n' "$header" >"$work/tu.c"
gcc -std=c11 -D_GNU_SOURCE -fsyntax-only -aux-info "$work/aux" "$work/tu.c"
# Lines look like:
#   /* /path/include/pooter.h:85:NC */ extern int pooter_broker_create (...);
# The name is the identifier before " (", or after "(*" when the function
# returns a function pointer.  NF or OF (not NC, OC) marks a definition.
grep -F "/* $header:" "$work/aux" >"$work/aux.h" || true
if grep -Eq '^/\* [^ ]+:[0-9]+:[NO]F \*/' "$work/aux.h"; then
	bad "include/pooter.h defines functions (inlines belong in src/):"
	grep -E '^/\* [^ ]+:[0-9]+:[NO]F \*/' "$work/aux.h" | sed 's/^/    /'
fi
sed -E 's|^/\* [^*]* \*/ ||' "$work/aux.h" |
	perl -ne 'if (/\(\*\s*([A-Za-z_]\w*) \(/) { print "$1\n" }
		  elsif (/([A-Za-z_]\w*) \(/) { print "$1\n" }' |
	sort -u >"$work/header"

# The same from the text, for a second opinion: every "pooter_x (" in the
# lines of the preprocessed header that came from pooter.h.
gcc -std=c11 -D_GNU_SOURCE -E "$work/tu.c" |
	awk -v h="\"$header\"" '/^# [0-9]+ "/ { mine = ($3 == h); next } mine' |
	grep -oE '\bpooter_[A-Za-z0-9_]*[[:space:]]*\(' |
	sed -E 's/[[:space:]]*\($//' | sort -u >"$work/header.text"
if ! diff "$work/header" "$work/header.text" >"$work/diff"; then
	bad "the compiler's (<) and the text scan's (>) lists of pooter.h differ:"
	grep '^[<>]' "$work/diff" | sed 's/^/    /'
fi

# --- map: the global entries of the version script ---------------------------
# Comments out, then "name;" lines inside global: sections, in any node.
perl -0pe 's{/\*.*?\*/}{}gs; s{#[^\n]*}{}g' "$map" |
	awk '/global:/ { g = 1; sub(/.*global:/, "") }
	     /local:/ { g = 0 }
	     /}/ { g = 0 }
	     g { n = split($0, w, /[;[:space:]]+/)
		 for (i = 1; i <= n; i++) if (w[i] != "") print w[i] }' |
	sort >"$work/map.all"
sort -u "$work/map.all" >"$work/map"
if [[ $(wc -l <"$work/map.all") != $(wc -l <"$work/map") ]]; then
	bad "src/libpooter.map lists a name twice:"
	uniq -d "$work/map.all" | sed 's/^/    /'
fi
if grep -q '[*?]' "$work/map"; then
	bad "src/libpooter.map exports by wildcard:"
	grep '[*?]' "$work/map" | sed 's/^/    /'
fi

# --- exports: what the library defines ------------------------------------------
nm -D --defined-only --with-symbol-versions "$lib" >"$work/nm"
# Version nodes (type A, e.g. POOTER_0.1) are not symbols of the API.
awk '$2 != "A" { print $3 }' "$work/nm" | sed -E 's/@.*//' | sort -u \
	>"$work/exports"
awk '$2 != "A" && $3 !~ /@@?POOTER_[0-9]+\.[0-9]+$/ { print "    " $3 }' \
	"$work/nm" >"$work/unversioned"
if [[ -s $work/unversioned ]]; then
	bad "exported symbols without a POOTER_x.y version:"
	cat "$work/unversioned"
fi

# --- man: a page per function --------------------------------------------------
find "$src/man" -maxdepth 1 -name '*.3' -printf '%f\n' | sed 's/\.3$//' |
	sort >"$work/man"
grep -oE '^[[:space:]]*#[[:space:]]*define[[:space:]]+[A-Za-z_][A-Za-z0-9_]*\(' \
	"$header" | sed -E 's/.*define[[:space:]]+//; s/\($//' | sort -u \
	>"$work/macros"
comm -23 "$work/man" "$work/macros" >"$work/man.functions"

# --- compare -------------------------------------------------------------------
compare() {
	local a=$1 b=$2 what=$3
	comm -23 "$work/$a" "$work/$b" >"$work/only.a"
	comm -13 "$work/$a" "$work/$b" >"$work/only.b"
	if [[ ! -s $work/only.a && ! -s $work/only.b ]]; then
		say "ok: $what ($(wc -l <"$work/$a") names)"
		return
	fi
	bad "$what:"
	sed "s/^/    in $a, not in $b: /" "$work/only.a"
	sed "s/^/    in $b, not in $a: /" "$work/only.b"
}

say "abi-check: the header declares $(wc -l <"$work/header") functions"
compare header map "the version script exports exactly the header's functions"
compare header exports "libpooter.so exports exactly the header's functions"
compare header man.functions "every function has its man page, every page its function"
[[ -f $src/man/pooter.7 ]] || bad "man/pooter.7 is missing"

if ((fail)); then
	say "abi-check: FAILED"
	exit 1
fi
say "abi-check: ok"
