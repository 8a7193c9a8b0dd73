"""Server push: the open RPC WebSockets of each actor, by client id, and :func:`send_downstream`.

Theory of operation
-------------------
Each RPC WebSocket the edge accepts is registered under its mesh and its actor, with the client
id the client sent (or ``None``). The registry lives on the mesh (``mesh.extensions["rpc.sockets"]``):
an actor reaches it through its own mesh (``self.env``), so ``send_downstream(ids, self,
payload)`` inside an actor method needs nothing else, and every app serving that mesh shares it.

A push is fire-and-forget: the frame is encoded once and put in each socket's outgoing queue
(never waiting); a socket whose queue is full drops it (logged). Called from inside a turn, the
push is an *output*: it leaves only once the turn's writes before it are durable, like a reply,
and is dropped if they cannot be.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Protocol, final

from ..node import LumenizeDO
from ..protocol import RpcServerConnection
from ..runtime import ActorId, ActorStub, Mesh
from ..runtime._turns import current_turn

if TYPE_CHECKING:
    from collections.abc import Iterable

log = logging.getLogger("lumenize_trio")


class Socket(Protocol):
    """An open RPC WebSocket, as the registry sees it."""

    client_id: str | None

    def push(self, data: bytes) -> None: ...  # pragma: no cover - a protocol


_KEY: Final = "rpc.sockets"


def _sockets(mesh: Mesh) -> dict[ActorId, set[Socket]]:
    """The mesh's registry: actor id -> its open RPC sockets."""
    table = mesh.extensions.get(_KEY)
    if table is None:
        table = mesh.extensions[_KEY] = {}
    return table  # type: ignore[return-value]


def register(mesh: Mesh, actor_id: ActorId, socket: Socket) -> None:
    _sockets(mesh).setdefault(actor_id, set()).add(socket)


def unregister(mesh: Mesh, actor_id: ActorId, socket: Socket) -> None:
    actors = _sockets(mesh)
    sockets = actors.get(actor_id)
    if sockets is not None:  # pragma: no branch - registered and unregistered in pairs
        sockets.discard(socket)
        if not sockets:
            del actors[actor_id]


def connected_clients(actor: ActorStub | LumenizeDO) -> list[str | None]:
    """The client ids of the RPC WebSockets open on *actor* (``None`` for a client that sent
    none), one per socket, sorted with ``None`` first. Not a checkpoint.

    .. versionadded:: 0.1
    """
    mesh, actor_id = _locate(actor)
    ids = [socket.client_id for socket in _sockets(mesh).get(actor_id, ())]
    return sorted(ids, key=lambda i: (i is not None, i or ""))


def send_downstream(
    client_ids: str | Iterable[str] | None,
    actor: ActorStub | LumenizeDO,
    payload: object,
    *,
    seq: int | None = None,
) -> None:
    """Push *payload* (any cloneable value) to the RPC clients of *actor* with these client ids.

    Fire-and-forget: not a checkpoint, and nothing tells whether a client got it. A client id
    with no open socket is skipped; a client with several sockets gets it on each.

    Args:
        client_ids: one client id, several, or ``None`` for every client of the actor.
        actor: the actor whose sockets are addressed: ``self`` inside an actor method, or an
            :class:`~lumenize_trio.ActorStub` (``mesh.get(binding, name)``).
        payload: the value, cloned now.
        seq: an optional sequence number (0 to 2**53-1) the client receives with it.

    From inside a turn the push is an output: it leaves once the turn's writes are durable.

    Raises:
        DataCloneError: *payload* cannot be cloned or does not fit one frame.
        ValueError: *seq* is out of range.
        TypeError: *actor* is neither an actor nor a stub, or *client_ids* holds a non-str.

    .. versionadded:: 0.1
    """
    mesh, actor_id = _locate(actor)
    if client_ids is None:
        wanted: frozenset[str] | None = None
    else:
        wanted = frozenset((client_ids,) if isinstance(client_ids, str) else client_ids)
        if not all(isinstance(i, str) for i in wanted):
            raise TypeError("client_ids must be a str, an iterable of str, or None")
    data = RpcServerConnection().send_downstream(payload, seq)
    push = _Push(mesh, actor_id, wanted, data)
    turn = current_turn.get()
    if turn is not None:
        turn.activation.output(push)
    else:
        push()


@final
class _Push:
    """A push waiting (maybe) for the commit of the writes before it."""

    __slots__ = ("actor_id", "data", "mesh", "wanted")

    def __init__(self, mesh: Mesh, actor_id: ActorId, wanted: frozenset[str] | None, data: bytes) -> None:
        self.mesh, self.actor_id, self.wanted, self.data = mesh, actor_id, wanted, data

    def __call__(self) -> None:
        for socket in list(_sockets(self.mesh).get(self.actor_id, ())):
            if self.wanted is None or socket.client_id in self.wanted:
                socket.push(self.data)

    def fail(self, error: BaseException) -> None:
        log.warning("a downstream push of %r was dropped: %r", self.actor_id, error)


def _locate(actor: object) -> tuple[Mesh, ActorId]:
    if isinstance(actor, ActorStub):
        return actor._mesh, actor.id
    if isinstance(actor, LumenizeDO) and isinstance(actor.env, Mesh):
        return actor.env, actor.ctx.id
    raise TypeError(f"send_downstream() needs an actor (self) or an ActorStub, not {type(actor).__name__}")
