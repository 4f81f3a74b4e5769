#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/shm/ops.sh SRC SHM DEMO BENCH - pooter-shm as an operator uses it,
# and what every shipped tool must have.  Each check prints "ok: ...";
# the first failure ends the script with status 1.
#
#   check       dead members (status 6) apart from corruption (65)
#   create      refuses a mode without owner read and write (0400, 0200)
#   rm          refuses junk named pooter.NAME unless --force;
#               --abandoned removes the brokers with no live member and no
#               open round, keeps the others, --older-than and --dry-run
#   consume     interrupted by SIGINT or SIGTERM before a delivery: 130, 143
#   --json      every subcommand's output is one valid JSON document a line
#   metrics     Prometheus text format, checked line by line
#   --version   pooter-shm, pooter-demo, pooter-bench
#   completion  the bash completion completes commands, options, brokers
#   systemd     the example units' pooter-shm command lines parse
#
# Brokers are named ops-PID-N and removed at the end; rm --abandoned is
# only ever given those names, never run over the whole of /dev/shm.
set -euo pipefail

src=$1 shm=$2 demo=$3 bench=$4
n=0
names=()
pids=()
work=$(mktemp -d /tmp/pooter-ops.XXXXXX)
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for p in "${names[@]}"; do rm -f "/dev/shm/pooter.$p"; done
	rm -rf "$work"
}
trap cleanup EXIT
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'ok: %s\n' "$*"; }
fresh() { n=$((n + 1)); name=ops-$$-$n; names+=("$name"); }

# run STATUS CMD...: run pooter-shm, expect STATUS; output in $out, $err
run() {
	local want=$1 rc=0
	shift
	"$shm" "$@" >"$work/out" 2>"$work/err" || rc=$?
	out=$(cat "$work/out") err=$(cat "$work/err")
	((rc == want)) || die "pooter-shm $*: status $rc, expected $want; stdout: $out; stderr: $err"
}

# json: every line of $out is one JSON document; the last one is printed
# with python's json module as key=value lines into $work/json.
json() {
	/usr/bin/python3 - "$work/out" >"$work/json" <<'PY' || die "not JSON: $out"
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "no final newline"
docs = [json.loads(l) for l in lines[:-1]]
assert docs, "no document"
def flat(v, k=""):
    if isinstance(v, dict):
        for kk, vv in v.items(): flat(vv, f"{k}.{kk}" if k else kk)
    elif isinstance(v, list):
        print(f"{k}#={len(v)}")
        for i, vv in enumerate(v): flat(vv, f"{k}[{i}]")
    else:
        print(f"{k}={json.dumps(v)}")
flat(docs[-1])
PY
}
jget() { awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2) }' "$work/json"; }
expect_json() { # key value
	[[ $(jget "$1") == "$2" ]] || die "JSON $1 is '$(jget "$1")', expected '$2': $out"
}

# wait_consumers BROKER N: poll show --json until N consumers (10 s)
wait_consumers() { # broker count
	local i
	for i in $(seq 100); do
		run 0 show "$1" --json
		json
		[[ $(jget 'consumers#') == "$2" ]] && return 0
		sleep 0.1
	done
	die "broker $1 never had $2 consumers"
}

# a consumer left dead in broker $1: pooter-shm consume, SIGKILLed
dead_consumer() {
	"$shm" consume "$1" --follow --as "$2" >/dev/null 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_consumers "$1" 1
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
}

# --- check: dead members are not corruption ------------------------------------
fresh
run 0 create "$name" --json
json
expect_json name "\"$name\""
expect_json mode '"0600"'
run 0 check "$name"
dead_consumer "$name" dead-one
run 6 check "$name"
[[ $out == *"1 member of dead processes"* ]] || die "check: $out"
text=$out
run 6 check "$name" --json
json
expect_json corrupt false
expect_json dead_members 1
expect_json ok false
ok "check: a dead member is status 6, not corruption: $text"
printf 'JUNKJUNK' | dd of="/dev/shm/pooter.$name" bs=1 seek=0 conv=notrunc status=none
run 65 check "$name" --json
json
expect_json corrupt true
ok "check: a damaged header is status 65 (corrupt true)"

# --- create: the owner must read and write --------------------------------------
for mode in 0400 0200 0000 0044; do
	fresh
	run 64 create "$name" --mode "$mode"
	[[ ! -e /dev/shm/pooter.$name ]] || die "create --mode $mode made a broker"
