#!/bin/sh
# SPDX-License-Identifier: MIT
#
# .ci/bench.sh [BUILD_DIR] - keep pooter-bench working: build it if needed,
# run a brief sweep (a few hundred rounds), and check that it exits 0 (every
# emit returned 0 in its round, every consumer got every round) and that its
# --json output is one valid JSON document with ratio_vs_barrier in every
# configuration, and payload_mb_s, memcpy_mb_s, ratio_vs_memcpy (and their
# --loan counterparts) in a payload sweep.  It does not judge speed: CI
# machines are too noisy for that, see docs/performance.md for how the
# figures are taken.
#
# --url (rounds on a ZooKeeper ensemble): its usage errors are always
# checked; a brief run (ZK_ROUNDS rounds of the two default configurations,
# with the floor) and its JSON only when an ensemble is at hand, as
# POOTER_ZK_HOSTS (a connect string), or with BENCH_ZK=1, which starts one
# with tests/zk/ensemble.sh (Java and Debian's zookeeper package) on
# ZK_BASE_PORT (default 26181) and stops it after.  It needs a pooter-bench
# built with the ZooKeeper C client, and the plugin (BUILD_DIR/src).
#
#   BUILD_DIR   CMake build directory (default: build); configured (Release,
#               no tests) and built if it has no pooter-bench yet.
#   ROUNDS      rounds per run (default 300)
#   SWEEP       emitter counts (default 1,2,4)
#   ZK_ROUNDS   rounds per --url run (default 20)
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
rounds=${ROUNDS:-300}
sweep=${SWEEP:-1,2,4}
bench=$build/tools/pooter-bench/pooter-bench

if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
		-DPOOTER_BUILD_TESTS=OFF
fi
cmake --build "$build" --target pooter-bench -j "$(nproc 2>/dev/null || echo 2)"

