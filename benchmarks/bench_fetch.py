"""``svc.fetch`` benchmarks: added latency of a proxy fetch, and an actor's availability while
many fetches are pending.

One Hypercorn server on 127.0.0.1:0 serves both sides, in the same process and run:

1. **Latency.** From the ``svc.fetch`` call (inside a turn) to the start of its handler (a later
   turn of the actor), vs a direct ``await client.get(url)`` on a warm ``httpx.AsyncClient``,
   for endpoints that answer after 0 s, 0.1 s and 1 s. Samples alternate between the two
   sides; medians are compared. The actor's storage is a real file with ``durability="full"``
   (the default): the proxied request is recorded and fsynced before it leaves.
2. **Availability.** Stub calls to one actor (a read and a write of its storage each, from 10
   concurrent callers, in-memory storage) with 100 of its fetches pending on the server vs with
   none. The pending requests are held open by the server for the whole measurement.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from lumenize_trio import RESULT, LumenizeDO, mesh, open_mesh
from lumenize_trio.edge._app import _lifespan

from ._harness import Result

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

DELAYS = (0.0, 0.1, 1.0)
SAMPLES = {0.0: 200, 0.1: 30, 1.0: 6}
PENDING = 100
CALLS = 3000
CALLERS = 10
ROUNDS = 3


class _Server:
    """``/delay/{s}`` answers after *s* seconds; ``/hold`` answers when :attr:`release` is set."""

    def __init__(self, expected: int = 0) -> None:
        self.release = trio.Event()
        self.held = 0
        self.expected = expected
        self.all_held = trio.Event()  # set once ``expected`` requests are held

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/delay/"):
            await trio.sleep(float(path.removeprefix("/delay/")))
        elif path == "/hold":
            self.held += 1
            if self.held == self.expected:
                self.all_held.set()
            await self.release.wait()
            self.held -= 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def _serving(app: _Server) -> AsyncIterator[str]:
    config = Config()
    config.bind, config.loglevel = ["127.0.0.1:0"], "WARNING"
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        [base] = await nursery.start(partial(serve, app, config, shutdown_trigger=stop.wait))
        try:
            yield base
        finally:
            app.release.set()
            stop.set()


class Fetcher(LumenizeDO):
    started: float = 0.0
    finished: float = 0.0
    done: trio.Event

    @mesh
    def fetch(self, url: str) -> None:
        Fetcher.started = time.perf_counter()
        self.svc.fetch(url, self.ctn().fetched(RESULT))

    def fetched(self, outcome: object) -> None:
        Fetcher.finished = time.perf_counter()
        assert getattr(outcome, "status", None) == 200, outcome
        Fetcher.done.set()

    @mesh
    def hold(self, url: str, n: int) -> None:
        for _ in range(n):
            self.svc.fetch(url, self.ctn().ignored(RESULT))

    def ignored(self, outcome: object) -> None:
        pass

    @mesh
    def bump(self) -> int:
        kv = self.ctx.storage.kv
        n = kv.get("n", 0) + 1
        kv.put("n", n)
        return n


async def _latencies(data_dir: Path) -> dict[float, tuple[float, float]]:
    """delay -> (median proxy latency, median direct latency), in seconds."""
    app = _Server()
    results: dict[float, tuple[float, float]] = {}
    async with (
        _serving(app) as base,
        httpx.AsyncClient() as client,
        open_mesh({"F": Fetcher}, data_dir=data_dir, fetch_allow=["127.0.0.1"]) as m,
    ):
        f = m.get("F", "f")
        for delay in DELAYS:
            url = f"{base}/delay/{delay:g}"
            proxied: list[float] = []
            direct: list[float] = []
            for i in range(SAMPLES[delay] + 1):  # the first pair warms up
                Fetcher.done = trio.Event()
                await f.fetch(url)
                await Fetcher.done.wait()
                began = time.perf_counter()
                response = await client.get(url)
                ended = time.perf_counter()
                assert response.status_code == 200
                if i:
                    proxied.append(Fetcher.finished - Fetcher.started)
                    direct.append(ended - began)
            results[delay] = (statistics.median(proxied), statistics.median(direct))
    return results


async def _availability(pending: int) -> float:
    """Stub calls per second to one actor with *pending* of its fetches held open by the server."""
    app = _Server(pending)
    async with (
        _serving(app) as base,
        open_mesh({"F": Fetcher}, fetch_allow=["127.0.0.1"], fetch_concurrency=max(pending, 1)) as m,
    ):
        f = m.get("F", "f")
        await f.bump()
        if pending:
            await f.hold(f"{base}/hold", pending)
            with trio.fail_after(10):
                await app.all_held.wait()

        async def caller(n: int) -> None:
            for _ in range(n):
                await f.bump()

        began = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(CALLERS):
                nursery.start_soon(caller, CALLS // CALLERS)
        elapsed = time.perf_counter() - began
        assert app.held == pending, "the fetches must stay pending during the measurement"
        return CALLS / elapsed


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="lmz-bench-") as disk:
        latencies = trio.run(_latencies, Path(disk))
    results = []
    for delay, (proxied, direct) in latencies.items():
        added = (proxied - direct) * 1000
        results.append(
            Result(
                f"fetch: svc.fetch call to handler, {delay:g} s endpoint (+{added:.1f} ms added)",
                "ms",
                proxied * 1000,
                {"direct httpx.AsyncClient get, same server": direct * 1000},
            )
        )
    idle: list[float] = []
    busy: list[float] = []
    for _ in range(ROUNDS):  # interleaved, best of each
        idle.append(trio.run(_availability, 0))
        busy.append(trio.run(_availability, PENDING))
    results.append(
        Result(
            f"fetch: stub calls to an actor with {PENDING} of its fetches pending",
            "calls/s",
            max(busy),
            {"the same actor with no fetch pending": max(idle)},
            ">= 0.9x",
        )
    )
    return results


if __name__ == "__main__":
    from .__main__ import _print_table

    _print_table(run())
