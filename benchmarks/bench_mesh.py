"""Mesh-layer benchmarks: ``lmz.call`` with a reply handler vs the runtime's plain stub call.

Both are actor-to-actor round trips inside one mesh, with arguments and results cloned. The
stub call is awaited inside one turn of the caller; each ``lmz.call`` round trip is two messages
and two turns (the call on the callee, then its handler as a new turn of the caller), and also
carries the call context both ways.
"""

from __future__ import annotations

import time

import trio

from lumenize_trio import RESULT, LumenizeDO, mesh, open_mesh

from ._harness import Result

ROUND_TRIPS = 3000


class Pong(LumenizeDO):
    @mesh
    def pong(self, value: int) -> int:
        return value


class Ping(LumenizeDO):
    done: trio.Event
    remaining = 0

    @mesh
    def start(self, n: int) -> None:
        type(self).remaining = n
        self.lmz.call("PONG", "p", self.ctn(Pong).pong(n), self.ctn().returned(RESULT))

    def returned(self, value: int) -> None:
        cls = type(self)
        cls.remaining -= 1
        if cls.remaining:
            self.lmz.call("PONG", "p", self.ctn(Pong).pong(value), self.ctn().returned(RESULT))
        else:
            cls.done.set()

    @mesh
    async def stub_loop(self, n: int) -> None:
        pong = self.env.get("PONG", "p")
        for i in range(n):
            await pong.pong(i)


async def _lmz_round_trips(n: int) -> float:
    async with open_mesh({"PING": Ping, "PONG": Pong}) as m:
        ping = m.get("PING", "a")
        await ping.stub_loop(1)  # activate both
        Ping.done = trio.Event()
        start = time.perf_counter()
        await ping.start(n)
        await Ping.done.wait()
        return n / (time.perf_counter() - start)


async def _stub_round_trips(n: int) -> float:
    async with open_mesh({"PING": Ping, "PONG": Pong}) as m:
        ping = m.get("PING", "a")
        await ping.stub_loop(1)
        start = time.perf_counter()
        await ping.stub_loop(n)
        return n / (time.perf_counter() - start)


def bench_lmz_call() -> Result:
    stub = max(trio.run(_stub_round_trips, ROUND_TRIPS) for _ in range(3))
    ours = max(trio.run(_lmz_round_trips, ROUND_TRIPS) for _ in range(3))
    return Result(
        "mesh: lmz.call + handler round trip, actor to actor",
        "round trips/s",
        ours,
        {"runtime stub call, actor to actor": stub},
        "- (two turns per round trip vs one)",
    )


def run() -> list[Result]:
    return [bench_lmz_call()]
