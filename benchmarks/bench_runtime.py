"""Runtime benchmarks: call round trips, durable increments under load, memory per actor, cold starts.

Every figure is a ratio to a bare baseline measured in the same process and run.
"""

from __future__ import annotations

import gc
import os
import resource
import shutil
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import trio
import trio.testing

from lumenize_trio import LumenizeDO, mesh, open_mesh

from ._harness import Result

CALLS = 5000
INCREMENTS = 6000
CALLERS = 100
# Each open actor database holds two file descriptors (the file and its WAL); stay under the limit.
ACTORS = min(10_000, (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 500) // 2)


class Echo(LumenizeDO):
    @mesh
    def echo(self, value: object) -> object:
        return value


class Counter(LumenizeDO):
    @mesh
    def increment(self) -> int:
        kv = self.ctx.storage.kv
        n = kv.get("n", 0) + 1
        kv.put("n", n)
        return n


# -- stub round trip vs a bare memory-channel request/response ------------------------------------


async def _channel_round_trips(n: int) -> float:
    send_req, recv_req = trio.open_memory_channel[object](0)
    send_rep, recv_rep = trio.open_memory_channel[object](0)

    async def server() -> None:
        async for request in recv_req:
            await send_rep.send(request)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        start = time.perf_counter()
        for i in range(n):
            await send_req.send(i)
            await recv_rep.receive()
        elapsed = time.perf_counter() - start
        await send_req.aclose()
    return n / elapsed


async def _stub_round_trips(n: int) -> float:
    async with open_mesh({"ECHO": Echo}) as m:
        stub = m.get("ECHO", "e")
        await stub.echo(0)  # activate
        start = time.perf_counter()
        for i in range(n):
            await stub.echo(i)
        return n / (time.perf_counter() - start)


def bench_round_trip() -> Result:
    bare = max(trio.run(_channel_round_trips, CALLS) for _ in range(3))
    ours = max(trio.run(_stub_round_trips, CALLS) for _ in range(3))
    return Result(
        "runtime: stub call round trip (in-process, cloned)",
        "calls/s",
        ours,
        {"trio memory-channel request/response": bare},
        ">= 0.25x the bare channel",
    )


# -- durable increments on one hot actor, 100 concurrent callers ----------------------------------


async def _increments(data_dir: Path | None) -> float:
    async with open_mesh({"COUNTER": Counter}, data_dir=data_dir, durability="full") as m:
        stub = m.get("COUNTER", "hot")
        await stub.increment()
        per_caller = INCREMENTS // CALLERS

        async def caller() -> None:
            for _ in range(per_caller):
                await stub.increment()

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(CALLERS):
                nursery.start_soon(caller)
        return per_caller * CALLERS / (time.perf_counter() - start)


def _raw_sqlite(path: Path, *, batched: bool) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID")
    db.execute("INSERT OR REPLACE INTO kv VALUES ('n', 0)")
    n = INCREMENTS if batched else INCREMENTS // 4  # per-write commits are slow; the rate is what counts
    start = time.perf_counter()
    if batched:
        db.execute("BEGIN")
    for _ in range(n):
        if not batched:
            db.execute("BEGIN")
        db.execute("UPDATE kv SET value = value + 1 WHERE key = 'n'")
        if not batched:
            db.execute("COMMIT")
    if batched:
        db.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    db.close()
    return rate


def bench_durable_increments(scratch: Path) -> Result:
    def fresh(name: str) -> Path:
        path = scratch / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        return path

    ours = max(trio.run(_increments, fresh(f"inc{i}")) for i in range(2))
    memory = max(trio.run(_increments, None) for _ in range(2))
    per_write = max(_raw_sqlite(fresh(f"raw{i}") / "raw.sqlite", batched=False) for i in range(2))
    batched = max(_raw_sqlite(fresh(f"batch{i}") / "batch.sqlite", batched=True) for i in range(2))
    return Result(
        f"runtime: durable increments, 1 actor, {CALLERS} callers (full)",
        "increments/s",
        ours,
        {
            "raw sqlite, commit per write (FULL)": per_write,
            "raw sqlite, one transaction": batched,
            "same workload, in-memory storage": memory,
        },
        ">= 3x commit-per-write, >= 0.8x in-memory",
    )


# -- memory per actor, and cold activation --------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _memory(data_dir: Path) -> tuple[float, float, float, int]:
    async with open_mesh(
        {"ECHO": Echo},
        data_dir=data_dir,
        durability="normal",
        max_open_databases=ACTORS + 10,
        idle_timeout=3600,
    ) as m:
        await m.get("ECHO", "warm-up").echo(0)
        gc.collect()
        rss0 = _rss()
        tracemalloc.start()
        traced0 = tracemalloc.get_traced_memory()[0]
        for i in range(ACTORS):
            await m.get("ECHO", f"a{i}").echo(i)
        gc.collect()
        active_rss = (_rss() - rss0) / ACTORS
        active_py = (tracemalloc.get_traced_memory()[0] - traced0) / ACTORS
        mesh_any: Any = m
        for actor_id, activation in list(mesh_any._activations.items()):
            if actor_id.name != "warm-up":
                mesh_any._evict(actor_id, activation)
        await trio.testing.wait_all_tasks_blocked()  # let the evicted actors' parked runners end
        gc.collect()
        evicted_py = (tracemalloc.get_traced_memory()[0] - traced0) / ACTORS
        tracemalloc.stop()
        return active_rss, active_py, evicted_py, m.statistics().active_actors


async def _cold_start(data_dir: Path, n: int) -> float:
    async with open_mesh(
        {"ECHO": Echo}, data_dir=data_dir, durability="normal", max_open_databases=n + 10
    ) as m:
        for i in range(n):
            await m.get("ECHO", f"c{i}").echo(0)  # create the files
        mesh_any: Any = m
        for actor_id, activation in list(mesh_any._activations.items()):
            mesh_any._evict(actor_id, activation)
        start = time.perf_counter()
        for i in range(n):
            await m.get("ECHO", f"c{i}").echo(0)  # open an existing database, construct, call
        cold = (time.perf_counter() - start) / n
        start = time.perf_counter()
        for i in range(n):
            await m.get("ECHO", f"c{i}").echo(0)
        warm = (time.perf_counter() - start) / n
        return cold - warm


def _raw_open(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("SELECT 1").fetchall()
        db.close()
    return (time.perf_counter() - start) / len(paths)


def bench_memory_and_cold_start(scratch: Path) -> list[Result]:
    folder = scratch / "memory"
    shutil.rmtree(folder, ignore_errors=True)
    active_rss, active_py, evicted_py, left = trio.run(_memory, folder)
    cold_dir = scratch / "cold"
    shutil.rmtree(cold_dir, ignore_errors=True)
    cold = trio.run(_cold_start, cold_dir, 500)
    raw = _raw_open(sorted((cold_dir / "ECHO").glob("*.sqlite")))
    kib = 1024
    return [
        Result(
            f"runtime: memory per activated idle actor ({ACTORS:,}, db open)",
            "KiB",
            active_rss / kib,
            {"an open SQLite connection (machine-limits: 138 KiB)": 138.0},
            "<= 200 KiB",
        ),
        Result(
            "runtime: Python memory per activated idle actor (tracemalloc)",
            "KiB",
            active_py / kib,
            {},
        ),
        Result(
            f"runtime: Python memory per evicted actor ({left} left active)",
            "bytes",
            evicted_py,
            {},
            "~ 0",
        ),
        Result(
            "runtime: cold activation (open db, construct, first call) minus a warm call",
            "ms",
            cold * 1000,
            {"raw sqlite open + pragmas + SELECT + close": raw * 1000},
        ),
    ]


def run() -> list[Result]:
    # Disk-backed figures use the real file system; the 10,000-actor memory run uses tmpfs when
    # there is one, since it measures memory, not the disk (file creation on ext4 here is ~5 ms).
    with tempfile.TemporaryDirectory(prefix="lmz-bench-") as disk:
        results = [bench_round_trip(), bench_durable_increments(Path(disk))]
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="lmz-bench-", dir=shm) as fast:
        results.extend(bench_memory_and_cold_start(Path(fast)))
    return results
