# SPDX-License-Identifier: MIT
"""Another process, for the cross-process tests: `child.py WHAT NAME ...`.
It says `ready` once it has joined, and waits for a line on stdin where it
says so; every answer is one line on stdout."""
import asyncio
import sys

import pooter


def say(*words):
    print(*words, flush=True)


def wait_line():
    return sys.stdin.readline()


async def emit(name, who, payload):
    broker = pooter.Broker.open(name)
    e = pooter.Emitter(who)
    assert broker.register_emitter(e, wait=True)
    say("ready")
    if wait_line() == "":
        return
    r = await e.emit_round(payload)
    say("result", "resolved" if r else "cancelled", r.round, r.reason)
    await broker.aclose()


async def hold(name, who):
    """Join and never emit: a participant that owes its emit."""
    broker = pooter.Broker.open(name)
    e = pooter.Emitter(who)
    assert broker.register_emitter(e, wait=True)
    say("ready")
    wait_line()
    await broker.aclose()


async def consume_raw(name, who):
    """Hold a memoryview of a delivery past its release: BufferError."""
    broker = pooter.Broker.open(name)
    c = pooter.Consumer(who, raw=True, pump=False)
    broker.register_consumer(c)
    say("ready")
    d = await c.receive(timeout=60)
    if d is None:
        say("nothing")
        return
    views = d.views()
    data = bytes(views[0])
    try:
        d.release()
        say("released-with-view")  # wrong
    except BufferError as e:
        say("buffer-error", d.round, data.decode(), str(e).replace(" ", "_"))
    held = views[0]
    obj = held.obj
    del views
    held.release()
    d.release()
    try:
        memoryview(obj)
        say("view-after-release")  # wrong
    except BufferError:
        say("buffer-error-after-release")
    await broker.aclose()


def create(name):
    b = pooter.Broker(name, timeout=5.0)
    say("ready", b.uuid)
    wait_line()
    b.close()


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "emit":
        asyncio.run(emit(args[0], args[1], args[2] if len(args) > 2 else ""))
    elif what == "hold":
        asyncio.run(hold(*args))
    elif what == "consume-raw":
        asyncio.run(consume_raw(*args))
    elif what == "create":
        create(*args)
    else:
        raise SystemExit(f"child.py: unknown {what}")


if __name__ == "__main__":
    main()
