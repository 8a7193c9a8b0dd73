"""``self.svc.alarms``: durable delay / datetime / cron schedules, multiplexed on the actor's one alarm.

Theory of operation
-------------------
*Rows.* Every schedule is a row of the reserved table ``__lmz_alarms`` (made on first use): its
id, its next time (epoch seconds of mesh time), its kind, the continuation's chain (cloned when it
was scheduled), and ``seq``, the order it was scheduled in, which breaks ties in time. ``seq`` only
grows while an instance lives, so a row being run is never confused with a row that replaced it.

*One native alarm.* Rule 1: whenever rows change, the actor's native alarm is set, in the same
transaction, to the earliest row's time, *including rows that are already due* (the TypeScript
original armed only future rows, so a delay of 0 waited for an unrelated wake-up), or deleted when
no row is left. Rows whose handler is running at the moment are the exception: for them the alarm
is set no later than ``now + RUNNING_RECHECK`` (30 s) instead of their (past) time, which would
wake the actor again at once, for ever, while the handler awaits a mesh call. Between two writes
the alarm may be earlier than Rule 1 says (rows removed since), never later: an early wake-up
finds nothing due and re-arms.

*Delivery.* The native alarm calls ``LumenizeDO.on_alarm``, which runs the due rows (those due
when the run began and scheduled before it), earliest ``(time, seq)`` first, each in its own
storage segment of the turn: the turn's savepoint is ended (kept) before the handler and a new one
begun, so a handler that raises rolls back only its own writes, and a handler that awaits a mesh
call works as in any turn (its writes so far are committed and other turns may run meanwhile).
The row is removed (a cron row moved to its next time after now) after the handler returns or
raises, in the handler's segment, so the removal commits together with the handler's writes: if
the process dies first, both are lost and the row runs again (at least once).

*Concurrency.* Only a mesh await inside a handler lets other turns in. Rows being run are kept in
memory (``_running``) so that another turn (another alarm run, ``trigger()``) skips them; removal
checks ``seq``, so a row cancelled or replaced by the handler itself (the retry pattern) is left
as it now is.
"""

from __future__ import annotations

import builtins
import inspect
import logging
import math
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal, cast, final

import attrs
import trio

from .. import clone
from .._exceptions import ActorResetError, ChainError, ServiceError
from ..ocan import (
    Apply,
    Continuation,
    Get,
    OperationChain,
    chain_of,
    execute,
    from_wire,
    to_wire,
    validate_chain,
)
from ..runtime._call_context import current_call_context
from ..runtime._turns import current_turn
from ..storage._limits import MAX_KEY_BYTES
from ..storage._schedules import ScheduleRow

if TYPE_CHECKING:
    from ..runtime._activation import Activation
    from ..runtime._turns import Turn
    from ..storage import ActorStorage
    from ._do import LumenizeDO

log = logging.getLogger("lumenize_trio")

ScheduleType = Literal["delayed", "scheduled", "cron"]
_TYPES: Final = ("delayed", "scheduled", "cron")

#: While a row's handler runs, the native alarm is set no later than this many seconds ahead: if
#: the process dies while the handler awaits a mesh call, the row runs again at most this late.
RUNNING_RECHECK: Final = 30.0

#: A run of many due rows lets other tasks (other actors) run after this many handlers.
_YIELD_EVERY: Final = 64

_MISSING: Final = object()


@final
@attrs.frozen
class Schedule:
    """One schedule of ``self.svc.alarms``: what runs, and when. A frozen, cloneable value.

    .. versionadded:: 0.1
    """

    id: str
    """The schedule's id (yours, or a unique one made for it)."""
    type: ScheduleType
    """``"delayed"`` (seconds from when it was scheduled), ``"scheduled"`` (a datetime) or ``"cron"``."""
    time: float
    """When it is (next) due: epoch seconds of mesh time (``self.env.clock.now()``)."""
    chain: OperationChain
    """The continuation's operation chain (run on the actor, locally, with no call context)."""
    cron: str | None = None
    """The cron expression of a ``"cron"`` schedule, else ``None``."""
    delay: float | None = None
    """The delay in seconds of a ``"delayed"`` schedule, else ``None``."""


clone.register(Schedule, name="lumenize.Schedule")