done
fresh
run 0 create "$name" --mode 0640
ok "create: --mode 0400, 0200, 0000, 0044 refused (64); 0640 taken"

# --- rm: junk, --force, --abandoned ---------------------------------------------
fresh
junk=$name
echo 'not a broker' >"/dev/shm/pooter.$junk"
run 65 rm "$junk"
[[ -e /dev/shm/pooter.$junk ]] || die "rm removed junk without --force"
[[ $err == *"--force"* ]] || die "rm on junk does not mention --force: $err"
run 0 rm --force "$junk" --json
json
expect_json 'brokers[0].removed' true
[[ ! -e /dev/shm/pooter.$junk ]] || die "rm --force left the junk"
ok "rm: junk refused (65) unless --force"

fresh; dead=$name
run 0 create "$dead"
dead_consumer "$dead" gone
fresh; live=$name
run 0 create "$live"
"$shm" consume "$live" --follow --as alive >/dev/null 2>&1 &
livepid=$!
pids+=("$livepid")
wait_consumers "$live" 1
fresh; empty=$name
run 0 create "$empty"
fresh; open=$name
run 0 create "$open" --quorum 2 --timeout 60000
"$shm" emit "$open" --as first --data a >/dev/null 2>&1 &
epid=$!
pids+=("$epid")
for i in $(seq 100); do
	run 0 show "$open" --json
	json
	[[ $(jget round.state) == '"open"' ]] && break
	sleep 0.1
done
[[ $(jget round.state) == '"open"' ]] || die "no round opened in $open"

run 0 rm --abandoned --dry-run "$dead" "$live" "$empty" "$open" --json
json
for b in "$dead" "$live" "$empty" "$open"; do
	[[ -e /dev/shm/pooter.$b ]] || die "rm --dry-run removed $b"
done
run 0 rm --abandoned --older-than 1h "$dead" "$empty" --json
json
expect_json 'brokers[0].removed' false
[[ -e /dev/shm/pooter.$dead ]] || die "rm --older-than 1h removed a fresh broker"
run 0 rm --abandoned "$dead" "$live" "$empty" "$open"
echo "$out" | sed 's/^/    /'
[[ ! -e /dev/shm/pooter.$dead ]] || die "rm --abandoned kept $dead (all members dead)"
[[ ! -e /dev/shm/pooter.$empty ]] || die "rm --abandoned kept $empty (no member)"
[[ -e /dev/shm/pooter.$live ]] || die "rm --abandoned removed $live (a live consumer)"
[[ -e /dev/shm/pooter.$open ]] || die "rm --abandoned removed $open (a round open)"
[[ $out == *"kept $live: 1 live member"* ]] || die "no reason for $live: $out"
[[ $out == *"kept $open: 1 live member"* ]] || die "no reason for $open: $out"
ok "rm --abandoned: removed the dead and the empty brokers, kept those with a live member"
kill -9 "$epid"
wait "$epid" 2>/dev/null || true
run 64 rm --abandoned --older-than soon "$live"
run 64 rm --older-than 1h "$live"

# --- consume: an interruption is not a success ----------------------------------
for sig in INT TERM; do
	"$shm" consume "$live" --as "sig-$sig" >"$work/c.out" 2>&1 &
	cpid=$!
	pids+=("$cpid")
	wait_consumers "$live" 2
	kill -s "$sig" "$cpid"
	rc=0
	wait "$cpid" || rc=$?
	want=$((128 + $(kill -l "$sig")))
	((rc == want)) || die "consume after SIG$sig: status $rc, expected $want"
	wait_consumers "$live" 1 # and it left
done
ok "consume: SIGINT gives 130, SIGTERM 143, and the consumer leaves"

# --- --json on every subcommand -------------------------------------------------
fresh; j=$name
run 0 create "$j" --json; json
run 0 ls --json; json
run 0 show "$j" --json; json
run 0 watch "$j" --count 1 --json; json
expect_json name "\"$j\""
run 0 set "$j" --timeout 5000 --json; json
expect_json timeout_ms 5000
run 5 cancel "$j" --json; json
expect_json cancelled false
run 0 emit "$j" --as solo --data hello --json; json
expect_json outcome '"resolved"'
expect_json round 1
run 0 check "$j" --json; json
run 0 gc "$j" --json; json
expect_json count 0
"$shm" consume "$j" --json --timeout 100 >"$work/out" 2>/dev/null || true
run 1 consume "$j" --json --timeout 100
run 0 rm "$j" --json; json
ok "--json: ls show watch create rm set cancel emit check gc give JSON"

