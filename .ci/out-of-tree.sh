#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/out-of-tree.sh [BUILD_DIR] - an application outside this tree builds
# against an installed pooter, and runs.
#
# Installs pooter into a prefix, then builds docs/examples/pipeline-barrier.c
# (and gather-then-act.c, and uring-loop.c with liburing when it exists) as
# an application would, knowing nothing of this source tree:
#   1. with pkg-config:  cc app.c $(pkg-config --cflags --libs pooter)
#   2. with CMake:       find_package(pooter 0.1 REQUIRED)
#                        target_link_libraries(app PRIVATE pooter::pooter)
#   3. with CMake, static: find_package(pooter REQUIRED COMPONENTS static)
# runs every program (each exits 0 only if its story held), and checks that
# each linked what it should: the installed libpooter.so.0, or no
# libpooter.so at all for the static one.  Also: find_package(pooter 99)
# must not accept this version.
#
# Without BUILD_DIR: configures and builds a fresh tree under /tmp with the
# prefix set at configure time (pooter.pc records it) and runs cmake
# --install.  With BUILD_DIR: builds it and installs it with DESTDIR into a
# staging directory under /tmp; pkg-config is pointed there with
# PKG_CONFIG_SYSROOT_DIR, CMake with CMAKE_PREFIX_PATH (the CMake package is
# relocatable).  Writes only under /tmp and in BUILD_DIR (POOTER_KEEP_WORK=1
# keeps the work directory).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/pooter-oot.XXXXXX)
cleanup() {
	if [[ ${POOTER_KEEP_WORK:-0} == 1 ]]; then
		echo "out-of-tree: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
cc=${CC:-cc}
jobs=$(nproc)

say() { printf '\n--- %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }

if (($# > 1)); then
	echo "usage: $0 [BUILD_DIR]" >&2
	exit 2
fi

if (($# == 1)); then
	build=$(cd "$1" && pwd)
	[[ -f $build/CMakeCache.txt ]] || die "$build is not a configured build tree"
	say "build $build and install it staged into $work/stage"
	cmake --build "$build" -j"$jobs" >"$work/build.log" ||
		{ cat "$work/build.log"; die "build failed"; }
	DESTDIR=$work/stage cmake --install "$build" >"$work/install.log" ||
		{ cat "$work/install.log"; die "cmake --install failed"; }
	sysroot=$work/stage
else
	build=$work/build
	say "configure and build $build for prefix $work/prefix"
	cmake -S "$src" -B "$build" -DPOOTER_BUILD_TESTS=OFF \
		-DCMAKE_INSTALL_PREFIX="$work/prefix" >"$work/configure.log" ||
		{ cat "$work/configure.log"; die "configure failed"; }
	cmake --build "$build" -j"$jobs" >"$work/build.log" ||
		{ cat "$work/build.log"; die "build failed"; }
	cmake --install "$build" >"$work/install.log" ||
		{ cat "$work/install.log"; die "cmake --install failed"; }
	sysroot=
fi

prefix=$(cache_var CMAKE_INSTALL_PREFIX)
libdir=$(cache_var CMAKE_INSTALL_LIBDIR)
version=$(cache_var CMAKE_PROJECT_VERSION)
[[ $libdir == /* ]] || libdir=$prefix/$libdir
root=$sysroot$prefix
rootlib=$sysroot$libdir
echo "installed: prefix $prefix, libdir $libdir, version $version, into $root"
for f in "$root/include/pooter.h" "$rootlib/libpooter.so" \
	"$rootlib/libpooter.so.0" "$rootlib/libpooter.a" \
	"$rootlib/pkgconfig/pooter.pc" "$rootlib/cmake/pooter/pooterConfig.cmake" \
	"$rootlib/cmake/pooter/pooterConfigVersion.cmake"; do
	[[ -e $f ]] || die "not installed: $f"
	echo "ok: installed ${f#"$root"/}"
done

# The application: a copy, away from this tree and its include/.
app=$work/app
mkdir -p "$app"
cp "$src/docs/examples/pipeline-barrier.c" "$src/docs/examples/gather-then-act.c" "$app/"

# Runs a program built against the install; it must load the installed
# libpooter.so.0 (when it loads one at all) and exit 0.
run() {
	local exe=$1 want_lib=$2 needed
	needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
	echo "$(basename "$exe"): needs $needed"
	if [[ $want_lib == shared ]]; then
		[[ " $needed " == *" libpooter.so.0 "* ]] ||
			die "$exe does not link libpooter.so.0"
		LD_LIBRARY_PATH=$rootlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
			ldd "$exe" | grep -F "libpooter.so.0 => $rootlib/" ||
			die "$exe would not load the installed libpooter.so.0"
	else
		[[ " $needed " != *" libpooter.so"* ]] ||
			die "$exe links libpooter.so, yet asked for static"
	fi
	LD_LIBRARY_PATH=$rootlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		timeout 120 "$exe" >"$exe.out" 2>&1 ||
		{ cat "$exe.out"; die "$exe exited non-zero"; }
	tail -n 1 "$exe.out"
	echo "ok: $(basename "$exe") ran and exited 0"
}

# --- 1. pkg-config ------------------------------------------------------------
say "pkg-config"
export PKG_CONFIG_PATH=$rootlib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
if [[ -n $sysroot ]]; then
	export PKG_CONFIG_SYSROOT_DIR=$sysroot
fi
pcver=$(pkg-config --modversion pooter) || die "pkg-config cannot find pooter"
[[ $pcver == "$version" ]] || die "pkg-config says pooter $pcver, built $version"
cflags=$(pkg-config --cflags pooter)
libs=$(pkg-config --libs pooter)
echo "pooter $pcver: cflags '$cflags', libs '$libs'"
mkdir -p "$app/pc"
for ex in pipeline-barrier gather-then-act; do
	# shellcheck disable=SC2086 # word splitting is the point
	(set -x; "$cc" -std=c11 -Wall -Wextra -Werror $cflags \
		-o "$app/pc/$ex" "$app/$ex.c" $libs) ||
		die "$ex does not build with pkg-config"
	run "$app/pc/$ex" shared
done
if [[ -f $src/docs/examples/uring-loop.c ]]; then
	# The io_uring example runs its own ring: liburing too.  77 is "skipped".
	cp "$src/docs/examples/uring-loop.c" "$app/"
	# shellcheck disable=SC2046 # word splitting is the point
	(set -x; "$cc" -std=c11 -Wall -Wextra -Werror \
		$(pkg-config --cflags pooter liburing) -o "$app/pc/uring-loop" \
		"$app/uring-loop.c" $(pkg-config --libs pooter liburing)) ||
		die "uring-loop does not build with pkg-config"
	rc=0
	LD_LIBRARY_PATH=$rootlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		timeout 120 "$app/pc/uring-loop" >"$app/pc/uring-loop.out" 2>&1 || rc=$?
	case $rc in
	0) tail -n 1 "$app/pc/uring-loop.out"; echo "ok: uring-loop ran and exited 0" ;;
	77) tail -n 1 "$app/pc/uring-loop.out"; echo "ok: uring-loop built; skipped here (77)" ;;
	*) cat "$app/pc/uring-loop.out"; die "uring-loop exited $rc" ;;
	esac
fi
unset PKG_CONFIG_SYSROOT_DIR

# --- 2 and 3. find_package ----------------------------------------------------
major_minor=$(echo "$version" | cut -d. -f1,2)
cat >"$app/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.13)
project(pooter_consumer C)
option(USE_STATIC "link libpooter.a" OFF)
if(USE_STATIC)
	find_package(pooter $major_minor REQUIRED COMPONENTS static)
else()
	find_package(pooter $major_minor REQUIRED)
endif()
message(STATUS "pooter \${pooter_VERSION} from \${pooter_DIR}")
add_executable(pipeline-barrier pipeline-barrier.c)
target_link_libraries(pipeline-barrier PRIVATE pooter::pooter)
EOF

for variant in shared static; do
	say "CMake find_package, $variant"
	b=$app/cmake-$variant
	static=OFF
	[[ $variant == shared ]] || static=ON
	(set -x; cmake -S "$app" -B "$b" -DCMAKE_PREFIX_PATH="$root" \
		-DUSE_STATIC=$static) >"$b.log" 2>&1 ||
		{ cat "$b.log"; die "find_package(pooter) failed ($variant)"; }
	grep -F -- "-- pooter " "$b.log"
	grep -qF -- "-- pooter $version from $rootlib/cmake/pooter" "$b.log" ||
		die "find_package found a pooter other than the one installed"
	cmake --build "$b" >>"$b.log" 2>&1 ||
		{ cat "$b.log"; die "pipeline-barrier does not build with find_package ($variant)"; }
	run "$b/pipeline-barrier" "$variant"
done

say "CMake find_package refuses another major version"
mkdir -p "$work/v99"
cat >"$work/v99/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(pooter_v99 C)
find_package(pooter 99 QUIET)
if(pooter_FOUND)
	message(FATAL_ERROR "pooter ${pooter_VERSION} accepted for 99")
endif()
find_package(pooter REQUIRED COMPONENTS nonsense)
EOF
cmake -S "$work/v99" -B "$work/v99/build" -DCMAKE_PREFIX_PATH="$root" \
	>"$work/v99.log" 2>&1 && { cat "$work/v99.log"; die "a nonsense component was accepted"; }
grep -q 'accepted for 99' "$work/v99.log" && { cat "$work/v99.log"; die "version 99 accepted"; }
grep -q 'no component "nonsense"' "$work/v99.log" ||
	{ cat "$work/v99.log"; die "unknown component: no clear error"; }
echo "ok: find_package(pooter 99) not found; COMPONENTS nonsense refused"

say "out-of-tree: ok"
