# SPDX-License-Identifier: MIT
"""The original package's scenarios, as its users would expect them, in one
process: two emitters resolve, a lone emitter times out, consumers get the
payloads, EBUSY during an open round, every BrokerManager case, EventBus,
RuntimeError without a broker."""
import asyncio
import errno
import logging
import time

import pytest

import pooter
from conftest import LONG


async def until(pred, what, limit=LONG):
    """Wait for pred() (a real state: broker stat, a callback's effect),
    looking at every turn of the loop, for at most limit seconds."""
    end = time.monotonic() + limit
    while not pred():
        assert time.monotonic() < end, f"{what}: not within {limit} s"
        await asyncio.sleep(0.001)


@pytest.fixture
async def broker(name):
    b = pooter.Broker(name, timeout=LONG)
    yield b
    await b.aclose()


def test_emitter_uuid():
    assert isinstance(pooter.Emitter().uuid, str)
    assert pooter.Emitter(uuid="abc-123").uuid == "abc-123"
    a, b = pooter.Emitter().uuid, pooter.Emitter().uuid
    assert a != b and a[14] == "7"  # UUIDv7
    assert isinstance(pooter.Consumer().uuid, str)


async def test_emit_without_broker():
    with pytest.raises(RuntimeError, match="Emitter has no broker."):
        await pooter.Emitter().emit()


async def test_two_emitters_resolve(broker):
    e1, e2 = pooter.Emitter("E1"), pooter.Emitter("E2")
    called = []
    e2.resolve_callback = lambda: called.append("E2")
    assert broker.register_emitter(e1) and broker.register_emitter(e2)
    assert set(broker.emitters) == {"E1", "E2"}

    async def later():
        await until(lambda: broker.opened_section, "round 1 open")
        return await e2.emit("bravo")

    assert await asyncio.gather(e1.emit("alpha"), later()) == [True, True]
    assert e1.round == e2.round == 1
    assert e1.reason is None and e2.outcome == 0
    assert called == ["E2"]
    r = await asyncio.gather(e1.emit_round(), e2.emit_round())
    assert all(r) and r[0].round == r[1].round == 2 and r[0].resolved
    st = broker.stat()
    assert st["rounds_resolved"] == 2 and st["emits"] == 4


async def test_lone_emitter_times_out(name):
    broker = pooter.Broker(name, timeout=0.2)
    try:
        e1, e2 = pooter.Emitter(), pooter.Emitter()
        broker.register_emitter(e1)
        broker.register_emitter(e2)
        t0 = time.monotonic()
        assert await e1.emit("alone") is False
        took = time.monotonic() - t0
        assert 0.19 <= took < LONG
        assert e1.reason == "ETIMEDOUT" and e1.round == 1
        r = await e1.emit_round("again")
        assert not r and r.reason == "ETIMEDOUT" and r.round == 2
        with pytest.raises(pooter.RoundCancelled) as info:
            await e1.emit(raise_on_cancel=True)
        assert info.value.errno == errno.ETIMEDOUT
        assert info.value.round == 3
        assert broker.stat()["rounds_timedout"] == 3
    finally:
        await broker.aclose()


async def test_consumers_receive_payloads(broker):
    got1, got2 = [], []

    async def slow(payloads):  # a coroutine callback, as the original's
        await asyncio.sleep(0)
        got2.append(payloads)

    c1 = pooter.Consumer(callback=got1.append, codec=pooter.TEXT)
    c2 = pooter.Consumer(callback=slow)
    broker.register_consumer(c1)
    broker.register_consumer(c2)
    e1, e2 = pooter.Emitter("one"), pooter.Emitter("two")
    broker.register_emitter(e1)
    broker.register_emitter(e2)
    for i in range(3):
        assert await asyncio.gather(e1.emit(f"a{i}"), e2.emit(b"b%d" % i))
    await until(lambda: len(got1) == 3 and len(got2) == 3, "3 deliveries")
    assert [p.round for p in got1] == [1, 2, 3]
    assert got1[0].by_emitter() == {"one": "a0", "two": "b0"}
    assert got2[2].by_emitter() == {"one": b"a2", "two": b"b2"}
    assert c1.payload is got1[-1]