@final
class Alarms:
    """``self.svc.alarms``: durable schedules of an actor's own methods, by delay, datetime or cron.

    Built per actor instance by ``self.svc`` (actors only: a worker gets a ``ServiceError``).
    Schedules live in the actor's storage, commit with the turn that made them, survive eviction
    and restarts, and all share the actor's one native alarm, which this service owns: do not
    call ``self.ctx.storage.set_alarm`` / ``delete_alarm`` on an actor that uses it. Due schedules
    run from ``LumenizeDO.on_alarm``; an actor that overrides ``on_alarm`` must call
    ``await super().on_alarm(info)``. See ``docs/alarms.md``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_activation", "_last_seq", "_node", "_running", "_storage")

    def __init__(self, node: LumenizeDO) -> None:
        self._node = node
        self._activation: Activation = node.ctx._activation
        self._storage: ActorStorage = self._activation.storage
        self._running: set[int] = set()  # seq of the rows whose handler is running now
        self._last_seq = -1  # the highest seq this instance used or saw; -1 until first read

    # -- scheduling ----------------------------------------------------------------------------

    def schedule(
        self,
        when: float | datetime | str,
        continuation: object,
        *,
        id: str | None = None,  # noqa: A002 - the spec's name
    ) -> Schedule:
        """Run *continuation* on this actor at *when*; return the :class:`Schedule`.

        Args:
            when: seconds from now (an ``int`` or ``float`` ≥ 0), an aware :class:`datetime`
                (a past one is due at once), or a cron expression (``"*/5 * * * *"``, evaluated
                in UTC; the schedule repeats at each next match).
            continuation: ``self.ctn().method(args...)``: a call of this actor's own method (it
                need not be ``@mesh``). The arguments are cloned now, so later changes to them do
                not matter.
            id: the schedule's id; scheduling an id that exists replaces that schedule. Default:
                a new unique id.

        The schedule is written in the current turn and commits with it; the native alarm is
        moved in the same transaction. Schedules due at the same time run in the order they were
        scheduled (a replaced schedule counts as scheduled now). Not a checkpoint (synchronous).

        Raises:
            TypeError: *when* is not a number, datetime or str (``bool`` is refused), *continuation*
                is not a continuation, or *id* is not a str.
            ValueError: a negative, NaN or infinite delay, a naive datetime, an invalid cron
                expression (the message names it), or an empty or over-long *id*.
            ChainError: the continuation does not end with a call, or is malformed.
            AttributeError: the continuation names a method this actor does not have.
            DataCloneError: an argument cannot be cloned.
        """
        now = self._now()
        kind, time, cron, delay = _when(when, now)
        chain = self._check_continuation(continuation)
        data = clone.dumps(to_wire(chain))
        schedule_id = uuid.uuid4().hex if id is None else _check_id(id)
        row = ScheduleRow(self._next_seq(), schedule_id, time, kind, data, cron, delay)

        def write() -> None:
            self._storage.schedules.put(row)
            self._arm()

        self._storage.transaction_sync(write)
        return _schedule_of(row)

    def get(self, id: str) -> Schedule | None:  # noqa: A002 - the spec's name
        """The schedule *id*, or ``None`` if there is none (it ran, was cancelled, or never was).

        Raises:
            TypeError: *id* is not a str.
        """
        row = self._storage.schedules.get(_check_id(id))
        return None if row is None else _schedule_of(row)

    def list(
        self,
        *,
        type: ScheduleType | None = None,  # noqa: A002 - the spec's name
        start: float | datetime | None = None,
        end: float | datetime | None = None,
    ) -> builtins.list[Schedule]:
        """The schedules, earliest first (ties in scheduling order), optionally filtered.

        Args:
            type: only ``"delayed"``, ``"scheduled"`` or ``"cron"`` schedules.
            start: only schedules next due at or after this time (epoch seconds or an aware datetime).
            end: only schedules next due at or before this time.

        Raises:
            ValueError: an unknown *type*, a naive datetime, or a NaN bound.
            TypeError: a bound that is neither a number nor a datetime.
        """
        if type is not None and type not in _TYPES:
            raise ValueError(f"list(type=...) takes one of {', '.join(_TYPES)}, not {type!r}")
        rows = self._storage.schedules.select(kind=type, start=_bound(start, "start"), end=_bound(end, "end"))
        return [_schedule_of(row) for row in rows]

    def cancel(self, id: str) -> Schedule | None:  # noqa: A002 - the spec's name
        """Remove the schedule *id*; return it, or ``None`` if there was none.

        The native alarm moves in the same transaction. Cancelling a schedule whose handler is
        running (from the handler itself, say) does not stop the handler; it only keeps the
        schedule from running again. Not a checkpoint.

        Raises:
            TypeError: *id* is not a str.
        """
        table = self._storage.schedules
        row = table.get(_check_id(id))
        if row is None:
            return None

        def write() -> None:
            table.delete(row.seq)
            self._arm()

        self._storage.transaction_sync(write)
        return _schedule_of(row)

    # -- running -------------------------------------------------------------------------------

    async def trigger(self, count: int | None = None) -> builtins.list[Schedule]:
        """Run schedules now, as the alarm would, and return the ones that ran, in order.

        With *count*, the *count* earliest schedules run even if they are not due yet (for tests
        and tools: ``await self.svc.alarms.trigger(1)`` fires the next one). Without, every
        schedule due now runs. Schedules made while this runs wait for the next run. A handler
        that raised is in the list too (it ran; the error was logged).

        Must be awaited inside one of this actor's turns (a method, ``on_alarm``). Each handler
        runs in its own storage savepoint of that turn, so the writes the calling turn made
        before ``trigger()`` are kept even if the caller raises afterwards (as across a mesh
        await).

        Raises:
            TypeError, ValueError: *count* is not ``None`` or an int ≥ 0.
            ServiceError: not awaited inside one of this actor's turns.

        Cancellation: a checkpoint (also every 64 handlers). If cancelled, the handlers that
        ran keep their effects in the turn, which is then not committed when the mesh is
        stopping, so those schedules run again.
        """
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int):
                raise TypeError(f"trigger(count) takes an int or None, not {builtins.type(count).__name__}")
            if count < 0:
                raise ValueError(f"trigger(count) must not be negative, got {count}")
        return await self._run(count)

    async def run_due(self) -> None:
        """Run every due schedule: what ``LumenizeDO.on_alarm`` does when the native alarm fires.

        Handlers that raise are logged and removed; this raises only if storage fails (then the
        runtime retries the alarm). Cancellation: as :meth:`trigger`.

        Raises:
            ServiceError: not awaited inside one of this actor's turns.
        """
        await self._run(None)

    async def _run(self, count: int | None) -> builtins.list[Schedule]:
        activation = self._activation
        turn = current_turn.get()
        if turn is None or turn.activation is not activation or not turn.in_segment:
            raise ServiceError(
                "svc.alarms runs schedules only inside one of this actor's turns "
                "(a method, on_alarm); it was awaited outside"
            )
        await trio.lowlevel.checkpoint()
        # The caller's writes so far are kept from here on, whatever it does next (as across a
        # mesh await): each handler gets a savepoint of its own, which the turn's cannot contain.
        activation.end_segment(turn, ok=True)
        activation.begin_segment(turn)
        table = self._storage.schedules
        max_seq = self._note_seq(table.max_seq())  # rows scheduled from here on wait for the next run
        due_by = self._now() if count is None else math.inf
        self._arm()  # Rule 1 holds for every row not yet run, whatever a handler does below
        ran: builtins.list[Schedule] = []
        while count is None or len(ran) < count:
            row = next(
                (r for r in table.first(len(self._running) + 1, max_seq=max_seq, due_by=due_by) if r.seq not in self._running),
                None,
            )  # fmt: skip
            if row is None:
                break
            schedule = await self._run_one(turn, row)
            if schedule is not None:
                ran.append(schedule)
                if len(ran) % _YIELD_EVERY == 0:
                    await trio.lowlevel.checkpoint()
        self._arm()
        activation.end_segment(turn, ok=True)  # the caller goes on in a savepoint of its own
        activation.begin_segment(turn)
        return ran

    async def _run_one(self, turn: Turn, row: ScheduleRow) -> Schedule | None:
        """Run one row's handler in its own segment, then remove (or advance) the row in it."""
        activation = self._activation
        self._running.add(row.seq)
        try:
            activation.end_segment(turn, ok=True)
            activation.begin_segment(turn)  # the handler's own savepoint
            schedule: Schedule | None = None
            try:
                schedule = _schedule_of(row)
            except Exception:
                log.exception(
                    "%s: could not read the chain of schedule %r; removing it", self._where(), row.id
                )
            else:
                token = current_call_context.set(None)  # handlers run with no call context
                try:
                    await execute(self._node, schedule.chain)
                except Exception:
                    if turn.generation != activation.generation:
                        raise  # the actor was reset under the handler: nothing more may be written
                    activation.end_segment(turn, ok=False)  # roll back its writes (since its last mesh await)
                    activation.begin_segment(turn)
                    log.exception(
                        "%s: the handler of schedule %r raised; it is removed", self._where(), row.id
                    )
                finally:
                    current_call_context.reset(token)
            if turn.generation != activation.generation or not turn.in_segment:
                raise ActorResetError("the actor was reset while a scheduled handler ran")
        finally:
            self._running.discard(row.seq)
        self._finish(row)
        return schedule

    def _finish(self, row: ScheduleRow) -> None:
        """Remove a row that ran, or move a cron row to its next time after now (no catch-up)."""
        table = self._storage.schedules
        if row.cron is None:
            table.delete(row.seq)
            return
        try:
            following = _next_cron(row.cron, self._now())
        except ValueError:
            log.exception("%s: cron schedule %r has no next time; removing it", self._where(), row.id)
            table.delete(row.seq)
        else:
            table.set_time(row.seq, following)

    # -- helpers -------------------------------------------------------------------------------

    def _arm(self) -> None:
        """Set the native alarm by Rule 1 (see the module docstring)."""
        storage = self._storage
        when = storage.schedules.earliest_time(skip=self._running)
        if self._running:
            recheck = self._now() + RUNNING_RECHECK
            when = recheck if when is None else min(when, recheck)
        if when is None:
            storage.delete_alarm()
        elif storage.get_alarm() != when:
            storage.set_alarm(when)

    def _next_seq(self) -> int:
        if self._last_seq < 0:
            self._last_seq = self._storage.schedules.max_seq()
        self._last_seq += 1
        return self._last_seq

    def _note_seq(self, seq: int) -> int:
        self._last_seq = max(self._last_seq, seq)
        return seq

    def _check_continuation(self, continuation: object) -> OperationChain:
        if builtins.type(continuation) is not Continuation:
            raise TypeError(
                "schedule() takes a continuation like self.ctn().method(args), "
                f"not {builtins.type(continuation).__name__}"
            )
        chain = chain_of(continuation)
        if not chain or builtins.type(chain[-1]) is not Apply:
            raise ChainError("the continuation must end with a call, like self.ctn().remind('x')")
        validate_chain(chain)
        first = chain[0]
        if (
            builtins.type(first) is Get
            and inspect.getattr_static(self._node, first.name, _MISSING) is _MISSING
        ):
            raise AttributeError(
                f"{builtins.type(self._node).__name__} has no method {first.name!r} to schedule",
                name=first.name,
                obj=self._node,
            )
        return chain

    def _now(self) -> float:
        return self._node.env.clock.now()

    def _where(self) -> str:
        actor = self._activation.id
        return f"alarms of {actor.binding}/{actor.name or actor.hex}"

    def __repr__(self) -> str:
        return f"<svc.alarms of {self._where()[10:]}>"


