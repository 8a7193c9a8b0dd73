"""``self.svc.broadcast``: one continuation to many nodes, directly or through a tree of worker hops.

Theory of operation
===================

Rule 1 (direct). With at most ``direct_threshold`` targets, the broadcaster sends one call per
target, exactly as ``self.lmz.call`` would: each carries the broadcaster's call context extended
by the broadcaster, so ``origin_auth`` and ``state`` flow.

Rule 2 (tree). With more, the targets are split into ``min(branch, N)`` contiguous groups whose
sizes differ by at most one, and each group goes to the runtime's own worker binding
``LMZ_BROADCAST`` (registered on the mesh on first use). A hop whose group has at most
``direct_threshold`` targets (a *leaf*) calls them as in rule 1; a larger group is split again
the same way. Each hop extends the call chain by itself, so a target reached through the tree
sees ``origin, ..., broadcaster, LMZ_BROADCAST, ..., LMZ_BROADCAST`` (one per hop on its path)
and its ``caller`` is the ``LMZ_BROADCAST`` worker. Groups of one level differ by at most one, so
a delivery crosses at most ``ceil(log_branch(N / direct_threshold))`` hops (see
:func:`hop_plan`).

Rule 3 (errors only). ``on_result`` is a continuation of the broadcaster, run locally as a new
turn of it, inside the call context as it was when ``broadcast()`` was called (like a reply
handler of ``self.lmz.call``), once per failed delivery and never for a success. The error takes
the place of ``RESULT`` in its last call (or is appended), then the failed target, as the
``(binding, instance)`` tuple the caller passed, is appended as the last argument.

Rule 4 (return address). Failures in the tree travel back to an explicit return address carried
with the broadcast (the broadcaster's own binding and instance), never to ``call_chain[0]``
(which is a client when a client started the chain). The ``on_result`` continuation itself never
leaves the broadcaster: it is kept in memory, in this mesh's table of *routes*, under an
unguessable token. The hops carry only the token, and the leaves call the broadcaster's
``lmz_broadcast_result(token, settled, failures)`` entry point, which runs no chain it is given:
it refuses any caller but the ``LMZ_BROADCAST`` worker, looks the token up (a route belongs to
one node: a token sent to another node is unknown there) and runs the stored ``on_result`` for
each failure. ``settled`` counts the deliveries the report accounts for; a route is dropped when
all N are accounted for, after :data:`ROUTE_TTL` seconds of mesh time, or when the table holds
:data:`MAX_ROUTES` routes and a new one needs room (oldest first), so memory stays bounded.

Rule 5 (no silent loss). Without ``on_result``, every failed delivery is logged at error level,
as ``self.lmz.call`` does for calls without a handler.

The mesh's ``LMZ_BROADCAST`` binding is its own subclass of :class:`BroadcastHop`, made on first
use, which holds that mesh's route table: nothing lives at module level.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import uuid
from collections import Counter, OrderedDict
from functools import partial
from typing import TYPE_CHECKING, ClassVar, Final, final

import trio

from .. import clone
from .._exceptions import (
    ChainError,
    InvalidActorIdError,
    MeshCallError,
    NotMeshCallableError,
    ServiceError,
    UnknownBindingError,
)
from ..ocan import MAX_ARGUMENTS, RESULT, Apply, Get, OperationChain, Verbatim, from_wire, to_wire
from ..runtime._call_context import CallContext, NodeIdentity, get_call_context, outgoing_context, snapshot
from ..runtime._ids import ActorId
from ..runtime._outcome import encode_error
from ._do import LumenizeDO
from ._lmz import _chain_of, _describe
from ._mesh_decorator import mesh as mesh_callable
from ._worker import LumenizeWorker

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..runtime import Mesh
    from ..runtime._mesh import Target
    from ._node import Node

log = logging.getLogger("lumenize_trio")

#: The runtime's own worker binding that relays a tree broadcast.
HOP_BINDING: Final = "LMZ_BROADCAST"
#: What a call from a hop looks like in ``call_context.caller``.
HOP_IDENTITY: Final = NodeIdentity("LumenizeWorker", HOP_BINDING, None)
#: Seconds of mesh time a tree broadcast's ``on_result`` stays reachable (and hops wait for outcomes).
ROUTE_TTL: Final = 600.0
#: Most routes one mesh keeps at once; past it the oldest is dropped.
MAX_ROUTES: Final = 4096

_HOP_METHOD: Final = "lmz_broadcast_hop"
_RESULT_METHOD: Final = "lmz_broadcast_result"

#: A target as it travels to a hop: ``[binding, None | name | 32 id bytes]`` (plain, cloneable).
WireTarget = list[object]


@final
class Broadcast:
    """The ``broadcast`` service: ``self.svc.broadcast(targets, remote, ...)``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_node",)

    def __init__(self, node: Node) -> None:
        self._node = node

    def __call__(
        self,
        targets: Iterable[tuple[str, str | ActorId | None]],
        remote: object,
        *,
        on_result: object = None,
        direct_threshold: int = 100,
        branch: int = 6,
    ) -> str:
        """Send *remote* (a continuation) to every target, without waiting; returns the broadcast id.

        Each delivery carries this node's call context extended by this node, as
        ``self.lmz.call`` does (``origin_auth`` and ``state`` flow). Up to *direct_threshold*
        targets are called directly; more go through a tree of ``LMZ_BROADCAST`` worker hops
        (see the module docstring for the exact rule), whose targets also see the hops in
        ``call_chain``. From inside a turn, the calls leave once the turn's writes before them
        are durable. Targets are not de-duplicated: a pair given twice is called twice.

        Args:
            targets: ``(binding, instance)`` pairs: an actor's name or :class:`ActorId`, or
                ``None`` for a worker binding.
            remote: what to run on each target, e.g. ``self.ctn(Room).post("hi")``.
            on_result: a continuation of this node run once per *failed* delivery (never for a
                success), locally (it need not be ``@mesh``), as a new turn of this node inside
                the call context of this call. The error goes where ``RESULT`` is in its last
                call, or is appended; then the failed target, as the ``(binding, instance)``
                tuple given here, is appended as the last argument. Without it, failures are
                logged at error level.
            direct_threshold: the most targets called directly (an int, at least 1).
            branch: how many groups a tree hop splits its targets into (an int, at least 2).

        Returns:
            The broadcast's id (hex), which log lines about its failed deliveries quote.

        Raises:
            TypeError: *remote* or *on_result* is not a continuation, *targets* is not an
                iterable of pairs, or an option is not an int.
            ValueError: *targets* is empty, an option is out of range, or the call chain is full.
            ChainError: a continuation records nothing, or *on_result* does not end with a call
                (or would have too many arguments).
            UnknownBindingError, MeshCallError, InvalidActorIdError: a target cannot be called
                (the message says which, as ``targets[i]``); or this node cannot make calls.
            DataCloneError: *remote* cannot be cloned.

        Nothing is sent when it raises. Not a checkpoint: it never blocks, so cancellation
        cannot interrupt it.
        """
        node = self._node
        chain = _chain_of("remote", remote)
        handler = None if on_result is None else _handler_of(on_result)
        _check_option("direct_threshold", direct_threshold, 1)
        _check_option("branch", branch, 2)
        me = node.lmz.identity()
        mesh = node._lmz_mesh()
        if mesh is None:  # pragma: no cover - a node with a binding was made by a mesh
            raise MeshCallError("this node is not part of a mesh, so it cannot broadcast")
        pairs, resolved = _check_targets(mesh, targets)
        context = outgoing_context(me, new_chain=False, state=None)
        broadcast_id = uuid.uuid4().hex
        on_failure = None if handler is None else _OnResult(node, handler, snapshot(), pairs, broadcast_id)
        if len(resolved) <= direct_threshold:
            for index, target in enumerate(resolved):
                mesh.send(
                    target, chain, context, partial(_direct_done, on_failure, broadcast_id, target, index)
                )
        else:
            _start_tree(
                node, mesh, resolved, chain, context, on_failure, broadcast_id, direct_threshold, branch
            )
        return broadcast_id

    def __repr__(self) -> str:
        return f"<broadcast service of {self._node.lmz!r}>"


