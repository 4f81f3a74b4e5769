#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/layers.sh - calls only go down: a file of src/ may include the internal
# headers of its own layer and of the layers below, never one above, and the
# includes among the files of one layer have no cycle.  docs/design.md draws
# the same layers; change both together.  Every file of src/ must be listed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../src"

declare -A layer
add() {
	local n=$1
	shift
	for f in "$@"; do layer[$f]=$n; done
}
# 0, bottom: the segment, the lock and journal, liveness, the wait engine
add 0 base.h layout.h error.h error.c name.h name.c liveness.h liveness.c \
	segment.h segment.c lock.h lock.c wait.h wait.c uring_compat.h \
	testhook.c probes.h version.c
# 1, middle: the round's state machine, members, deliveries
add 1 round.h round.c member.h member.c delivery.h delivery.c
# 2, top: the shm backend's calls, and the seam they implement
add 2 handle.h enter.h enter.c await.h await.c emit.h emit.c async.h async.c \
	loan.c consume.c join.c inspect.c check.c broker.c backend.h shm.h shm.c
# 3: the public calls, through the backend seam (backend.h)
add 3 api.c

status=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for f in *.c *.h; do
	if [[ -z ${layer[$f]:-} ]]; then
		echo "layers: src/$f is in no layer (add it to .ci/layers.sh and docs/design.md)" >&2
		status=1
		continue
	fi
	while read -r inc; do
		[[ $inc == pooter.h ]] && continue
		if [[ -z ${layer[$inc]:-} ]]; then
			echo "layers: src/$f includes \"$inc\", which is in no layer" >&2
			status=1
		elif ((layer[$inc] > layer[$f])); then
			echo "layers: src/$f (layer ${layer[$f]}) includes \"$inc\" (layer ${layer[$inc]}): calls must go down" >&2
			status=1
		elif ((layer[$inc] == layer[$f])) && [[ ${f%.*} != "${inc%.*}" ]]; then
			echo "${inc%.*} ${f%.*}" >>"$edges"
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
# same-layer includes: a partial order (tsort fails on a cycle)
if [[ -s $edges ]] && ! tsort "$edges" >/dev/null 2>"$edges.err"; then
	echo "layers: a cycle among the includes of one layer:" >&2
	cat "$edges.err" >&2
	status=1
fi
rm -f "$edges.err"
((status == 0)) && echo "layers: ok: $(ls *.c *.h | wc -l) files in 4 layers, every include goes down or sideways without a cycle"

# Plugins (src/zk/: libpooter-zk.so.0) sit on the seam: besides their own
# headers they may include only backend.h and base.h (nothing of shm's),
# and reach libpooter only through struct backend_host.
for f in zk/*.c zk/*.h; do
	[[ -e $f ]] || continue
	while read -r inc; do
		case $inc in
		../backend.h | ../base.h) ;;
		*/*) echo "layers: src/$f includes \"$inc\": a plugin may include only ../backend.h and ../base.h of libpooter" >&2
		     status=1 ;;
		*) [[ -e zk/$inc ]] || { echo "layers: src/$f includes \"$inc\", which is not the plugin's" >&2; status=1; } ;;
		esac
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
((status == 0)) && echo "layers: ok: src/zk/ (a plugin) includes only backend.h and base.h of libpooter"
exit $status
