# SPDX-License-Identifier: MIT
"""Across processes: three meet in a round; a participant SIGKILLed gives
False with EOWNERDEAD promptly; a quorum barrier; a consumer that holds a
memoryview past release gets BufferError; a handle used after fork gives a
clear error; the fallback says so once."""
import asyncio
import errno
import os
import signal
import subprocess
import sys
import time

import pytest

import pooter
from conftest import CHILD, LONG
from test_original import until


async def test_three_processes_meet_in_a_round(name, children):
    broker = pooter.Broker(name, timeout=LONG)
    got = []
    broker.register_consumer(pooter.Consumer("watcher", callback=got.append,
                                             codec=pooter.TEXT))
    try:
        kids = [children("emit", name, f"p{i}", f"from-{i}")
                for i in range(3)]
        for k in kids:
            k.expect("ready")
        assert broker.stat()["emitters"] == 3
        for k in kids:
            k.say("go")
        results = [k.expect("result") for k in kids]
        assert [r[1] for r in results] == ["resolved"] * 3
        assert {r[2] for r in results} == {"1"}
        await until(lambda: got, "the delivery")
        assert got[0].round == 1
        assert got[0].by_emitter() == {f"p{i}": f"from-{i}"
                                       for i in range(3)}
    finally:
        await broker.aclose()


async def test_sigkilled_participant_cancels_with_eownerdead(name, children):
    # a deadline far away: only the death can end the round in time
    broker = pooter.Broker(name, timeout=LONG)
    try:
        kid = children("hold", name, "doomed")
        kid.expect("ready")
        e = pooter.Emitter("survivor")
        assert broker.register_emitter(e)
        task = asyncio.create_task(e.emit_round("waiting"))
        await until(lambda: broker.stat()["round_state"] == 1, "round open")
        t0 = time.monotonic()
        os.kill(kid.p.pid, signal.SIGKILL)
        r = await asyncio.wait_for(task, LONG)
        latency = time.monotonic() - t0
        assert not r and r.reason == "EOWNERDEAD" and r.round == 1
        # the target is 100 ms (io_uring: pidfds; fallback: 50 ms checks);
        # the bound is generous for a loaded machine, far below the deadline
        assert latency < 5.0, f"death seen after {latency:.3f} s"
        print(f"death to outcome: {latency * 1000:.1f} ms "
              f"(io_uring: {pooter.uring_supported()[0]})")
        assert broker.stat()["rounds_ownerdead"] == 1
        assert await e.emit("alone now")  # the dead one's slot is reaped
    finally:
        await broker.aclose()


async def test_quorum_barrier(name, children):
    broker = pooter.Broker(name, timeout=LONG, quorum=3)
    try:
        first = children("emit", name, "first", "1")
        first.expect("ready")
        first.say("go")  # opens round 1, whose set stays open until 3
        await until(lambda: broker.stat()["round_state"] == 1, "round open")
        second = children("emit", name, "second", "2")
        second.expect("ready")  # joined the open round: quorum not reached
        second.say("go")
        await until(lambda: broker.stat()["round_emitted"] == 2, "2 emits")
        e = pooter.Emitter("third")
        assert broker.register_emitter(e)
        assert await e.emit("3")  # the third arrival resolves the barrier
        assert e.round == 1
        for k in (first, second):
            assert k.expect("result")[1:3] == ["resolved", "1"]
    finally:
        await broker.aclose()


async def test_consumer_process_memoryview_past_release(name, children):
    broker = pooter.Broker(name, timeout=LONG)
    try:
        kid = children("consume-raw", name, "holder")
        kid.expect("ready")
        e = pooter.Emitter("src")
        broker.register_emitter(e)
        assert await e.emit(b"payload")
        words = kid.expect("buffer-error")
        assert words[1] == "1" and words[2] == "payload"
        assert "memoryview" in words[3]
        kid.expect("buffer-error-after-release")
    finally:
        await broker.aclose()


def test_handle_after_fork_is_a_clear_error(name):
    broker = pooter.Broker(name, timeout=LONG)
    e = pooter.Emitter("parent")
    broker.register_emitter(e)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            try:
                asyncio.run(e.emit("from the child"))
                msg = "no error"
            except pooter.PooterError as err:
                msg = f"{errno.errorcode.get(err.errno)} {err}"
            try:
                broker.stat()
                msg += " | stat worked"
            except pooter.PooterError as err:
                msg += f" | {errno.errorcode.get(err.errno)}"
            os.write(w, msg.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        msg = f.read()
    os.waitpid(pid, 0)
    assert msg.startswith("EBADFD"), msg
    assert "after fork" in msg and msg.endswith("| EBADFD"), msg
    # the parent's handles are untouched by the child's attempts
    assert broker.stat()["emitters"] == 1
    assert asyncio.run(e.emit("parent")) is True
    broker.close()


def test_fallback_says_so_once(name):
    script = f"""
import asyncio, logging, pooter
logging.basicConfig(level=logging.WARNING, format="%(message)s")
async def main():
    b = pooter.Broker({name!r}, timeout=5.0)
    got = []
    b.register_consumer(pooter.Consumer(callback=got.append))
    e = pooter.Emitter()
    b.register_emitter(e)
    for i in range(3):
        assert await e.emit(b"x")
    while len(got) < 3:
        await asyncio.sleep(0.001)
    await b.aclose()
    print("ok", pooter.uring_supported()[0])
asyncio.run(main())
"""
    env = dict(os.environ, POOTER_NO_URING="1")
    out = subprocess.run([sys.executable, "-c", script], env=env,
                         capture_output=True, text=True, timeout=LONG)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "False"]
    lines = [ln for ln in out.stderr.splitlines() if "thread pool" in ln]
    assert len(lines) == 1, out.stderr
    assert "POOTER_NO_URING" in lines[0]


def test_uring_path_is_used_where_supported():
    ok, reason = pooter.uring_supported()
    if os.environ.get("POOTER_NO_URING", "0") not in ("", "0"):
        assert not ok and "POOTER_NO_URING" in reason
        return
    if not ok:
        pytest.skip(f"io_uring not usable here: {reason}")

    async def main():
        from pooter import _aio
        lr = _aio.loop_ring()
        assert lr is not None and lr.ring.fd >= 0
        assert _aio.loop_ring() is lr  # one ring per loop
        return lr

    lr = asyncio.run(main())
    assert lr.ring.closed  # the loop's close closed it
