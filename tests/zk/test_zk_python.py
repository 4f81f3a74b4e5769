# SPDX-License-Identifier: MIT
"""The pooter package on a zk:// broker: the same API, across processes, on
asyncio (the io_uring waits on zk handles).  Run by ctest (python-zk) with
the zk-ensemble fixture's POOTER_ZK_HOSTS."""
import asyncio
import os
import subprocess
import sys

import pytest

import pooter

HOSTS = os.environ.get("POOTER_ZK_HOSTS")
LONG = 20.0

# No ensemble running (the fixture skipped: no java, say): skipped, 77.
_dir = os.environ.get("POOTER_ZK_DIR")
if HOSTS and _dir and not os.path.exists(os.path.join(_dir, "hosts")):
    pytest.exit(f"zk: no ensemble in {_dir} (the zk-ensemble fixture "
                "skipped or failed)", returncode=77)

pytestmark = [
    pytest.mark.skipif(not HOSTS, reason="no ensemble: POOTER_ZK_HOSTS is "
                       "not set (ctest's zk-ensemble fixture sets it)"),
    pytest.mark.asyncio,
]

CHILD = r"""
import asyncio, sys
import pooter
async def main(url, name, payload):
    b = pooter.Broker.open(url)
    e = pooter.Emitter(name)
    assert b.register_emitter(e)
    print("ready", flush=True)
    sys.stdin.readline()
    r = await e.emit_round(payload)
    print("result", "resolved" if r else r.reason, r.round, flush=True)
    await b.aclose()
asyncio.run(main(*sys.argv[1:]))
"""


async def until(cond, what, timeout=LONG):
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {what} within {timeout} s")


@pytest.fixture
def url():
    u = f"zk://{HOSTS}/pooter-test/py-{os.getpid()}"
    try:
        pooter._pooter.broker_unlink(u)
    except pooter.PooterError:
        pass
    yield u
    try:
        pooter._pooter.broker_unlink(u)
    except pooter.PooterError:
        pass


async def test_processes_meet_in_a_round_on_zk(url):
    broker = pooter.Broker(url, timeout=LONG)
    got = []
    broker.register_consumer(pooter.Consumer("watcher", callback=got.append,
                                             codec=pooter.TEXT))
    kids = [subprocess.Popen([sys.executable, "-c", CHILD, url, f"p{i}",
                              f"from-{i}"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
            for i in range(2)]
    try:
        for k in kids:
            assert k.stdout.readline().split() == ["ready"]
        assert broker.stat()["emitters"] == 2
        for k in kids:
            k.stdin.write("go\n")
            k.stdin.flush()
        results = [k.stdout.readline().split() for k in kids]
        assert results == [["result", "resolved", "1"]] * 2
        await until(lambda: got, "delivery")
        assert got[0].round == 1
        assert got[0].by_emitter() == {"p0": "from-0", "p1": "from-1"}
        st = broker.stat()
        assert st["rounds_resolved"] == 1 and st["deliveries"] == 1
    finally:
        for k in kids:
            k.kill()
            k.wait()
        await broker.aclose()


async def test_two_emitters_in_one_loop_on_zk(url):
    broker = pooter.Broker(url, timeout=LONG)
    try:
        e1, e2 = pooter.Emitter("one"), pooter.Emitter("two")
        assert broker.register_emitter(e1) and broker.register_emitter(e2)
        r = await asyncio.gather(e1.emit_round("a"), e2.emit_round("b"))
        assert all(r) and {x.round for x in r} == {1}
    finally:
        await broker.aclose()
