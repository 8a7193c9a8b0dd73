"""Tests for the runtime's one-shot wake-up (`Signal`)."""

from __future__ import annotations

import trio
import trio.testing

from lumenize_trio.runtime._signal import Signal


async def test_waiters_wake_when_set_and_later_waiters_pass() -> None:
    signal = Signal()
    woken: list[int] = []

    async def waiter(n: int) -> None:
        await signal.wait()
        woken.append(n)

    async with trio.open_nursery() as nursery:
        for n in range(3):
            nursery.start_soon(waiter, n)
        await trio.testing.wait_all_tasks_blocked()
        assert not signal.is_set()
        assert woken == []
        signal.set()
        signal.set()  # idempotent
    assert sorted(woken) == [0, 1, 2]
    assert signal.is_set()
    with trio.testing.assert_checkpoints():
        await signal.wait()  # already set: returns at once, still a checkpoint


async def test_a_cancelled_waiter_leaves_and_the_others_still_wake() -> None:
    signal = Signal()
    woken: list[str] = []

    async def waiter(name: str) -> None:
        await signal.wait()
        woken.append(name)

    scope = trio.CancelScope()

    async def cancelled() -> None:
        with scope:
            await waiter("cancelled")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter, "kept")
        nursery.start_soon(cancelled)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        signal.set()
    assert woken == ["kept"]
