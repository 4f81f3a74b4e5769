# SPDX-License-Identifier: MIT
"""asyncio without a thread per wait: one io_uring ring per event loop.

Every wait of a loop's handles (round outcomes, deliveries, ring space) is
armed on the loop's ring; the ring's fd is watched with ``loop.add_reader``
and its completions settle asyncio futures.  Where the async API is not
usable (an old kernel, ``POOTER_NO_URING=1``, a seccomp profile without
io_uring) the blocking calls run in a thread pool instead, and the log says
so once.

Active phases, as libpooter's blocking calls have: when the loop has
nothing else ready to run, an emit whose round is still open watches the
ring's completion queue for up to ``POOTER_SPIN_US`` microseconds (default
200), yielding the CPU in between (``sched_yield``), and a consumer looks for
its next delivery the same way, before the loop sleeps in epoll.  Between
processes that are all running this saves a sleep and a wake-up per round;
it never delays other work of the loop (it happens only when none is ready)
by more than the budget.  ``POOTER_SPIN_US=0`` turns it off;
``POOTER_SPIN_MODE=stat`` looks at the broker (pooter_broker_stat, which
takes its lock) instead of arming the wait first.  ``POOTER_POLL_US``
(default 0) adds a phase in which the loop itself polls the ring between
its turns.
"""
import asyncio
import concurrent.futures
import logging
import os
import time
import weakref

from . import _pooter

log = logging.getLogger("pooter")

EINPROGRESS = 115

POLL_US = int(os.environ.get("POOTER_POLL_US", "0"))
SPIN_MODE = os.environ.get("POOTER_SPIN_MODE", "ring")
SPIN_US = int(os.environ.get("POOTER_SPIN_US", "200"))

_uring = None  # (ok, reason), probed once per process
_uring_pid = None
_warned = False
_executor = None
_executor_pid = None
_rings = weakref.WeakKeyDictionary()
_pid = os.getpid


def uring_supported():
    """(True, "") where waits go on io_uring, else (False, reason)."""
    global _uring, _uring_pid
    if _uring is None or _uring_pid != os.getpid():
        _uring = _pooter.uring_supported()
        _uring_pid = os.getpid()
    return _uring


def executor():
    """The thread pool of the fallback (one thread per blocking wait)."""
    global _executor, _executor_pid, _warned
    if _executor is None or _executor_pid != os.getpid():
        _executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=512, thread_name_prefix="pooter-wait")
        _executor_pid = os.getpid()
    if not _warned:
        _warned = True
        log.warning("pooter: io_uring is not usable here (%s): blocking "
                    "calls run in a thread pool, one thread per wait",
                    uring_supported()[1])
    return _executor


class LoopRing:
    """The ring of one event loop."""

    def __init__(self, loop):
        self.loop = loop
        self.pid = os.getpid()
        self.ring = _pooter.Ring()
        self.poll_until = 0
        self.polling = False
        loop.add_reader(self.ring.fd, self.ring.reap)
        self._hook_close(loop)

    def _hook_close(self, loop):
        ref = weakref.ref(self)
        close = loop.close

        def close_and_detach():
            me = ref()
            if me is not None:
                me.detach()
            close()

        try:
            loop.close = close_and_detach
        except AttributeError:  # a loop whose close cannot be wrapped
            pass

    def detach(self):
        if self.ring.closed:
            return
        try:
            if not self.loop.is_closed():
                self.loop.remove_reader(self.ring.fd)
        except Exception:  # the selector may be gone already
            pass
        self.ring.close()

    def armed(self):
        """A wait was armed: poll the completion queue for a while."""
        if POLL_US <= 0:
            return
        until = time.monotonic_ns() + POLL_US * 1000
        if until > self.poll_until:
            self.poll_until = until
        if not self.polling:
            self.polling = True
            self.loop.call_soon(self._poll)

    def _poll(self):
        ring = self.ring
        if ring.closed:
            self.polling = False
            return
        if ring.ready():
            ring.reap()
        if ring.armed and time.monotonic_ns() < self.poll_until:
            os.sched_yield()
            self.loop.call_soon(self._poll)
        else:
            self.polling = False


