#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/usdt.sh [--require] [BUILD_DIR] - the USDT probes of src/probes.h are
# in BUILD_DIR's libpooter.so (and libpooter.a): readelf -n lists a stapsdt
# note for each of round_open, emit, round_resolve, round_cancel, deliver
# and lock_takeover, provider pooter.
#
# A build without <sys/sdt.h> has no probes: skipped (status 77), unless
# --require (CI) makes that a failure.  Run by ctest as usdt-probes.
set -euo pipefail

require=0
if [[ ${1:-} == --require ]]; then
	require=1
	shift
fi
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
probes=(round_open emit round_resolve round_cancel deliver lock_takeover)

cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
if [[ $(cache POOTER_HAVE_SYS_SDT_H) != 1 ]]; then
	msg="this build has no USDT probes (POOTER_USDT=$(cache POOTER_USDT), <sys/sdt.h> not found: apt-get install systemtap-sdt-dev)"
	((require)) && die "$msg"
	echo "skipped: $msg"
	exit 77
fi
cmake --build "$build" --target pooter pooter_static >/dev/null ||
	die "build failed"
for lib in "$build"/src/libpooter.so "$build"/src/libpooter.a; do
	notes=$(readelf -n "$lib" | awk '/^ *Provider:/ { p = $2 } /^ *Name:/ { print p ":" $2 }' | sort -u)
	for p in "${probes[@]}"; do
		grep -qx "pooter:$p" <<<"$notes" || die "$lib has no USDT probe pooter:$p (readelf -n: $(echo $notes))"
	done
	echo "ok: $(basename "$lib"): $(echo $notes)"
done
echo "usdt: ok"
