"""Tests for activation, on_start, eviction, the open-database bound and overload."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import trio
import trio.lowlevel

from lumenize_trio import LumenizeDO, OverloadedError, mesh, open_mesh

from .actors import Counter


class Starting(LumenizeDO):
    """Counts activations in storage from on_start; can be told to fail starting."""

    fail_start: ClassVar[bool] = False
    started: ClassVar[list[str]] = []

    async def on_start(self) -> None:
        await trio.sleep(0.01)  # others wait: on_start runs before any event
        if type(self).fail_start:
            raise RuntimeError("cannot start")
        kv = self.ctx.storage.kv
        kv.put("activations", kv.get("activations", 0) + 1)
        type(self).started.append(self.ctx.id.name or "")

    @mesh
    def activations(self) -> int:
        return self.ctx.storage.kv.get("activations", 0)


async def test_on_start_runs_once_per_activation_before_events(autojump_clock: Any) -> None:
    Starting.started = []
    Starting.fail_start = False
    async with open_mesh({"S": Starting}, idle_timeout=10) as m:
        stub = m.get("S", "s")
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(_call_activations, stub)
        assert await stub.activations() == 1
        await trio.sleep(11)  # evicted
        assert m.statistics().active_actors == 0
        assert await stub.activations() == 2
    assert Starting.started == ["s", "s"]


async def _call_activations(stub: Any) -> None:
    assert await stub.activations() >= 1


async def test_failed_on_start_fails_events_until_the_next_activation(autojump_clock: Any) -> None:
    Starting.fail_start = True
    async with open_mesh({"S": Starting}, idle_timeout=10) as m:
        stub = m.get("S", "f")
        with pytest.raises(RuntimeError, match="cannot start"):
            await stub.activations()
        Starting.fail_start = False
        with pytest.raises(RuntimeError, match="cannot start"):
            await stub.activations()  # the same activation: still failed
        await trio.sleep(11)
        assert await stub.activations() == 1  # a new activation started cleanly


async def test_eviction_drops_memory_keeps_storage(autojump_clock: Any) -> None:
    async with open_mesh({"COUNTER": Counter}, idle_timeout=5) as m:
        stub = m.get("COUNTER", "e")
        await stub.increment()
        await stub.remember("x")
        await trio.sleep(4)
        assert await stub.recall() == ["x"]  # used again: not evicted
        await trio.sleep(6)
        assert m.statistics().active_actors == 0
        assert await stub.recall() == []
        assert await stub.count() == 1


async def test_at_most_one_activation_per_actor() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        before = Counter.instances
        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(_increment, m.get("COUNTER", "one"))
        assert Counter.instances == before + 1
        assert await m.get("COUNTER", "one").count() == 50


async def _increment(stub: Any) -> None:
    await stub.increment()


async def test_open_databases_are_bounded(tmp_path: Any) -> None:
    async with open_mesh({"COUNTER": Counter}, data_dir=tmp_path, max_open_databases=10) as m:
        for i in range(40):
            assert await m.get("COUNTER", f"n{i}").increment() == 1
        stats = m.statistics()
        assert stats.active_actors <= 10
        assert stats.evictions >= 30
        assert await m.get("COUNTER", "n0").count() == 1  # evicted early, storage intact


class Slow(LumenizeDO):
    @mesh
    async def hold(self, seconds: float) -> None:
        await trio.sleep(seconds)


async def test_overload_is_refused_at_once(autojump_clock: Any) -> None:
    async with open_mesh({"SLOW": Slow}, max_queue=3) as m:
        stub = m.get("SLOW", "busy")
        outcomes: list[str] = []

        async def call() -> None:
            try:
                await stub.hold(1)
                outcomes.append("ok")
            except OverloadedError:
                outcomes.append("overloaded")

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(call)
                await trio.lowlevel.checkpoint()
        assert outcomes.count("ok") == 4  # one running, three queued
        assert outcomes.count("overloaded") == 6