async def test_payload_codec(broker):
    got = []
    c = pooter.Consumer(callback=got.append, codec=pooter.JSON)
    broker.register_consumer(c)
    e = pooter.Emitter("json")
    broker.register_emitter(e)
    assert await e.emit({"n": 1, "s": "x"})
    assert await e.emit([1, 2])
    assert await e.emit('"text"')  # a str goes as its UTF-8 bytes
    await until(lambda: len(got) == 3, "3 deliveries")
    assert [p[0] for p in got] == [{"n": 1, "s": "x"}, [1, 2], "text"]
    strict = pooter.Emitter("strict", codec=pooter.BYTES)
    broker.register_emitter(strict)
    with pytest.raises(TypeError):  # no codec for objects: refused
        await strict.emit({"n": 1})
    broker.unregister_emitter(strict)
    assert pooter._core.encode_payload(bytearray(b"ab")) == b"ab"
    assert pooter._core.encode_payload("é") == "é".encode()


async def test_ebusy_warning_during_open_round(broker, caplog):
    e1, e2, late = pooter.Emitter(), pooter.Emitter(), pooter.Emitter()
    broker.register_emitter(e1)
    broker.register_emitter(e2)
    task = asyncio.create_task(e1.emit("first"))
    await until(lambda: broker.opened_section, "round open")
    with caplog.at_level(logging.WARNING, logger="pooter"):
        assert broker.register_emitter(late) is False
    assert "Broker is opening a session, please register again later." in \
        caplog.text
    assert late.uuid not in broker.emitters and late.broker is None
    assert await e2.emit("second") and await task
    assert broker.register_emitter(late)  # the round is over: it may


async def test_emitter_of_another_broker(broker, name, caplog):
    other = pooter.Broker(name + "-other")
    try:
        e = pooter.Emitter()
        assert other.register_emitter(e)
        with caplog.at_level(logging.WARNING, logger="pooter"):
            assert broker.register_emitter(e) is False
        assert "already attached to another broker" in caplog.text
    finally:
        other.close()
        other.unlink()


async def test_unregister_emitter(broker):
    e1, e2 = pooter.Emitter(), pooter.Emitter()
    broker.register_emitter(e1)
    broker.register_emitter(e2)
    assert broker.get_emitter(e1.uuid) is e1
    assert broker.get_all_emitters() == [e1, e2]
    broker.unregister_emitter(e2)
    assert broker.stat()["emitters"] == 1
    assert await e1.emit("alone now")
    with pytest.raises(RuntimeError):
        await e2.emit()


async def test_create_emitter(broker):
    e = broker.create_emitter("made", resolve_callback=lambda: None)
    assert e.broker is broker and await e.emit()


async def test_eventbus_async_and_sync_handlers():
    bus = pooter.EventBus()
    seen = []

    async def handler(payloads):
        await asyncio.sleep(0)
        seen.append(("async", payloads))

    bus.subscribe("go", handler)
    bus.subscribe("go", lambda payloads: seen.append(("sync", payloads)))
    await bus.emit("go", [1, 2])
    assert sorted(seen) == [("async", [1, 2]), ("sync", [1, 2])]
    flags = []
    bus.subscribe("bare", lambda: flags.append(1))
    await bus.emit("bare")  # no payloads: handlers take none
    await bus.emit("nobody", [])
    assert flags == [1]
    assert bus.unsubscribe("bare", bus._subscribers["bare"][0])


async def test_eventbus_all_resolved_and_cancelled(name):
    bus = pooter.EventBus()
    broker = pooter.Broker(name, timeout=0.3, event_bus=bus)
    resolved, cancelled = [], []
    bus.subscribe("all_resolved", resolved.append)

    async def on_cancel(notice):
        cancelled.append(notice)

    bus.subscribe("cancelled", on_cancel)
    try:
        broker.register_consumer(pooter.Consumer())
        broker.register_consumer(pooter.Consumer())  # once a round, still
        e1, e2 = pooter.Emitter(), pooter.Emitter()
        broker.register_emitter(e1)
        broker.register_emitter(e2)
        assert await asyncio.gather(e1.emit("x"), e2.emit("y"))
        assert await e1.emit("alone") is False
        await until(lambda: resolved and cancelled, "both events")
        assert len(resolved) == 1 and resolved[0].round == 1
        assert sorted(resolved[0]) == [b"x", b"y"]
        assert len(cancelled) == 1
        assert cancelled[0].round == 2 and cancelled[0].reason == "ETIMEDOUT"
    finally:
        await broker.aclose()