# -- checking the call ------------------------------------------------------------------------


def _check_option(name: str, value: object, least: int) -> None:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < least:
        raise ValueError(f"{name} must be at least {least}, not {value}")


def _handler_of(on_result: object) -> OperationChain:
    chain = _chain_of("on_result", on_result)
    last = chain[-1]
    if type(last) is not Apply:
        raise ChainError("on_result must end with a call, e.g. self.ctn().undelivered(RESULT)")
    if len(last.args) + len(last.kwargs) + 2 > MAX_ARGUMENTS:
        raise ChainError(
            f"on_result passes {len(last.args) + len(last.kwargs)} arguments; with the error and "
            f"the target it would exceed the limit of {MAX_ARGUMENTS} (MAX_ARGUMENTS)"
        )
    return chain


def _check_targets(
    mesh: Mesh, targets: Iterable[tuple[str, str | ActorId | None]]
) -> tuple[list[tuple[str, object]], list[Target]]:
    """The targets as the caller named them (for ``on_result``) and as the mesh addresses them."""
    received: object = targets
    if isinstance(received, str | bytes | bytearray):
        raise TypeError(
            f"targets must be an iterable of (binding, instance) pairs, not {type(received).__name__}"
        )
    try:
        items = iter(targets)
    except TypeError:
        raise TypeError(
            f"targets must be an iterable of (binding, instance) pairs, not {type(received).__name__}"
        ) from None
    pairs: list[tuple[str, object]] = []
    resolved: list[Target] = []
    for index, pair in enumerate(items):
        item: object = pair
        if not (type(item) is tuple or type(item) is list) or len(item) != 2:
            raise TypeError(f"targets[{index}] must be a (binding, instance) pair, not {item!r:.80}")
        binding, instance = item
        try:
            resolved.append(mesh.target(binding, instance))
        except (UnknownBindingError, MeshCallError, InvalidActorIdError) as exc:
            raise type(exc)(f"targets[{index}]: {exc}") from None
        pairs.append((binding, instance))
    if not pairs:
        raise ValueError("broadcast needs at least one target")
    return pairs, resolved


