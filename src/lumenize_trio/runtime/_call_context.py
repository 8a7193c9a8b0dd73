"""Call context: who started a chain of mesh calls, who called whom, and what state flows down.

A :class:`CallContext` travels with every mesh call. The runtime binds it to a context variable
while a node handles the call (``on_before_call``, the guard, the method) and while a reply
handler runs (there it is the snapshot taken when the call was made), so ``self.lmz.call_context``
is always the context of the code that is running, across awaits, and each of many concurrent
calls sees its own.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal, final

import attrs

from .. import clone
from .._exceptions import NoCallContextError

NodeType = Literal["LumenizeDO", "LumenizeWorker", "LumenizeClient"]
_NODE_TYPES: frozenset[str] = frozenset(("LumenizeDO", "LumenizeWorker", "LumenizeClient"))

#: The longest call chain a context may carry (a cycle of calls cannot grow it for ever).
MAX_CALL_CHAIN = 64


@final
@attrs.frozen
class NodeIdentity:
    """One node of the mesh: its kind, its binding, and its instance name (``None`` for workers).

    .. versionadded:: 0.1
    """

    type: NodeType
    """``"LumenizeDO"``, ``"LumenizeWorker"`` or ``"LumenizeClient"``."""
    binding_name: str
    """The binding the node is registered under."""
    instance_name: str | None = None
    """The actor's name (``None`` for a worker, or for an actor known only by its id)."""


@final
@attrs.define(eq=True)
class CallContext:
    """The context of a mesh call, as the callee sees it (``self.lmz.call_context``).

    ``call_chain`` and ``origin_auth`` are fixed by the runtime; ``state`` is a dict the callee
    may change: its changes are seen by the calls it makes afterwards (they receive a copy), never
    by its caller.

    .. versionadded:: 0.1
    """

    call_chain: tuple[NodeIdentity, ...]
    """Origin first, immediate caller last; never the callee itself."""
    origin_auth: object | None = None
    """Who the origin is, as verified by the gateway from an access token; ``None`` for chains
    that a server node started. Never taken from caller-supplied data."""
    state: dict[str, object] = attrs.field(factory=dict)
    """A side channel that flows downstream only."""

    @property
    def origin(self) -> NodeIdentity:
        """The node that started the chain (``call_chain[0]``)."""
        return self.call_chain[0]

    @property
    def caller(self) -> NodeIdentity:
        """The node that made this call (``call_chain[-1]``)."""
        return self.call_chain[-1]


clone.register(NodeIdentity, name="lumenize.NodeIdentity")
clone.register(CallContext, name="lumenize.CallContext")

current_call_context: ContextVar[CallContext | None] = ContextVar("lumenize_trio_call_context", default=None)


def get_call_context() -> CallContext:
    """The context of the mesh call being handled by the running code.

    Raises:
        NoCallContextError: the code is not handling a mesh call (an alarm, ``on_start``, code
            outside the mesh, a stub call from outside).
    """
    context = current_call_context.get()
    if context is None:
        raise NoCallContextError(
            "call_context is only available while handling a mesh call (or in its reply handler); "
            "alarms, on_start and calls from outside the mesh have none"
        )
    return context


def outgoing_context(
    caller: NodeIdentity, *, new_chain: bool, state: dict[str, object] | None
) -> CallContext:
    """The context a call made now by *caller* carries (not yet copied: the send clones it).

    With ``new_chain`` or no current context, *caller* is the origin and ``state`` the state;
    otherwise the current chain is extended by *caller*, ``origin_auth`` is kept, and ``state``
    is merged over the current state (its keys win).

    Raises:
        TypeError: *state* is not a dict with str keys.
        ValueError: the chain would be longer than :data:`MAX_CALL_CHAIN`.
    """
    if state is not None and (type(state) is not dict or not all(type(key) is str for key in state)):
        raise TypeError(f"state must be a dict with str keys, not {type(state).__name__}")
    current = None if new_chain else current_call_context.get()
    if current is None:
        return CallContext((caller,), None, dict(state) if state else {})
    if len(current.call_chain) >= MAX_CALL_CHAIN:
        raise ValueError(
            f"the call chain is {len(current.call_chain)} nodes long already (limit {MAX_CALL_CHAIN}); "
            "a cycle of calls? Use new_chain=True to start a fresh chain"
        )
    merged = {**current.state, **state} if state else current.state
    return CallContext((*current.call_chain, caller), current.origin_auth, merged)


def snapshot() -> CallContext | None:
    """A copy of the current context for a reply handler (chain kept, state copied shallowly)."""
    current = current_call_context.get()
    if current is None:
        return None
    return CallContext(current.call_chain, current.origin_auth, dict(current.state))


def to_wire(context: CallContext | None) -> object:
    """A context in plain lists and dicts, for the clone's fast path (``None`` stays ``None``)."""
    if context is None:
        return None
    chain = [[node.type, node.binding_name, node.instance_name] for node in context.call_chain]
    return [chain, context.origin_auth, context.state]


def from_wire(data: object) -> CallContext | None:
    """The context :func:`to_wire` made, checked.

    Raises:
        ValueError: *data* is not a well-formed context.
    """
    if data is None:
        return None
    if not (type(data) is list and len(data) == 3 and type(data[0]) is list and type(data[2]) is dict):
        raise ValueError("malformed call context in a mesh call")
    chain_data, origin_auth, state = data
    if not 0 < len(chain_data) <= MAX_CALL_CHAIN:
        raise ValueError(f"a call chain has 1 to {MAX_CALL_CHAIN} nodes, not {len(chain_data)}")
    nodes = []
    for node in chain_data:
        if not (
            type(node) is list
            and len(node) == 3
            and node[0] in _NODE_TYPES
            and type(node[1]) is str
            and (node[2] is None or type(node[2]) is str)
        ):
            raise ValueError(f"malformed node in a call chain: {node!r:.80}")
        nodes.append(NodeIdentity(node[0], node[1], node[2]))
    if not all(type(key) is str for key in state):
        raise ValueError("call context state keys must be str")
    return CallContext(tuple(nodes), origin_auth, state)
