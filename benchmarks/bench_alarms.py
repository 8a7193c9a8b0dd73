"""``svc.alarms`` benchmarks: 100,000 schedules on one actor, fired under real time.

The baseline is the bare primitive an alarm is: one Trio task sleeping until each of the same
100,000 sorted deadlines in turn. Both run in the same process and run.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from lumenize_trio import LumenizeDO, clone, mesh, open_mesh

from ._harness import Result

N = 100_000
SPREAD = 1.0  # seconds between the first deadline and the last
WARM_UP = 5_000


class _Probe:
    """What the handlers report to the benchmark (one per run)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.fired = 0
        self.lags: list[float] = []
        self.done = trio.Event()
        self.finished_at = 0.0


class Ticker(LumenizeDO):
    probe: Any = None  # set by the benchmark before the mesh starts

    @mesh
    def plan(self, start: float, n: int, spread: float) -> float:
        """Schedule *n* ticks due from *start* (epoch seconds) over *spread* seconds; return
        how long scheduling took (seconds)."""
        began = time.perf_counter()
        alarms: Any = self.svc.alarms
        ctn = self.ctn()
        for i in range(n):
            deadline = start + spread * i / n
            # An absolute time: a delay would be counted from each call's own "now".
            alarms.schedule(datetime.fromtimestamp(deadline, UTC), ctn.tick(deadline))
        return time.perf_counter() - began

    def tick(self, deadline: float) -> None:
        probe = Ticker.probe
        now = self.env.clock.now()
        probe.lags.append(now - round(deadline, 6))  # datetimes keep microseconds
        probe.fired += 1
        if probe.fired == probe.n:
            probe.finished_at = now
            probe.done.set()


async def _alarms(data_dir: Path) -> tuple[float, float, float, float]:
    """(fires/s, schedules/s, median lag, max lag) for N schedules fired over SPREAD seconds."""
    Ticker.probe = _Probe(N)
    async with open_mesh({"TICK": Ticker}, data_dir=data_dir) as m:
        ticker = m.get("TICK", "t")
        # Estimate the scheduling rate on a warm-up actor, so that the run's first deadline is
        # comfortably after its scheduling turn has committed.
        warm = m.get("TICK", "warm-up")
        took = await warm.plan(m.clock.now() + 3600, WARM_UP, SPREAD)
        lead = N * took / WARM_UP * 1.5 + 0.5
        start = m.clock.now() + lead
        took = await ticker.plan(start, N, SPREAD)
        await Ticker.probe.done.wait()
        probe = Ticker.probe
        fire_rate = N / (probe.finished_at - start)
        return fire_rate, N / took, statistics.median(probe.lags), max(probe.lags)


async def _bare_timers() -> tuple[float, float, float]:
    """(fires/s, median lag, max lag): one task sleeping until each sorted deadline in turn."""
    start = trio.current_time() + 0.5
    lags: list[float] = []
    for i in range(N):
        deadline = start + SPREAD * i / N
        await trio.sleep_until(deadline)
        lags.append(trio.current_time() - deadline)
    return N / (trio.current_time() - start), statistics.median(lags), max(lags)


def _raw_inserts(path: Path) -> float:
    """Rows like the service's, inserted with bare sqlite3 in one transaction (WAL, FULL)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE t (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time REAL NOT NULL, "
        "type TEXT NOT NULL, chain BLOB NOT NULL, cron TEXT, delay REAL)"
    )
    db.execute("CREATE INDEX t_time ON t (time, seq)")
    chain = clone.dumps([["get", "tick"], ["apply", [1e9], {}]])  # what the service stores
    start = time.perf_counter()
    db.execute("BEGIN")
    for i in range(N):
        db.execute(
            "INSERT OR REPLACE INTO t VALUES (?, ?, ?, ?, ?, ?, ?)",
            (i + 1, uuid.uuid4().hex, 1e9 + i / N, "scheduled", chain, None, None),
        )
    db.execute("COMMIT")
    rate = N / (time.perf_counter() - start)
    db.close()
    return rate


def bench_alarms(scratch: Path) -> list[Result]:
    bare, bare_median, bare_max = max(trio.run(_bare_timers) for _ in range(2))
    runs = []
    for i in range(2):
        folder = scratch / f"alarms{i}"
        folder.mkdir()
        runs.append(trio.run(_alarms, folder))
    fire_rate, schedule_rate, median_lag, max_lag = max(runs)
    raw = max(_raw_inserts(scratch / f"raw{i}.sqlite") for i in range(2))
    return [
        Result(
            f"alarms: {N:,} schedules on one actor, due over {SPREAD:g} s, fired (real time)",
            "fires/s",
            fire_rate,
            {"one Trio task, trio.sleep_until per sorted deadline": bare},
            ">= 0.3x the bare timer loop",
        ),
        Result(
            f"alarms: median lateness of a fire (max: ours {max_lag * 1000:.0f} ms, bare {bare_max * 1000:.0f} ms)",
            "ms",
            median_lag * 1000,
            {"bare timer loop, median": bare_median * 1000},
        ),
        Result(
            f"alarms: schedule() in one turn ({N:,} rows, durable)",
            "schedules/s",
            schedule_rate,
            {"raw sqlite3 INSERT of the same rows, one transaction": raw},
        ),
    ]


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="lmz-bench-") as disk:
        return bench_alarms(Path(disk))
