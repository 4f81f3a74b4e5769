#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/relocatable.sh [BUILD_DIR] - a user-prefix install works, wherever the
# prefix ends up.
#
#   1. cmake --install BUILD_DIR --prefix WORK/p, as a user installs into
#      ~/p, then the whole tree moved to WORK/moved (nothing may remember
#      where it was installed);
#   2. in a private mount namespace with /usr/local hidden under an empty
#      tmpfs (so that no other copy of pooter can be found by accident):
#      pkg-config, pointed at the moved tree by PKG_CONFIG_PATH alone, names
#      only directories inside it; a program built with its flags runs and
#      loads the moved libpooter.so.0; the moved pooter-shm runs with no
#      LD_LIBRARY_PATH (its RUNPATH is relative to $ORIGIN) and loads the
#      moved library too.
#
# BUILD_DIR (default build) must be configured with the default prefix (or
# any but /usr) and POOTER_RELOCATABLE not OFF.  Needs root for unshare -m;
# without it, /usr/local is not hidden and that is said.  Writes only under
# /tmp (POOTER_KEEP_WORK=1 keeps it).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$(mktemp -d /tmp/pooter-reloc.XXXXXX)
cleanup() {
	if [[ ${POOTER_KEEP_WORK:-0} == 1 ]]; then
		echo "relocatable: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[[ -f $build/CMakeCache.txt ]] || die "$build is not a configured build tree"
cmake --build "$build" -j"$(nproc)" --target pooter pooter_static pooter-shm \
	>"$work/build.log" || { cat "$work/build.log"; die "build failed"; }
cmake --install "$build" --prefix "$work/p" >"$work/install.log" ||
	{ cat "$work/install.log"; die "cmake --install --prefix failed"; }
mv "$work/p" "$work/moved"
root=$work/moved
pc=$(find "$root" -name pooter.pc -print -quit)
[[ -n $pc ]] || die "no pooter.pc installed"
echo "installed into $work/p, moved to $root"
echo "pooter.pc: $(grep -E '^(prefix|libdir|includedir)=' "$pc" | tr '\n' ' ')"
cp "$src/docs/examples/gather-then-act.c" "$work/app.c"

cat >"$work/inside.sh" <<'INSIDE'
set -euo pipefail
root=$1 work=$2 pcdir=$3
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'ok: %s\n' "$*"; }
real() { readlink -f "$1"; }
# The libpooter.so.0 that ld.so would load for $1, as a real path.
loads() {
	local p
	p=$(ldd "$1" | sed -n 's/^[[:space:]]*libpooter\.so\.0 => \(.*\) (0x.*/\1/p')
	[[ -n $p ]] && real "$p"
}
# Only the moved tree may be named, each directory inside it.
export PKG_CONFIG_PATH=$pcdir
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR LD_LIBRARY_PATH
flags=$(pkg-config --cflags --libs pooter) || die "pkg-config cannot find pooter"
echo "pkg-config --cflags --libs pooter: $flags"
for f in $flags; do
	case $f in
	-I* | -L*)
		d=$(real "${f:2}")
		[[ -d $d && $d == "$root"/* ]] ||
			die "$f is not a directory in $root (it is '$d')"
		;;
	esac
done
ok "every -I and -L is a directory of the moved tree"
libdir=$(real "$(pkg-config --variable=libdir pooter)")
# shellcheck disable=SC2086 # word splitting is the point
cc -std=c11 -Wall -Wextra -Werror -o "$work/app" "$work/app.c" $flags \
	-Wl,-rpath,"$libdir" || die "an application does not build with pkg-config"
[[ $(loads "$work/app") == "$libdir"/libpooter.so.0* ]] ||
	die "the application would not load the moved libpooter.so.0: $(loads "$work/app")"
echo "app loads $(loads "$work/app")"
timeout 120 "$work/app" >"$work/app.out" 2>&1 ||
	{ cat "$work/app.out"; die "the application failed"; }
ok "the application runs: $(tail -n 1 "$work/app.out")"

shm=$root/bin/pooter-shm
readelf -d "$shm" | grep -E 'R(UN)?PATH' || die "pooter-shm has no RUNPATH"
[[ $(loads "$shm") == "$libdir"/libpooter.so.0* ]] ||
	{ ldd "$shm"; die "pooter-shm would not load the moved libpooter.so.0"; }
echo "pooter-shm loads $(loads "$shm")"
name=reloc-$$
"$shm" --version
"$shm" create "$name"
"$shm" show "$name" >/dev/null || die "pooter-shm show failed"
"$shm" rm "$name"
ok "the moved pooter-shm runs with no LD_LIBRARY_PATH: create, show, rm"
INSIDE

pcdir=$(dirname "$pc")
if ((EUID == 0)) && unshare -m true 2>/dev/null; then
	echo "/usr/local hidden under an empty tmpfs, in a private mount namespace"
	unshare -m bash -c 'mount --make-rprivate / && mount -t tmpfs none /usr/local &&
		[[ -z $(ls -A /usr/local) ]] && exec bash "$@"' \
		inside "$work/inside.sh" "$root" "$work" "$pcdir"
else
	echo "note: not root or no unshare -m: /usr/local stays visible"
	bash "$work/inside.sh" "$root" "$work" "$pcdir"
fi
echo "relocatable: ok"
