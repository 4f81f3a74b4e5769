#!/bin/bash
# .ci/spin.sh - model-check the round protocol (models/pooter.pml) with spin.
#
# Each configuration below is an exhaustive search: spin -a, pan compiled
# with gcc, run to completion.  Safety runs check every assertion (one
# outcome per round, exactly-once in-order delivery, no record reused while
# held, counters that add up, ...) and that no run can end with a process
# stuck (invalid end states), members dying anywhere included.  The
# termination run looks for any cycle at all (spin's non-progress check with
# no progress labels): finding none, every run of the model ends, so no
# waiter loops or waits forever.  Fails on any error, or on a search that
# did not complete.  models/README.md says what each configuration covers.
#
# Usage: .ci/spin.sh [NAME...]    (default: every configuration)
# Environment: SPIN_BUILD (default build-spin), SPIN_JOBS (parallel runs,
# default: the number of CPUs), CC (default gcc).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
model=$root/models/pooter.pml
build=${SPIN_BUILD:-$root/build-spin}
cc=${CC:-gcc}
jobs=${SPIN_JOBS:-$(nproc 2>/dev/null || echo 1)}

# name | spin -D flags | safety or termination
configs=(
	"notices|-DNE=2 -DNC=1 -DND=1 -DNEMIT=2 -DNOTICES=1 -DMAXDEATH=1|safety"
	"depth2|-DNE=2 -DNC=1 -DND=2 -DNEMIT=2 -DNOTICES=0 -DMAXDEATH=1|safety"
	"two-deaths|-DNE=2 -DNC=1 -DND=1 -DNEMIT=1 -DNOTICES=1 -DMAXDEATH=2|safety"
	"three-emitters|-DNE=3 -DNC=1 -DND=1 -DNEMIT=1 -DNOTICES=1 -DMAXDEATH=0|safety"
	"two-consumers|-DNE=2 -DNC=2 -DND=1 -DNEMIT=1 -DNOTICES=0 -DMAXDEATH=1|safety"
	"fine|-DFINE -DNE=2 -DNC=1 -DND=2 -DNEMIT=1 -DNOTICES=1 -DMAXDEATH=1|safety"
	"termination|-DNE=2 -DNC=1 -DND=2 -DNEMIT=1 -DNOTICES=1 -DMAXDEATH=1|termination"
)

command -v spin >/dev/null || {
	echo "spin: not installed (Debian: apt-get install spin)" >&2
	exit 1
}
echo "spin: $(spin -V | head -n1); $("$cc" --version | head -n1); $jobs job(s)"
mkdir -p "$build"

# Run one configuration in $build/NAME; its one-line summary goes to
# $build/NAME/summary, and its status to $build/NAME/status.
run_one() {
	local name=$1 defs=$2 mode=$3 dir=$build/$1 start ms states errors
	local cflags runflags

	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$model" "$dir/pooter.pml"
	echo 1 >"$dir/status"
	# shellcheck disable=SC2086 # defs is a list of flags
	if ! (cd "$dir" && spin -a $defs pooter.pml >spin.log 2>&1); then
		echo "$name: spin -a failed: $(cat "$dir/spin.log")" >"$dir/summary"
		return
	fi
	if [[ $mode == termination ]]; then
		cflags=(-DNP -DNOCLAIM)
		runflags=(-l)
	else
		cflags=(-DSAFETY)
		runflags=()
	fi
	if ! "$cc" -O2 -w "${cflags[@]}" -DCOLLAPSE -DMEMLIM=6144 \
		-o "$dir/pan" "$dir/pan.c" >"$dir/cc.log" 2>&1; then
		echo "$name: compiling pan failed: $(cat "$dir/cc.log")" >"$dir/summary"
		return
	fi
	start=$(date +%s%N)
	(cd "$dir" && ./pan -m1000000 -w26 "${runflags[@]}" >pan.log 2>&1) || true
	ms=$((($(date +%s%N) - start) / 1000000))
	states=$(awk '/states, stored/ { print $1; exit }' "$dir/pan.log")
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log" | head -n1)
	printf '%-15s %-11s %10s states  %4d.%01d s  errors: %s\n' "$name" \
		"$mode" "${states:-?}" $((ms / 1000)) $((ms % 1000 / 100)) \
		"${errors:-?}" >"$dir/summary"
	# pan reports each error as "pan:N: ..."; an incomplete search is one too
	if [[ $errors == 0 ]] &&
		! grep -qE '^pan:[0-9]+:|Search not completed|max search depth too small|out of memory' \
			"$dir/pan.log"; then
		echo 0 >"$dir/status"
	fi
}

names=()
running=0
for c in "${configs[@]}"; do
	IFS='|' read -r name defs mode <<<"$c"
	if (($#)) && [[ " $* " != *" $name "* ]]; then
		continue
	fi
	names+=("$name|$defs")
	if ((running >= jobs)); then
		wait -n || true
		running=$((running - 1))
	fi
	run_one "$name" "$defs" "$mode" &
	running=$((running + 1))
done
wait
if ((${#names[@]} == 0)); then
	echo "spin: no configuration named: $*" >&2
	exit 2
fi

status=0
for n in "${names[@]}"; do
	IFS='|' read -r name defs <<<"$n"
	dir=$build/$name
	cat "$dir/summary"
	if [[ $(cat "$dir/status") != 0 ]]; then
		status=1
		echo "$name: FAILED ($defs); pan says:" >&2
		grep -E '^pan|errors:|violated|invalid|not completed|too small|memory' \
			"$dir/pan.log" >&2 || true
		if compgen -G "$dir/*.trail" >/dev/null; then
			echo "$name: replay the trail: (cd $dir && spin -t -p -g $defs pooter.pml)" >&2
		fi
	fi
done
if ((status == 0)); then
	echo "spin: ok"
else
	echo "spin: FAILED" >&2
fi
exit $status