# -- what happens to failures -------------------------------------------------------------------


def _copy(context: CallContext | None) -> CallContext | None:
    """A context for one handler run: its own shallow copy of ``state``, as ``lmz.call`` gives."""
    if context is None:
        return None
    return CallContext(context.call_chain, context.origin_auth, dict(context.state))


def _with_target(handler: OperationChain, target: object) -> OperationChain:
    """*handler* with a ``RESULT`` slot for the error (unless it has one) and then *target*."""
    last = handler[-1]
    assert type(last) is Apply
    marked = any(arg is RESULT for arg in (*last.args, *last.kwargs.values()))
    extra = (Verbatim(target),) if marked else (RESULT, Verbatim(target))
    return (*handler[:-1], Apply((*last.args, *extra), last.kwargs))


@final
class _OnResult:
    """A broadcast's ``on_result``, kept by the broadcaster: runs it for one failed target."""

    __slots__ = ("broadcast_id", "context", "handler", "node", "targets")

    def __init__(
        self,
        node: Node,
        handler: OperationChain,
        context: CallContext | None,
        targets: list[tuple[str, object]],
        broadcast_id: str,
    ) -> None:
        self.node, self.handler, self.context = node, handler, context
        self.targets, self.broadcast_id = targets, broadcast_id

    def deliver(self, index: int, payload: bytes) -> None:
        """Run ``on_result`` later, as a new turn of the broadcaster. Never raises."""
        target = self.targets[index]
        what = f"broadcast {self.broadcast_id[:8]} to {_pair_text(target)}"
        self.node._lmz_deliver(_with_target(self.handler, target), payload, _copy(self.context), what)


def _pair_text(pair: tuple[str, object]) -> str:
    binding, instance = pair
    if instance is None:
        return binding
    if isinstance(instance, ActorId):
        return f"{binding}/{instance.name or instance.hex[:12]}"
    return f"{binding}/{instance}"


