# SPDX-License-Identifier: MIT
"""Fixtures: a fresh broker name per test, removed afterwards, and the
helper process (tests/child.py) that plays another process's part."""
import os
import subprocess
import sys

import pytest

import pooter

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "child.py")

# Waits bounded from above, generously: a loaded 2-CPU machine is slow, a
# hang is a failure.
LONG = 30.0


@pytest.fixture
def name(request):
    n = f"pytest-{os.getpid()}-{request.node.name}"[:63]
    n = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in n)
    pooter._pooter.broker_unlink(n)
    yield n
    pooter._pooter.broker_unlink(n)


class Child:
    """A helper process: a line-based conversation on stdin/stdout."""

    def __init__(self, *args, env=None):
        e = dict(os.environ)
        if env:
            e.update(env)
        self.p = subprocess.Popen([sys.executable, CHILD, *args],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=e)

    def expect(self, prefix):
        line = self.p.stdout.readline()
        assert line.startswith(prefix), (
            f"child said {line!r}, expected {prefix!r} "
            f"(exit {self.p.poll()})")
        return line.split()

    def say(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.p.wait(LONG)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def children():
    made = []

    def make(*args, env=None):
        c = Child(*args, env=env)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
