#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/package.sh [--system] [BUILD_DIR] - the Debian packages: make them
# with cpack -G DEB, check what is in them, install them and remove them.
#
#   libpooter0     the shared library (libpooter.so.0, .so.0.x.y); shlibs,
#                  symbols, an ldconfig trigger (no maintainer scripts);
#                  depends on libc6, liburing2
#   libpooter-dev  header, libpooter.so, libpooter.a, pooter.pc, the CMake
#                  package, man3 and man7; depends on libpooter0 (= version)
#                  and liburing-dev
#   pooter-tools   pooter-shm (and the other tools), man1, bash completion;
#                  depends on libpooter0
#   libpooter-zk0  the zk:// backend, the plugin libpooter-zk.so.0 that
#                  libpooter dlopen()s (only when the build made it:
#                  POOTER_HAVE_ZK, libzookeeper-st-dev); shlibs, an ldconfig
#                  trigger; depends on libpooter0 (= version), libc6,
#                  libzookeeper-st2
#
# Every package has copyright and changelog.Debian.gz (from NEWS.md).  Which
# packages the build makes, cmake/packaging.cmake says (POOTER_DEB_PACKAGES
# in the cache).
#
# Steps:
#   1. build, with prefix /usr (pooter.pc records the prefix), and cpack;
#   2. each package's fields and files (dpkg-deb -f, -c), listed and checked:
#      what must be there (copyright, gzipped man pages included), what must
#      not, and no file in two packages;
#   3. all extracted into one tree: no dangling symlink, man -l renders
#      every page, pooter.pc says /usr, and the packaged example builds
#      with pkg-config against the tree and runs; the zk:// probe (a program
#      calling pooter_broker_open("zk://127.0.0.1:1/x/y"), where nothing
#      listens) gets EHOSTUNREACH from the tree's plugin, not EPROTONOSUPPORT;
#   4. dpkg installs them into a throwaway root with its own database
#      (--instdir, --admindir: the system is not touched), the ldconfig
#      triggers are registered, dpkg --audit is clean, the zk:// probe
#      through the root's libpooter finds the root's plugin and, once
#      libpooter-zk0 is purged, gets EPROTONOSUPPORT naming libpooter-zk0;
#      then dpkg --purge leaves nothing behind;
#   5. with --system (or CI set in the environment) and as root: dpkg -i for
#      real, the header, library, plugin, pooter.pc, CMake package,
#      pooter-shm and man pages are where a user looks for them, an
#      application builds with pkg-config and with find_package and runs;
#      the zk:// probe, linked with libpooter.so and with libpooter.a (which
#      finds the plugin by its soname), reaches the plugin with no
#      environment and, after dpkg --purge libpooter-zk0, names the package
#      instead; then dpkg --purge, and every packaged file is gone.  Skipped
#      when one of the packages is already installed (it is not ours to
#      remove).  A failure at any point purges what this script installed.
#
# Without BUILD_DIR, a throwaway build under /tmp (POOTER_KEEP_WORK=1 keeps
# it, packages and logs included).  BUILD_DIR must have been
# configured with -DCMAKE_INSTALL_PREFIX=/usr.  Writes only under /tmp and in
# BUILD_DIR, except in step 5.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
system=0
[[ -n ${CI:-} && ${CI:-} != false ]] && system=1
build=
for arg; do
	case $arg in
	--system) system=1 ;;
	--no-system) system=0 ;;
	-*) echo "usage: $0 [--system|--no-system] [BUILD_DIR]" >&2; exit 2 ;;
	*) [[ -z $build ]] || { echo "usage: $0 [--system] [BUILD_DIR]" >&2; exit 2; }
	   build=$(cd "$arg" && pwd) ;;
	esac
done

work=$(mktemp -d /tmp/pooter-pkg.XXXXXX)
packages=() # what the build makes: read from its cache below
system_installed=0

