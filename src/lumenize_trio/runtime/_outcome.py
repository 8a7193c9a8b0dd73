"""Replies: how a turn's result or error travels back to the caller, always as cloned bytes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

import trio

from .. import clone
from .._exceptions import DataCloneError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

log = logging.getLogger("lumenize_trio")


@final
class Reply:
    """A one-shot slot for the outcome of a call, filled once by the runtime.

    Either a caller waits on it (:meth:`wait`), or it was made with ``on_done`` (a fire-and-forget
    call), which is called with the encoded outcome instead. ``on_done`` runs in whatever task
    fills the slot, so it must not block.
    """

    __slots__ = ("_done", "_ok", "_on_done", "_payload", "_waiter")

    def __init__(self, on_done: Callable[[bool, bytes], None] | None = None) -> None:
        self._done = False
        self._ok = False
        self._payload = b""
        self._waiter: trio.lowlevel.Task | None = None  # the caller, while it waits
        self._on_done = on_done

    def set(self, ok: bool, payload: bytes) -> None:
        """Fill the slot with an encoded outcome (see :func:`encode_outcome`). First fill wins."""
        if self._done:
            return
        self._done, self._ok, self._payload = True, ok, payload
        if self._on_done is not None:
            self._on_done(ok, payload)
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            trio.lowlevel.reschedule(waiter)

    def fail(self, error: BaseException) -> None:
        """Fill the slot with an error."""
        self.set(False, encode_error(error))

    async def wait(self) -> object:
        """Wait for the outcome: return the result, or raise the (decoded) error.

        Cancellation: a checkpoint; cancelling only stops waiting, the call itself goes on.
        """
        await self._filled()
        value = clone.loads(self._payload)
        if self._ok:
            return value
        assert isinstance(value, BaseException)
        raise value

    async def wait_encoded(self) -> tuple[bool, bytes]:
        """Wait for the outcome and return it as it was encoded: ``(ok, clone bytes of the
        result or of the error)``, for a caller that passes it on without looking inside.

        Cancellation: a checkpoint; cancelling only stops waiting, the call itself goes on.
        """
        await self._filled()
        return self._ok, self._payload

    def _filled(self) -> Coroutine[object, object, object]:
        """What to await until the slot is filled (a plain call: no coroutine frame of its own
        on every call's path). One waiter, one wake-up: lighter than an Event."""
        # Both callers await what this returns at once (ASYNC105 guards against forgetting to).
        if self._done:
            return trio.lowlevel.checkpoint()  # noqa: ASYNC105
        self._waiter = trio.lowlevel.current_task()
        return trio.lowlevel.wait_task_rescheduled(self._abort)  # noqa: ASYNC105

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED


def encode_outcome(value: object) -> tuple[bool, bytes]:
    """Clone a result now (so later changes by the actor cannot leak into it)."""
    try:
        return True, clone.dumps(value)
    except DataCloneError as exc:
        return False, encode_error(DataCloneError(f"the result cannot be returned: {exc}"))


def encode_error(error: BaseException) -> bytes:
    """Clone an exception; if it cannot be cloned, clone a RemoteError that describes it."""
    try:
        return clone.dumps(error)
    except DataCloneError as exc:
        log.debug("error %r cannot be cloned (%s); sending a description instead", error, exc)
        return clone.dumps(clone.RemoteError(f"{type(error).__name__}: {error}"))
