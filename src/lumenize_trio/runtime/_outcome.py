"""Replies: how a turn's result or error travels back to the caller, always as cloned bytes."""

from __future__ import annotations

import logging
from typing import final

import trio

from .. import clone
from .._exceptions import DataCloneError

log = logging.getLogger("lumenize_trio")


@final
class Reply:
    """A one-shot slot for the outcome of a call. The caller waits on it; the runtime fills it once."""

    __slots__ = ("_event", "_ok", "_payload")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._ok = False
        self._payload = b""

    def set(self, ok: bool, payload: bytes) -> None:
        """Fill the slot with an encoded outcome (see :func:`encode_outcome`). First fill wins."""
        if self._event.is_set():
            return
        self._ok, self._payload = ok, payload
        self._event.set()

    def fail(self, error: BaseException) -> None:
        """Fill the slot with an error."""
        self.set(False, encode_error(error))

    async def wait(self) -> object:
        """Wait for the outcome: return the result, or raise the (decoded) error.

        Cancellation: a checkpoint; cancelling only stops waiting, the call itself goes on.
        """
        await self._event.wait()
        value = clone.loads(self._payload)
        if self._ok:
            return value
        assert isinstance(value, BaseException)
        raise value


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