tmp=$(mktemp -d)
zk_dir=
cleanup() {
	if [ -n "$zk_dir" ]; then
		bash "$src/tests/zk/ensemble.sh" stop "$zk_dir" >/dev/null 2>&1 || :
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

run() {
	echo "+ $*"
	status=0
	"$@" >"$tmp/out" 2>"$tmp/err" || status=$?
	if [ "$status" -ne 0 ]; then
		echo "FAIL: exit status $status from: $*" >&2
		cat "$tmp/out" "$tmp/err" >&2
		exit 1
	fi
}

# the table, as a person would run it; a watchdog keeps CI from hanging
run "$bench" -R "$rounds" --sweep-emitters "$sweep" --sweep-consumers 1,2 \
	--pingpong-iters 2000 --watchdog 120
cat "$tmp/out"

# the JSON, as a machine would read it
run "$bench" -R "$rounds" --sweep-emitters "$sweep" --pingpong-iters 2000 \
	--watchdog 120 --json
if ! python3 -m json.tool "$tmp/out" >/dev/null; then
	echo "FAIL: --json output is not valid JSON:" >&2
	cat "$tmp/out" >&2
	exit 1
fi
python3 - "$tmp/out" "$sweep" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
want = [int(e) for e in sys.argv[2].split(",")]
assert doc["ok"] is True, "ok is not true"
got = [c["emitters"] for c in doc["configs"]]
assert got == want, "configurations %s, expected %s" % (got, want)
for c in doc["configs"]:
    assert c["pooter"]["ok"] and c["barrier"]["ok"], c
    assert c["pooter"]["rounds_per_s"] > 0, c
    assert isinstance(c["ratio_vs_barrier"], (int, float)), c
for b in ("futex_pingpong", "spin_pingpong"):
    assert doc["baselines"][b]["ok"], b
print("json: %d configurations, ratio_vs_barrier %s" % (
    len(doc["configs"]),
    ", ".join("E=%d: %.2f" % (c["emitters"], c["ratio_vs_barrier"])
              for c in doc["configs"])))
PY

# payload bandwidth, through copies and loans, next to memcpy
run "$bench" -R "$rounds" -E 2 -C 1 --sweep-payload 64,65536 --loan \
	--pingpong-iters 2000 --watchdog 120 --json
python3 - "$tmp/out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["ok"] is True, "ok is not true"
assert [c["payload"] for c in doc["configs"]] == [64, 65536], doc["configs"]
assert len(doc["baselines"]["memcpy"]) == 4, doc["baselines"]["memcpy"]
for m in doc["baselines"]["memcpy"]:
    assert m["ok"] and m["mb_s"] > 0, m
for c in doc["configs"]:
    for k in ("payload_mb_s", "memcpy_mb_s", "ratio_vs_memcpy",
              "loan_payload_mb_s", "loan_ratio_vs_memcpy", "loan_vs_copy"):
        assert isinstance(c[k], (int, float)) and c[k] > 0, (k, c)
    assert c["loan"]["ok"], c
print("json: payload_mb_s %s" % ", ".join(
    "P=%d: %.0f (x%.2f memcpy; loan x%.2f)" % (
        c["payload"], c["payload_mb_s"], c["ratio_vs_memcpy"],
        c["loan_vs_copy"]) for c in doc["configs"]))
PY

# a pooter-only run with no consumers still works
run "$bench" -R "$rounds" -E 2 -C 0 --no-baselines --watchdog 120

# --url: what it refuses, with status 2 and a reason
usage_fails() {
	echo "+ $* (expecting status 2)"
	status=0
	"$bench" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
	if [ "$status" -ne 2 ] || [ ! -s "$tmp/err" ]; then
		echo "FAIL: exit status $status, expected 2 with a message" >&2
		cat "$tmp/out" "$tmp/err" >&2
		exit 1
	fi
}
usage_fails --url shm:x
usage_fails --url zk://127.0.0.1:1/x/
if grep -q 'built without the ZooKeeper' "$tmp/err" ||
	"$bench" --help | grep -q 'built without the ZooKeeper'; then
	echo "bench: no --url in this build (no ZooKeeper C client): skipping it"
	echo "bench: OK"
	exit 0
fi
usage_fails --url zk://127.0.0.1:1/x --loan

zk_hosts=${POOTER_ZK_HOSTS:-}
if [ -z "$zk_hosts" ] && [ "${BENCH_ZK:-0}" = 1 ]; then
	zk_dir=$tmp/zk
	zk_hosts=$(ZK_BASE_PORT=${ZK_BASE_PORT:-26181} \
		bash "$src/tests/zk/ensemble.sh" start "$zk_dir")
fi
if [ -z "$zk_hosts" ]; then
	echo "bench: no ensemble (POOTER_ZK_HOSTS, or BENCH_ZK=1): no --url run"
	echo "bench: OK"
	exit 0
fi
export POOTER_PLUGIN_DIR="${POOTER_PLUGIN_DIR:-$build/src}"
run "$bench" --url "zk://$zk_hosts/pooter-bench-ci" -R "${ZK_ROUNDS:-20}" \
	--floor-samples 20 --watchdog 120 --json
python3 - "$tmp/out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["ok"] is True and doc["mode"] == "url", "ok is not true"
f = doc["floor"]
assert f["ok"] and f["write_watch_p50_us"] > 0 and f["multi_p50_us"] > 0, f
got = [(c["emitters"], c["consumers"]) for c in doc["configs"]]
assert got == [(2, 1), (8, 2)], "configurations %s" % got
for c in doc["configs"]:
    assert c["pooter"]["ok"], c
    for k in ("round_p50_us", "round_p90_us", "rounds_per_s",
              "ratio_vs_write_watch", "ratio_vs_multi"):
        assert isinstance(c[k], (int, float)) and c[k] > 0, (k, c)
t = doc["target"]
assert (t["emitters"], t["consumers"]) == (2, 1), t
assert isinstance(t["ratio_vs_write_watch"], (int, float)), t
print("json: --url: write->watch %.0f us, multi %.0f us; %s" % (
    f["write_watch_p50_us"], f["multi_p50_us"], ", ".join(
        "E=%d C=%d: round p50 %.0f us (x%.2f watch)" % (
            c["emitters"], c["consumers"], c["round_p50_us"],
            c["ratio_vs_write_watch"]) for c in doc["configs"])))
PY

echo "bench: OK"