def _target_text(target: Target) -> str:
    if type(target) is str:
        return target
    assert isinstance(target, ActorId)
    return f"{target.binding}/{target.name or target.hex[:12]}"


def _log_undelivered(broadcast_id: str, where: str, payload: bytes) -> None:
    log.error(
        "broadcast %s to %s failed and has no on_result: %r", broadcast_id[:8], where, _describe(payload)
    )


def _direct_done(
    on_failure: _OnResult | None, broadcast_id: str, target: Target, index: int, ok: bool, payload: bytes
) -> None:
    """The outcome of one direct delivery (runs in whatever task settles the call; never blocks)."""
    if ok:
        return
    if on_failure is None:
        _log_undelivered(broadcast_id, _target_text(target), payload)
    else:
        on_failure.deliver(index, payload)


# -- routes: where a tree's failures find their on_result ----------------------------------------


@final
class _Route:
    """A tree broadcast's ``on_result``, reachable by its token until every delivery settled."""

    __slots__ = ("address", "expires", "on_failure", "remaining", "token")

    def __init__(self, on_failure: _OnResult, address: Target, remaining: int, expires: float) -> None:
        self.on_failure, self.address, self.remaining, self.expires = on_failure, address, remaining, expires
        self.token = ""


@final
class _Routes:
    """One mesh's routes, oldest first (a fixed lifetime makes that the order of expiry too)."""

    __slots__ = ("_routes",)

    def __init__(self) -> None:
        self._routes: OrderedDict[str, _Route] = OrderedDict()

    def add(self, route: _Route) -> str:
        """Keep *route* under a new unguessable token (dropping expired and, if full, the oldest)."""
        self._expire()
        while len(self._routes) >= MAX_ROUTES:
            _, oldest = self._routes.popitem(last=False)
            log.warning(
                "broadcast %s: %d broadcasts with on_result are in flight; the oldest stops "
                "receiving its failures",
                oldest.on_failure.broadcast_id[:8], MAX_ROUTES,
            )  # fmt: skip
        route.token = secrets.token_urlsafe(18)
        self._routes[route.token] = route
        return route.token

    def get(self, token: str) -> _Route | None:
        self._expire()
        return self._routes.get(token)

    def settle(self, route: _Route, count: int) -> None:
        """*count* more deliveries of *route* are accounted for; drop it once all are."""
        route.remaining -= count
        if route.remaining <= 0:
            self._routes.pop(route.token, None)

    def _expire(self) -> None:
        now = trio.current_time()
        while self._routes:
            route = next(iter(self._routes.values()))
            if route.expires > now:
                break
            del self._routes[route.token]

    def __len__(self) -> int:
        self._expire()
        return len(self._routes)


def _hop_class(mesh: Mesh) -> type[BroadcastHop]:
    """This mesh's ``LMZ_BROADCAST`` class, registered (with a fresh route table) on first use."""
    cls = mesh.bindings.get(HOP_BINDING)
    if cls is None:
        cls = type("BroadcastHop", (BroadcastHop,), {"routes": _Routes(), "__module__": __name__})
        mesh.add_worker_binding(HOP_BINDING, cls)
    if not issubclass(cls, BroadcastHop):
        raise ServiceError(f"the {HOP_BINDING!r} binding is {cls!r}, not the broadcast service's hop worker")
    return cls


def _address(node: Node) -> Target:
    """Where calls to *node* go: its :class:`ActorId`, or its worker binding."""
    if isinstance(node, LumenizeDO):
        return node.ctx.id
    assert isinstance(node, LumenizeWorker)
    binding = node.ctx.binding
    assert binding is not None  # the caller checked its identity
    return binding


def _to_wire(target: Target) -> WireTarget:
    if type(target) is str:
        return [target, None]
    assert isinstance(target, ActorId)
    if target.name is not None:
        return [target.binding, target.name]
    return [target.binding, bytes.fromhex(target.hex)]


