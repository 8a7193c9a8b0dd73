"""Tests for the output gate, atomic turns and group commit."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import trio
import trio.testing

from lumenize_trio import ActorResetError, LumenizeDO, mesh, open_mesh

from .actors import Counter


class Pair(LumenizeDO):
    """Writes two keys per turn; they must always be seen together."""

    @mesh
    def write_pair(self, i: int) -> int:
        self.ctx.storage.kv.put(f"a{i}", i)
        self.ctx.storage.kv.put(f"b{i}", i)
        return i

    @mesh
    def write_then_fail(self, i: int) -> None:
        self.ctx.storage.kv.put(f"a{i}", i)
        raise ValueError("after one write")

    @mesh
    def keys(self) -> list[str]:
        return list(self.ctx.storage.kv.list())


async def test_failed_commit_fails_the_caller_stores_nothing_and_restarts_clean() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "c")
        assert await stub.increment() == 1
        await stub.remember("in memory")
        before = Counter.instances
        m.fail_next_commit(stub, OSError("disk on fire"))
        with pytest.raises(ActorResetError, match="could not be committed") as info:
            await stub.increment()
        assert isinstance(info.value.__cause__, Exception)
        assert await stub.count() == 1  # the failed write is gone
        assert await stub.recall() == []  # in-memory state is gone: a fresh instance
        assert Counter.instances == before + 1


async def test_failed_commit_fails_every_held_reply_of_the_batch(autojump_clock: Any) -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "c")
        outcomes: list[object] = []

        async def one() -> None:
            try:
                outcomes.append(await stub.increment())
            except ActorResetError as exc:
                outcomes.append(exc)

        m.fail_next_commit(stub, OSError("disk on fire"))
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(one)
        failed = [o for o in outcomes if isinstance(o, ActorResetError)]
        assert failed, "the failed commit must fail the replies it held"
        succeeded = [o for o in outcomes if isinstance(o, int)]
        assert await stub.count() == len(succeeded)  # every acknowledged increment is stored
        assert sorted(succeeded) == list(range(1, len(succeeded) + 1))


async def test_a_raising_turn_rolls_back_only_its_own_writes() -> None:
    async with open_mesh({"PAIR": Pair}) as m:
        stub = m.get("PAIR", "p")
        await stub.write_pair(1)
        with pytest.raises(ValueError, match="after one write"):
            await stub.write_then_fail(2)
        await stub.write_pair(3)
        assert await stub.keys() == ["a1", "a3", "b1", "b3"]


async def test_group_commit_shares_commits_between_concurrent_turns() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "c")
        before = m.statistics().commits
        async with trio.open_nursery() as nursery:
            for _ in range(100):
                nursery.start_soon(_increment, stub)
        assert await stub.count() == 100
        commits = m.statistics().commits - before
        assert commits < 50, f"100 concurrent increments took {commits} commits"


async def _increment(stub: Any) -> None:
    await stub.increment()


class Relay(LumenizeDO):
    """Writes, then calls out: the write must be durable before the call leaves."""

    @mesh
    async def write_then_call(self) -> int:
        self.ctx.storage.kv.put("before-call", True)
        return await self.env.get("COUNTER", "target").increment()

    @mesh
    def wrote(self) -> bool:
        return self.ctx.storage.kv.get("before-call", False)


async def test_outbound_call_waits_for_prior_writes() -> None:
    async with open_mesh({"RELAY": Relay, "COUNTER": Counter}) as m:
        relay = m.get("RELAY", "r")
        m.fail_next_commit(relay, OSError("no"))
        with pytest.raises(ActorResetError):
            await relay.write_then_call()
        assert await m.get("COUNTER", "target").count() == 0  # the call never left
        assert await relay.wrote() is False
        assert await relay.write_then_call() == 1
        assert await relay.wrote() is True


class Waiter(LumenizeDO):
    """Awaits a slow call (gate open) while another turn of the same actor runs."""

    @mesh
    async def wait_on_slow(self) -> str:
        self.ctx.storage.kv.put("before", True)
        await self.env.get("SLOW", "s").hold(10)
        return "resumed"

    @mesh
    def write(self) -> None:
        self.ctx.storage.kv.put("x", 1)


class SlowTarget(LumenizeDO):
    @mesh
    async def hold(self, seconds: float) -> None:
        await trio.sleep(seconds)


async def test_a_reset_fails_the_turns_waiting_to_resume(autojump_clock: Any) -> None:
    async with open_mesh({"W": Waiter, "SLOW": SlowTarget}) as m:
        waiter = m.get("W", "w")
        outcome: list[object] = []

        async def first(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            try:
                outcome.append(await waiter.wait_on_slow())
            except ActorResetError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            await nursery.start(first)
            await trio.sleep(1)  # the first turn is awaiting the slow call, its gate open
            m.fail_next_commit(waiter, OSError("disk on fire"))
            with pytest.raises(ActorResetError):
                await waiter.write()  # this commit fails: the actor is reset
        assert len(outcome) == 1
        assert isinstance(outcome[0], ActorResetError)


async def test_leaving_the_mesh_with_turns_in_flight_does_not_hang(autojump_clock: Any) -> None:
    with trio.fail_after(60):
        async with open_mesh({"W": Waiter, "SLOW": SlowTarget}) as m:
            waiter = m.get("W", "w")

            async def call(fn: str) -> None:
                with contextlib.suppress(ActorResetError, trio.ClosedResourceError):
                    await getattr(waiter, fn)()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, "wait_on_slow")
                await trio.sleep(1)
                for _ in range(3):
                    nursery.start_soon(call, "write")
                await trio.sleep(0.5)
                nursery.cancel_scope.cancel()


class Sleepy(LumenizeDO):
    """A quick writer, and turns that hold the gate across a non-mesh await."""

    @mesh
    def write(self, key: str) -> str:
        self.ctx.storage.kv.put(key, True)
        return key

    @mesh
    async def sleep_then_write(self, key: str, delay: float) -> str:
        await trio.sleep(delay)  # not a mesh await: the gate stays shut
        self.ctx.storage.kv.put(key, True)
        return key

    @mesh
    async def write_then_sleep(self, key: str, delay: float) -> str:
        self.ctx.storage.kv.put(key, True)
        await trio.sleep(delay)
        return key

    @mesh
    def keys(self) -> list[str]:
        return sorted(self.ctx.storage.kv.list())


async def _race(stub: Any, first: Any, second: Any) -> dict[str, object]:
    """Queue *first* then *second* behind a turn that holds the gate for 1 s, so that the first's
    commit is deferred for the second; their outcomes and reply times."""
    outcomes: dict[str, object] = {}

    async def run(name: str, call: Any) -> None:
        try:
            outcomes[name] = (await call, trio.current_time())
        except Exception as exc:
            outcomes[name] = (exc, trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "blocker", stub.sleep_then_write("z", 1))
        await trio.testing.wait_all_tasks_blocked()  # each call is queued before the next is made
        nursery.start_soon(run, "first", first)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(run, "second", second)
    return outcomes


async def test_a_deferred_commit_does_not_wait_for_a_sleeping_turn_that_has_not_written(
    autojump_clock: Any,
) -> None:
    async with open_mesh({"S": Sleepy}) as m:
        stub = m.get("S", "s")
        await stub.keys()
        start = trio.current_time()
        outcomes = await _race(stub, stub.write("a"), stub.sleep_then_write("b", 100))
        assert outcomes["blocker"] == ("z", start + 1)
        assert outcomes["first"] == ("a", start + 1)  # committed while the second turn slept
        assert outcomes["second"] == ("b", start + 101)
        assert await stub.keys() == ["a", "b", "z"]


async def test_a_deferred_commit_waits_for_a_turn_that_wrote_before_sleeping(autojump_clock: Any) -> None:
    async with open_mesh({"S": Sleepy}) as m:
        stub = m.get("S", "s")
        await stub.keys()
        start = trio.current_time()
        outcomes = await _race(stub, stub.write("a"), stub.write_then_sleep("b", 100))
        # The second turn's write shares the transaction: every reply waits for its end.
        assert outcomes["blocker"] == ("z", start + 101)
        assert outcomes["first"] == ("a", start + 101)
        assert outcomes["second"] == ("b", start + 101)


async def test_a_failed_early_commit_resets_the_actor_under_the_sleeping_turn(autojump_clock: Any) -> None:
    async with open_mesh({"S": Sleepy}) as m:
        stub = m.get("S", "s")
        await stub.keys()
        m.fail_next_commit(stub, OSError("disk full"))
        outcomes = await _race(stub, stub.write("a"), stub.sleep_then_write("b", 100))
        for name in ("blocker", "first", "second"):
            error, _ = outcomes[name]  # type: ignore[misc]
            # The early commit failed; the second turn outlived the reset: its reply is dropped.
            assert isinstance(error, ActorResetError), name
        assert await stub.keys() == []  # no write was committed
        assert await stub.write("c") == "c"
        assert await stub.keys() == ["c"]
