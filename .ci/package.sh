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
#
# Every package has copyright and changelog.Debian.gz (from NEWS.md).
#
# Steps:
#   1. build, with prefix /usr (pooter.pc records the prefix), and cpack;
#   2. each package's fields and files (dpkg-deb -f, -c), listed and checked:
#      what must be there (copyright, gzipped man pages included), what must
#      not, and no file in two packages;
#   3. the three extracted into one tree: no dangling symlink, man -l
#      renders every page, pooter.pc says /usr, and the packaged example
#      builds with pkg-config against the tree and runs;
#   4. dpkg installs the three into a throwaway root with its own database
#      (--instdir, --admindir: the system is not touched), the ldconfig
#      trigger is registered, dpkg --audit is clean, then dpkg
#      --purge leaves nothing behind;
#   5. with --system (or CI set in the environment) and as root: dpkg -i for
#      real, the header, library, pooter.pc, CMake package, pooter-shm and
#      man pages are where a user looks for them, an application builds
#      with pkg-config and with find_package and runs; then dpkg --purge,
#      and every packaged file is gone.  Skipped when one of the packages
#      is already installed (it is not ours to remove).  A failure at any
#      point purges what this script installed.
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
packages=(libpooter0 libpooter-dev pooter-tools)
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
((n == 3)) || die "cpack made $n packages, not 3: $(ls "$build/packages")"
ok "three packages: ${packages[*]}"

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

# --- 3. the extracted tree -----------------------------------------------------
section "3. the three packages extracted into one tree"
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
	# The dependencies hold: libpooter-dev alone cannot be configured.
	if tdpkg -i "${deb[libpooter-dev]}" >"$work/tdpkg.log" 2>&1; then
		die "dpkg configured libpooter-dev without libpooter0"
	fi
	grep -q 'libpooter-dev depends on libpooter0 (= ' "$work/tdpkg.log" ||
		{ cat "$work/tdpkg.log"; die "libpooter-dev alone failed, not for libpooter0"; }
	tdpkg --purge libpooter-dev >>"$work/tdpkg.log" 2>&1 ||
		{ cat "$work/tdpkg.log"; die "dpkg --purge libpooter-dev failed"; }
	ok "dpkg refuses to configure libpooter-dev without libpooter0 (= $debver)"
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
grep -qx 'activate-noawait ldconfig' "$admin/info/libpooter0.triggers" 2>/dev/null ||
	grep -qx 'activate-noawait ldconfig' "$admin"/info/libpooter0:*.triggers 2>/dev/null ||
	die "dpkg did not register libpooter0's ldconfig trigger"
ok "dpkg registered libpooter0's ldconfig trigger"
tdpkg --purge pooter-tools libpooter-dev libpooter0 >>"$work/tdpkg.log" 2>&1 ||
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
	for f in /usr/include/pooter.h "/$libdir/libpooter.so.0" \
		"/$libdir/libpooter.so" "/$libdir/pkgconfig/pooter.pc" \
		"/$libdir/cmake/pooter/pooterConfig.cmake" /usr/bin/pooter-shm; do
		[[ -e $f ]] || die "$f is not installed"
		ok "installed: $f"
	done
	ldconfig -p | grep -qF "libpooter.so.0 " || die "ld.so does not know libpooter.so.0"
	ok "ld.so.cache has libpooter.so.0"
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

	dpkg --purge pooter-tools libpooter-dev libpooter0 >"$work/dpkg-r.log" 2>&1 ||
		{ cat "$work/dpkg-r.log"; die "dpkg --purge failed"; }
	system_installed=0
	for p in "${packages[@]}"; do
		s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[[ -z $s || $s == not-installed ]] || die "$p: status '$s' after --purge"
		while IFS= read -r f; do
			[[ ! -e /$f && ! -L /$f ]] || die "/$f is still there after --purge"
		done <"$work/$p.files"
	done
	! ldconfig -p | grep -qF "libpooter.so.0 " || die "ld.so.cache still has libpooter.so.0"
	ok "dpkg --purge: every packaged file is gone, ld.so.cache too"
fi

section "package.sh: ok"
ls -l "${deb[@]}"
