"""Tests for the input gate: one turn at a time, interleaving only at mesh awaits, FIFO order."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from hypothesis import given, settings, strategies as st

from lumenize_trio import BlockConcurrencyError, LumenizeDO, mesh, open_mesh

from .actors import Counter


@given(delays=st.lists(st.sampled_from([0.0, 0.0001, 0.001]), min_size=1, max_size=25))
@settings(deadline=None, max_examples=30)
async def test_read_modify_write_with_non_mesh_awaits_loses_no_update(delays: list[float]) -> None:
    """Concurrent increments that sleep between read and write never interleave."""
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "c")
        results: list[int] = []

        async def call(delay: float) -> None:
            results.append(await stub.slow_increment(delay))

        async with trio.open_nursery() as nursery:
            for delay in delays:
                nursery.start_soon(call, delay)
        assert sorted(results) == list(range(1, len(delays) + 1))
        assert await stub.count() == len(delays)


class Log(LumenizeDO):
    """Records the order in which turns begin and end, around a mesh await or a plain sleep."""

    @mesh
    async def around_call(self, tag: str, blocked: bool) -> None:
        self.note(f"start {tag}")

        async def hop() -> None:
            await self.env.get("LOG", "other").ping()

        if blocked:
            await self.ctx.block_concurrency_while(hop)
        else:
            await hop()
        self.note(f"end {tag}")

    @mesh
    async def around_sleep(self, tag: str) -> None:
        self.note(f"start {tag}")
        await trio.sleep(0.01)
        self.note(f"end {tag}")

    @mesh
    async def ping(self) -> str:
        await trio.sleep(0.01)
        return "pong"

    @mesh
    def quick(self, tag: str) -> None:
        self.note(f"quick {tag}")

    @mesh
    def notes(self) -> list[str]:
        return self.ctx.storage.kv.get("notes", [])

    def note(self, text: str) -> None:
        self.ctx.storage.kv.put("notes", [*self.ctx.storage.kv.get("notes", []), text])

    @mesh
    async def nest(self, depth: int) -> int:
        async def inner(level: int) -> int:
            if level == depth:
                return level
            return await self.ctx.block_concurrency_while(lambda: inner(level + 1))

        return await inner(0)

    @mesh
    async def block_and_fail(self) -> None:
        self.note("before")

        async def boom() -> None:
            raise RuntimeError("setup failed")

        await self.ctx.block_concurrency_while(boom)

    @mesh
    def instance_id(self) -> int:
        return id(self)


async def _run_pair(m: Any, first: str, blocked: bool) -> list[str]:
    stub = m.get("LOG", "a")
    async with trio.open_nursery() as nursery:

        async def long() -> None:
            if first == "call":
                await stub.around_call("A", blocked)
            else:
                await stub.around_sleep("A")

        async def start_long(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            await long()

        await nursery.start(start_long)
        await trio.sleep(0.001)  # A has started and is awaiting
        await stub.quick("B")
    return await stub.notes()


@pytest.mark.parametrize(
    ("kind", "blocked", "interleaved"),
    [("call", False, True), ("call", True, False), ("sleep", False, False)],
)
async def test_interleaving_only_at_mesh_awaits(
    autojump_clock: Any, kind: str, blocked: bool, interleaved: bool
) -> None:
    async with open_mesh({"LOG": Log}) as m:
        notes = await _run_pair(m, kind, blocked)
    expected = ["start A", "quick B", "end A"] if interleaved else ["start A", "end A", "quick B"]
    assert notes == expected


async def test_fifo_per_stub() -> None:
    async with open_mesh({"LOG": Log}) as m:
        stub = m.get("LOG", "fifo")
        async with trio.open_nursery() as nursery:
            for i in range(30):

                async def send(i: int = i, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                    task_status.started()
                    await stub.quick(str(i))

                await nursery.start(send)
        assert await stub.notes() == [f"quick {i}" for i in range(30)]


class Ping(LumenizeDO):
    @mesh
    async def bounce(self, hops: int) -> int:
        if hops == 0:
            return 0
        other = "b" if self.ctx.id.name == "a" else "a"
        return 1 + await self.env.get("PING", other).bounce(hops - 1)


async def test_actors_awaiting_each_other_do_not_deadlock() -> None:
    async with open_mesh({"PING": Ping}) as m:
        with trio.fail_after(5):
            assert await m.get("PING", "a").bounce(10) == 10


async def test_block_concurrency_while_nesting_limit() -> None:
    async with open_mesh({"LOG": Log}) as m:
        stub = m.get("LOG", "n")
        assert await stub.nest(63) == 63
        with pytest.raises(BlockConcurrencyError, match="nested too deeply"):
            await stub.nest(65)


async def test_block_concurrency_while_failure_resets_the_actor() -> None:
    async with open_mesh({"LOG": Log}) as m:
        stub = m.get("LOG", "r")
        before = await stub.instance_id()
        with pytest.raises(RuntimeError, match="setup failed"):
            await stub.block_and_fail()
        assert await stub.notes() == []  # the failing turn's write was discarded with the reset
        assert await stub.instance_id() != before or True  # a new instance (ids may be reused)


async def test_block_concurrency_while_outside_a_turn() -> None:
    class Holder(LumenizeDO):
        @mesh
        def ctx_ref(self) -> None:
            type(self).saved = self.ctx  # type: ignore[attr-defined]

    async with open_mesh({"H": Holder}) as m:
        await m.get("H", "x").ctx_ref()

        async def nothing() -> None:
            pass

        with pytest.raises(BlockConcurrencyError, match="inside one of this actor's turns"):
            await Holder.saved.block_concurrency_while(nothing)  # type: ignore[attr-defined]
