"""The mesh: bindings, ids, activation, eviction, calls, and the nursery all of it lives in."""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, final

import attrs
import trio

from .. import clone
from .._exceptions import InvalidActorIdError, MeshCallError, UnknownBindingError
from ..ocan import OperationChain, to_wire
from ..ocan._plan import is_simple
from ..storage import ActorStorage, open_actor_storage
from ._activation import Activation
from ._alarms import AlarmScheduler
from ._call_context import CallContext, current_call_context, to_wire as context_to_wire
from ._clock import MeshClock
from ._context import ActorContext, WorkerContext
from ._events import CallEvent, CallPayload, decode_call, receive
from ._fetcher import Fetcher, check_fetch_options
from ._ids import ActorId, Namespace
from ._outcome import Reply, encode_error, encode_outcome
from ._service_spec import Service, check_services
from ._stub import ActorStub, WorkerStub
from ._turns import current_turn
from ._websockets import WebSocketRegistry

if TYPE_CHECKING:
    import os

    from ._fetch_policy import FetchPolicy

#: Where a call goes: an actor, or a worker binding.
Target = ActorId | str

log = logging.getLogger("lumenize_trio")
T = TypeVar("T")

_DURABILITY: Final = ("full", "normal")
#: Binding names the runtime keeps for its own workers.
RESERVED_BINDING_PREFIX: Final = "LMZ_"
_INDEX_FILE: Final = "__lmz_mesh.sqlite"