def loop_ring(loop=None):
    """The ring of the running loop, made on first use; None: fallback."""
    if not uring_supported()[0]:
        return None
    if loop is None:
        loop = asyncio.get_running_loop()
    lr = _rings.get(loop)
    if lr is None or lr.pid != os.getpid() or lr.ring.closed:
        lr = LoopRing(loop)
        _rings[loop] = lr
    return lr


class InFlight:
    """The fallback's blocking call in a thread, for a leave to wait out
    (a handle is used by one thread at a time)."""

    def __init__(self):
        self.future = None

    def wait(self):
        cf = self.future
        if cf is not None:
            concurrent.futures.wait([cf])

    async def run(self, fn, *args):
        cf = executor().submit(fn, *args)
        self.future = cf
        try:
            return await asyncio.wrap_future(cf)
        finally:
            if self.future is cf:
                self.future = None


async def emit(handle, data, timeout_s, inflight):
    """Contribute and await the outcome: (outcome, round).  timeout_s() is
    the broker's timeout, asked for only when the ring is full."""
    loop = asyncio.get_running_loop()
    lr = _rings.get(loop)
    if lr is None or lr.pid != _pid() or lr.ring.closed:
        lr = loop_ring(loop)
        if lr is None:
            return await inflight.run(handle.emit, data)
    try:
        ticket = handle.submit(data)
    except _pooter.PooterError as e:
        if e.errno != 11:  # EAGAIN: every ring record held by consumers
            raise
        ticket = await _submit_when_space(lr, handle, data, timeout_s(), e)
    if ticket.outcome != -EINPROGRESS:
        return ticket.outcome, ticket.round
    if SPIN_US > 0 and not getattr(loop, "_ready", True):
        # nothing else is ready to run in this loop: an active phase first
        outcome = _spin(lr, ticket)
        if outcome is not None:
            return outcome, ticket.round
    fut = loop.create_future()
    lr.ring.prep_round(ticket, fut)
    if SPIN_US > 0 and SPIN_MODE == "ring" and not getattr(loop, "_ready",
                                                           True):
        _spin_ring(lr.ring, fut)
    if not fut.done():
        lr.armed()
    return await fut, ticket.round


def _spin_ring(ring, fut):
    """The active phase on the ring: reap what comes (a wake may be
    spurious, and the wait re-armed) until fut settles or the budget ends."""
    end = time.monotonic_ns() + SPIN_US * 1000
    while not fut.done():
        left = end - time.monotonic_ns()
        if left <= 0:
            return
        if ring.spin(left):
            ring.reap()


def _spin(lr, ticket):
    if SPIN_MODE == "stat":
        return ticket.spin(SPIN_US * 1000)
    return None


async def _submit_when_space(lr, handle, data, timeout_s, first):
    """Wait for ring space, up to a timeout in all, as pooter_emit() does."""
    loop = lr.loop
    deadline = time.monotonic() + timeout_s
    while True:
        now = time.monotonic()
        if now >= deadline:
            raise first
        fut = loop.create_future()
        lr.ring.prep_space(handle, int((deadline - now) * 1000) + 1, fut)
        lr.armed()
        if not await fut:
            raise first
        try:
            return handle.submit(data)
        except _pooter.PooterError as e:
            if e.errno != 11:
                raise


async def consume(handle, timeout_ms, inflight):
    """The next delivery, or None when none came within timeout_ms."""
    d = handle.consume(0)
    if d is not None or timeout_ms == 0:
        return d
    loop = asyncio.get_running_loop()
    lr = loop_ring(loop)
    if lr is None:
        # slices, so that a leave never waits long for the thread
        slice_ms = 100
        end = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1e3
        while True:
            ms = slice_ms
            if end is not None:
                ms = max(0, min(ms, int((end - time.monotonic()) * 1000)))
            d = await inflight.run(handle.consume, ms)
            if d is not None or (end is not None and time.monotonic() >= end):
                return d
    if SPIN_US > 0 and not getattr(loop, "_ready", True):
        d = handle.spin(SPIN_US * 1000)
        if d is not None:
            return d
    fut = loop.create_future()
    lr.ring.prep_consume(handle, timeout_ms, fut)
    lr.armed()
    return await fut
