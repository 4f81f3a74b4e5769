#!/bin/sh
# SPDX-License-Identifier: MIT
#
# syscalls.sh BENCH [pooter-bench options] - syscalls per pooter round.
#
# Runs BENCH (a built pooter-bench) under `perf stat` twice with the same
# options and --no-baselines: once with the given -R ROUNDS (default 10000)
# and once with -R 1.  The difference divided by ROUNDS - 1 is what one
# round costs, summed over every emitter and consumer, with set-up, joins and
# exit cancelled out.  Needs perf with tracepoint access (root, or
# kernel.perf_event_paranoid <= 1 and tracefs readable).
#
#   tools/pooter-bench/syscalls.sh build/tools/pooter-bench/pooter-bench \
#       -E 8 -C 2 -R 10000
#
# See docs/performance.md for which words the futex calls are on.
set -eu

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 BENCH [pooter-bench options]" >&2
	exit 2
fi
bench=$1
shift

# pick out -R/--rounds; everything else goes through unchanged
rounds=10000
args=
while [ $# -gt 0 ]; do
	case $1 in
	-R | --rounds) rounds=$2; shift 2 ;;
	-R* ) rounds=${1#-R}; shift ;;
	--rounds=*) rounds=${1#--rounds=}; shift ;;
	*) args="$args $1"; shift ;;
	esac
done
[ "$rounds" -gt 1 ] || { echo "$0: need more than 1 round" >&2; exit 2; }

calls="futex io_uring_enter getpid poll ppoll read openat close pidfd_open
sched_yield clock_nanosleep"
events="-e raw_syscalls:sys_enter -e context-switches"
for c in $calls; do
	events="$events -e syscalls:sys_enter_$c"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

measure() {
	# shellcheck disable=SC2086
	perf stat -x, -o "$tmp/$1" $events -- \
		"$bench" --no-baselines -R "$2" $args >"$tmp/$1.out"
}

measure long "$rounds"
measure short 1
echo "pooter-bench$args -R $rounds, per round (all processes):"
grep -v '^#' "$tmp/long.out" | sed -n '/rounds\/s/,$p'
awk -F, -v n="$rounds" '
	NR == FNR { if ($3 != "") short[$3] = $1; next }
	$3 != "" && $1 ~ /^[0-9]+$/ {
		v = ($1 - short[$3]) / (n - 1)
		name = $3
		sub(/^syscalls:sys_enter_/, "", name)
		sub(/^raw_syscalls:sys_enter$/, "all syscalls", name)
		if (v >= 0.005 || name == "all syscalls")
			printf "  %-18s %8.2f\n", name, v
	}' "$tmp/short" "$tmp/long"
