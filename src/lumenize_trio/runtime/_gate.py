"""The input gate: one turn at a time per actor, in strict arrival order.

Theory of operation
-------------------
The gate is a token. A turn holds it while it runs; the token passes directly (no race, no
reordering) to the first waiter when it is released. Waiters are of two kinds, in one FIFO queue:
new events (a call, an alarm, ...) waiting to start a turn, and turns that opened the gate while
awaiting a mesh operation and now want it back. So events start in the order they arrived, and a
turn that resumes takes its place in line behind whatever arrived while it was away.

Trio's own ``Lock`` belongs to a task, but here the token is taken on behalf of an event whose
turn has not started yet, so the gate is a small structure of its own. When the token passes to a
new event, :meth:`InputGate.release` returns that event: the task that released the token either
runs it itself (a turn ending: no new task needed) or starts a task for it (a turn pausing at a
mesh await).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar, final

import trio

E = TypeVar("E")


@final
class _Resumer:
    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = trio.Event()


@final
class InputGate(Generic[E]):
    """A FIFO token with direct hand-off, shared by new events and resuming turns."""

    __slots__ = ("_waiters", "held", "queued_events")

    def __init__(self) -> None:
        self.held = False
        self._waiters: deque[_Resumer | E] = deque()
        self.queued_events = 0  # new events among the waiters (the bounded part of the queue)

    @property
    def has_waiters(self) -> bool:
        return bool(self._waiters)

    def submit(self, event: E) -> bool:
        """Queue *event*; True if the gate was free and the caller now holds it for *event*.

        Not a checkpoint.
        """
        if not self.held:
            self.held = True
            return True
        self.queued_events += 1
        self._waiters.append(event)
        return False

    async def acquire(self) -> None:
        """Take the token back (a turn resuming after a mesh await). FIFO; a checkpoint.

        Cancellation: if cancelled while waiting, the place in line is given up and
        ``trio.Cancelled`` propagates: the caller does not hold the gate. If the token was handed
        over just as the cancel arrived, the hand-over wins: this returns normally, holding the
        gate, and the cancel is delivered at the caller's next checkpoint. Either way the token
        is never lost.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self.held and not self._waiters:
            # As trio.Lock does: take it, then yield without letting a cancel undo the taking.
            self.held = True
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        waiter = _Resumer()
        self._waiters.append(waiter)
        try:
            await waiter.event.wait()
        except trio.Cancelled:
            if waiter.event.is_set():
                return  # handed over as the cancel arrived: we hold the gate (see above)
            self._waiters.remove(waiter)
            raise

    def release(self) -> E | None:
        """Pass the token on. Not a checkpoint.

        Returns the new event now holding the token, which the caller must run (or start a task
        for); ``None`` if the token went to a resuming turn or the gate is free.
        """
        if not self._waiters:
            self.held = False
            return None
        waiter = self._waiters.popleft()
        if isinstance(waiter, _Resumer):
            waiter.event.set()
            return None
        self.queued_events -= 1
        return waiter

    def drain(self) -> list[E]:
        """Remove and return the new events still waiting (resuming turns stay queued)."""
        events = [w for w in self._waiters if not isinstance(w, _Resumer)]
        self._waiters = deque(w for w in self._waiters if isinstance(w, _Resumer))
        self.queued_events = 0
        return events
