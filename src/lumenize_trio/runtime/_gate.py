"""The input gate: one turn at a time per actor, in strict arrival order.

Theory of operation
-------------------
The gate is a token. A turn holds it while it runs; the token passes directly (no race, no
reordering) to the first waiter when it is released. Waiters are of two kinds, in one FIFO queue:
new events (a call, an alarm, ...) waiting to start a turn, and turns that opened the gate while
awaiting a mesh operation and now want it back. So events start in the order they arrived, and a
turn that resumes takes its place in line behind whatever arrived while it was away.

Trio's own ``Lock`` belongs to a task, but here the token is taken on behalf of a task that does
not exist yet (the turn is spawned holding it), so the gate is a small structure of its own.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from collections.abc import Callable


@final
class _Resumer:
    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = trio.Event()


@final
class InputGate:
    """A FIFO token with direct hand-off, shared by new events and resuming turns."""

    __slots__ = ("_waiters", "held", "queued_events")

    def __init__(self) -> None:
        self.held = False
        self._waiters: deque[_Resumer | Callable[[], None]] = deque()
        self.queued_events = 0  # new events among the waiters (the bounded part of the queue)

    @property
    def has_waiters(self) -> bool:
        return bool(self._waiters)

    def submit(self, start: Callable[[], None]) -> None:
        """Run *start* holding the token: now if the gate is free, else when its turn comes.

        *start* must not block; it typically spawns the turn's task, which releases the token
        when done. Not a checkpoint.
        """
        if not self.held:
            self.held = True
            start()
        else:
            self.queued_events += 1
            self._waiters.append(start)

    async def acquire(self) -> None:
        """Take the token back (a turn resuming after a mesh await). FIFO; a checkpoint.

        Cancellation: if cancelled while waiting, the place in line is given up; if the token
        had already been handed over, it is passed on, so it is never lost.
        """
        if not self.held and not self._waiters:
            self.held = True
            await trio.lowlevel.checkpoint()
            return
        waiter = _Resumer()
        self._waiters.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.event.is_set():
                self.release()  # we were handed the token as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Pass the token to the first waiter, or free the gate. Not a checkpoint."""
        if not self._waiters:
            self.held = False
            return
        waiter = self._waiters.popleft()
        if isinstance(waiter, _Resumer):
            waiter.event.set()
        else:
            self.queued_events -= 1
            waiter()

    def drain(self) -> list[Callable[[], None]]:
        """Remove and return the new events still waiting (resuming turns stay queued)."""
        events = [w for w in self._waiters if not isinstance(w, _Resumer)]
        self._waiters = deque(w for w in self._waiters if isinstance(w, _Resumer))
        self.queued_events = 0
        return events
