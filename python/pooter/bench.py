# SPDX-License-Identifier: MIT
"""python3 -m pooter.bench: rounds/s of the Python API across processes,
next to the C pooter-bench in the same run.

E emitter processes and C consumer processes (forked, each opening the
broker itself and running its own asyncio loop) go through R rounds of
P-byte payloads: every emitter does ``await emitter.emit(payload)`` R times
and checks that each returned True in round i + 1; every consumer's callback
gets R rounds in order, each with E payloads.  Children get ready (open,
join), say so on a pipe and wait for the start; the clock runs from the
start to the moment the last consumer holds the last round
(CLOCK_MONOTONIC, the same in every process), as pooter-bench's does.
``emit p50/p99`` is the wall time of one ``await emit()`` over all E * R.

Then tools/pooter-bench runs the same configuration (``--no-baselines``),
so both figures come from the same machine at the same moment.
"""
import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import struct
import subprocess
import sys
import time

import pooter

DEFAULT_CONFIGS = "2x1,8x2"


def _emitter_main(name, index, rounds, payload, ready_w, go_r, out_w):
    async def run():
        broker = pooter.Broker.open(name)
        emitter = pooter.Emitter(f"e{index}")
        assert broker.register_emitter(emitter, wait=True)
        os.write(ready_w, b"r")
        await asyncio.get_running_loop().run_in_executor(
            None, os.read, go_r, 1)
        lat = []
        bad = 0
        data = payload
        clock = time.perf_counter_ns
        cpu0 = time.process_time_ns()
        for i in range(rounds):
            t0 = clock()
            ok = await emitter.emit(data)
            lat.append(clock() - t0)
            if not ok or emitter.round != i + 1:
                bad += 1
        cpu = time.process_time_ns() - cpu0
        broker.unregister_emitter(emitter)
        await broker.aclose()
        return lat, bad, cpu

    lat, bad, cpu = asyncio.run(run())
    blob = struct.pack(f"<qqq{len(lat)}q", bad, cpu, len(lat), *lat)
    _write_all(out_w, struct.pack("<q", len(blob)) + blob)


def _consumer_main(name, index, rounds, emitters, ready_w, go_r, out_w):
    async def run():
        broker = pooter.Broker.open(name)
        done = asyncio.get_running_loop().create_future()
        state = {"n": 0, "bad": 0, "end": 0}

        def on_round(payloads):
            state["n"] += 1
            if payloads.round != state["n"] or len(payloads) != emitters:
                state["bad"] += 1
            if state["n"] == rounds:
                state["end"] = time.monotonic_ns()
                done.set_result(None)

        consumer = pooter.Consumer(f"c{index}", callback=on_round)
        broker.register_consumer(consumer)
        os.write(ready_w, b"r")
        await asyncio.get_running_loop().run_in_executor(
            None, os.read, go_r, 1)
        cpu0 = time.process_time_ns()
        await done
        state["cpu"] = time.process_time_ns() - cpu0
        await broker.aclose()
        return state

    state = asyncio.run(run())
    blob = struct.pack("<qqqq", state["bad"], state["n"], state["end"],
                       state["cpu"])
    _write_all(out_w, struct.pack("<q", len(blob)) + blob)


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _read_msg(fd):
    def read_exact(n):
        buf = b""
        while len(buf) < n:
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise EOFError("a benchmark process died")
            buf += chunk
        return buf
    (n,) = struct.unpack("<q", read_exact(8))
    return read_exact(n)


def _pct(sorted_ns, p):
    if not sorted_ns:
        return float("nan")
    i = min(len(sorted_ns) - 1, int(p / 100.0 * len(sorted_ns)))
    return sorted_ns[i] / 1000.0


def run_python(emitters, consumers, rounds, payload_bytes, depth, timeout_ms):
    ctx = multiprocessing.get_context("fork")
    name = f"pybench-{os.getpid()}-{emitters}x{consumers}"
    pooter.Broker.open  # the module is loaded before forking
    try:
        pooter._pooter.broker_unlink(name)
    except pooter.PooterError:
        pass
    handle = pooter._pooter.broker_create(
        name, max_emitters=emitters, max_consumers=consumers,
        max_payload=max(1, payload_bytes), depth=depth,
        timeout_ms=timeout_ms)
    payload = bytes(payload_bytes)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    procs, outs = [], []
    try:
        for kind, n in (("c", consumers), ("e", emitters)):
            for i in range(n):
                out_r, out_w = os.pipe()
                if kind == "e":
                    args = (_emitter_main, (name, i, rounds, payload,
                                            ready_w, go_r, out_w))
                else:
                    args = (_consumer_main, (name, i, rounds, emitters,
                                             ready_w, go_r, out_w))
                p = ctx.Process(target=args[0], args=args[1], daemon=True)
                p.start()
                os.close(out_w)
                procs.append((kind, p))
                outs.append((kind, out_r))
        for _ in procs:
            if not os.read(ready_r, 1):
                raise RuntimeError("a benchmark process died getting ready")
        start = time.monotonic_ns()
        _write_all(go_w, b"g" * len(procs))  # one byte each: go
        lat, bad, ends, got = [], 0, [], []
        cpu_e = cpu_c = 0
        for kind, fd in outs:
            blob = _read_msg(fd)
            if kind == "e":
                b, cpu, n = struct.unpack_from("<qqq", blob)
                bad += b
                cpu_e += cpu
                lat.extend(struct.unpack_from(f"<{n}q", blob, 24))
            else:
                b, n, end, cpu = struct.unpack("<qqqq", blob)
                bad += b
                cpu_c += cpu
                got.append(n)
                ends.append(end)
        for _, p in procs:
            p.join(60)
        st = handle.stat()
    finally:
        if go_w is not None:
            os.close(go_w)
        for _, p in procs:
            if p.is_alive():
                p.kill()
        handle.close()
        pooter._pooter.broker_unlink(name)
    wall = (max(ends) - start) / 1e9
    lat.sort()
    ok = (bad == 0 and all(n == rounds for n in got) and
          st["rounds_resolved"] == rounds and st["rounds_opened"] == rounds)
    return {
        "ok": ok, "processes": emitters + consumers, "rounds": rounds,
        "wall_s": wall, "rounds_per_s": rounds / wall,
        "emit_p50_us": _pct(lat, 50), "emit_p99_us": _pct(lat, 99),
        "emit_p999_us": _pct(lat, 99.9),
        "cpu_us_per_round_emitters": cpu_e / 1e3 / rounds,
        "cpu_us_per_round_consumers": cpu_c / 1e3 / rounds,
        "io_uring": pooter.uring_supported()[0],
    }