section() { printf '\n==== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

cleanup() {
	local rc=$?
	if ((system_installed)); then
		echo "package.sh: purging ${packages[*]} after a failure" >&2
		dpkg --purge "${packages[@]}" >&2 || true
	fi
	if [[ ${POOTER_KEEP_WORK:-0} == 1 ]]; then
		echo "package.sh: kept $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT

for tool in cmake cpack dpkg dpkg-deb readelf file gzip pkg-config; do
	command -v "$tool" >/dev/null || die "$tool is needed (apt-get install dpkg-dev file ...)"
done

# --- 1. build and cpack --------------------------------------------------------
section "1. build with prefix /usr, cpack -G DEB"
if [[ -z $build ]]; then
	build=$work/build
	cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr \
		-DPOOTER_BUILD_TESTS=OFF >"$work/configure.log" ||
		{ cat "$work/configure.log"; die "configure failed"; }
fi
[[ -f $build/CMakeCache.txt ]] || die "$build is not a configured build tree"
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
prefix=$(cache_var CMAKE_INSTALL_PREFIX)
[[ $prefix == /usr ]] ||
	die "$build installs into $prefix; Debian packages need -DCMAKE_INSTALL_PREFIX=/usr"
cmake --build "$build" -j"$(nproc)" >"$work/build.log" ||
	{ cat "$work/build.log"; die "build failed"; }
rm -f "$build"/packages/*.deb
(cd "$build" && cpack -G DEB) >"$work/cpack.log" 2>&1 ||
	{ cat "$work/cpack.log"; die "cpack -G DEB failed"; }
grep -E '^CPack: - package: ' "$work/cpack.log"

# cmake/packaging.cmake's list: libpooter0, libpooter-dev, pooter-tools and,
# when the zk:// plugin was built, libpooter-zk0
IFS=';' read -r -a packages <<<"$(cache_var POOTER_DEB_PACKAGES)"
((${#packages[@]} >= 3)) || die "$build/CMakeCache.txt names no POOTER_DEB_PACKAGES"
zk=0
[[ " ${packages[*]} " == *" libpooter-zk0 "* ]] && zk=1
((zk)) || echo "note: no zk:// plugin in this build (POOTER_ZK=$(cache_var POOTER_ZK);" \
	"libzookeeper-st-dev): no libpooter-zk0 to check"
version=$(cache_var CMAKE_PROJECT_VERSION)
debver=$version-$(cache_var POOTER_PACKAGE_RELEASE)
arch=$(dpkg --print-architecture)
libdir=$(cache_var CMAKE_INSTALL_LIBDIR)
[[ $libdir == /* ]] && libdir=${libdir#/} || libdir=usr/$libdir
echo "version $debver, architecture $arch, libdir /$libdir"

declare -A deb
for p in "${packages[@]}"; do
	deb[$p]=$build/packages/${p}_${debver}_${arch}.deb
	[[ -f ${deb[$p]} ]] || die "cpack made no ${deb[$p]##*/}"
done
n=$(find "$build/packages" -maxdepth 1 -name '*.deb' | wc -l)
((n == ${#packages[@]})) ||
	die "cpack made $n packages, not ${#packages[@]}: $(ls "$build/packages")"
ok "${#packages[@]} packages: ${packages[*]}"

# --- 2. fields and files -------------------------------------------------------
section "2. fields and files of each package"
field() { dpkg-deb -f "${deb[$1]}" "$2"; }
expect_field() { # package field extended-regex [what it means]
	local v
	v=$(field "$1" "$2")
	[[ $v =~ $3 ]] || die "$1: $2 is '$v', expected /$3/"
	ok "$1: $2 ${4:-is $v}"
}
for p in "${packages[@]}"; do
	echo "--- ${deb[$p]##*/}"
	dpkg-deb -f "${deb[$p]}" | grep -v '^ ' | sed 's/^/    /'
	dpkg-deb -c "${deb[$p]}" | awk '{ $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); print "   ", $0 }'
	# file list without "./", directories left out
	dpkg-deb -c "${deb[$p]}" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./||' |
		sort >"$work/$p.files"
	expect_field "$p" Package "^$p\$"
	expect_field "$p" Version "^${debver//./\\.}\$"
	expect_field "$p" Architecture "^$arch\$"
	expect_field "$p" Maintainer '.+ <.+>'
done
expect_field libpooter0 Section '^libs$'
expect_field libpooter0 Depends '(^|, )liburing2( |,|$)' "names liburing2"
expect_field libpooter0 Depends '(^|, )libc6( |,|$)' "names libc6"
expect_field libpooter-dev Section '^libdevel$'
expect_field libpooter-dev Depends "(^|, )libpooter0 \\(= ${debver//./\\.}\\)" \
	"names libpooter0 (= $debver)"
expect_field libpooter-dev Depends '(^|, )liburing-dev( |,|$)' "names liburing-dev"
expect_field pooter-tools Section '^utils$'
expect_field pooter-tools Depends '(^|, )libpooter0( |,|$)' "names libpooter0"
if ((zk)); then
	expect_field libpooter-zk0 Section '^libs$'
	expect_field libpooter-zk0 Depends "(^|, )libpooter0 \\(= ${debver//./\\.}\\)" \
		"names libpooter0 (= $debver)"
	expect_field libpooter-zk0 Depends '(^|, )libzookeeper-st2( |,|$)' \
		"names libzookeeper-st2 (dpkg-shlibdeps)"
	expect_field libpooter-zk0 Depends '(^|, )libc6( |,|$)' "names libc6"
	synopsis=$(field libpooter-zk0 Description | head -n 1)
	[[ $synopsis == "ZooKeeper backend for pooter (zk:// brokers)" ]] ||
		die "libpooter-zk0: synopsis '$synopsis'"
	(($(field libpooter-zk0 Description | wc -l) > 5)) ||
		die "libpooter-zk0: no extended description"
	ok "libpooter-zk0: Description: $synopsis, and an extended description"
	expect_field libpooter0 Suggests '(^|, )libpooter-zk0( |,|$)' "names libpooter-zk0"
fi

has() { # package path...
	local p=$1
	shift
	for f; do
		grep -qxF "$f" "$work/$p.files" || die "$p lacks /$f"
		ok "$p has /$f"
	done
}
only() { # package extended-regex: every file must match
	local extra
	extra=$(grep -vE "$2" "$work/$1.files" || true)
	[[ -z $extra ]] || die "$1 holds files that belong elsewhere: $extra"
	ok "$1 holds nothing else"
}

for p in "${packages[@]}"; do
	has "$p" "usr/share/doc/$p/copyright" "usr/share/doc/$p/changelog.Debian.gz"
done
has libpooter0 "$libdir/libpooter.so.0" "$libdir/libpooter.so.$version"
only libpooter0 "^($libdir/libpooter\\.so\\.0(\\.[0-9]+)*|usr/share/doc/libpooter0/(copyright|changelog\\.Debian\\.gz)|usr/share/lintian/overrides/libpooter0)\$"

has libpooter-dev usr/include/pooter.h "$libdir/libpooter.so" \
	"$libdir/libpooter.a" "$libdir/pkgconfig/pooter.pc" \
	"$libdir/cmake/pooter/pooterConfig.cmake" \
	"$libdir/cmake/pooter/pooterConfigVersion.cmake" \
	"$libdir/cmake/pooter/pooterTargets.cmake" \
	usr/share/man/man7/pooter.7.gz
man3=0
for page in "$src"/man/*.3; do
	name=${page##*/}
	grep -qxF "usr/share/man/man3/$name.gz" "$work/libpooter-dev.files" ||
		die "libpooter-dev lacks /usr/share/man/man3/$name.gz"
	man3=$((man3 + 1))
done
ok "libpooter-dev has all $man3 pages of man/*.3, gzipped"
only libpooter-dev "^(usr/include/|$libdir/libpooter\\.(so|a)\$|$libdir/(pkgconfig|cmake)/|usr/share/man/man[37]/|usr/share/doc/|usr/share/lintian/overrides/libpooter-dev\$)"

has pooter-tools usr/bin/pooter-shm usr/share/man/man1/pooter-shm.1.gz \
	usr/share/bash-completion/completions/pooter-shm
for f in $(grep '^usr/bin/' "$work/pooter-tools.files"); do
	has pooter-tools "usr/share/man/man1/${f#usr/bin/}.1.gz"
done
only pooter-tools '^(usr/bin/|usr/share/man/man1/|usr/share/doc/|usr/share/bash-completion/completions/pooter-shm$|usr/share/lintian/overrides/pooter-tools$)'

if ((zk)); then
	has libpooter-zk0 "$libdir/libpooter-zk.so.0"
	only libpooter-zk0 "^($libdir/libpooter-zk\\.so\\.0|usr/share/doc/libpooter-zk0/(copyright|changelog\\.Debian\\.gz)|usr/share/lintian/overrides/libpooter-zk0)\$"
fi

sort "$work"/*.files | uniq -d >"$work/dups"
[[ ! -s $work/dups ]] || die "files in two packages: $(cat "$work/dups")"
ok "no file is in two packages"

dpkg-deb -e "${deb[libpooter0]}" "$work/control0"
grep -qE "^libpooter 0 libpooter0 \\(>= " "$work/control0/shlibs" ||
	die "libpooter0 has no shlibs entry for libpooter.so.0"
ok "libpooter0 shlibs: $(cat "$work/control0/shlibs")"
grep -qx 'activate-noawait ldconfig' "$work/control0/triggers" 2>/dev/null ||
	die "libpooter0 has no ldconfig trigger"
for s in preinst postinst prerm postrm; do
	[[ ! -e $work/control0/$s ]] || die "libpooter0 has a $s: $(cat "$work/control0/$s")"
done
ok "libpooter0: an ldconfig trigger, no maintainer scripts"
# symbols: exactly the library's exported symbols, each at a version
dpkg-deb -x "${deb[libpooter0]}" "$work/x0"
nm -D --defined-only --with-symbol-versions "$work/x0/$libdir/libpooter.so.$version" |
	awk '{ v = $3; sub(/@@/, "@", v); if (v !~ /@/) v = v "@" v; print v }' |
	sort >"$work/exports"
sed -n 's/^ \([^ ]*\) [0-9.]*$/\1/p' "$work/control0/symbols" | sort >"$work/symbols"
diff "$work/exports" "$work/symbols" >"$work/symbols.diff" ||
	{ cat "$work/symbols.diff"; die "the symbols file and libpooter.so's exports differ (< exports, > symbols)"; }
head -n 1 "$work/control0/symbols" | grep -qx 'libpooter.so.0 libpooter0 #MINVER#' ||
	die "symbols: bad first line: $(head -n 1 "$work/control0/symbols")"
ok "libpooter0 symbols: the $(wc -l <"$work/symbols") exported symbols, versioned"
if [[ $(cache_var POOTER_HAVE_SYS_SDT_H) == 1 ]]; then
	n=$(readelf -n "$work/x0/$libdir/libpooter.so.$version" | grep -c 'Provider: pooter' || true)
	((n >= 6)) || die "libpooter0's library has $n USDT probes, not 6: stripped away?"
	ok "libpooter0: the library keeps its $n USDT probes through the stripping"
fi
zcat "$work/x0/usr/share/doc/libpooter0/changelog.Debian.gz" >"$work/changelog"
head -n 1 "$work/changelog" | grep -qxF "pooter ($debver) unstable; urgency=medium" ||
	die "changelog.Debian: first line $(head -n 1 "$work/changelog")"
grep -qE "^ -- $(field libpooter0 Maintainer | sed 's/[][\.*^$]/\\&/g')  [A-Z][a-z]{2}, " "$work/changelog" ||
	die "changelog.Debian is not signed by the Maintainer"
ok "changelog.Debian (from NEWS.md): $(head -n 1 "$work/changelog")"
awk 'length > 80 { print "changelog.Debian:" FNR ": " $0; bad = 1 } END { exit bad }' \
	"$work/changelog" || die "changelog.Debian has lines over 80 columns"
ok "changelog.Debian: $(grep -c '^ -- ' "$work/changelog") entries, no line over 80 columns"

if ((zk)); then
	dpkg-deb -e "${deb[libpooter-zk0]}" "$work/controlzk"
	grep -qxE "libpooter-zk 0 libpooter-zk0 \\(>= ${version//./\\.}\\)" \
		"$work/controlzk/shlibs" 2>/dev/null ||
		die "libpooter-zk0 has no shlibs entry for libpooter-zk.so.0"
	ok "libpooter-zk0 shlibs: $(cat "$work/controlzk/shlibs")"
	grep -qx 'activate-noawait ldconfig' "$work/controlzk/triggers" 2>/dev/null ||
		die "libpooter-zk0 has no ldconfig trigger"
	for s in preinst postinst prerm postrm; do
		[[ ! -e $work/controlzk/$s ]] ||
			die "libpooter-zk0 has a $s: $(cat "$work/controlzk/$s")"
	done
	ok "libpooter-zk0: an ldconfig trigger, no maintainer scripts"
	dpkg-deb -x "${deb[libpooter-zk0]}" "$work/xzk"
	plugin=$work/xzk/$libdir/libpooter-zk.so.0
	grep -q '^ELF.*shared object' <<<"$(file -b "$plugin")" ||
		die "libpooter-zk.so.0 is not a shared object: $(file -b "$plugin")"
	soname=$(readelf -d "$plugin" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
	[[ $soname == libpooter-zk.so.0 ]] || die "libpooter-zk.so.0's SONAME is '$soname'"
	ok "libpooter-zk.so.0: SONAME $soname"
	grep -qE '\(NEEDED\).*\[libzookeeper_st\.so\.2\]' <<<"$(readelf -d "$plugin")" ||
		die "libpooter-zk.so.0 does not link libzookeeper_st.so.2"
	ok "libpooter-zk.so.0 needs libzookeeper_st.so.2"
	# libpooter finds its entry point with dlsym(): nothing else is exported,
	# which is why it needs no symbols file (overridden, cmake/packaging.cmake)
	exports=$(nm -D --defined-only "$plugin" | awk '{ print $3 }' | sort | tr '\n' ' ')
	[[ $exports =~ ^(pooter_backend_zk_v[0-9]+\ )+$ ]] ||
		die "libpooter-zk.so.0 exports more than its entry point: $exports"
	ok "libpooter-zk.so.0 exports its entry point only: $exports"
	grep -qx 'libpooter-zk0: no-symbols-control-file' \
		"$work/xzk/usr/share/lintian/overrides/libpooter-zk0" ||
		die "libpooter-zk0 does not override no-symbols-control-file"
	ok "libpooter-zk0: no symbols file, the lintian tag overridden with the reason"
fi

# --- 3. the extracted tree -----------------------------------------------------
section "3. the packages extracted into one tree"
root=$work/root
for p in "${packages[@]}"; do
	dpkg-deb -x "${deb[$p]}" "$root"
done
dangling=$(find "$root" -xtype l)
[[ -z $dangling ]] || die "dangling symlinks: $dangling"
ok "every symlink resolves"
soname=$(readelf -d "$root/$libdir/libpooter.so.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == libpooter.so.0 ]] || die "libpooter.so.0's SONAME is '$soname'"
ok "SONAME libpooter.so.0"
pages=0
while IFS= read -r page; do
	out=$(MANPAGER=cat MANWIDTH=80 man -l "$page" 2>"$work/man.err") ||
		{ cat "$work/man.err"; die "man -l ${page#"$root"} failed"; }
	[[ -n $out ]] || die "man -l ${page#"$root"} rendered nothing"
	pages=$((pages + 1))
done < <(find "$root/usr/share/man" \( -type f -o -type l \) -name '*.gz' | sort)
ok "man -l renders all $pages packaged pages"

pc=$root/$libdir/pkgconfig/pooter.pc
grep -qx 'prefix=/usr' "$pc" || die "pooter.pc: $(grep '^prefix=' "$pc"), not /usr"
export PKG_CONFIG_PATH=$root/$libdir/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$root
[[ $(pkg-config --modversion pooter) == "$version" ]] ||
	die "pooter.pc: version $(pkg-config --modversion pooter), not $version"
ok "pooter.pc: prefix /usr, version $version"
example=$root/usr/share/doc/pooter/examples/pipeline-barrier.c
[[ -f $example ]] || die "libpooter-dev lacks the examples"
# shellcheck disable=SC2046 # word splitting is the point
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags pooter) \
	-o "$work/pipeline-barrier" "$example" $(pkg-config --libs pooter) ||
	die "the packaged example does not build against the packaged library"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
LD_LIBRARY_PATH=$root/$libdir timeout 120 "$work/pipeline-barrier" >"$work/example.out" 2>&1 ||
	{ cat "$work/example.out"; die "the packaged example failed"; }
ok "the packaged pipeline-barrier.c builds against the tree and runs: $(tail -n 1 "$work/example.out")"

# The zk:// probe: a broker on an "ensemble" at 127.0.0.1:1, where nothing
# listens.  With the plugin loaded the connection is refused, EHOSTUNREACH
# (no server of the ensemble answered); without it EPROTONOSUPPORT, and
# pooter_last_error() names the package to install.
cat >"$work/zk-probe.c" <<'EOC'
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pooter.h>

int main(void)
{
	struct pooter_broker *b = NULL;
	int rc = pooter_broker_open("zk://127.0.0.1:1/x/y", &b);

	if (rc == -EHOSTUNREACH)
		printf("EHOSTUNREACH: %s\n", pooter_last_error());
	else if (rc == -EPROTONOSUPPORT)
		printf("EPROTONOSUPPORT: %s\n", pooter_last_error());
	else
		printf("%d (%s): %s\n", rc, strerror(-rc), pooter_last_error());
	if (rc == 0)
		pooter_broker_close(b);
	return 0;
}
EOC
# zk_probe EXPECTED WHAT [VAR=VALUE...] PROGRAM: run it, check what it got
zk_probe() {
	local want=$1 what=$2 out
	shift 2
	env -u POOTER_PLUGIN_DIR "$@" >"$work/zk-probe.out" 2>"$work/zk-probe.err" ||
		{ cat "$work/zk-probe.out" "$work/zk-probe.err"; die "$what: the zk:// probe failed"; }
	out=$(cat "$work/zk-probe.out")
	[[ $out == "$want: "* ]] ||
		{ cat "$work/zk-probe.err"; die "$what: the zk:// probe got '$out', not $want"; }
	[[ $want != EPROTONOSUPPORT || $out == *libpooter-zk0* ]] ||
		die "$what: the zk:// probe's error does not name libpooter-zk0: $out"
	ok "$what: $out"
}
if ((zk)); then
	export PKG_CONFIG_PATH=$root/$libdir/pkgconfig
	export PKG_CONFIG_SYSROOT_DIR=$root
	# shellcheck disable=SC2046 # word splitting is the point
	cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags pooter) \
		-o "$work/zk-probe" "$work/zk-probe.c" $(pkg-config --libs pooter) ||
		die "the zk:// probe does not build against the packaged library"
	unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
	zk_probe EHOSTUNREACH "the tree's libpooter loads the tree's plugin" \
		LD_LIBRARY_PATH="$root/$libdir" timeout 60 "$work/zk-probe"
fi

# --- 4. dpkg, in a throwaway root ----------------------------------------------
section "4. dpkg -i and --purge in a throwaway root"
troot=$work/dpkg-root
admin=$work/dpkg-admin
mkdir -p "$troot" "$admin"/{info,updates,triggers}
: >"$admin/available"
# The database knows the packages ours depend on as this system has them
# (their status entries, without their files), so that dpkg checks the
# dependencies, ours among each other included, instead of forcing them.
: >"$admin/status"
force_depends=()
for dep in $(for p in "${packages[@]}"; do field "$p" Depends; done |
	tr ',' '\n' | sed -E 's/^ *//; s/[ :(].*//' | sort -u); do
	[[ " ${packages[*]} " == *" $dep "* ]] && continue
	if dpkg-query -s "$dep" >>"$admin/status" 2>/dev/null; then
		echo >>"$admin/status"
		# and an empty file list, as dpkg keeps one per package
		info=$dep
		[[ $(dpkg-query -W -f='${Multi-Arch}' "$dep") != same ]] ||
			info=$dep:$(dpkg-query -W -f='${Architecture}' "$dep")
		: >"$admin/info/$info.list"
		: >"$admin/info/$info.md5sums"
	else
		echo "note: $dep is not installed here: dpkg runs with --force-depends"
		force_depends=(--force-depends)
	fi
done
# Maintainer scripts, had a package any, would run outside the root
# (--force-script-chrootless); ours have none.
tdpkg() {
	dpkg --instdir="$troot" --admindir="$admin" \
		--log="$work/dpkg.log" --force-script-chrootless \
		--force-not-root "${force_depends[@]}" "$@"
}
if ((${#force_depends[@]} == 0)); then
	# The dependencies hold: libpooter-dev alone cannot be configured, nor
	# libpooter-zk0.
	: >"$work/tdpkg.log"
	for p in libpooter-dev libpooter-zk0; do
		[[ -n ${deb[$p]:-} ]] || continue
		if tdpkg -i "${deb[$p]}" >>"$work/tdpkg.log" 2>&1; then
			die "dpkg configured $p without libpooter0"
		fi
		grep -q "$p depends on libpooter0 (= " "$work/tdpkg.log" ||
			{ cat "$work/tdpkg.log"; die "$p alone failed, not for libpooter0"; }
		tdpkg --purge "$p" >>"$work/tdpkg.log" 2>&1 ||
			{ cat "$work/tdpkg.log"; die "dpkg --purge $p failed"; }
		ok "dpkg refuses to configure $p without libpooter0 (= $debver)"
	done
fi
tdpkg -i "${deb[@]}" >>"$work/tdpkg.log" 2>&1 ||
	{ cat "$work/tdpkg.log"; die "dpkg -i into the throwaway root failed"; }
for p in "${packages[@]}"; do
	s=$(dpkg-query --admindir="$admin" -W -f='${db:Status-Abbrev}' "$p")
	[[ $s == "ii " ]] || die "$p: status '$s' after dpkg -i"
done
ok "dpkg -i: ${packages[*]} installed"
[[ -z $(tdpkg --audit 2>&1) ]] || { tdpkg --audit; die "dpkg --audit complains"; }
ok "dpkg --audit is clean"
for p in "${packages[@]}"; do
	while IFS= read -r f; do
		[[ -e $troot/$f || -L $troot/$f ]] || die "$p: /$f not installed"
	done <"$work/$p.files"
done
ok "every packaged file is in place"
for p in libpooter0 libpooter-zk0; do
	[[ -n ${deb[$p]:-} ]] || continue
	grep -qx 'activate-noawait ldconfig' "$admin/info/$p.triggers" 2>/dev/null ||
		grep -qx 'activate-noawait ldconfig' "$admin"/info/"$p":*.triggers 2>/dev/null ||
		die "dpkg did not register $p's ldconfig trigger"
	ok "dpkg registered $p's ldconfig trigger"
done
# removed dependents first
purge=()
((zk)) && purge+=(libpooter-zk0)
purge+=(pooter-tools libpooter-dev libpooter0)
if ((zk)); then
	zk_probe EHOSTUNREACH "dpkg -i: the root's libpooter loads the root's plugin" \
		LD_LIBRARY_PATH="$troot/$libdir" timeout 60 "$work/zk-probe"
	tdpkg --purge libpooter-zk0 >>"$work/tdpkg.log" 2>&1 ||
		{ cat "$work/tdpkg.log"; die "dpkg --purge libpooter-zk0 failed"; }
	[[ ! -e $troot/$libdir/libpooter-zk.so.0 ]] ||
		die "libpooter-zk.so.0 is still there after dpkg --purge libpooter-zk0"
	if [[ -e /$libdir/libpooter-zk.so.0 ]]; then
		# libpooter would fall back on it, by its soname
		echo "note: this system has /$libdir/libpooter-zk.so.0: no probe without the plugin here"
	else
		zk_probe EPROTONOSUPPORT "dpkg --purge libpooter-zk0: the root's libpooter names the package" \
			LD_LIBRARY_PATH="$troot/$libdir" timeout 60 "$work/zk-probe"
	fi
fi
tdpkg --purge "${purge[@]}" >>"$work/tdpkg.log" 2>&1 ||
	{ cat "$work/tdpkg.log"; die "dpkg --purge in the throwaway root failed"; }
left=$(find "$troot" -mindepth 1 ! -type d)
[[ -z $left ]] || die "left behind after --purge: $left"
for p in "${packages[@]}"; do
	s=$(dpkg-query --admindir="$admin" -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ -z $s || $s == "un " || $s == "pn " ]] || die "$p: status '$s' after --purge"
done
ok "dpkg --purge: nothing left"

# --- 5. dpkg, for real ----------------------------------------------------------
section "5. dpkg -i and --purge on this system"
if ((!system)); then
	echo "skipped: pass --system (CI does) to install on this machine"
elif ((EUID != 0)); then
	echo "skipped: needs root"
else
	for p in "${packages[@]}"; do
		s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		if [[ -n $s && $s != not-installed ]]; then
			die "$p is already on this system ($s): not ours to replace; remove it first"
		fi
	done
	system_installed=1
	dpkg -i "${deb[@]}" >"$work/dpkg-i.log" 2>&1 ||
		{ cat "$work/dpkg-i.log"; die "dpkg -i failed"; }
	for p in "${packages[@]}"; do
		s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p")
		[[ $s == "ii " ]] || die "$p: status '$s' after dpkg -i"
	done
	ok "dpkg -i: ${packages[*]} installed"
	installed=(/usr/include/pooter.h "/$libdir/libpooter.so.0"
		"/$libdir/libpooter.so" "/$libdir/pkgconfig/pooter.pc"
		"/$libdir/cmake/pooter/pooterConfig.cmake" /usr/bin/pooter-shm)
	((zk)) && installed+=("/$libdir/libpooter-zk.so.0")
	for f in "${installed[@]}"; do
		[[ -e $f ]] || die "$f is not installed"
		ok "installed: $f"
	done
	grep -qF "libpooter.so.0 " <<<"$(ldconfig -p)" || die "ld.so does not know libpooter.so.0"
	ok "ld.so.cache has libpooter.so.0"
	if ((zk)); then
		grep -qF "libpooter-zk.so.0 " <<<"$(ldconfig -p)" ||
			die "ld.so does not know libpooter-zk.so.0"
		ok "ld.so.cache has libpooter-zk.so.0 (libpooter-zk0's ldconfig trigger)"
	fi
	[[ $(command -v pooter-shm) == /usr/bin/pooter-shm ]] || die "pooter-shm is not on PATH"
	ok "pooter-shm on PATH"
	for m in "1 pooter-shm" "3 pooter_emit" "7 pooter"; do
		# shellcheck disable=SC2086 # section and name
		f=$(man -w $m) || die "man $m: not found"
		ok "man $m: $f"
	done
	[[ $(pkg-config --modversion pooter) == "$version" ]] ||
		die "pkg-config does not find pooter $version"
	# shellcheck disable=SC2046 # word splitting is the point
	cc -std=c11 -Wall -Wextra -Werror -o "$work/sys-pc" \
		"$src/docs/examples/gather-then-act.c" $(pkg-config --cflags --libs pooter) ||
		die "an application does not build with the system's pkg-config"
	timeout 120 "$work/sys-pc" >"$work/sys-pc.out" 2>&1 ||
		{ cat "$work/sys-pc.out"; die "it does not run"; }
	ok "pkg-config build runs, with no LD_LIBRARY_PATH: $(tail -n 1 "$work/sys-pc.out")"
	mkdir -p "$work/sys-cmake"
	cp "$src/docs/examples/pipeline-barrier.c" "$work/sys-cmake/"
	cat >"$work/sys-cmake/CMakeLists.txt" <<-'EOF'
	cmake_minimum_required(VERSION 3.13)
	project(sys_consumer C)
	find_package(pooter REQUIRED)
	message(STATUS "pooter ${pooter_VERSION} from ${pooter_DIR}")
	add_executable(app pipeline-barrier.c)
	target_link_libraries(app PRIVATE pooter::pooter)
	EOF
	{ cmake -S "$work/sys-cmake" -B "$work/sys-cmake/b" &&
		cmake --build "$work/sys-cmake/b"; } >"$work/sys-cmake.log" 2>&1 ||
		{ cat "$work/sys-cmake.log"; die "find_package(pooter) build failed"; }
	grep -qF -- "-- pooter $version from /$libdir/cmake/pooter" "$work/sys-cmake.log" ||
		{ cat "$work/sys-cmake.log"; die "find_package(pooter) did not find the package's files"; }
	timeout 120 "$work/sys-cmake/b/app" >"$work/sys-cmake.out" 2>&1 ||
		{ cat "$work/sys-cmake.out"; die "it does not run"; }
	ok "find_package build runs: $(tail -n 1 "$work/sys-cmake.out")"

	: >"$work/dpkg-r.log"
	if ((zk)); then
		# through the system's libpooter.so.0: the plugin beside it
		# shellcheck disable=SC2046 # word splitting is the point
		cc -std=c11 -Wall -Wextra -Werror -o "$work/sys-zk" "$work/zk-probe.c" \
			$(pkg-config --cflags --libs pooter) ||
			die "the zk:// probe does not build with the system's pkg-config"
		# through libpooter.a: the plugin by its soname, in ld.so's path
		cc -std=c11 -Wall -Wextra -Werror -o "$work/sys-zk-static" "$work/zk-probe.c" \
			-Wl,-Bstatic -lpooter -luring -Wl,-Bdynamic ||
			die "the zk:// probe does not link with the system's libpooter.a"
		! readelf -d "$work/sys-zk-static" | grep -q 'libpooter\.so' ||
			die "the static zk:// probe linked libpooter.so"
		zk_probe EHOSTUNREACH "installed, no environment: libpooter.so.0 loads the plugin" \
			timeout 60 "$work/sys-zk"
		zk_probe EHOSTUNREACH "installed, linked with libpooter.a: the plugin found by its soname" \
			timeout 60 "$work/sys-zk-static"
		dpkg --purge libpooter-zk0 >>"$work/dpkg-r.log" 2>&1 ||
			{ cat "$work/dpkg-r.log"; die "dpkg --purge libpooter-zk0 failed"; }
		s=$(dpkg-query -W -f='${db:Status-Status}' libpooter-zk0 2>/dev/null || true)
		[[ -z $s || $s == not-installed ]] || die "libpooter-zk0: status '$s' after --purge"
		[[ ! -e /$libdir/libpooter-zk.so.0 ]] || die "/$libdir/libpooter-zk.so.0 is still there"
		! grep -qF "libpooter-zk.so.0 " <<<"$(ldconfig -p)" ||
			die "ld.so.cache still has libpooter-zk.so.0"
		ok "dpkg --purge libpooter-zk0: the plugin is gone, from ld.so.cache too"
		zk_probe EPROTONOSUPPORT "without libpooter-zk0, libpooter.so.0 names the package" \
			timeout 60 "$work/sys-zk"
		zk_probe EPROTONOSUPPORT "without libpooter-zk0, libpooter.a names the package" \
			timeout 60 "$work/sys-zk-static"
	fi

	dpkg --purge "${purge[@]}" >>"$work/dpkg-r.log" 2>&1 ||
		{ cat "$work/dpkg-r.log"; die "dpkg --purge failed"; }
	system_installed=0
	for p in "${packages[@]}"; do
		s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[[ -z $s || $s == not-installed ]] || die "$p: status '$s' after --purge"
		while IFS= read -r f; do
			[[ ! -e /$f && ! -L /$f ]] || die "/$f is still there after --purge"
		done <"$work/$p.files"
	done
	! grep -qF "libpooter.so.0 " <<<"$(ldconfig -p)" || die "ld.so.cache still has libpooter.so.0"
	ok "dpkg --purge: every packaged file is gone, ld.so.cache too"
fi

section "package.sh: ok"
ls -l "${deb[@]}"
