"""Running a received batch: calls in order, pipelined references resolved, failures propagated.

Theory of operation
-------------------
References only ever point to earlier calls (the server connection refuses anything else), so
the batch order is a valid order: :class:`BatchPlan` hands the calls out one at a time, in batch
order, each with its ``CallRef`` markers already replaced by ``Verbatim`` copies of the results
they name. A call that was refused, or that references a call that failed, is never handed out:
it is answered with that same exception and the plan
moves on. The plan never awaits and never runs anything itself, so the same object drives an
async server loop (``await execute(...)`` between ``next_call`` and ``succeed``/``fail``) and a
synchronous one (:func:`run_batch`).

Results that a later call references are snapshotted with the clone when they are recorded, and
each use gets its own decoded copy: a call never receives an object another call (or the actor)
still holds, as at every actor boundary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import attrs

from .. import clone
from .._exceptions import DataCloneError
from ._events import Call, CallError, CallResult, EncodedOutcome
from ._refs import substitute

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..ocan import OperationChain
    from ._events import Outcome


@final
@attrs.frozen
class ReadyCall:
    """A call of a batch that may run now.

    Attributes:
        call_id: the call's id.
        chain: the chain to execute, with every ``CallRef`` replaced by a ``Verbatim`` copy of the
            referenced result (the original chain when it referenced nothing).

    .. versionadded:: 0.1
    """

    call_id: int
    chain: OperationChain


@final
class BatchPlan:
    """The calls of one batch, handed out in order, and their outcomes.

    Made by :func:`plan_batch`. Use::

        plan = plan_batch(event.calls)
        while (ready := plan.next_call()) is not None:
            try:
                value = await execute(actor, ready.chain, check_access=...)
            except Exception as exc:
                plan.fail(ready.call_id, exc)
            else:
                plan.succeed(ready.call_id, value)
        data = server.send_results(plan.outcomes())

    .. versionadded:: 0.1
    """

    __slots__ = ("_calls", "_errors", "_next", "_outcomes", "_ready", "_referenced", "_snapshots")

    def __init__(self, calls: Iterable[Call]) -> None:
        self._calls = list(calls)
        self._next = 0
        self._ready: int | None = None  # the id handed out and not yet recorded
        self._outcomes: list[Outcome] = []
        self._errors: dict[int, BaseException] = {}
        self._snapshots: dict[int, bytes] = {}
        self._referenced = {ref for call in self._calls for ref in call.refs}
        ids = [call.call_id for call in self._calls]
        if len(set(ids)) != len(ids):
            raise ValueError("a batch's call ids must be unique")
        for index, call in enumerate(self._calls):
            if not set(call.refs) <= set(ids[:index]):
                raise ValueError(f"call {call.call_id} references a call that is not earlier in the batch")

    def next_call(self) -> ReadyCall | None:
        """The next call to run, or ``None`` when every call has an outcome.

        Refused calls and calls whose referenced calls failed are answered on the way (with the
        refusal, or the referenced call's error) and skipped.

        Raises:
            RuntimeError: the call handed out last has no outcome yet.
        """
        if self._ready is not None:
            raise RuntimeError(
                f"call {self._ready} was handed out and has no outcome yet: succeed() or fail() it"
            )
        while self._next < len(self._calls):
            call = self._calls[self._next]
            self._next += 1
            error = call.refused
            if error is None:
                error = next((self._errors[ref] for ref in call.refs if ref in self._errors), None)
            if error is not None:
                self._record(CallError(call.call_id, error))
                continue
            self._ready = call.call_id
            if not call.refs:
                return ReadyCall(call.call_id, call.chain)
            return ReadyCall(call.call_id, substitute(call.chain, self._copy))
        return None

    def _copy(self, call_id: int) -> object:
        return clone.loads(self._snapshots[call_id])

    def succeed(self, call_id: int, value: object) -> None:
        """Record that the call handed out last returned *value*.

        If a later call references it and *value* cannot be cloned, the call fails instead with
        the ``DataCloneError`` (and so do the calls referencing it).

        Raises:
            RuntimeError: *call_id* is not the call handed out last.
        """
        self._take(call_id)
        if call_id in self._referenced:
            try:
                self._snapshots[call_id] = clone.dumps(value)
            except DataCloneError as exc:
                self._record(CallError(call_id, exc))
                return
        self._record(CallResult(call_id, value))

    def settle_encoded(self, call_id: int, ok: bool, data: bytes) -> None:
        """Record the outcome of the call handed out last as it arrived encoded: *data* is
        ``clone.dumps`` of its value (*ok*) or of its exception. It is answered with those bytes
        as they are (an :class:`EncodedOutcome`), and decoded only for a later call that
        references it.

        Raises:
            TypeError: *ok* is not a bool or *data* not bytes.
            DataCloneError, ValueError: a failure a later call references does not decode to an
                exception (nothing is recorded).
            RuntimeError: *call_id* is not the call handed out last.
        """
        if type(ok) is not bool or type(data) is not bytes:
            raise TypeError(
                f"settle_encoded takes a bool and bytes, got {type(ok).__name__} and {type(data).__name__}"
            )
        referenced = call_id in self._referenced
        error = clone.loads(data) if referenced and not ok else None
        if referenced and not ok and not isinstance(error, BaseException):
            raise ValueError(f"the encoded failure of call {call_id} is not an exception: {error!r:.60}")
        self._take(call_id)
        if isinstance(error, BaseException):
            self._errors[call_id] = error
        elif referenced:
            self._snapshots[call_id] = data
        self._outcomes.append(EncodedOutcome(call_id, ok, data))

    def fail(self, call_id: int, error: BaseException) -> None:
        """Record that the call handed out last raised *error*.

        Raises:
            RuntimeError: *call_id* is not the call handed out last.
        """
        self._take(call_id)
        self._record(CallError(call_id, error))

    def _take(self, call_id: int) -> None:
        if self._ready is None or call_id != self._ready:
            raise RuntimeError(f"call {call_id} is not the call handed out last ({self._ready})")
        self._ready = None

    def _record(self, outcome: CallResult | CallError) -> None:
        if type(outcome) is CallError:
            self._errors[outcome.call_id] = outcome.error
        self._outcomes.append(outcome)

    @property
    def done(self) -> bool:
        """Whether every call of the batch has an outcome."""
        return len(self._outcomes) == len(self._calls)

    def outcomes(self) -> list[Outcome]:
        """The outcomes recorded so far, in batch order (all of them once :attr:`done`)."""
        return list(self._outcomes)


def plan_batch(calls: Iterable[Call]) -> BatchPlan:
    """A :class:`BatchPlan` for *calls* (``BatchReceived.calls``): the calls in dependency order.

    Raises:
        ValueError: the ids repeat, or a call references one that is not earlier (never the case
            for calls from :meth:`RpcServerConnection.receive_data`).

    .. versionadded:: 0.1
    """
    return BatchPlan(calls)


def run_batch(calls: Iterable[Call], execute: Callable[[OperationChain], object]) -> list[Outcome]:
    """Run *calls* in order with a synchronous *execute* and return their outcomes, in order.

    *execute(chain)* returns the call's value or raises an ``Exception`` (its error; anything not
    an ``Exception``, like ``KeyboardInterrupt``, propagates and the batch stops there). For an
    async executor, drive :func:`plan_batch` yourself.

    .. versionadded:: 0.1
    """
    plan = BatchPlan(calls)
    while (ready := plan.next_call()) is not None:
        try:
            value = execute(ready.chain)
        except Exception as exc:
            plan.fail(ready.call_id, exc)
        else:
            plan.succeed(ready.call_id, value)
    return plan.outcomes()
