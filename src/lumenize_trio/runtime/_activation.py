"""One actor in memory: its instance, its storage, its gate, and the turns it runs.

Theory of operation
-------------------
*Turns.* Every event (a call, an alarm) becomes a turn: a task in the mesh's nursery that holds
the actor's :class:`InputGate` while it runs. Storage is synchronous, so a read-modify-write in a
turn cannot be interleaved. A turn gives the gate up only while it awaits a mesh operation (an
outbound call), and only if it is not inside ``block_concurrency_while``; it then waits its turn
to take it back.

*Savepoints.* Each stretch of a turn between gate hand-offs runs in a storage savepoint
(``begin_turn``/``end_turn``): a turn that raises rolls back its own writes and no one else's.

*Output gate and group commit.* Writes are committed by :meth:`Activation.commit`. Until a write
is durable, every output produced after it (replies, outbound calls) is held. When a turn ends
and more turns are already waiting for the gate, the commit is deferred so that they share it;
the last turn of a burst commits, and the held outputs are released together. An outbound call
commits first (its message must not leave before the writes that precede it). A failed commit
drops every held output (their callers get :class:`ActorResetError`) and resets the actor: the
instance is discarded and the next event re-creates it from storage.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Protocol, final

import trio

from .._exceptions import ActorResetError, OverloadedError, StorageCommitError
from ._call_context import current_call_context
from ._gate import InputGate
from ._identity import INSTANCE_KEY, check_identity, write_identity
from ._signal import Signal
from ._turns import Turn, current_turn

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..storage import ActorStorage
    from ._ids import ActorId
    from ._mesh import Mesh

log = logging.getLogger("lumenize_trio")

#: At most this many turns share one deferred commit.
MAX_BATCH = 256


class Output(Protocol):
    """An output held by the output gate: released with ``()``, or replaced by an error."""

    def __call__(self) -> None: ...

    def fail(self, error: BaseException) -> None: ...


class Event:
    """Something for an actor to handle in a turn (a call, an alarm)."""

    __slots__ = ()

    async def run(self, activation: Activation, turn: Turn) -> None:
        raise NotImplementedError

    def fail(self, error: BaseException) -> None:
        """The event will not run (overload, reset, shutdown, failed start): say so to its sender."""
        raise NotImplementedError


@final
class _Park:
    """Where an idle runner waits: ``wake`` is set with ``next`` holding its event (or None)."""

    __slots__ = ("next", "wake")

    def __init__(self) -> None:
        self.wake = Signal()
        self.next: Event | None = None


@final
class Activation:
    """An actor in memory. Made by the mesh on the first event, dropped on eviction."""

    __slots__ = (
        "_held",
        "_parked",
        "_unstamped",
        "batch",
        "closed",
        "gate",
        "generation",
        "id",
        "instance",
        "instance_name",
        "last_used",
        "mesh",
        "running",
        "start_error",
        "storage",
    )

    def __init__(self, mesh: Mesh, actor_id: ActorId, storage: ActorStorage) -> None:
        self.mesh = mesh
        self.id = actor_id
        self.storage = storage
        self.gate: InputGate[Event] = InputGate()
        self.instance: object | None = None
        self.instance_name: str | None = actor_id.name  # the stored name once started
        self._unstamped: list[tuple[str, str]] = []  # identity to store with the next commit
        self.start_error: BaseException | None = None
        self.generation = 0  # bumped on every reset; turns of an older generation are stale
        self.running = 0  # turns started and not finished (including those awaiting a mesh call)
        self._parked: _Park | None = None  # the runner waiting for this actor's next event
        self._held: list[Output] = []  # outputs waiting for the next commit
        self.batch = 0  # turns since the last commit
        self.closed = False
        self.last_used = trio.current_time()

    # -- events ------------------------------------------------------------------------------

    def submit(self, event: Event) -> None:
        """Queue *event*; it runs as a turn when the gate reaches it. Not a checkpoint.

        Raises:
            OverloadedError: the actor already has ``max_queue`` events waiting.
        """
        if self.gate.queued_events >= self.mesh.max_queue:
            raise OverloadedError(
                f"actor {self.id.binding}/{self.id.name or self.id.hex} has {self.gate.queued_events} events "
                f"queued (max_queue={self.mesh.max_queue}); not retrying is the right response"
            )
        self.last_used = trio.current_time()
        if self.gate.submit(event):
            self._start_runner(event)

    def _start_runner(self, event: Event) -> None:
        """Run *event* (the gate is held for it) in the parked runner, or in a new task."""
        park = self._parked
        if park is not None:
            self._parked = None
            park.next = event
            park.wake.set()
        else:
            self.mesh.spawn(self._run, event)

    @property
    def idle(self) -> bool:
        return not self.gate.held and not self.gate.has_waiters and self.running == 0 and not self._held

    async def _run(self, event: Event) -> None:
        """A task that runs turns while the gate passes to new events: one task per burst.

        Holds the gate on entry. After each turn the gate goes to the next waiter; if that is a
        new event, this task runs it too (no task is spawned per turn); if it is a turn resuming
        after a mesh await, or nobody, this task ends.
        """
        # A task inherits the context variables of whoever spawned it (a turn of another actor,
        # perhaps): this runner starts outside any turn and any call context.
        current_turn.set(None)
        current_call_context.set(None)
        next_event: Event | None = event
        holding = True
        try:
            while next_event is not None:
                await self._turn(next_event)
                next_event = self.gate.release()
                if next_event is None:
                    # The last turn of the burst has ended (with no checkpoint since: the same
                    # time as stamping every turn's end, which only this one would keep).
                    self.last_used = trio.current_time()
                if next_event is None and not self.gate.held and self._parked is None and not self.closed:
                    # Idle: park, so the next event starts without spawning a task.
                    holding = False
                    park = self._parked = _Park()
                    try:
                        await park.wake.wait()
                    except BaseException:
                        if park.next is not None:
                            # Handed an event (and the gate) just as we were cancelled.
                            holding = True
                            park.next.fail(trio.ClosedResourceError("the mesh closed before the event ran"))
                        elif self._parked is park:
                            self._parked = None
                        raise
                    next_event = park.next  # None: the actor was closed
                    holding = next_event is not None
        except BaseException:
            # Cancelled (the mesh is stopping) or a bug: never keep the gate, or the turns
            # waiting to resume would wait for ever.
            if holding:
                waiting = self.gate.release()
                if waiting is not None:
                    self._start_runner(waiting)
            raise

    async def _turn(self, event: Event) -> None:
        """One turn. Holds the gate on entry and on exit (the caller passes it on)."""
        turn = Turn(self)
        token = current_turn.set(turn)
        self.running += 1
        self.mesh.counted_turn()
        try:
            if self.closed:
                event.fail(ActorResetError(f"actor {self.id.binding} was evicted before the event ran"))
                return
            if self.instance is None and not await self._start(turn):
                assert self.start_error is not None
                event.fail(self.start_error)
                return
            if self.start_error is not None:
                event.fail(self.start_error)
                return
            await event.run(self, turn)
        finally:
            current_turn.reset(token)
            self.running -= 1
            self._end_turn(turn)

    async def _start(self, turn: Turn) -> bool:
        """Construct the instance, stamp its identity and run ``on_start`` (gate held throughout).

        Returns False if any of it failed (``start_error`` says why).
        """
        mesh = self.mesh
        self.start_error = None
        try:
            self.instance = mesh.construct(self)
            turn.block_depth += 1  # as if under block_concurrency_while
            try:
                await self.run_segment(turn, self._stamp_and_start)
            finally:
                turn.block_depth -= 1
        except Exception as exc:
            log.error("actor %s/%s failed to start: %r", self.id.binding, self.id.name or self.id.hex, exc)
            self.start_error = exc
            return False
        return True

    def _stamp_and_start(self) -> object:
        self.instance_name, self._unstamped = check_identity(
            self.storage, self.id.binding, self.instance_name
        )
        on_start = getattr(self.instance, "on_start", None)
        return None if on_start is None else on_start()

    async def run_segment(self, turn: Turn, fn: Callable[..., object], *args: object) -> object:
        """Call a handler inside the turn's storage savepoint; its writes roll back if it raises.

        Awaits the result if it is awaitable. The savepoint may be split by mesh awaits inside
        (each stretch commits before the gate opens).
        """
        self.begin_segment(turn)
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
        except BaseException:
            self.end_segment(turn, ok=False)
            raise
        self.end_segment(turn, ok=True)
        return result

    def begin_segment(self, turn: Turn) -> None:
        if turn.generation != self.generation:
            raise ActorResetError("the actor was reset while this turn was waiting")
        self.storage.begin_turn()
        turn.in_segment = True

    def end_segment(self, turn: Turn, *, ok: bool) -> None:
        if turn.in_segment:
            turn.in_segment = False
            if turn.generation == self.generation:
                self.storage.end_turn(ok)
            elif self.storage.has_uncommitted_writes:
                # The actor was reset under this suspended turn (a flush failed): it held the gate
                # since, so whatever is uncommitted is its own, and must not be committed.
                self.storage.rollback()

    # -- outputs and commits ----------------------------------------------------------------

    def output(self, deliver: Output) -> None:
        """Release an output now, or hold it until the writes before it are durable.

        An output of a turn that outlived a reset of its actor is failed instead.
        """
        turn = current_turn.get()
        if turn is not None and turn.generation != self.generation and turn.activation is self:
            deliver.fail(ActorResetError("the actor was reset while this turn ran; its outputs are dropped"))
            return
        if self.storage.has_uncommitted_writes:
            self._held.append(deliver)
        else:
            deliver()

    def learn_name(self, name: str) -> None:
        """The actor, known only by id so far, was reached by *name*: keep it (stored with the
        next commit)."""
        self.instance_name = name
        self._unstamped.append((INSTANCE_KEY, name))

    def before_commit(self) -> None:
        """Inside a commit with writes, before ``COMMIT``: add the identity not stored yet."""
        if self._unstamped and self.instance is not None:
            write_identity(self.storage, self._unstamped)
            self._unstamped = []

    def commit(self) -> bool:
        """Commit pending writes and release held outputs. False (and the actor reset) on failure."""
        self.batch = 0
        if self.storage.has_uncommitted_writes:
            self.mesh.counted_commit()
            try:
                self.storage.commit()
            except StorageCommitError as exc:
                log.error("actor %s/%s: commit failed, resetting: %r", self.id.binding, self.id.hex[:12], exc)
                held, self._held = self._held, []
                self.reset()
                error = ActorResetError(f"the actor's writes could not be committed ({exc}); it was reset")
                error.__cause__ = exc
                for deliver in held:
                    deliver.fail(error)
                return False
            self.mesh.alarms.committed(self)
        held, self._held = self._held, []
        for deliver in held:
            deliver()
        return True

    def _end_turn(self, turn: Turn) -> None:
        """After a turn: commit now, or defer to share the commit with the turns waiting.

        Once the mesh is stopping nothing more is committed: what is pending is rolled back when
        the databases close, and its callers have been told the mesh closed.
        """
        if self.mesh.stopping:
            return
        if turn.reset_after and turn.generation == self.generation:
            held, self._held = self._held, []
            self.reset()
            for deliver in held:
                deliver.fail(ActorResetError("the actor was reset (block_concurrency_while raised)"))
        self.batch += 1
        if not (self.gate.has_waiters and self.batch < MAX_BATCH):
            self.commit()
        elif self._held or self.storage.has_uncommitted_writes:
            self.mesh.defer_commit(self)

    def flush(self) -> None:
        """Commit what finished turns left for a deferred commit, if the gate holder allows it.

        Called by the mesh while every other task, the gate holder included, is suspended. A
        deferred commit waits for the turns queued behind it; if one of those is suspended on
        something that is not a mesh await (``trio.sleep``, I/O) before writing anything, the
        replies of the turns before it would wait with it. With nothing of the holder's own in
        the transaction, committing now is exactly the commit that was deferred.
        """
        storage = self.storage
        if self.closed or self.mesh.stopping or not (self._held or storage.has_uncommitted_writes):
            return
        if storage.turn_has_writes:
            return  # the holder's writes share the transaction: the commit waits for its end
        reopen = storage.turn_open
        if reopen:
            storage.end_turn(True)  # nothing in it
        if self.commit() and reopen:
            storage.begin_turn()

    def reset(self) -> None:
        """Discard the instance (not storage): the next event constructs it again."""
        self.generation += 1
        self.instance = None
        self.start_error = None
        try:
            self.storage.rollback()
        except Exception:  # pragma: no cover - rollback after a failed commit is best effort
            log.exception("rollback after reset failed")
        self.mesh.alarms.reset(self)

    # -- mesh awaits ---------------------------------------------------------------------------

    def open_gate(self, turn: Turn) -> bool:
        """Before a mesh await: make prior writes durable, then let other turns in.

        Returns whether the gate was released (not under ``block_concurrency_while``).

        Raises:
            ActorResetError: the commit failed; the actor was reset, and this turn must not go on.
        """
        was_in_segment = turn.in_segment
        if was_in_segment:
            self.storage.end_turn(True)
            turn.in_segment = False
        if not self.commit():
            raise ActorResetError("the actor's writes could not be committed before an outbound call")
        if turn.block_depth > 0:
            if was_in_segment:
                self.begin_segment(turn)
            return False
        waiting = self.gate.release()
        if waiting is not None:
            self._start_runner(waiting)  # this task is busy awaiting: another runs it
        return True

    async def close_gate(self, turn: Turn, *, reopen_segment: bool) -> None:
        """After a mesh await: take the gate back (FIFO) and resume the turn's savepoint.

        Cancellation: a checkpoint. If cancelled, the turn ends without the gate, so this
        re-takes it uncancellably before re-raising (a turn always ends holding the gate).
        """
        try:
            await self.gate.acquire()
        except trio.Cancelled:  # raised only when we did not get the gate
            with trio.CancelScope(shield=True):
                await self.gate.acquire()
            raise
        if turn.generation != self.generation:
            raise ActorResetError("the actor was reset while this turn awaited a mesh call")
        if reopen_segment:
            self.begin_segment(turn)

    def close(self) -> None:
        """Drop the activation: storage is closed (files) or kept (memory) by the mesh."""
        self.closed = True
        park, self._parked = self._parked, None
        if park is not None:
            park.wake.set()  # with no event: the parked runner ends
        for event in self.gate.drain():
            event.fail(ActorResetError(f"actor {self.id.binding} was evicted before the event ran"))
