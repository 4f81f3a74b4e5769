#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/cxx.sh [BUILD_DIR] - include/pooter.h is usable from C++17 as written:
# docs/examples/cxx-example.cpp builds with -std=c++17 -Wall -Wextra
# -pedantic -Werror (g++, and clang++ where installed) against the in-tree
# header and BUILD_DIR's libpooter.so, and runs.  Also the header alone, in
# C++11 and C++20, with the same flags.  Writes only under /tmp.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$(mktemp -d /tmp/pooter-cxx.XXXXXX)
trap 'rm -rf "$work"' EXIT
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

cmake --build "$build" -j"$(nproc)" --target pooter >"$work/build.log" ||
	{ cat "$work/build.log"; die "build failed"; }
lib=$(dirname "$(find "$build/src" -maxdepth 1 -name libpooter.so -print -quit)")
flags=(-Wall -Wextra -pedantic -Werror -I"$src/include")
compilers=()
for cxx in g++ clang++; do
	command -v "$cxx" >/dev/null && compilers+=("$cxx")
done
((${#compilers[@]})) || die "no C++ compiler (apt-get install g++)"
printf '#include <pooter.h>\nint main() { POOTER_OPTS_INIT(pooter_broker_attr, a); a.depth = 4; struct pooter_broker_stat st{}; return (int)a.depth - 4 + (int)st.depth; }\n' \
	>"$work/header.cpp"
for cxx in "${compilers[@]}"; do
	for std in c++11 c++20; do
		"$cxx" -std=$std "${flags[@]}" -o "$work/header-$std" "$work/header.cpp" ||
			die "$cxx -std=$std: include/pooter.h does not compile"
	done
	echo "ok: $cxx: the header alone compiles as C++11 and C++20"
	(set -x; "$cxx" -std=c++17 "${flags[@]}" -o "$work/cxx-example" \
		"$src/docs/examples/cxx-example.cpp" -L"$lib" -lpooter \
		-Wl,-rpath,"$lib") || die "$cxx: cxx-example.cpp does not build"
	timeout 60 "$work/cxx-example" || die "$cxx: cxx-example failed"
done
echo "cxx: ok"