def find_c_bench(explicit):
    if explicit:
        return explicit
    env = os.environ.get("POOTER_BENCH")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    # the build tree: build/python/pooter -> build/tools/pooter-bench
    cand = os.path.join(here, "..", "..", "tools", "pooter-bench",
                        "pooter-bench")
    if os.access(cand, os.X_OK):
        return os.path.normpath(cand)
    return shutil.which("pooter-bench")


def run_c(path, emitters, consumers, rounds, payload_bytes, depth,
          timeout_ms):
    cmd = [path, "-E", str(emitters), "-C", str(consumers), "-R",
           str(rounds), "-P", str(payload_bytes), "-d", str(depth), "-t",
           str(timeout_ms), "--no-baselines", "--json"]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True,
                         timeout=600)
    doc = json.loads(out.stdout)
    p = doc["configs"][0]["pooter"]
    return {"ok": bool(p["ok"]) and out.returncode == 0,
            "rounds_per_s": p["rounds_per_s"],
            "emit_p50_us": p["latency_p50_us"],
            "emit_p99_us": p["latency_p99_us"],
            "command": " ".join(cmd)}


def parse_configs(text):
    configs = []
    for item in text.split(","):
        e, c = item.lower().split("x")
        configs.append((int(e), int(c)))
    return configs


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m pooter.bench",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("-R", "--rounds", type=int, default=20000)
    ap.add_argument("-P", "--payload", type=int, default=64)
    ap.add_argument("-d", "--depth", type=int, default=16)
    ap.add_argument("-t", "--timeout", type=int, default=10000,
                    help="round timeout, ms (generous: none times out)")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS,
                    help="EMITTERSxCONSUMERS,... (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each; the median by rate is reported")
    ap.add_argument("--pooter-bench", help="path of the C pooter-bench")
    ap.add_argument("--no-c", action="store_true",
                    help="do not run the C pooter-bench")
    ap.add_argument("-j", "--json", action="store_true")
    args = ap.parse_args(argv)

    cbench = None if args.no_c else find_c_bench(args.pooter_bench)
    results = []
    for e, c in parse_configs(args.configs):
        py_runs = sorted((run_python(e, c, args.rounds, args.payload,
                                     args.depth, args.timeout)
                          for _ in range(args.repeat)),
                         key=lambda r: r["rounds_per_s"])
        py = py_runs[len(py_runs) // 2]
        py["ok"] = all(r["ok"] for r in py_runs)
        cres = None
        if cbench:
            c_runs = sorted((run_c(cbench, e, c, args.rounds, args.payload,
                                   args.depth, args.timeout)
                             for _ in range(args.repeat)),
                            key=lambda r: r["rounds_per_s"])
            cres = c_runs[len(c_runs) // 2]
        results.append({"emitters": e, "consumers": c, "python": py,
                        "c": cres})

    ok = all(r["python"]["ok"] and (r["c"] is None or r["c"]["ok"])
             for r in results)
    if args.json:
        json.dump({"tool": "pooter.bench", "ok": ok, "cpus": os.cpu_count(),
                   "kernel": os.uname().release, "rounds": args.rounds,
                   "payload": args.payload, "depth": args.depth,
                   "python": sys.version.split()[0], "results": results},
                  sys.stdout, indent=1)
        print()
    else:
        ur = pooter.uring_supported()
        print(f"pooter.bench: {os.cpu_count()} CPUs, Linux "
              f"{os.uname().release}, Python {sys.version.split()[0]}; "
              f"R={args.rounds} rounds, P={args.payload} bytes, depth "
              f"{args.depth}; waits: "
              f"{'io_uring' if ur[0] else 'thread pool (' + ur[1] + ')'}"
              f"{'' if args.repeat == 1 else f', median of {args.repeat}'}")
        print("   E   C  what            rounds/s  emit p50 us  emit p99 us"
              "  ok")
        for r in results:
            rows = [("python asyncio", r["python"])]
            if r["c"]:
                rows.append(("C pooter-bench", r["c"]))
            for what, m in rows:
                print(f"{r['emitters']:4d}{r['consumers']:4d}  {what:14s}"
                      f"{m['rounds_per_s']:10.0f}{m['emit_p50_us']:13.1f}"
                      f"{m['emit_p99_us']:13.1f}  "
                      f"{'yes' if m['ok'] else 'NO'}")
        if not cbench and not args.no_c:
            print("(no pooter-bench found: give --pooter-bench PATH)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
