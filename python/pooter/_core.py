# SPDX-License-Identifier: MIT
"""The original pooter API (Broker, Emitter, Consumer, EventBus,
BrokerManager) over libpooter, across processes.

A Broker is a libpooter broker (created, or opened when it exists); its
Emitters and Consumers are members of it, and every process that opens the
same broker name takes part in its rounds.
"""
import asyncio
import errno as _errno
import inspect
import json
import logging
import os
import time
import uuid as _uuid
from collections import defaultdict

from . import _aio, _pooter
from ._pooter import PooterError

log = logging.getLogger("pooter")

__all__ = ("Broker", "BrokerFactory", "BrokerManager", "Consumer", "Emitter",
           "EmitterFactory", "EventBus", "Notice", "Payloads", "PooterError",
           "RoundCancelled", "RoundResult", "BYTES", "TEXT", "JSON", "uuid7")


def uuid7():
    """A UUIDv7 string (time-ordered), as libpooter generates for names."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 |
             ((rand >> 62) & 0xFFF) << 64 | 0b10 << 62 |
             (rand & ((1 << 62) - 1)))
    return str(_uuid.UUID(int=value))


def reason_name(outcome):
    """'ETIMEDOUT' for -ETIMEDOUT; None for 0."""
    if not outcome:
        return None
    return _errno.errorcode.get(-outcome, str(-outcome))


# --- payloads ------------------------------------------------------------

class Codec:
    """Turns objects into payload bytes and back.  encode() sees only what
    is neither bytes-like nor str (those go as they are, and as UTF-8)."""

    name = "bytes"

    def encode(self, obj):
        raise TypeError(f"cannot emit a {type(obj).__name__}: give bytes, "
                        "str, or an emitter codec")

    def decode(self, data):
        return bytes(data)


class _Text(Codec):
    name = "text"

    def decode(self, data):
        return bytes(data).decode("utf-8")


class _Json(Codec):
    name = "json"

    def encode(self, obj):
        return json.dumps(obj, separators=(",", ":")).encode("utf-8")

    def decode(self, data):
        return json.loads(bytes(data))


BYTES = Codec()
TEXT = _Text()
JSON = _Json()


def encode_payload(obj, codec=JSON):
    """bytes-like objects as they are, str as UTF-8, others by the codec;
    None (the original's emit() with no payload) as no bytes."""
    if obj is None:
        return b""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return obj
    if isinstance(obj, str):
        return obj.encode("utf-8")
    try:
        memoryview(obj).release()
        return obj
    except TypeError:
        return codec.encode(obj)


class Payloads(list):
    """One resolved round's payloads, in the order the delivery has them,
    with .round and .emitters (the emitters' names, in the same order)."""

    def __init__(self, values, round, emitters):
        super().__init__(values)
        self.round = round
        self.emitters = emitters

    def by_emitter(self):
        return dict(zip(self.emitters, self))

    def __repr__(self):
        return f"Payloads(round={self.round}, {self.by_emitter()!r})"


class Notice:
    """A cancelled round, as consumers hear of it: round and reason."""

    def __init__(self, round, outcome):
        self.round = round
        self.outcome = outcome
        self.reason = reason_name(outcome)

    def __repr__(self):
        return f"Notice(round={self.round}, reason={self.reason})"


class RoundResult:
    """What emit_round() returns: the round, its outcome (0 or -errno), and
    resolved; true when resolved."""

    __slots__ = ("round", "outcome")

    def __init__(self, round, outcome):
        self.round = round
        self.outcome = outcome

    @property
    def resolved(self):
        return self.outcome == 0

    @property
    def reason(self):
        return reason_name(self.outcome)

    def __bool__(self):
        return self.outcome == 0

    def __repr__(self):
        return (f"RoundResult(round={self.round}, "
                f"{'resolved' if self.resolved else self.reason})")


class RoundCancelled(PooterError):
    """emit(raise_on_cancel=True): the round was cancelled; .errno is the
    reason (ETIMEDOUT, ECANCELED, EOWNERDEAD) and .round its number."""

    def __init__(self, err, round):
        super().__init__(err, f"round {round} cancelled: "
                         f"{_pooter.strerror(-err)}")
        self.round = round


# --- EventBus ------------------------------------------------------------

_NOTHING = object()


class EventBus:
    """subscribe(event, handler); await emit(event, payloads).  Handlers may
    be coroutine functions or plain functions: the plain ones run at once,
    in the loop's thread; the coroutines run together (gather)."""

    def __init__(self):
        self._subscribers = defaultdict(list)

    def subscribe(self, event, handler):
        self._subscribers[event].append(handler)

    def unsubscribe(self, event, handler):
        try:
            self._subscribers[event].remove(handler)
            return True
        except ValueError:
            return False

    def has_subscribers(self, event):
        return bool(self._subscribers.get(event))

    async def emit(self, event, payloads=_NOTHING):
        awaitables = []
        for handler in list(self._subscribers.get(event, ())):
            result = handler() if payloads is _NOTHING else handler(payloads)
            if inspect.isawaitable(result):
                awaitables.append(result)
        if awaitables:
            await asyncio.gather(*awaitables)


# --- Emitter -------------------------------------------------------------

class Emitter:
    """A promise to emit in every round of its broker.

    ``await emit(payload)`` contributes to the open round (or opens one) and
    returns True when the round resolved, False when it was cancelled; the
    round's number and reason are then in .round and .reason
    (emit_round() returns them together).
    """

    def __init__(self, uuid=None, resolve_callback=None, codec=JSON):
        self.uuid = uuid or uuid7()
        self.broker = None
        self.resolve_callback = resolve_callback
        self.codec = codec
        self.round = None    # the last round emitted in
        self.outcome = None  # its outcome: 0 or -errno
        self._handle = None
        self._inflight = _aio.InFlight()

    @property
    def reason(self):
        """None when the last round resolved, else 'ETIMEDOUT', ..."""
        return reason_name(self.outcome)

    def _check(self):
        if not self.broker or self._handle is None:
            raise RuntimeError("Emitter has no broker.")

    async def _emit(self, payload):
        handle = self._handle
        if handle is None or not self.broker:
            raise RuntimeError("Emitter has no broker.")
        data = payload if type(payload) is bytes else encode_payload(
            payload, self.codec)
        outcome, round = await _aio.emit(handle, data,
                                         self.broker._timeout_s,
                                         self._inflight)
        self.round, self.outcome = round, outcome
        if outcome == 0 and self.resolve_callback is not None:
            result = self.resolve_callback()
            if inspect.isawaitable(result):
                await result
        return outcome

    async def emit_round(self, payload=None):
        """Emit and return the round's RoundResult (round, outcome)."""
        outcome = await self._emit(payload)
        return RoundResult(self.round, outcome)

    async def emit(self, payload=None, *, raise_on_cancel=False):
        """True: the round resolved; False: it was cancelled (or raise
        RoundCancelled, with raise_on_cancel=True)."""
        outcome = await self._emit(payload)
        if outcome == 0:
            return True
        if raise_on_cancel:
            raise RoundCancelled(-outcome, self.round)
        return False

    def _leave(self):
        if self._handle is not None:
            self._inflight.wait()
            handle, self._handle = self._handle, None
            try:
                handle.leave()
            except PooterError:  # a forked child's copy: not ours
                pass

    def __repr__(self):
        return f"Emitter({self.uuid!r})"


class EmitterFactory:
    def create_emitter(self, uuid=None, resolve_callback=None):
        return Emitter(uuid, resolve_callback=resolve_callback)


# --- Consumer ------------------------------------------------------------

class Consumer:
    """Receives every round resolved after it registered, in round order.

    ``callback(payloads)`` (a function or a coroutine function) gets a
    Payloads list: bytes by default, decoded by ``codec`` (TEXT, JSON) if
    given, or zero-copy read-only memoryviews with ``raw=True`` -- valid
    during the callback only: release them (or drop them) before it
    returns, as a delivery cannot be handed back while they exist.
    """

    def __init__(self, uuid=None, callback=None, *, raw=False, codec=None,
                 notices=True, pump=True):
        self.uuid = uuid or uuid7()
        self.broker = None
        self.callback = callback
        self.raw = raw
        self.codec = codec
        self.notices = notices
        self.pump = pump
        self.payload = None
        self._handle = None
        self._task = None
        self._pending = []  # deliveries whose release met a memoryview
        self._inflight = _aio.InFlight()

    async def consume(self, payloads):
        """Called with each resolved round's payloads (the original's)."""
        self.payload = payloads
        if self.callback is not None:
            result = self.callback(payloads)
            if inspect.isawaitable(result):
                await result

    async def receive(self, timeout=None):
        """The next delivery (pooter._pooter.Delivery: .round, .outcome,
        .emitters(), .copies(), .views(), .release()), or None after timeout
        seconds.  For consumers registered with pump=False."""
        if self._handle is None:
            raise RuntimeError("Consumer has no broker.")
        if self._task is not None:
            raise RuntimeError("this consumer's deliveries go to its "
                               "callback (register it with pump=False)")
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        return await _aio.consume(self._handle, ms, self._inflight)

    def _values(self, d):
        if self.raw:
            return d.views()
        values = d.copies()
        if self.codec is not None:
            values = [self.codec.decode(v) for v in values]
        return values

    def _release(self, d):
        try:
            d.release()
        except BufferError as e:
            log.warning("[Consumer %s] %s; the ring record stays held "
                        "until they are gone", self.uuid, e)
            self._pending.append(d)

    async def _run(self):
        handle = self._handle
        broker = self.broker
        bus = broker.event_bus
        consume = _aio.consume
        inflight = self._inflight
        try:
            while self._handle is handle:
                if self._pending:
                    pending, self._pending = self._pending, []
                    for d in pending:
                        self._release(d)
                d = await consume(handle, -1, inflight)
                if d is None:
                    continue
                try:
                    if d.outcome == 0:
                        payloads = Payloads(self._values(d), d.round,
                                            d.emitters())
                        await self.consume(payloads)
                        if (bus._subscribers.get("all_resolved") and
                                d.round > broker._bus_round):
                            await broker._bus_event("all_resolved", payloads)
                        del payloads
                    elif bus._subscribers.get("cancelled"):
                        await broker._bus_event("cancelled",
                                                Notice(d.round, d.outcome))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("[Consumer %s] callback failed in round "
                                  "%d", self.uuid, d.round)
                self._release(d)
                del d
        except asyncio.CancelledError:
            pass
        except PooterError as e:
            if self._handle is handle:
                log.error("[Consumer %s] stopped: %s", self.uuid, e)

    def start(self):
        """Start delivering to the callback in the running loop (register
        does it when a loop is running)."""
        if self._handle is None:
            raise RuntimeError("Consumer has no broker.")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._task

    def _leave(self):
        task, self._task = self._task, None
        handle, self._handle = self._handle, None
        if task is not None and not task.done():
            task.cancel()
        if handle is not None:
            self._inflight.wait()
            self._pending.clear()
            try:
                handle.leave()
            except PooterError:
                pass
        return task

    def __repr__(self):
        return f"Consumer({self.uuid!r})"


# --- Broker --------------------------------------------------------------

def _ms(seconds):
    return max(1, int(round(seconds * 1000)))


class Broker:
    """A pooter broker: /dev/shm/pooter.UUID, created, or opened when it
    exists (its capacities and timeout are then the creator's; set
    .timeout to change the timeout for everyone).

    The capacities go to pooter_broker_create: max_emitters,
    max_consumers, max_payload (bytes per emit), depth (rounds consumers
    may hold), quorum, mode.
    """

    def __init__(self, uuid=None, timeout=1.0, event_bus=None,
                 emitter_factory=None, *, max_emitters=0, max_consumers=0,
                 max_payload=0, depth=0, quorum=0, mode=0, _handle=None):
        if _handle is None:
            try:
                _handle = _pooter.broker_create(
                    uuid, max_emitters, max_consumers, max_payload, depth,
                    _ms(timeout), quorum, mode)
                self.created = True
            except PooterError as e:
                if e.errno != _errno.EEXIST or uuid is None:
                    raise
                _handle = _pooter.broker_open(uuid)
                self.created = False
        else:
            self.created = False
        self._handle = _handle
        self.uuid = _handle.name
        self.event_bus = event_bus or EventBus()
        self.emitter_factory = emitter_factory or EmitterFactory()
        self.emitters = {}
        self.consumers = {}
        self._bus_round = 0
        self._pid = os.getpid()

    @classmethod
    def open(cls, uuid, event_bus=None):
        """Attach to an existing broker (PooterError ENOENT if none)."""
        return cls(uuid, event_bus=event_bus,
                   _handle=_pooter.broker_open(uuid))

    @property
    def name(self):
        return self.uuid

    @property
    def timeout(self):
        """Seconds; setting it changes the timeout of rounds opened later,
        for every process."""
        return self._handle.stat()["timeout_ms"] / 1000.0

    @timeout.setter
    def timeout(self, seconds):
        self._handle.set_timeout(_ms(seconds))

    def _timeout_s(self):
        try:
            return self.timeout
        except PooterError:
            return 1.0

    def stat(self):
        """pooter_broker_stat() as a dict."""
        return self._handle.stat()

    def members(self):
        """Every member of the broker, of every process, as dicts."""
        return self._handle.members()

    @property
    def opened_section(self):
        """A round is open (the original's session)."""
        return self._handle.stat()["round_state"] == 1

    def cancel_round(self):
        """Cancel the open round (ECANCELED); False when none is open."""
        return self._handle.round_cancel()

    # emitters

    def create_emitter(self, uuid=None, resolve_callback=None):
        emitter = self.emitter_factory.create_emitter(uuid, resolve_callback)
        self.register_emitter(emitter)
        return emitter

    def register_emitter(self, emitter, wait=False):
        """Join emitter to this broker.  While a round is open (and its
        participant set fixed) it is not registered: the warning says so,
        as in the original, and False is returned; wait=True waits for the
        round to end instead (blocking).  True when registered."""
        if emitter.broker is not None and emitter.broker is not self:
            log.warning("[Broker %s] Cannot register emitter %s: already "
                        "attached to another broker.", self.uuid,
                        emitter.uuid)
            return False
        if emitter._handle is not None:
            return True
        try:
            emitter._handle = self._handle.emitter_join(emitter.uuid, wait)
        except PooterError as e:
            if e.errno == _errno.EBUSY:
                log.warning("[Broker %s] Broker is opening a session, "
                            "please register again later.", self.uuid)
                return False
            raise
        emitter.broker = self
        self.emitters[emitter.uuid] = emitter
        return True

    def unregister_emitter(self, emitter):
        """Leave; an emit it owes in the open round cancels the round."""
        self.emitters.pop(emitter.uuid, None)
        emitter._leave()
        emitter.broker = None

    def get_emitter(self, uuid):
        return self.emitters.get(uuid)

    def get_all_emitters(self):
        return list(self.emitters.values())

    # consumers

    def register_consumer(self, consumer):
        """Join consumer to this broker; its deliveries go to
        consumer.consume() (and this broker's event bus) from a task of
        the running loop (or of the loop in which consumer.start() is
        called)."""
        if consumer._handle is None:
            consumer._handle = self._handle.consumer_join(consumer.uuid,
                                                          consumer.notices)
        consumer.broker = self
        self.consumers[consumer.uuid] = consumer
        if consumer.pump:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return True
            consumer.start()
        return True

    def unregister_consumer(self, consumer):
        self.consumers.pop(consumer.uuid, None)
        consumer._leave()
        consumer.broker = None

    async def _bus_event(self, event, arg):
        # once a round in this process, whichever consumer has it first
        if arg.round > self._bus_round:
            self._bus_round = arg.round
            await self.event_bus.emit(event, arg)

    # life

    def close(self):
        """Leave with every emitter and consumer registered here, and
        detach.  The broker itself stays (see unlink())."""
        tasks = []
        for c in list(self.consumers.values()):
            t = c._leave()
            if t is not None:
                tasks.append(t)
            c.broker = None
        for e in list(self.emitters.values()):
            e._leave()
            e.broker = None
        self.consumers.clear()
        self.emitters.clear()
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        return tasks

    async def aclose(self):
        """close(), then wait for the consumers' tasks to end."""
        tasks = self.close()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def unlink(self):
        """Remove the broker's name (members attached keep working)."""
        return _pooter.broker_unlink(self.uuid)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    def __repr__(self):
        return f"Broker({self.uuid!r})"


class BrokerFactory:
    @staticmethod
    def create_broker(uuid=None, timeout=1.0, event_bus=None,
                      emitter_factory=None, **capacities):
        return Broker(uuid=uuid, timeout=timeout, event_bus=event_bus,
                      emitter_factory=emitter_factory, **capacities)


class BrokerManager:
    """The brokers of this machine: those made or registered here, and
    those other processes made (opened on first use)."""

    def __init__(self):
        self._brokers = {}

    def _machine(self):
        try:
            return set(_pooter.broker_list())
        except PooterError:
            return set()

    def create_broker(self, uuid=None, timeout=1.0, **capacities):
        """The broker uuid (known, or on this machine), else a new one."""
        if uuid is not None:
            known = self.get_broker(uuid)
            if known is not None:
                return known
        broker = BrokerFactory.create_broker(uuid=uuid, timeout=timeout,
                                             **capacities)
        self._brokers[broker.uuid] = broker
        log.info("[BrokerManager] Created and added broker with UUID: %s",
                 broker.uuid)
        return broker

    def register_broker(self, broker):
        if broker.uuid in self._brokers:
            raise ValueError(f"Broker with UUID {broker.uuid} already "
                             "exists.")
        self._brokers[broker.uuid] = broker
        log.info("[BrokerManager] Added broker with UUID: %s", broker.uuid)

    def get_broker(self, uuid):
        """The broker uuid, opened if another process made it; None if no
        such broker (or it cannot be opened: another user's, corrupted)."""
        broker = self._brokers.get(uuid)
        if broker is None and uuid in self._machine():
            try:
                broker = Broker.open(uuid)
            except PooterError as e:
                log.info("[BrokerManager] cannot open broker %s: %s", uuid,
                         e)
                return None
            self._brokers[uuid] = broker
        return broker

    def remove_broker(self, uuid):
        """Forget broker uuid and remove it from the machine (members
        attached keep working until they close).  False if there was none."""
        broker = self._brokers.pop(uuid, None)
        if broker is not None:
            broker.close()
        try:
            unlinked = _pooter.broker_unlink(uuid)
        except PooterError:
            unlinked = False
        if broker is not None or unlinked:
            log.info("[BrokerManager] Removed broker with UUID: %s", uuid)
            return True
        return False

    def _require(self, uuid):
        broker = self.get_broker(uuid)
        if broker is None:
            raise ValueError(f"No broker found with UUID: {uuid}")
        return broker

    def register_emitter_to(self, broker_uuid, emitter):
        result = self._require(broker_uuid).register_emitter(emitter)
        log.info("[BrokerManager] Registered emitter %s to broker %s",
                 emitter.uuid, broker_uuid)
        return result

    def register_consumer_to(self, broker_uuid, consumer):
        result = self._require(broker_uuid).register_consumer(consumer)
        log.info("[BrokerManager] Registered consumer %s to broker %s",
                 consumer.uuid, broker_uuid)
        return result

    def update_broker_timeout(self, uuid, timeout):
        """Set the timeout (seconds) of broker uuid; False if unknown."""
        broker = self.get_broker(uuid)
        if broker is None:
            return False
        broker.timeout = timeout
        log.info("[BrokerManager] Updated timeout for broker %s to %s",
                 uuid, timeout)
        return True

    def get_all_brokers(self):
        """Every broker: this manager's and the machine's (other
        processes' too), as Broker objects."""
        for name in sorted(self._machine()):
            if name not in self._brokers:
                self.get_broker(name)
        return list(self._brokers.values())