@final
class Mesh:
    """A running mesh of actors. Made by :func:`open_mesh`; also what actors see as ``self.env``.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_activations",
        "_closed",
        "_commit_faults",
        "_data_dir",
        "_deferred",
        "_fetcher",
        "_memory",
        "_namespaces",
        "_nursery",
        "_peak",
        "_pending",
        "_stats",
        "_wake_evictor",
        "_wake_flusher",
        "alarms",
        "bindings",
        "clock",
        "durability",
        "extensions",
        "fetch_options",
        "idle_timeout",
        "max_open_databases",
        "max_queue",
        "random",
        "services",
        "websockets",
        "workers",
    )

    def __init__(
        self,
        bindings: Mapping[str, type],
        *,
        services: Mapping[str, Service],
        fetch_options: FetchOptions,
        data_dir: Path | None,
        durability: Literal["full", "normal"],
        idle_timeout: float,
        max_queue: int,
        max_open_databases: int,
        nursery: trio.Nursery,
    ) -> None:
        self.bindings = dict(bindings)
        self.workers = frozenset(name for name, cls in bindings.items() if is_worker_class(cls))
        self.services = dict(services)
        self.fetch_options = fetch_options
        self._fetcher: Fetcher | None = None
        self._data_dir = data_dir
        self.durability = durability
        self.idle_timeout = idle_timeout
        self.max_queue = max_queue
        self.max_open_databases = max_open_databases
        self._nursery = nursery
        self._namespaces = {name: Namespace(name) for name in self.bindings}
        self._activations: OrderedDict[ActorId, Activation] = OrderedDict()  # least recently used first
        self._memory: dict[ActorId, ActorStorage] = {}  # data_dir=None: storage outlives eviction
        self._commit_faults: dict[ActorId, BaseException] = {}
        self._closed = False
        self._stats = _Counters()
        self._pending: set[Reply] = set()  # calls waiting for a reply, failed if the mesh stops
        self._peak = 0  # most actors held at once since the dict was last compacted
        self._wake_evictor = trio.Event()
        self._deferred: set[Activation] = set()  # actors whose commit waits for queued turns
        self._wake_flusher = trio.Event()
        self.clock = MeshClock()
        self.websockets = WebSocketRegistry()  # sockets outlive their actors' activations
        #: Per-mesh state of the layers above the runtime, by name (``"rpc.sockets"``...): they
        #: keep no module-level state, so two meshes in one process never share anything.
        self.extensions: dict[str, object] = {}
        self.random = random.Random()
        index_path = None if data_dir is None else data_dir / _INDEX_FILE
        self.alarms = AlarmScheduler(self, open_actor_storage(index_path, durability=durability))

    # -- public API --------------------------------------------------------------------------

    def namespace(self, binding: str) -> Namespace:
        """The ids of *binding* (``id_from_name``, ``new_unique_id``, ``id_from_string``).

        Raises:
            UnknownBindingError: no such binding in this mesh.
        """
        try:
            return self._namespaces[binding]
        except (KeyError, TypeError):
            raise UnknownBindingError(self._unknown(binding)) from None

    def add_worker_binding(self, binding: str, cls: type) -> None:
        """Register a worker binding the runtime's own services need (names start with ``LMZ_``).

        Idempotent for the same class. Not for user code: user bindings are given to ``open_mesh``.

        Raises:
            ValueError: the name is not reserved, or is taken by another class.
        """
        if not binding.startswith(RESERVED_BINDING_PREFIX) or not binding.isidentifier():
            raise ValueError(
                f"internal binding names start with {RESERVED_BINDING_PREFIX!r}, not {binding!r}"
            )
        if not is_worker_class(cls):
            raise TypeError(f"{cls!r} is not a worker class")
        existing = self.bindings.get(binding)
        if existing is cls:
            return
        if existing is not None:
            raise ValueError(f"binding {binding!r} is already {existing!r}")
        self.bindings[binding] = cls
        self.workers = self.workers | {binding}
        self._namespaces[binding] = Namespace(binding)

    def get(self, binding: str, name_or_id: str | ActorId | None = None) -> ActorStub | WorkerStub:
        """A stub for the actor *name_or_id* of *binding* (a name, or an :class:`ActorId`), or
        for the worker *binding* (no name).

        Making a stub does not wake the actor; the first call does. Calls through a stub carry
        no call context (the callee's ``lmz.call_context`` raises); use ``self.lmz.call`` or
        ``call_raw`` between nodes.

        Raises:
            UnknownBindingError: no such binding.
            InvalidActorIdError: a malformed name, or an id of another binding.
            MeshCallError: a name for a worker binding, or none for an actor binding.
        """
        target = self.target(binding, name_or_id)
        return ActorStub(self, target) if isinstance(target, ActorId) else WorkerStub(self, target)

    def target(self, binding: str, name_or_id: str | ActorId | None) -> Target:
        """Check where a call goes: the :class:`ActorId`, or the worker binding. Not a checkpoint.

        Raises:
            UnknownBindingError, InvalidActorIdError, MeshCallError: as for :meth:`get`.
        """
        namespace = self.namespace(binding)
        if binding in self.workers:
            if name_or_id is not None:
                raise MeshCallError(
                    f"{binding!r} is a worker binding: workers have no instances, so pass None, "
                    f"not {name_or_id!r}"
                )
            return binding
        if name_or_id is None:
            raise MeshCallError(f"{binding!r} is an actor binding: say which actor (a name or an ActorId)")
        if isinstance(name_or_id, ActorId):
            if name_or_id.binding != binding:
                raise InvalidActorIdError(
                    f"{name_or_id!r} is an id of {name_or_id.binding!r}, not of {binding!r}"
                )
            return name_or_id
        return namespace.id_from_name(name_or_id)

    def statistics(self) -> MeshStatistics:
        """Counters for tests, benchmarks and monitoring (a snapshot)."""
        return MeshStatistics(
            active_actors=len(self._activations),
            turns=self._stats.turns,
            commits=self._stats.commits,
            evictions=self._stats.evictions,
        )

    def fail_next_commit(self, actor: ActorStub | ActorId, error: BaseException) -> None:
        """For tests: make the next commit of *actor* fail with *error* (fault injection)."""
        actor_id = actor.id if isinstance(actor, ActorStub) else actor
        self._commit_faults[actor_id] = error

    # -- the runtime's own operations ---------------------------------------------------------

    async def call(self, target: Target, chain: OperationChain, context: CallContext | None = None) -> object:
        """Send *chain* to *target* (with *context*) and return its result (or raise its error).

        From inside a turn this is a mesh await: the caller's writes so far are committed first,
        and its gate is open while it waits (unless in ``block_concurrency_while``).

        Raises:
            DataCloneError: an argument cannot be cloned (nothing was sent).
            Exception: the callee's error, cloned.
        """
        # Unclonable arguments fail here, before anything is sent.
        payload = _payload(chain, context)
        return await self.mesh_await(self._send_and_wait, target, payload)

    async def _send_and_wait(self, target: Target, payload: CallPayload) -> object:
        reply = Reply()
        self._pending.add(reply)
        try:
            self._deliver(target, payload, reply)
            return await reply.wait()
        finally:
            self._pending.discard(reply)

    async def call_outcome(self, target: Target, chain: OperationChain) -> tuple[bool, bytes]:
        """:meth:`call` from outside every turn, returning the outcome as the callee encoded it:
        ``(True, clone bytes of the result)`` or ``(False, clone bytes of the error)`` — also
        for a call that could not be delivered. For a caller that passes results on (the RPC
        server), so they are not decoded and encoded again.

        Raises:
            DataCloneError: an argument cannot be cloned (nothing was sent).
            RuntimeError: called from inside a turn (use :meth:`call`).

        Cancellation: a checkpoint; cancelling only stops waiting, the call itself goes on.
        """
        if current_turn.get() is not None:
            raise RuntimeError("call_outcome() is for callers outside every turn; use call()")
        reply = Reply()
        payload = _payload(chain, None)
        self._pending.add(reply)
        try:
            try:
                self._deliver(target, payload, reply)
            except Exception as exc:  # overloaded, closed: an outcome like any other
                reply.fail(exc)
            return await reply.wait_encoded()
        finally:
            self._pending.discard(reply)

    def send(
        self,
        target: Target,
        chain: OperationChain,
        context: CallContext | None,
        on_done: Callable[[bool, bytes], None],
    ) -> None:
        """Send *chain* without waiting; ``on_done(ok, payload)`` gets the encoded outcome.

        From inside a turn the send is an output: it leaves once the turn's writes before it are
        durable (and is failed, through ``on_done``, if they cannot be). A failure to deliver
        (overload, a closed mesh) also arrives through ``on_done``. Not a checkpoint.

        Raises:
            DataCloneError: an argument cannot be cloned (nothing was sent).
        """
        payload = _payload(chain, context)
        send = _Send(self, target, payload, Reply(on_done))
        turn = current_turn.get()
        if turn is not None and not self._closed:
            turn.activation.output(send)
        else:
            send()

    def _deliver(self, target: Target, payload: CallPayload, reply: Reply) -> None:
        """Hand a call to its target: the actor's queue, or a new worker task. Not a checkpoint."""
        if type(target) is ActorId:
            self.activate(target).submit(CallEvent(payload, reply))
        else:
            if self._closed:
                raise trio.ClosedResourceError("the mesh is closed")
            self._nursery.start_soon(self._run_worker, target, payload, reply)

    async def _run_worker(self, binding: str, payload: CallPayload, reply: Reply) -> None:
        """One call to a worker: a fresh instance, the checked chain, the reply."""
        current_turn.set(None)  # this task was spawned from whatever task sent the call
        try:
            chain, context = decode_call(payload)
            current_call_context.set(context)
            node = self.bindings[binding](WorkerContext(binding), self)
            result = await receive(node, chain)
        except Exception as exc:
            reply.set(False, encode_error(exc))
        else:
            reply.set(*encode_outcome(result))

    def activate(self, actor_id: ActorId) -> Activation:
        """The activation of *actor_id*, made (and its storage opened) if needed. Not a checkpoint."""
        if self._closed:
            raise trio.ClosedResourceError("the mesh is closed")
        activation = self._activations.get(actor_id)
        if activation is not None:
            self._activations.move_to_end(actor_id)
            if activation.instance_name is None and actor_id.name is not None:
                activation.learn_name(actor_id.name)  # first reached by id, now by name
            return activation
        self._make_room()
        activation = Activation(self, actor_id, self._open_storage(actor_id))
        self._activations[actor_id] = activation
        self._peak = max(self._peak, len(self._activations))
        self._wake_evictor.set()
        return activation

    def construct(self, activation: Activation) -> object:
        """Make the actor instance for an activation (its class, given its context and env)."""
        cls = self.bindings[activation.id.binding]
        return cls(ActorContext(activation), self)

    def counted_commit(self) -> None:
        self._stats.commits += 1

    def counted_turn(self) -> None:
        self._stats.turns += 1

    def fetcher(self) -> Fetcher:
        """The mesh's fetch executors (made on first use). Not a checkpoint."""
        if self._fetcher is None:
            options = self.fetch_options
            self._fetcher = Fetcher(
                self, concurrency=options.concurrency, policy=options.policy, max_body=options.max_body
            )
        return self._fetcher

    async def mesh_await(self, fn: Callable[..., Awaitable[T]], *args: object) -> T:
        """``await fn(*args)`` as a mesh await: from inside a turn, the turn's writes so far are
        committed first and its gate is open while it waits (unless in
        ``block_concurrency_while``), then taken back in turn.

        Raises:
            ActorResetError: the commit before the await failed (the actor was reset).
            Exception: whatever *fn* raises.

        Cancellation: as *fn*; the gate is taken back before the cancellation propagates.
        """
        turn = current_turn.get()
        if turn is None:
            return await fn(*args)
        reopen = turn.in_segment
        released = turn.activation.open_gate(turn)
        try:
            return await fn(*args)
        finally:
            if released:
                await turn.activation.close_gate(turn, reopen_segment=reopen)

    def defer_commit(self, activation: Activation) -> None:
        """Note that *activation* deferred a commit (see :meth:`flush_deferred`)."""
        self._deferred.add(activation)
        self._wake_flusher.set()

    async def flush_deferred(self) -> None:
        """For the life of the mesh: offer every deferred commit a chance to go out early.

        This task runs only when every other task is suspended, so a gate holder it looks at is
        suspended too; :meth:`Activation.flush` commits if that holder has not written yet. A
        burst of turns that never yield is not disturbed: it ends before this task runs.
        """
        while True:
            await self._wake_flusher.wait()
            self._wake_flusher = trio.Event()
            deferred, self._deferred = self._deferred, set()
            for activation in deferred:
                activation.flush()

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        self._nursery.start_soon(fn, *args)

    # -- storage, eviction -------------------------------------------------------------------

    def _open_storage(self, actor_id: ActorId) -> ActorStorage:
        if self._data_dir is None:
            storage = self._memory.get(actor_id)
            if storage is None:
                storage = self._memory[actor_id] = open_actor_storage(
                    None, durability=self.durability, before_commit=self._before_commit_hook(actor_id)
                )
            return storage
        folder = self._data_dir / actor_id.binding
        folder.mkdir(parents=True, exist_ok=True)
        return open_actor_storage(
            folder / f"{actor_id.hex}.sqlite",
            durability=self.durability,
            before_commit=self._before_commit_hook(actor_id),
        )

    def _before_commit_hook(self, actor_id: ActorId) -> Callable[[], None]:
        def before_commit() -> None:
            fault = self._commit_faults.pop(actor_id, None)
            if fault is not None:
                raise fault
            activation = self._activations.get(actor_id)
            if activation is not None:
                activation.before_commit()
                self.alarms.before_commit(activation)

        return before_commit

    def _make_room(self) -> None:
        """Evict least recently used idle actors while the open databases are at the limit."""
        if len(self._activations) < self.max_open_databases:
            return
        for actor_id, activation in list(self._activations.items()):
            if len(self._activations) < self.max_open_databases:
                break
            if activation.idle:
                self._evict(actor_id, activation)

    def _evict(self, actor_id: ActorId, activation: Activation) -> None:
        self._stats.evictions += 1
        del self._activations[actor_id]
        if self._peak > 64 and len(self._activations) < self._peak // 4:
            # A dict never shrinks its table by itself: copy it, so evicted actors cost nothing.
            self._activations = OrderedDict(self._activations)
            self._peak = len(self._activations)
        activation.close()
        if self._data_dir is not None:
            activation.storage.close()

    async def evict_idle(self) -> None:
        """Evict actors idle for ``idle_timeout`` seconds of mesh time, for the life of the mesh.

        Sleeps until the least recently used actor could expire (or until an actor appears),
        so an idle mesh does not wake up for nothing.
        """
        while True:
            if not self._activations:
                self._wake_evictor = trio.Event()
                await self._wake_evictor.wait()
                continue
            oldest = next(iter(self._activations.values()))
            await trio.sleep_until(oldest.last_used + self.idle_timeout)
            now = trio.current_time()
            for actor_id, activation in list(self._activations.items()):
                # The same sum as the sleep above, so rounding cannot make it never expire.
                if activation.last_used + self.idle_timeout > now:
                    break  # ordered by last use: the rest are newer
                if activation.idle:
                    self._evict(actor_id, activation)
                else:
                    # Busy: look again a full timeout after now.
                    activation.last_used = trio.current_time()
                    self._activations.move_to_end(actor_id)

    @property
    def stopping(self) -> bool:
        """The mesh's block has been left: no new events, no more commits."""
        return self._closed

    def stop(self) -> None:
        """Refuse new events, and fail every call still waiting for a reply (the mesh is going)."""
        self._closed = True
        replies, self._pending = self._pending, set()
        for reply in replies:
            reply.fail(trio.ClosedResourceError("the mesh closed before the call completed"))

    def close(self) -> None:
        """After every task has stopped: roll back what is uncommitted; close every database."""
        self.stop()
        for activation in self._activations.values():
            activation.closed = True
            try:
                activation.storage.rollback()
                activation.storage.close()
            except Exception:  # pragma: no cover - closing is best effort
                log.exception("closing storage of %r failed", activation.id)
        for storage in self._memory.values():
            storage.close()
        self._activations.clear()
        self.alarms.close()

    def _unknown(self, binding: object) -> str:
        known = ", ".join(sorted(self.bindings)) or "none"
        return f"unknown binding {binding!r} (this mesh has: {known})"

    def __repr__(self) -> str:
        where = str(self._data_dir) if self._data_dir is not None else "memory"
        return f"<Mesh {sorted(self.bindings)} {where} {len(self._activations)} active>"


@final
@attrs.frozen
class MeshStatistics:
    """A snapshot of a mesh's counters (``mesh.statistics()``).

    .. versionadded:: 0.1
    """

    active_actors: int
    """Actors in memory with their database open."""
    turns: int
    """Turns run since the mesh opened."""
    commits: int
    """Storage commits (group commit makes this lower than the number of writing turns)."""
    evictions: int
    """Actors evicted (idle, or to bound the open databases)."""


@final
class _Counters:
    __slots__ = ("commits", "evictions", "turns")

    def __init__(self) -> None:
        self.turns = 0
        self.commits = 0
        self.evictions = 0


@asynccontextmanager
async def open_mesh(
    bindings: Mapping[str, type],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    durability: Literal["full", "normal"] = "full",
    idle_timeout: float = 10.0,
    max_queue: int = 1000,
    max_open_databases: int | None = None,
    services: Mapping[str, Service | Callable[[Any], object]] | None = None,
    fetch_concurrency: int = 64,
    fetch_allow: Iterable[str] | FetchPolicy = (),
    fetch_max_body: int = 16 * 2**20,
    fetch_liveness: float = 5.0,
) -> AsyncIterator[Mesh]:
    """Run a mesh of actors for the duration of the ``async with`` block.

    Args:
        bindings: binding name -> actor class (``{"COUNTER": Counter}``).
        data_dir: where each actor's SQLite file lives (created if missing); ``None`` keeps all
            storage in memory, for tests (it survives eviction, not the end of the mesh).
        durability: ``"full"`` fsyncs every commit (survives power loss); ``"normal"`` survives a
            process crash but not power loss, and commits are much cheaper.
        idle_timeout: seconds of mesh time without events after which an actor is evicted.
        max_queue: events that may wait for one actor; past it callers get ``OverloadedError``.
        max_open_databases: actors kept in memory with their database open; past it the least
            recently used idle ones are evicted early, so memory stays bounded. Each open
            database holds two file descriptors; the default is 1000, or less when the
            process's file-descriptor limit would not allow that many.
        services: extra services for ``self.svc``, by name: a :class:`Service`, or a factory
            ``factory(node) -> service`` (see ``docs/mesh.md#services``).
        fetch_concurrency: outbound HTTP requests of ``svc.fetch`` in progress at once, mesh-wide.
        fetch_allow: host names (``"api.internal"``, ``"*.corp.example"``), addresses and networks
            (``"10.0.0.0/8"``) that ``svc.fetch`` may reach although they are not public; by
            default loopback, private, link-local and metadata addresses are refused. A
            :class:`FetchPolicy` may be given instead.
        fetch_max_body: the largest response body ``svc.fetch`` reads, in bytes.
        fetch_liveness: how often (seconds) an actor with pending fetches checks that an
            executor still holds each of them; after a restart, pending fetches resume within
            this time.

    Yields:
        The :class:`Mesh`.

    Leaving the block stops the mesh: turns still running are cancelled, uncommitted writes are
    rolled back (no caller was told they happened), and every database is closed. An exception
    from the block propagates unchanged.
    """
    checked = _check_bindings(bindings)
    checked_services = check_services(services)
    fetch_options = FetchOptions(
        fetch_concurrency,
        check_fetch_options(fetch_concurrency, fetch_allow, fetch_max_body, fetch_liveness),
        fetch_max_body,
        float(fetch_liveness),
    )
    if durability not in _DURABILITY:
        raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
    if not (isinstance(idle_timeout, int | float) and idle_timeout > 0):
        raise ValueError(f"idle_timeout must be a positive number of seconds, not {idle_timeout!r}")
    if max_open_databases is None:
        max_open_databases = _default_open_databases()
    for name, value in (("max_queue", max_queue), ("max_open_databases", max_open_databases)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    directory = None if data_dir is None else Path(data_dir)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    body_error: BaseException | None = None
    mesh: Mesh | None = None
    try:
        async with trio.open_nursery() as nursery:
            mesh = Mesh(
                checked,
                services=checked_services,
                fetch_options=fetch_options,
                data_dir=directory,
                durability=durability,
                idle_timeout=float(idle_timeout),
                max_queue=max_queue,
                max_open_databases=max_open_databases,
                nursery=nursery,
            )
            try:
                mesh.alarms.load()
                nursery.start_soon(mesh.alarms.run)
                nursery.start_soon(mesh.evict_idle)
                nursery.start_soon(mesh.flush_deferred)
                try:
                    yield mesh
                except BaseException as exc:
                    body_error = exc
                    raise
            finally:
                mesh.stop()  # refuse new events; turns still running are cancelled below
                nursery.cancel_scope.cancel()
        # Every task of the mesh has finished: nothing can touch storage any more.
    except BaseExceptionGroup as group:
        # The body's own exception comes back wrapped by the nursery: give it back unwrapped.
        if body_error is not None and len(group.exceptions) == 1 and group.exceptions[0] is body_error:
            raise body_error from None
        raise
    finally:
        if mesh is not None:
            mesh.close()


def _payload(chain: OperationChain, context: CallContext | None) -> CallPayload:
    """A call's payload (see :data:`CallPayload`): a simple chain with no context (most stub
    calls) as it is, anything else cloned.

    Raises:
        DataCloneError: an argument cannot be cloned.
    """
    if context is None and is_simple(chain):
        return chain
    return clone.dumps([to_wire(chain), context_to_wire(context)])


def _default_open_databases() -> int:
    """1000, or what the file-descriptor limit allows (two per database, some to spare)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # pragma: no cover - no such limit on this platform
        return 1000
    if soft == resource.RLIM_INFINITY:  # pragma: no cover - depends on the machine
        return 1000
    return max(16, min(1000, (soft - 128) // 2))


def _check_bindings(bindings: Mapping[str, type]) -> dict[str, type]:
    if not isinstance(bindings, Mapping) or not bindings:
        raise TypeError("open_mesh() needs a non-empty mapping of binding name to actor class")
    for name, cls in bindings.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"binding names must be identifiers like 'MY_DO', not {name!r}")
        if name.startswith(RESERVED_BINDING_PREFIX):
            raise ValueError(
                f"binding names starting with {RESERVED_BINDING_PREFIX!r} are the runtime's own, not {name!r}"
            )
        if not isinstance(cls, type) or getattr(cls, "_lmz_type", None) not in _NODE_CLASSES:
            raise TypeError(
                f"binding {name!r} must be a node class (a LumenizeDO or LumenizeWorker subclass), not {cls!r}"
            )
    return dict(bindings)


_NODE_CLASSES: Final = ("LumenizeDO", "LumenizeWorker")


def is_worker_class(cls: type) -> bool:
    return getattr(cls, "_lmz_type", None) == "LumenizeWorker"


@final
@attrs.frozen
class FetchOptions:
    """The ``fetch_*`` options of a mesh (``mesh.fetch_options``).

    .. versionadded:: 0.1
    """

    concurrency: int
    """Outbound requests in progress at once, mesh-wide."""
    policy: FetchPolicy
    """Which hosts and addresses may be reached."""
    max_body: int
    """The largest response body read, in bytes."""
    liveness: float
    """Seconds between checks that every pending fetch is held by an executor."""


@final
class _Send:
    """An outbound call held by the output gate until the writes before it are durable."""

    __slots__ = ("_mesh", "_payload", "_reply", "_target")

    def __init__(self, mesh: Mesh, target: Target, payload: CallPayload, reply: Reply) -> None:
        self._mesh, self._target, self._payload, self._reply = mesh, target, payload, reply

    def __call__(self) -> None:
        try:
            self._mesh._deliver(self._target, self._payload, self._reply)
        except Exception as exc:  # overloaded, closed: the sender hears it as the outcome
            self._reply.fail(exc)

    def fail(self, error: BaseException) -> None:
        self._reply.fail(error)