# --- metrics: the Prometheus text format ---------------------------------------
fresh; m=$name
run 0 create "$m"
run 0 emit "$m" --as solo --data x
run 0 metrics "$m" "$live"
/usr/bin/python3 - "$work/out" "$m" >"$work/prom" <<'PY' || die "metrics: not the Prometheus text format"
import re, sys
text = open(sys.argv[1]).read()
broker = sys.argv[2]
assert text.endswith("\n")
types, helps, series, values = {}, set(), set(), {}
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
for line in text.splitlines():
    if line.startswith("# HELP "):
        name = line.split(" ")[2]
        assert name not in helps, f"two HELP for {name}"
        helps.add(name)
    elif line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ")
        assert typ in ("counter", "gauge"), line
        assert name not in types, f"two TYPE for {name}"
        assert not (typ == "counter") ^ name.endswith("_total"), line
        types[name] = typ
    else:
        m = re.fullmatch(rf"({name_re})\{{((?:{label_re})(?:,{label_re})*)\}} (\S+)", line)
        assert m, f"bad sample line: {line!r}"
        name, labels, value = m.groups()
        assert name in types, f"{name} sampled before its TYPE"
        float(value)
        assert (name, labels) not in series, f"duplicate series {line}"
        series.add((name, labels))
        values[(name, labels)] = float(value)
b = f'broker="{broker}"'
assert values[("pooter_up", b)] == 1
assert values[("pooter_rounds_opened_total", b)] == 1
assert values[("pooter_rounds_resolved_total", b)] == 1
assert values[("pooter_emits_total", b)] == 1
assert values[("pooter_rounds_cancelled_total", b + ',reason="ETIMEDOUT"')] == 0
print(f"{len(types)} families, {len(series)} series")
PY
ok "metrics: Prometheus text format, counters right: $(cat "$work/prom")"
run 0 metrics "$m" --output "$work/m.prom"
cmp -s <("$shm" metrics "$m") "$work/m.prom" || die "metrics --output wrote something else"
ok "metrics --output writes the file"

# --- --version on every tool ----------------------------------------------------
for tool in "$shm" "$demo" "$bench"; do
	v=$("$tool" --version) || die "$tool --version failed"
	[[ $v =~ ^pooter-[a-z]+\ [0-9]+\.[0-9]+\.[0-9]+\ \(libpooter\ [0-9.]+\)$ ]] ||
		die "$tool --version: '$v'"
	echo "    $v"
done
ok "--version: pooter-shm, pooter-demo, pooter-bench"

# --- bash completion --------------------------------------------------------
complete_words() { # words...: what completing the last word offers
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_pooter_shm; printf "%s\n" "${COMPREPLY[@]}"' \
		complete "$src/tools/pooter-shm/pooter-shm.bash" "$@"
}
[[ $(complete_words pooter-shm met) == metrics ]] || die "completion: pooter-shm met"
complete_words pooter-shm rm --ab | grep -qx -- --abandoned || die "completion: rm --ab"
complete_words pooter-shm show "$live" | grep -qx -- "$live" || die "completion: broker names"
for c in ls show watch create rm set cancel emit consume check gc metrics; do
	complete_words pooter-shm "$c" --h | grep -qx -- --help || die "completion: $c --h"
	"$shm" "$c" --help >/dev/null || die "$c --help"
done
ok "bash completion: commands, options, broker names"

# --- the systemd examples' command lines --------------------------------------
for unit in "$src"/docs/examples/systemd/*.service; do
	cmdline=$(sed -n 's|^ExecStart=/usr/bin/pooter-shm ||p' "$unit")
	[[ -n $cmdline ]] || die "$unit: no ExecStart=/usr/bin/pooter-shm"
	# shellcheck disable=SC2086 # the unit's words
	set -- $cmdline
	case $1 in
	rm) "$shm" "$@" --dry-run "$live" >/dev/null || die "$unit: pooter-shm $cmdline" ;;
	metrics) "$shm" metrics "$live" --output "$work/unit.prom" >/dev/null ||
		die "$unit: pooter-shm $cmdline" ;;
	*) die "$unit: unknown command $1" ;;
	esac
	echo "    $(basename "$unit"): pooter-shm $cmdline"
done
ok "the systemd example units' commands run"
echo "ops: ok"
