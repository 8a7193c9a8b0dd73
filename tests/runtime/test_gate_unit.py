"""Tests for `lumenize_trio.runtime._gate`: FIFO hand-off and cancellation that never loses the token."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from lumenize_trio.runtime._gate import InputGate


async def test_events_and_resumers_share_one_fifo() -> None:
    gate: InputGate[str] = InputGate()
    assert gate.submit("first")  # free: the caller holds it for "first"
    assert not gate.submit("second")
    order: list[str] = []

    async def resumer(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await gate.acquire()
        order.append("resumer")
        assert gate.release() == "third"  # the next waiter is an event: handed to us to start

    async with trio.open_nursery() as nursery:
        await nursery.start(resumer)
        await trio.testing.wait_all_tasks_blocked()
        assert not gate.submit("third")
        assert gate.queued_events == 2
        assert gate.release() == "second"  # "second" arrived before the resumer
        order.append("second")
        assert gate.release() is None  # now the resumer's turn: it is woken, nothing to start
    assert order == ["second", "resumer"]
    assert gate.held  # still held for "third"
    assert gate.release() is None
    assert not gate.held


async def test_cancelled_waiter_gives_up_its_place() -> None:
    gate: InputGate[str] = InputGate()
    gate.submit("holder")
    with trio.move_on_after(0.01):
        await gate.acquire()
    assert not gate.has_waiters
    assert gate.release() is None
    assert not gate.held


async def test_hand_over_racing_a_cancel_keeps_the_token() -> None:
    """The token handed to a waiter in the same tick as its cancel is not lost: the waiter holds it."""
    gate: InputGate[str] = InputGate()
    gate.submit("holder")
    outcome: list[object] = []

    async def waiter(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await gate.acquire()
            outcome.append("acquired")
        outcome.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery:
        scope = await nursery.start(waiter)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()  # the waiter is rescheduled with Cancelled...
        assert gate.release() is None  # ...and handed the token before it runs
    assert outcome[0] == "acquired"
    assert gate.held
    assert not gate.has_waiters


async def test_drain_returns_only_new_events() -> None:
    gate: InputGate[str] = InputGate()
    gate.submit("running")
    gate.submit("a")
    gate.submit("b")
    assert gate.drain() == ["a", "b"]
    assert gate.queued_events == 0
