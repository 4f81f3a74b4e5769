#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# .ci/strerror-docs.sh [BUILD_DIR] - the error texts the documentation quotes
# are the ones pooter_strerror() gives.
#
# The tools print a code's text in two shapes, and the docs show samples of
# both: pooter-demo's "ERRNO (text)" and pooter-shm's "cancelled: text
# (ERRNO)"; the README's app prints "round N: text".  Every such sample in
# README.md, NEWS.md, CONTRIBUTING.md, docs/*.md and man/* (roff escapes
# undone) must carry pooter_strerror()'s text for that code, as
# BUILD_DIR's libpooter.so gives it ("..." for an elided text is fine).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$(mktemp -d /tmp/pooter-strerror.XXXXXX)
trap 'rm -rf "$work"' EXIT
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

cmake --build "$build" -j"$(nproc)" --target pooter >"$work/build.log" ||
	{ cat "$work/build.log"; die "build failed"; }
lib=$(dirname "$(find "$build/src" -maxdepth 1 -name libpooter.so -print -quit)")
cat >"$work/texts.c" <<'EOC'
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <pooter.h>
int main(void)
{
	printf("0\t%s\n", pooter_strerror(0));
	for (int e = 1; e < 134; e++)
		if (strerrorname_np(e))
			printf("%s\t%s\n", strerrorname_np(e), pooter_strerror(-e));
	return 0;
}
EOC
cc -std=c11 -I"$src/include" -o "$work/texts" "$work/texts.c" -L"$lib" -lpooter
LD_LIBRARY_PATH=$lib "$work/texts" >"$work/texts.tsv"
echo "pooter_strerror(): $(wc -l <"$work/texts.tsv") codes, e.g. $(grep '^ETIMEDOUT' "$work/texts.tsv" | tr '\t' ' ')"

cd "$src"
/usr/bin/python3 - "$work/texts.tsv" README.md NEWS.md CONTRIBUTING.md docs/*.md man/* <<'PY'
import re, sys
texts = {}
for line in open(sys.argv[1]):
    name, text = line.rstrip("\n").split("\t", 1)
    texts[name] = text
alltexts = set(texts.values())

def unroff(s):
    s = re.sub(r"\\f[BIRP]", "", s)
    s = s.replace("\\-", "-").replace("\\(dq", '"').replace("\\e", "\\")
    s = re.sub(r"^\.[A-Z]{1,2} ", "", s)
    return s

bad = checked = 0
for path in sys.argv[2:]:
    try:
        lines = open(path, encoding="utf-8").read().split("\n")
    except (IsADirectoryError, FileNotFoundError):
        continue
    for no, raw in enumerate(lines, 1):
        line = unroff(raw) if path.startswith("man/") else raw
        found = []
        # pooter-demo: "ETIMEDOUT (text)"
        for m in re.finditer(r"\b(E[A-Z0-9]+) \(([^()]+)\)", line):
            if m.group(1) in texts and m.group(2) != "..." and not m.group(2).startswith("EX_"):
                found.append((m.group(1), m.group(2)))
        # pooter-shm: "cancelled: text (ETIMEDOUT)"
        for m in re.finditer(r"cancelled: (.+?) \((E[A-Z0-9]+)\)", line):
            if m.group(2) in texts and not m.group(1).startswith("E"):
                found.append((m.group(2), m.group(1)))
        # the README's app: "round N: text"
        for m in re.finditer(r"`round [0-9]+: ([^`]+)`", line):
            if m.group(1) not in ("resolved",):
                found.append(("*", m.group(1)))
        for code, text in found:
            checked += 1
            want = texts.get(code)
            if (code == "*" and text in alltexts) or text == want:
                continue
            bad += 1
            print(f"{path}:{no}: {code}: the docs say '{text}'")
            print(f"{' ' * len(path)}  pooter_strerror() says '{want if want else 'one of its texts'}'")
if bad:
    sys.exit(f"FAIL: {bad} of {checked} quoted error texts are not pooter_strerror()'s")
print(f"strerror-docs: ok: {checked} quoted error texts, all pooter_strerror()'s")
PY
