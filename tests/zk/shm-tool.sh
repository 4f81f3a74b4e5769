#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tests/zk/shm-tool.sh TOOL HOSTS - pooter-shm on a zk:// broker, as a
# shell barrier across hosts would use it: create with a quorum, two
# separate `pooter-shm emit` processes meet in one round, ls lists the
# broker, show --json counts the round, consume takes it, check says the
# backend has no segment (71), rm removes it (ls no longer lists it).
# Run by ctest (pooter-shm-zk) with the zk-ensemble fixture.
set -eu
tool=$1
hosts=$2
if [ -n "${POOTER_ZK_DIR:-}" ] && [ ! -e "$POOTER_ZK_DIR/hosts" ]; then
	echo "shm-tool: no ensemble in $POOTER_ZK_DIR (the zk-ensemble fixture skipped or failed): skipped"
	exit 77
fi
dir="zk://$hosts/pooter-test"
name="shm-tool-$$"
url="$dir/$name"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; "$tool" rm "$url" --force >/dev/null 2>&1 || :' EXIT

fail() {
	echo "shm-tool: $*" >&2
	exit 1
}

"$tool" --session-timeout 4000 create "$url" --quorum 2 --timeout 30000 ||
	fail "create failed"
"$tool" ls "$dir" --json | grep -q "\"$name\"" || fail "ls does not list $name"
"$tool" consume "$url" --as c --count 1 --timeout 30000 >"$tmp/c" &
pc=$!
# the consumer joins before the round: wait until show counts it
i=0
until "$tool" show "$url" --json | grep -q '"consumers": *\[ *{'; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the consumer did not join within 30 s"
	sleep 0.1
done
"$tool" emit "$url" --as a --data one >"$tmp/a" &
pa=$!
"$tool" emit "$url" --as b --data two >"$tmp/b" &
pb=$!
wait $pa || fail "emit a: exit $? ($(cat "$tmp/a"))"
wait $pb || fail "emit b: exit $? ($(cat "$tmp/b"))"
grep -qx 'round 1 resolved' "$tmp/a" || fail "emit a printed: $(cat "$tmp/a")"
grep -qx 'round 1 resolved' "$tmp/b" || fail "emit b printed: $(cat "$tmp/b")"
wait $pc || fail "consume: exit $?"
grep -q 'one' "$tmp/c" && grep -q 'two' "$tmp/c" ||
	fail "consume printed: $(cat "$tmp/c")"
"$tool" show "$url" --json >"$tmp/show"
python3 - "$tmp/show" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["counters"]
assert d["backend"] == "zk", d["backend"]
assert c["rounds_opened"] == 1 and c["rounds_resolved"] == 1, c
assert c["emits"] == 2, c
PY
set +e
"$tool" check "$url" >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 71 ] || fail "check: exit $rc, expected 71 (EOPNOTSUPP)"
"$tool" rm "$url" || fail "rm failed"
if "$tool" ls "$dir" --json | grep -q "\"$name\""; then
	fail "ls still lists $name after rm"
fi
echo "shm-tool: ok: a barrier of two pooter-shm emits on $url, consumed, counted, removed"