async def test_raw_memoryviews(broker):
    c = pooter.Consumer(raw=True, pump=False)
    broker.register_consumer(c)
    e = pooter.Emitter("raw")
    broker.register_emitter(e)
    assert await e.emit(b"zero-copy")
    d = await c.receive(timeout=LONG)
    assert d.round == 1 and d.emitters() == ["raw"]
    (mv,) = d.views()
    assert mv.readonly and bytes(mv) == b"zero-copy"
    with pytest.raises(BufferError):
        d.release()
    assert not d.released and d.exports == 1
    obj = mv.obj
    mv.release()
    d.release()
    assert d.released
    with pytest.raises(BufferError):
        memoryview(obj)
    with pytest.raises(BufferError):
        d.views()
    assert await c.receive(timeout=0) is None


async def test_raw_callback_keeping_a_view(broker, caplog):
    kept = []
    c = pooter.Consumer(callback=lambda p: kept.append(p[0]), raw=True)
    broker.register_consumer(c)
    e = pooter.Emitter()
    broker.register_emitter(e)
    with caplog.at_level(logging.WARNING, logger="pooter"):
        assert await e.emit(b"kept")
        await until(lambda: kept, "delivery")
        await until(lambda: "memoryview" in caplog.text, "the warning")
    assert bytes(kept[0]) == b"kept"  # still valid: the record is held
    kept[0].release()
    assert await e.emit(b"next")  # the pending release goes through
    await until(lambda: len(kept) == 2, "delivery 2")
    kept[1].release()


# --- BrokerManager ---------------------------------------------------------

async def test_manager_create_and_get(name):
    m = pooter.BrokerManager()
    b = m.create_broker(name, timeout=2.0)
    try:
        assert m.create_broker(name) is b  # the existing one
        assert m.get_broker(name) is b
        assert b.timeout == 2.0
        assert m.get_broker(name + "-none") is None
        assert b in m.get_all_brokers()
    finally:
        assert m.remove_broker(name) is True
    assert m.remove_broker(name) is False
    assert name not in pooter._pooter.broker_list()


async def test_manager_register_duplicate(name):
    m = pooter.BrokerManager()
    b = pooter.Broker(name)
    try:
        m.register_broker(b)
        with pytest.raises(ValueError, match="already exists"):
            m.register_broker(b)
    finally:
        m.remove_broker(name)


async def test_manager_register_to(name):
    m = pooter.BrokerManager()
    b = m.create_broker(name, timeout=LONG)
    try:
        e = pooter.Emitter()
        got = []
        c = pooter.Consumer(callback=got.append)
        with pytest.raises(ValueError, match="No broker found"):
            m.register_emitter_to(name + "-none", e)
        with pytest.raises(ValueError, match="No broker found"):
            m.register_consumer_to(name + "-none", c)
        assert m.register_emitter_to(name, e)
        assert m.register_consumer_to(name, c)
        assert e.broker is b and c.broker is b
        assert await e.emit(b"via manager")
        await until(lambda: got, "delivery")
        assert got[0] == [b"via manager"]
    finally:
        await b.aclose()
        m.remove_broker(name)


async def test_manager_update_timeout(name):
    m = pooter.BrokerManager()
    b = m.create_broker(name, timeout=1.0)
    try:
        assert m.update_broker_timeout(name, 0.25) is True
        assert b.stat()["timeout_ms"] == 250 and b.timeout == 0.25
        assert m.update_broker_timeout(name + "-none", 1.0) is False
    finally:
        m.remove_broker(name)


async def test_manager_lists_other_processes_brokers(name, children):
    child = children("create", name)
    child.expect("ready")
    m = pooter.BrokerManager()
    brokers = {b.uuid: b for b in m.get_all_brokers()}
    assert name in brokers
    assert brokers[name].created is False
    assert brokers[name].timeout == 5.0  # the creator's
    assert m.get_broker(name) is brokers[name]
    for b in brokers.values():
        b.close()
