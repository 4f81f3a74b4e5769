#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/static-link.sh [BUILD_DIR] - libpooter.a exports only pooter_* names.
#
#   1. every global symbol libpooter.a defines is pooter_*;
#   2. an application that defines, as globals of its own, every internal
#      name of the library (set_error, name_check, round_wait, txn_set, ...,
#      read from the library's own objects) links statically against
#      libpooter.a and runs: a broker is created, opened, used for a round
#      and removed, and the application's set_error() is never called by
#      the library.
#
# BUILD_DIR: a configured build tree (default build).  Writes only under /tmp.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$(mktemp -d /tmp/pooter-static.XXXXXX)
trap 'rm -rf "$work"' EXIT
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'ok: %s\n' "$*"; }

cmake --build "$build" -j"$(nproc)" --target pooter_static pooter_objects \
	>"$work/build.log" || { cat "$work/build.log"; die "build failed"; }
archive=$(find "$build/src" -maxdepth 1 -name libpooter.a)
[[ -n $archive ]] || die "no libpooter.a in $build/src"

# --- 1. the archive's globals ------------------------------------------------
nm -g --defined-only "$archive" | awk 'NF == 3 { print $3 }' | sort -u >"$work/globals"
grep -v '^pooter_' "$work/globals" >"$work/bad" || true
[[ ! -s $work/bad ]] || { sed 's/^/    /' "$work/bad"; die "libpooter.a defines globals outside pooter_*"; }
ok "libpooter.a defines $(wc -l <"$work/globals") globals, all pooter_*"

# --- 2. the internal names, defined by the application -----------------------
# The library's objects before localization: their hidden globals are the
# internal names an application could collide with.
objs=$(find "$build/src/CMakeFiles/pooter_objects.dir" -name '*.o')
[[ -n $objs ]] || die "no objects of pooter_objects"
# shellcheck disable=SC2086 # a list of files
# (C identifiers only: <sys/sdt.h>'s _.stapsdt.base is none an
# application could define.)
nm -g --defined-only $objs | awk 'NF == 3 { print $3 }' | grep -v '^pooter_' |
	grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort -u >"$work/internal"
n=$(wc -l <"$work/internal")
((n > 0)) || die "found no internal names (is the library compiled hidden?)"
grep -qx set_error "$work/internal" || die "no set_error among the internal names"
echo "internal names: $n ($(head -n 8 "$work/internal" | tr '\n' ' ')...)"

{
	echo '#include <errno.h>'
	echo '#include <stdio.h>'
	echo '#include <stdlib.h>'
	echo '#include <string.h>'
	echo '#include <pooter.h>'
	echo 'static int app_calls;'
	# set_error first, with a body that tells when the library calls it.
	echo 'int set_error(int err, const char *fmt, ...) { app_calls++; return err; }'
	grep -vx set_error "$work/internal" | sed 's/.*/int &(void) { return app_calls++; }/'
	cat <<'EOC'
int main(void)
{
	POOTER_OPTS_INIT(pooter_broker_attr, attr);
	struct pooter_broker *b, *b2;
	struct pooter_emitter *e;
	uint64_t round = 0;
	int err;

	attr.max_emitters = 1;
	err = pooter_broker_open("static-link-nonesuch", &b);
	if (err != -ENOENT || !pooter_last_error()[0]) {
		fprintf(stderr, "open: %d '%s'\n", err, pooter_last_error());
		return 1;
	}
	err = pooter_broker_create(NULL, &attr, &b);
	if (err) {
		fprintf(stderr, "create: %s\n", pooter_strerror(err));
		return 1;
	}
	if (pooter_broker_open(pooter_broker_name(b), &b2) ||
	    pooter_emitter_join(b2, "only", 0, &e) ||
	    pooter_emit(e, "x", 1, &round) || round != 1) {
		fprintf(stderr, "round: %s\n", pooter_last_error());
		return 1;
	}
	pooter_emitter_leave(e);
	pooter_broker_close(b2);
	pooter_broker_unlink(pooter_broker_name(b));
	pooter_broker_close(b);
	if (app_calls) {
		fprintf(stderr, "the library called the application's names %d times\n",
			app_calls);
		return 1;
	}
	printf("static: round %llu resolved; the library kept to its own names\n",
	       (unsigned long long)round);
	return 0;
}
EOC
} >"$work/app.c"
cc -std=gnu11 -w -I"$src/include" -o "$work/app" "$work/app.c" \
	-Wl,-Bstatic -L"$(dirname "$archive")" -lpooter -luring -Wl,-Bdynamic \
	>"$work/link.log" 2>&1 || { head -n 20 "$work/link.log"; die "the application does not link with libpooter.a"; }
! readelf -d "$work/app" | grep -q 'libpooter\.so' || die "the application linked libpooter.so"
ok "an application defining all $n internal names links with libpooter.a"
timeout 60 "$work/app" || die "the statically linked application failed"
echo "static-link: ok"