def _from_wire(mesh: Mesh, item: object) -> Target:
    """A target from its wire form, checked as the call site checks targets.

    Raises:
        MeshCallError: not a wire target. UnknownBindingError, InvalidActorIdError, MeshCallError:
        as :meth:`Mesh.target`.
    """
    if not (type(item) is list and len(item) == 2 and type(item[0]) is str):
        raise MeshCallError(f"malformed broadcast target {item!r:.80}")
    binding, instance = item
    if type(instance) is bytes:
        return mesh.target(binding, mesh.namespace(binding).id_from_string(instance.hex()))
    if instance is not None and type(instance) is not str:
        raise MeshCallError(f"malformed broadcast target {item!r:.80}")
    return mesh.target(binding, instance)


# -- the tree -----------------------------------------------------------------------------------


def split(count: int, parts: int) -> list[tuple[int, int]]:
    """``[start, stop)`` bounds of ``min(parts, count)`` contiguous groups of *count* items whose
    sizes differ by at most one (larger groups first)."""
    groups = min(parts, count)
    size, extra = divmod(count, groups)
    bounds: list[tuple[int, int]] = []
    start = 0
    for group in range(groups):
        stop = start + size + (1 if group < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def hop_plan(count: int, direct_threshold: int = 100, branch: int = 6) -> list[int]:
    """How many hops each level of the tree for *count* targets has (``[]``: sent directly).

    ``len(hop_plan(...))`` is the most hops any delivery crosses: ``ceil(log_branch(count /
    direct_threshold))`` for ``count > direct_threshold``. ``hop_plan(10_000)`` is
    ``[6, 36, 216]``: 258 hops, every target three hops away.
    """
    plan: list[int] = []
    groups: Counter[int] = Counter({count: 1}) if count > direct_threshold else Counter()
    while groups:
        plan.append(sum(min(branch, size) * times for size, times in groups.items()))
        below: Counter[int] = Counter()
        for size, times in groups.items():
            for start, stop in split(size, branch):
                if stop - start > direct_threshold:
                    below[stop - start] += times
        groups = below
    return plan


def _hop_call(job: list[object]) -> OperationChain:
    return (Get(_HOP_METHOD), Apply(tuple(job), {}))


def _start_tree(
    node: Node,
    mesh: Mesh,
    resolved: list[Target],
    chain: OperationChain,
    context: CallContext,
    on_failure: _OnResult | None,
    broadcast_id: str,
    direct_threshold: int,
    branch: int,
) -> None:
    """Rule 2 at the broadcaster: one call to a hop per group (and a route for ``on_result``)."""
    remote = clone.dumps(to_wire(chain))  # unclonable arguments fail here, before anything is sent
    hop = _hop_class(mesh)
    route: _Route | None = None
    reply: WireTarget = [None, None]
    token: str | None = None
    if on_failure is not None:
        address = _address(node)
        route = _Route(on_failure, address, len(resolved), trio.current_time() + ROUTE_TTL)
        token = hop.routes.add(route)
        reply = _to_wire(address)
    wire = [_to_wire(target) for target in resolved]
    for start, stop in split(len(resolved), branch):
        job: list[object] = [
            broadcast_id, start, clone.dumps(wire[start:stop]), remote, direct_threshold, branch, token, *reply,
        ]  # fmt: skip
        done = partial(_top_hop_done, hop.routes, route, broadcast_id, start, stop)
        mesh.send(HOP_BINDING, _hop_call(job), context, done)


def _top_hop_done(
    routes: _Routes, route: _Route | None, broadcast_id: str, start: int, stop: int, ok: bool, payload: bytes
) -> None:
    """The outcome of a call from the broadcaster to a hop: a failure means its group was not reached."""
    if ok:
        return
    if route is None:
        _log_undelivered(broadcast_id, f"targets[{start}:{stop}] (a hop failed)", payload)
        return
    for index in range(start, stop):
        route.on_failure.deliver(index, payload)
    routes.settle(route, stop - start)


class BroadcastHop(LumenizeWorker):
    """The ``LMZ_BROADCAST`` worker: relays one group of a tree broadcast (rule 2).

    Internal to the broadcast service. Anyone in the mesh may call it, which gives nothing a
    node could not do itself: it only sends the given continuation to the given targets, with
    the caller's chain extended, and reports failures under a token that only the broadcaster
    can use.
    """

    #: This mesh's routes (set on the subclass each mesh registers).
    routes: ClassVar[_Routes]

    @mesh_callable
    async def lmz_broadcast_hop(
        self,
        broadcast_id: object,
        first: object,
        targets: object,
        remote: object,
        direct_threshold: object,
        branch: object,
        token: object,
        reply_binding: object,
        reply_instance: object,
    ) -> None:
        """Deliver a group (a leaf) or split it among sub-hops; report failures to the route.

        With a token, waits until every outcome of its calls is known (at most
        :data:`ROUTE_TTL` seconds), reporting failures as they come; without, returns once
        the calls are sent and logs failures.

        Raises:
            MeshCallError: the arguments are not a well-formed broadcast job (nothing was sent).

        Cancellation: the mesh closing cancels the wait; calls already sent go on.
        """
        mesh = self.env
        if not (
            type(broadcast_id) is str
            and type(first) is int
            and first >= 0
            and type(targets) is bytes
            and type(remote) is bytes
            and type(direct_threshold) is int
            and direct_threshold >= 1
            and type(branch) is int
            and branch >= 2
            and (token is None or type(token) is str)
        ):
            raise MeshCallError("malformed broadcast job")
        try:
            group = clone.loads(targets)
            chain = from_wire(clone.loads(remote))
            reply = None if token is None else _from_wire(mesh, [reply_binding, reply_instance])
        except Exception as exc:
            raise MeshCallError(f"malformed broadcast job: {exc}") from None
        if type(group) is not list or not group:
            raise MeshCallError("malformed broadcast job: no targets")
        me = self.lmz.identity()
        leaf = len(group) <= direct_threshold
        tally = _Tally(mesh, broadcast_id, me, None if token is None or reply is None else (token, reply))
        log.debug(
            "broadcast %s: hop for targets[%d:%d] (%s)",
            broadcast_id[:8], first, first + len(group), "leaf" if leaf else "split",
        )  # fmt: skip
        try:
            context = outgoing_context(me, new_chain=False, state=None)
        except ValueError as exc:  # the call chain is full: nothing can be delivered from here
            tally.expect(1)
            tally.outcome(first, first + len(group), False, False, encode_error(exc))
            await tally.settle(None)
            return
        if leaf:
            tally.expect(len(group))
            for offset, item in enumerate(group):
                index = first + offset
                try:
                    target = _from_wire(mesh, item)
                except Exception as exc:
                    tally.outcome(index, index + 1, True, False, encode_error(exc))
                else:
                    mesh.send(target, chain, context, partial(tally.outcome, index, index + 1, True))
        else:
            bounds = split(len(group), branch)
            tally.expect(len(bounds))
            for start, stop in bounds:
                job: list[object] = [
                    broadcast_id, first + start, clone.dumps(group[start:stop]), remote,
                    direct_threshold, branch, token, reply_binding, reply_instance,
                ]  # fmt: skip
                done = partial(tally.outcome, first + start, first + stop, False)
                mesh.send(HOP_BINDING, _hop_call(job), context, done)
        await tally.settle(context)


@final
class _Tally:
    """What one hop learns about its calls, and what it reports back (rules 3 to 5).

    ``outcome()`` runs in whatever task settles a call, so it only logs or queues.
    """

    __slots__ = ("_broadcast_id", "_expected", "_me", "_mesh", "_receive", "_route", "_send")

    def __init__(
        self, mesh: Mesh, broadcast_id: str, me: NodeIdentity, route: tuple[str, Target] | None
    ) -> None:
        self._mesh, self._broadcast_id, self._me, self._route = mesh, broadcast_id, me, route
        self._expected = 0
        self._send: trio.MemorySendChannel[tuple[int, int, bool, bool, bytes]] | None = None
        self._receive: trio.MemoryReceiveChannel[tuple[int, int, bool, bool, bytes]] | None = None
        if route is not None:
            self._send, self._receive = trio.open_memory_channel[tuple[int, int, bool, bool, bytes]](math.inf)

    def expect(self, count: int) -> None:
        self._expected += count

    def outcome(self, start: int, stop: int, leaf: bool, ok: bool, payload: bytes) -> None:
        """The outcome of a call for ``targets[start:stop]`` (one target when *leaf*, else a hop)."""
        if self._send is None:
            if not ok:
                where = f"targets[{start}]" if leaf else f"targets[{start}:{stop}] (a hop failed)"
                _log_undelivered(self._broadcast_id, where, payload)
            return
        # BrokenResourceError: the hop stopped waiting (ROUTE_TTL), so the route is gone too.
        with contextlib.suppress(trio.BrokenResourceError):
            self._send.send_nowait((start, stop, leaf, ok, payload))

    async def settle(self, context: CallContext | None) -> None:
        """With a route: wait for every outcome (at most :data:`ROUTE_TTL`), reporting failures
        in batches and the count of settled deliveries. A checkpoint when there is a route."""
        if self._receive is None or self._route is None:
            return
        receive = self._receive
        pending, settled = self._expected, 0
        failures: list[list[object]] = []
        with receive, trio.move_on_after(ROUTE_TTL) as waited:
            while pending:
                batch = [await receive.receive()]
                while True:
                    try:
                        batch.append(receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                pending -= len(batch)
                for start, stop, leaf, ok, payload in batch:
                    if leaf:
                        settled += 1
                    if not ok:
                        settled += 0 if leaf else stop - start
                        failures.extend([index, payload] for index in range(start, stop))
                if failures or (settled and not pending):
                    self._report(context, settled, failures)
                    settled, failures = 0, []
        if waited.cancelled_caught:
            log.warning(
                "broadcast %s: %d calls did not settle within %s s; their failures will not reach on_result",
                self._broadcast_id[:8], pending, ROUTE_TTL,
            )  # fmt: skip

    def _report(self, context: CallContext | None, settled: int, failures: list[list[object]]) -> None:
        assert self._route is not None
        token, reply = self._route
        if context is None:  # the chain was full: report on a fresh one
            context = outgoing_context(self._me, new_chain=True, state=None)
        call = (Get(_RESULT_METHOD), Apply((token, settled, failures), {}))
        broadcast_id = self._broadcast_id

        def done(ok: bool, payload: bytes) -> None:
            if not ok:
                log.error(
                    "broadcast %s: failures could not be reported to the broadcaster: %r",
                    broadcast_id[:8], _describe(payload),
                )  # fmt: skip

        self._mesh.send(reply, call, context, done)


def receive_report(node: Node, token: object, settled: object, failures: object) -> None:
    """``node.lmz_broadcast_result(...)``: run the kept ``on_result`` for reported failures.

    Runs no chain it is given: it only looks *token* up among the routes of *node*.

    Raises:
        NoCallContextError: called from outside the mesh.
        NotMeshCallableError: the caller is not the ``LMZ_BROADCAST`` worker.
        MeshCallError: the report is malformed.
    """
    if get_call_context().caller != HOP_IDENTITY:
        raise NotMeshCallableError(
            f"{_RESULT_METHOD} is the broadcast service's return path; only the {HOP_BINDING} worker calls it",
            name=_RESULT_METHOD,
        )
    mesh = node._lmz_mesh()
    hop = None if mesh is None else mesh.bindings.get(HOP_BINDING)
    routes = hop.routes if hop is not None and issubclass(hop, BroadcastHop) else None
    route = routes.get(token) if routes is not None and type(token) is str else None
    if routes is None or route is None or route.address != _address(node):
        log.warning("a broadcast report for an unknown or expired broadcast was dropped")
        return
    count = len(route.on_failure.targets)
    if not (
        type(settled) is int
        and settled >= 0
        and type(failures) is list
        and all(
            type(item) is list
            and len(item) == 2
            and type(item[0]) is int
            and 0 <= item[0] < count
            and type(item[1]) is bytes
            for item in failures
        )
    ):
        raise MeshCallError("malformed broadcast report")
    for index, payload in failures:
        route.on_failure.deliver(index, payload)
    routes.settle(route, settled)
