"""A one-shot wake-up for tasks: what ``trio.Event`` does, for objects made once per call.

``trio.Event`` keeps its waiters in a parking lot (an ordered dict, statistics, breaking on task
exit), which costs several microseconds to make, wait on and set. The runtime and the RPC client
make one per call (a parked runner, a call's result, the client's flusher), so they use this:
a flag and a list of waiting tasks.
"""

from __future__ import annotations

from typing import final

import trio


@final
class Signal:
    """Set once; every task waiting on it (and every later waiter) goes on.

    Not thread-safe; use it from tasks of one Trio run.
    """

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[trio.lowlevel.Task] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        """Wake every waiting task (idempotent). Not a checkpoint."""
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        if waiters is not None:
            for task in waiters:
                trio.lowlevel.reschedule(task)

    async def wait(self) -> None:
        """Return once the signal is set.

        Cancellation: a checkpoint; cancelling stops only this waiter.
        """
        if self._set:
            await trio.lowlevel.checkpoint()
            return
        task = trio.lowlevel.current_task()
        if self._waiters is None:
            self._waiters = [task]
        else:
            self._waiters.append(task)

        def abort(_: object) -> trio.lowlevel.Abort:
            assert self._waiters is not None  # set() reschedules instead of aborting
            self._waiters.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
