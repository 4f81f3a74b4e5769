#!/bin/bash
# .ci/fuzz.sh [SECONDS] - build the libFuzzer harness of the segment reader
# (tests/fuzz/fuzz_segment.c) into build-fuzz/ and run it for SECONDS
# (default 60) from a copy of the seed corpus, so the tree is never written.
# Exits non-zero if the build fails, or on any crash, sanitizer report,
# hang (an input running over FUZZ_INPUT_TIMEOUT seconds, default 10) or
# leak.  Needs clang with libFuzzer (Debian: clang libclang-rt-14-dev) and
# liburing-dev.
#
# Environment: CC (default clang), FUZZ_INPUT_TIMEOUT, FUZZ_BUILD (default
# build-fuzz), FUZZ_EXTRA (more libFuzzer flags).
set -euo pipefail

secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
cc=${CC:-clang}
input_timeout=${FUZZ_INPUT_TIMEOUT:-10}
fuzz=$root/tests/fuzz

case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

mkdir -p "$build"
read -ra uring_libs <<<"$(pkg-config --libs liburing 2>/dev/null || echo -luring)"
read -ra extra <<<"${FUZZ_EXTRA:-}"
# shellcheck disable=SC2054 # the commas are -fsanitize's
cflags=(-std=gnu11 -D_GNU_SOURCE -include "$root/src/probes.h" -g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-I"$root/include" -I"$root/src" -I"$fuzz")

# The library's sources are compiled into the harness with the same
# instrumentation; test hooks stay out (testhook.c is only for the chaos
# suite and needs POOTER_TEST_HOOKS).
srcs=()
for f in "$root"/src/*.c; do
	case ${f##*/} in testhook.c) continue ;; esac
	srcs+=("$f")
done

echo "fuzz: building $build/fuzz_segment with $("$cc" --version | head -n1)"
"$cc" "${cflags[@]}" "${srcs[@]}" "$fuzz/fuzz_segment.c" \
	-Wl,--wrap=mmap,--wrap=munmap,--wrap=syscall "${uring_libs[@]}" \
	-o "$build/fuzz_segment"

# Seeds: the checked-in corpus, plus the same seeds regenerated against the
# current layout.h (they differ only if the layout moved).
corpus=$build/corpus
rm -rf "$corpus" "$build/seeds-gen" "$build/artifacts"
mkdir -p "$corpus" "$build/seeds-gen" "$build/artifacts"
cp "$fuzz"/corpus/* "$corpus"/
"$cc" -std=gnu11 -D_GNU_SOURCE -I"$root/include" -I"$root/src" -I"$fuzz" \
	-o "$build/make_corpus" "$fuzz/make_corpus.c"
"$build/make_corpus" "$build/seeds-gen" >/dev/null
for f in "$build"/seeds-gen/*; do
	cp "$f" "$corpus/gen-${f##*/}"
done

# Reproducers of bugs found and fixed stay fixed: each must run clean.
regress=("$fuzz"/regress/*)
if [ -e "${regress[0]}" ]; then
	echo "fuzz: replaying ${#regress[@]} regression inputs"
	for f in "${regress[@]}"; do
		if ! "$build/fuzz_segment" -runs=1 -timeout="$input_timeout" \
			"$f" >"$build/regress.log" 2>&1; then
			tail -n 40 "$build/regress.log" >&2
			echo "fuzz: FAILED: regression input ${f#"$root"/} crashes or hangs" >&2
			exit 1
		fi
	done
fi

log=$build/fuzz.log
echo "fuzz: running for ${secs}s, log in $log"
rc=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$build/fuzz_segment" "$corpus" \
	-max_total_time="$secs" -timeout="$input_timeout" -rss_limit_mb=2048 \
	-max_len=1024 -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
	"${extra[@]}" >"$log" 2>&1 || rc=$?
grep -h -E 'stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb' "$log" || true
if [ "$rc" -ne 0 ] || compgen -G "$build/artifacts/*" >/dev/null; then
	echo "fuzz: FAILED (exit $rc); the end of the log:" >&2
	tail -n 60 "$log" >&2
	ls -l "$build/artifacts" >&2 || true
	exit 1
fi
echo "fuzz: ok"
