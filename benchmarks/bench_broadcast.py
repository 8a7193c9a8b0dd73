"""Broadcast benchmarks: one continuation to 10,000 actors, direct and through the tree of hops.

The figure is the time from the broadcasting call until the last target has run its method,
best of several rounds on warm actors (in-memory storage, all activated before timing, so
neither storage nor activation is measured). The baseline is the runtime's bare primitive for
reaching the same actors: awaited stub calls, ``await mesh.get("TARGET", name).hit()``, from 100
concurrent tasks, in the same mesh and run. Each target counts its delivery in a probe object
outside the mesh (given to the actors as a service), which notes the time of the last one.
"""

from __future__ import annotations

import time

import trio

from lumenize_trio import LumenizeDO, Mesh, mesh, open_mesh

from ._harness import Result

TARGETS = 10_000
TASKS = 100
ROUNDS = 3


class Probe:
    """Counts deliveries; notes when the expected number has arrived."""

    def __init__(self) -> None:
        self.expected = 0
        self.count = 0
        self.last = 0.0
        self.done = trio.Event()

    def arm(self, expected: int) -> None:
        self.expected, self.count, self.last, self.done = expected, 0, 0.0, trio.Event()

    def hit(self) -> None:
        self.count += 1
        if self.count == self.expected:
            self.last = time.perf_counter()
            self.done.set()


class Target(LumenizeDO):
    @mesh
    def hit(self) -> None:
        self.svc.probe.hit()


class Caster(LumenizeDO):
    @mesh
    def cast(self, count: int, direct_threshold: int) -> str:
        targets = [("TARGET", f"t{i}") for i in range(count)]
        return self.svc.broadcast(targets, self.ctn(Target).hit(), direct_threshold=direct_threshold)


async def _bare(m: Mesh, probe: Probe) -> float:
    async def caller(start: int) -> None:
        for i in range(start, TARGETS, TASKS):
            await m.get("TARGET", f"t{i}").hit()

    probe.arm(TARGETS)
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for first in range(TASKS):
            nursery.start_soon(caller, first)
    await probe.done.wait()
    return probe.last - start


async def _broadcast(m: Mesh, probe: Probe, direct_threshold: int) -> tuple[float, float]:
    """Seconds until the last delivery, and until the broadcasting call returned."""
    caster = m.get("CASTER", "c")
    probe.arm(TARGETS)
    start = time.perf_counter()
    await caster.cast(TARGETS, direct_threshold)
    returned = time.perf_counter()
    await probe.done.wait()
    return probe.last - start, returned - start


async def _measure() -> dict[str, float]:
    probe = Probe()
    async with open_mesh(
        {"TARGET": Target, "CASTER": Caster},
        data_dir=None,
        max_open_databases=TARGETS + 10,
        idle_timeout=3600,
        services={"probe": lambda node: probe},
    ) as m:
        await _bare(m, probe)  # activate every target (and the caster) before timing
        await _broadcast(m, probe, TARGETS)
        best = dict.fromkeys(("bare", "direct", "tree", "direct_turn", "tree_turn"), float("inf"))
        for _ in range(ROUNDS):  # interleaved, so drift affects all three alike
            best["bare"] = min(best["bare"], await _bare(m, probe))
            for name, threshold in (("direct", TARGETS), ("tree", 100)):
                last, returned = await _broadcast(m, probe, threshold)
                best[name] = min(best[name], last)
                best[f"{name}_turn"] = min(best[f"{name}_turn"], returned)
        return best


def run() -> list[Result]:
    best = trio.run(_measure)
    bare = {f"stub calls from {TASKS} tasks": best["bare"] * 1000}
    return [
        Result(
            f"broadcast: {TARGETS:,} actors, direct (direct_threshold={TARGETS:,}), time to last delivery",
            "ms",
            best["direct"] * 1000,
            bare,
        ),
        Result(
            f"broadcast: {TARGETS:,} actors, tree (defaults 100/6: 258 hops), time to last delivery",
            "ms",
            best["tree"] * 1000,
            {**bare, "the direct broadcast": best["direct"] * 1000},
        ),
        Result(
            f"broadcast: {TARGETS:,} actors, tree: until the broadcasting call returns",
            "ms",
            best["tree_turn"] * 1000,
            {"the same for the direct broadcast": best["direct_turn"] * 1000},
        ),
    ]


if __name__ == "__main__":
    for result in run():
        ratios = ", ".join(f"{result.ours / v:.2f}x {k}" for k, v in result.baselines.items())
        print(f"{result.name}: {result.ours:,.1f} {result.unit} ({ratios})")
