#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/lintian.sh - the Debian packages, built exactly as docs/packaging.md
# says, pass lintian with no error and no warning.
#
# Runs the shell block of docs/packaging.md that follows the line
# "<!-- .ci/lintian.sh runs this -->" (so that the documentation cannot
# rot), with DEBFULLNAME and DEBEMAIL set for the Maintainer field unless
# they are set already, in the source tree: it makes build-deb/ and
# build-deb/packages/*.deb (the packages cmake/packaging.cmake lists, in
# the cache as POOTER_DEB_PACKAGES: libpooter-zk0 among them when the zk://
# plugin was built).  Then lintian again, strictly: --fail-on error,
# warning, with informational tags shown, and the overrides used listed.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$src"
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
command -v lintian >/dev/null || die "lintian is not installed (.ci/deps ci)"

block=$(awk '/^<!-- \.ci\/lintian\.sh runs this -->$/ { want = 1; next }
	     want && /^```sh$/ { inside = 1; next }
	     inside && /^```$/ { exit }
	     inside { print }' docs/packaging.md)
[[ -n $block ]] || die "docs/packaging.md has no block marked for .ci/lintian.sh"
export DEBFULLNAME=${DEBFULLNAME:-pooter CI}
export DEBEMAIL=${DEBEMAIL:-ci@pooter.invalid}
echo "+ the build of docs/packaging.md, as $DEBFULLNAME <$DEBEMAIL>:"
echo "$block" | sed 's/^/    /'
rm -f build-deb/packages/*.deb
bash -euo pipefail -c "$block" >/tmp/pooter-lintian-build.log 2>&1 ||
	{ tail -n 40 /tmp/pooter-lintian-build.log; die "the documented build failed"; }
grep -E '^CPack: - package: ' /tmp/pooter-lintian-build.log || true
debs=(build-deb/packages/*.deb)
# which packages the build makes: cmake/packaging.cmake's list (libpooter-zk0
# only where the zk:// plugin was built)
IFS=';' read -r -a want < <(sed -n 's/^POOTER_DEB_PACKAGES:INTERNAL=//p' build-deb/CMakeCache.txt)
((${#want[@]} >= 3)) || die "build-deb/CMakeCache.txt names no POOTER_DEB_PACKAGES"
((${#debs[@]} == ${#want[@]})) ||
	die "expected ${#want[@]} packages (${want[*]}), got ${#debs[@]}: ${debs[*]}"
for p in "${want[@]}"; do
	[[ " ${debs[*]##*/} " == *" ${p}_"* ]] || die "no package $p in build-deb/packages"
done
echo "packages: ${want[*]}"

# lintian refuses nothing as root but says so; the tags are what counts.
# (With --show-overrides, lintian counts an overridden warning as one for
# --fail-on: so the verdict is the first run's, the display the second's.)
if ! out=$(lintian --fail-on error,warning --display-info "${debs[@]}" 2>&1); then
	echo "$out" | grep -v 'root privileges'
	die "lintian found errors or warnings"
fi
if echo "$out" | grep -qE '^[EW]: '; then
	echo "$out"
	die "lintian found errors or warnings"
fi
# Hardening, which this lintian tags only as information (fortify) or not
# at all (bindnow): no hardening-* tag at any level, and every ELF file
# with a read-only GOT bound at start-up (RELRO, BIND_NOW), executables PIE.
if echo "$out" | grep -E '^[EWIP]: .*hardening-'; then
	die "lintian: binaries without the hardening flags (cmake/hardening.cmake)"
fi
x=$(mktemp -d /tmp/pooter-lintian.XXXXXX)
trap 'rm -rf "$x"' EXIT
for d in "${debs[@]}"; do dpkg-deb -x "$d" "$x"; done
elves=0
while IFS= read -r f; do
	file -b "$f" | grep -q '^ELF' || continue
	dyn=$(readelf -d "$f")
	grep -qE 'BIND_NOW|Flags:.*NOW' <<<"$dyn" || die "${f#"$x"} is not linked with -z now"
	readelf -lW "$f" | grep -q GNU_RELRO || die "${f#"$x"} has no RELRO segment"
	if [[ $f == */bin/* ]]; then
		grep -qE 'Flags:.*PIE' <<<"$dyn" || die "${f#"$x"} is not PIE"
	fi
	elves=$((elves + 1))
done < <(find "$x" -type f \( -path '*/bin/*' -o -name '*.so.*' \))
# libpooter.so.0.x.y, pooter-shm, pooter-demo, pooter-bench, and the plugin
min=4
[[ " ${want[*]} " == *" libpooter-zk0 "* ]] && min=5
((elves >= min)) || die "found only $elves ELF files in the packages, not $min"
echo "hardening: $elves ELF files, each RELRO and BIND_NOW, executables PIE; no hardening-* tag"
shown=$(lintian --display-info --show-overrides "${debs[@]}" 2>&1 |
	grep -v 'root privileges' | grep -v '^N:' || true)
[[ -z $shown ]] || echo "$shown" | sed 's/^/    /'
echo "lintian: ok: no errors, no warnings ($(echo "$shown" | grep -cE '^O: ' || true) overridden, $(echo "$shown" | grep -cE '^I: ' || true) informational)"