def _when(when: object, now: float) -> tuple[ScheduleType, float, str | None, float | None]:
    """``(type, time, cron, delay)`` for a ``schedule()`` *when*."""
    if isinstance(when, bool):
        raise TypeError("schedule() takes seconds, an aware datetime or a cron string, not a bool")
    if isinstance(when, int | float):
        try:
            delay = float(when)
        except OverflowError:
            raise ValueError(f"schedule(): a delay of {when} seconds is too large") from None
        if math.isnan(delay) or delay < 0 or math.isinf(delay):
            raise ValueError(
                f"schedule() takes a delay in seconds that is finite and not negative, not {when!r}"
            )
        return "delayed", now + delay, None, delay
    if isinstance(when, datetime):
        if when.utcoffset() is None:
            raise ValueError(
                f"schedule() needs an aware datetime (with tzinfo), got the naive {when!r}; "
                "for example datetime.now(timezone.utc) + timedelta(minutes=5)"
            )
        return "scheduled", when.timestamp(), None, None
    if isinstance(when, str):
        return "cron", _next_cron(when, now), when, None
    raise TypeError(
        "schedule() takes seconds from now (int or float), an aware datetime or a cron string, "
        f"not {type(when).__name__}"
    )


def _next_cron(expression: str, now: float) -> float:
    """The first time after *now* that the cron *expression* matches (UTC), in epoch seconds.

    Raises:
        ValueError: the expression is invalid or never matches again (the message names it).
    """
    from croniter import croniter  # imported on first use: most programs never parse a cron

    try:
        if not croniter.is_valid(expression):
            raise ValueError("not a valid cron expression")
        following = croniter(expression, datetime.fromtimestamp(now, UTC)).get_next(datetime)
    except Exception as exc:
        raise ValueError(
            f"{expression!r} is not a usable cron expression ({exc}); expected five fields like '*/5 * * * *'"
        ) from exc
    return cast("datetime", following).timestamp()


def _check_id(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a schedule id must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError("a schedule id must not be empty")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"the schedule id {value[:60]!r} is not valid Unicode (a lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise ValueError(f"a schedule id may be at most {MAX_KEY_BYTES} UTF-8 bytes; this one is {size}")
    return value


def _bound(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"list({name}=...) needs an aware datetime, got the naive {value!r}")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"list({name}=...) takes epoch seconds or an aware datetime, not {type(value).__name__}"
        )
    if math.isnan(value):
        raise ValueError(f"list({name}=...) must not be NaN")
    return float(value)


def _schedule_of(row: ScheduleRow) -> Schedule:
    """The :class:`Schedule` of a row (its chain decoded afresh, so nobody shares it)."""
    chain = from_wire(clone.loads(row.chain))
    return Schedule(row.id, cast("ScheduleType", row.type), row.time, chain, row.cron, row.delay)
