"""``self.lmz``: a node's identity, its call context, and its calls to other nodes."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, final

from .. import clone
from .._exceptions import ChainError, MeshCallError
from ..ocan import Apply, Continuation, OperationChain, chain_of
from ..runtime._call_context import (
    CallContext,
    NodeIdentity,
    NodeType,
    get_call_context,
    outgoing_context,
    snapshot,
)

if TYPE_CHECKING:
    from ..runtime import ActorId, Mesh
    from ._node import Node

log = logging.getLogger("lumenize_trio")


@final
class Lmz:
    """A node's view of the mesh: ``self.lmz``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_node",)

    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def type(self) -> NodeType:
        """``"LumenizeDO"`` or ``"LumenizeWorker"`` (``"LumenizeClient"`` for clients)."""
        return self._node._lmz_type

    @property
    def binding_name(self) -> str | None:
        """The binding this node is registered under (``None`` for a node made outside a mesh)."""
        return self._node._lmz_binding()

    @property
    def instance_name(self) -> str | None:
        """The actor's name, as stored on first contact (``None`` for workers and for actors
        known only by id)."""
        return self._node._lmz_instance()

    @property
    def call_context(self) -> CallContext:
        """The context of the mesh call being handled (in a reply handler: the context of the
        call that made the request, as it was then).

        Raises:
            NoCallContextError: outside the handling of a mesh call (alarms, ``on_start``, stub
                calls from outside the mesh).
        """
        return get_call_context()

    def identity(self) -> NodeIdentity:
        """This node as a :class:`NodeIdentity` (what callees see in ``call_chain``).

        Raises:
            MeshCallError: the node does not know its own binding.
        """
        binding = self._node._lmz_binding()
        if binding is None:
            raise MeshCallError(
                f"this {self.type} doesn't know its own binding name (it was not made by a mesh), "
                "so it cannot make mesh calls"
            )
        return NodeIdentity(self.type, binding, self._node._lmz_instance())

    def call(
        self,
        binding: str,
        instance: str | ActorId | None,
        remote: object,
        handler: object = None,
        *,
        new_chain: bool = False,
        state: dict[str, object] | None = None,
        on_error_only: bool = False,
    ) -> str:
        """Send *remote* (a continuation) to a node, without waiting; returns the call's id.

        The outcome goes to *handler* (a continuation of this node, e.g.
        ``self.ctn().done(RESULT)``), which runs later as a new turn of this node (locally: it
        need not be ``@mesh``) inside the call context as it was when ``call()`` was made. The
        result takes the place of ``RESULT`` in the handler's last call, or is appended as its
        last argument; a failure is delivered the same way, as the exception. With no handler,
        failures are logged at error level. A handler that raises is logged.

        From inside a turn the call leaves once the turn's writes before it are durable.

        Args:
            binding: the target's binding.
            instance: the actor's name (or :class:`ActorId`); ``None`` for a worker.
            remote: what to run there, e.g. ``self.ctn(Room).post("hi")``.
            handler: where the outcome goes, or ``None``.
            new_chain: start a fresh call chain with this node as origin (no ``origin_auth``).
            state: a dict merged over the inherited ``call_context.state`` (its keys win).
            on_error_only: run the handler only for failures.

        Raises:
            TypeError: *remote* or *handler* is not a continuation, or *state* is not a dict.
            ChainError: a continuation records nothing, or *handler* does not end with a call.
            UnknownBindingError: no such binding.
            MeshCallError: an instance for a worker binding, none for an actor binding, or this
                node does not know its own binding.
            InvalidActorIdError: a malformed name, or an id of another binding.
            DataCloneError: an argument cannot be cloned.
        """
        remote_chain = _chain_of("remote", remote)
        handler_chain = None if handler is None else _chain_of("handler", handler)
        if handler_chain is not None and type(handler_chain[-1]) is not Apply:
            raise ChainError("the handler continuation must end with a call, e.g. self.ctn().done(RESULT)")
        me = self.identity()
        mesh = self._mesh()
        target = mesh.target(binding, instance)
        context = outgoing_context(me, new_chain=new_chain, state=state)
        call_id = uuid.uuid4().hex
        what = f"call {call_id[:8]} to {binding}{'' if instance is None else f'/{instance}'}"
        node = self._node
        captured = snapshot() if handler_chain is not None else None

        def on_done(ok: bool, payload: bytes) -> None:
            if handler_chain is None:
                if not ok:
                    log.error("%s failed and has no handler: %r", what, _describe(payload))
            elif not (ok and on_error_only):
                node._lmz_deliver(handler_chain, payload, captured, what)

        mesh.send(target, remote_chain, context, on_done)
        return call_id

    async def call_raw(
        self,
        binding: str,
        instance: str | ActorId | None,
        remote: object,
        *,
        new_chain: bool = False,
        state: dict[str, object] | None = None,
    ) -> object:
        """Run *remote* (a continuation, or a chain of operations) on a node and return its
        result, or raise its error (cloned; its class kept when registered).

        A mesh await: from an actor's turn, its writes so far are committed first and other
        turns may run while it waits (unless inside ``block_concurrency_while``).

        Raises:
            The same call-site errors as :meth:`call`, then whatever the callee raised.

        Cancellation: a checkpoint; cancelling only stops waiting, the call itself goes on.
        """
        chain = remote if type(remote) is tuple else _chain_of("remote", remote)
        me = self.identity()
        mesh = self._mesh()
        target = mesh.target(binding, instance)
        context = outgoing_context(me, new_chain=new_chain, state=state)
        return await mesh.call(target, chain, context)

    def _mesh(self) -> Mesh:
        mesh = self._node._lmz_mesh()
        if mesh is None:
            raise MeshCallError(f"this {self.type} is not part of a mesh, so it cannot make mesh calls")
        return mesh

    def __repr__(self) -> str:
        instance = self.instance_name
        where = self.binding_name if instance is None else f"{self.binding_name}/{instance}"
        return f"<lmz {self.type} {where}>"


def _chain_of(role: str, value: object) -> OperationChain:
    if type(value) is not Continuation:
        raise TypeError(
            f"the {role} must be a continuation (like self.ctn().method(...)), not {type(value).__name__}"
        )
    chain = chain_of(value)
    if not chain:
        raise ChainError(f"the {role} continuation records nothing; name a method, like self.ctn().method()")
    return chain


def _describe(payload: bytes) -> object:
    try:
        return clone.loads(payload)
    except Exception as exc:  # pragma: no cover - the runtime encoded it
        return exc
