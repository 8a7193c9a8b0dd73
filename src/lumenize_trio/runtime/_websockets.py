"""Hibernatable WebSockets: socket handles, their registry in the mesh, and their events as turns.

Theory of operation
-------------------
A WebSocket accepted by an actor belongs to the *mesh*, not to the actor's activation: the
edge's connection task reads and writes it, and :class:`WebSocketRegistry` (``mesh.websockets``)
keeps the actor's open sockets, their tags and attachments, and its auto-response, keyed by
:class:`ActorId`. Nothing here refers to an activation or an instance, so an actor with open
sockets is evicted like any idle actor, and the next message re-activates it
(``ctx.get_websockets()`` still lists its sockets). This is memory: sockets, tags and
attachments survive eviction, not the end of the process (the connections end with it anyway).

*Events.* ``on_connect(ws, request)``, ``on_message(ws, message)`` and ``on_close(ws, code,
reason, was_clean)`` each run as one turn (:class:`ConnectEvent`, :class:`MessageEvent`,
:class:`CloseEvent`); the edge waits for each turn to end before it delivers the next message of
the same socket, so messages on one socket arrive in order, one turn each.

*Outputs.* ``ws.send`` and ``ws.close`` are outputs: inside a turn they leave through the
actor's output gate (after the writes made before them are committed; dropped if that commit
fails). Outside any turn they leave at once. Accepting is an output too: the upgrade is answered
only once ``on_connect``'s writes are committed.
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import TYPE_CHECKING, Final, Literal, Protocol, final

import trio

from .. import clone
from .._exceptions import ActorResetError, OverloadedError
from ..http import Request, Response
from ._activation import Activation, Event
from ._call_context import current_call_context
from ._outcome import Reply
from ._turns import current_turn

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ._activation import Output
    from ._ids import ActorId
    from ._mesh import Mesh
    from ._turns import Turn

log = logging.getLogger("lumenize_trio")

#: Open sockets one actor may hold (the platform's figure).
MAX_WEBSOCKETS_PER_ACTOR: Final = 32_768
#: Tags per socket, and characters per tag (the platform's figures).
MAX_TAGS: Final = 10
MAX_TAG_LENGTH: Final = 256
#: Bytes of a cloned attachment (the platform's figure).
MAX_ATTACHMENT: Final = 16_384
#: Characters of each string of the auto-response pair (the platform's figure).
MAX_AUTO_RESPONSE: Final = 2_048
#: Bytes of one message, in either direction (the platform's figure, 32 MiB). A larger incoming
#: message closes the socket with 1009.
MAX_MESSAGE: Final = 32 * 2**20
#: The subprotocol entry a client puts in its list to say who it is: ``lmz.client-id.<id>``.
CLIENT_ID_PREFIX: Final = "lmz.client-id."
#: A client id: 1 to 128 of ``A-Z a-z 0-9 . _ ~ -`` (it travels as part of a subprotocol token).
CLIENT_ID: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
CLIENT_ID_RULE: Final = "a client id is 1 to 128 of A-Z a-z 0-9 . _ ~ -"


def is_client_id(value: object) -> bool:
    """Whether *value* is a valid client id (see :data:`CLIENT_ID`), for actor WebSockets and RPC alike."""
    return isinstance(value, str) and CLIENT_ID.fullmatch(value) is not None


_DONE: Final = clone.dumps(None)

State = Literal["connecting", "open", "closing", "closed"]


@final
class CloseFrame:
    """A close frame to send: *code* and *reason*."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code, self.reason = code, reason


Frame = str | bytes | CloseFrame


class Connection(Protocol):
    """The edge's side of a socket: takes frames to write. ``write`` must not block."""

    def write(self, frame: Frame) -> None: ...


@final
class WebSocket:
    """A WebSocket routed to an actor: the ``ws`` its hooks are given.

    The same object stands for the connection for its whole life, across evictions of the actor
    (compare with ``is``, or keep it in a set). Attributes:

    - ``client_id``: the id the client sent in its subprotocol list (``lmz.client-id.<id>``),
      or ``None``; it is also the socket's first tag.
    - ``subprotocols``: the subprotocols the client offered; ``subprotocol``: the one accepted.
    - ``raw``: accepted in raw mode (str and bytes frames as they are, no cloning).
    - ``state``: ``"connecting"``, ``"open"``, ``"closing"`` (a close was sent) or ``"closed"``.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "__weakref__",
        "_attachment",
        "_connection",
        "_tags",
        "actor_id",
        "auto_response_timestamp",
        "client_id",
        "raw",
        "state",
        "subprotocol",
        "subprotocols",
    )

    def __init__(
        self,
        actor_id: ActorId,
        connection: Connection,
        *,
        client_id: str | None = None,
        subprotocols: tuple[str, ...] = (),
    ) -> None:
        self.actor_id = actor_id
        self._connection = connection
        self.client_id = client_id
        self.subprotocols = subprotocols
        self.subprotocol: str | None = None
        self.raw = False
        self.state: State = "connecting"
        self._tags: tuple[str, ...] = ()
        self._attachment: bytes | None = None
        #: When the edge last answered this socket with the auto-response (mesh time), or None.
        self.auto_response_timestamp: float | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags given when the socket was accepted (the client id first, if any)."""
        return self._tags

    def send(self, data: object) -> None:
        """Send *data*: any clonable value (one binary frame of structured clone), or, on a raw
        socket, a ``str`` (a text frame) or bytes (a binary frame). Not a checkpoint.

        Inside a turn the frame leaves once the writes before it are committed (dropped if the
        commit fails); outside a turn it leaves at once.

        Raises:
            trio.ClosedResourceError: the socket is closing or closed.
            RuntimeError: the socket has not been accepted.
            TypeError: on a raw socket, *data* is not str or bytes.
            DataCloneError: *data* cannot be cloned.
            ValueError: the frame is larger than 32 MiB.
        """
        if self.state in ("closing", "closed"):
            raise trio.ClosedResourceError(f"the WebSocket is {self.state}")
        if self.state == "connecting":
            raise RuntimeError("the WebSocket has not been accepted (ctx.accept_websocket) yet")
        frame: Frame
        if not self.raw:
            frame = clone.dumps(data)
        elif isinstance(data, str):
            frame = data
        elif isinstance(data, bytes | bytearray | memoryview):
            frame = bytes(data)
        else:
            raise TypeError(f"a raw WebSocket sends str or bytes, not {type(data).__name__}")
        size = (
            len(frame) if isinstance(frame, bytes) or len(frame) * 4 <= MAX_MESSAGE else len(frame.encode())
        )
        if size > MAX_MESSAGE:
            raise ValueError(f"a WebSocket message is at most {MAX_MESSAGE} bytes, not {size}")
        _output(_Write(self, frame))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket with *code* (1000, or 3000-4999) and *reason* (at most 123 bytes of
        UTF-8). An output, like :meth:`send`; closing a closing or closed socket does nothing.
        ``on_close`` is not called for a close the actor made. Not a checkpoint.

        Raises:
            ValueError: a code or reason the protocol does not allow.
        """
        if isinstance(code, bool) or not isinstance(code, int) or not (code == 1000 or 3000 <= code <= 4999):
            raise ValueError(f"a close code is 1000 or 3000-4999, not {code!r}")
        if not isinstance(reason, str) or len(reason.encode()) > 123:
            raise ValueError("a close reason is a str of at most 123 bytes of UTF-8")
        if self.state in ("closing", "closed"):
            return
        if self.state == "connecting":
            raise RuntimeError("the WebSocket has not been accepted; return a Response to refuse it")
        self.state = "closing"
        _output(_Write(self, CloseFrame(code, reason)))

    def serialize_attachment(self, value: object) -> None:
        """Keep a clone of *value* with the socket (at most 16 KiB cloned); it survives the
        actor's eviction, and goes with the socket. ``None`` removes it. Not a checkpoint.

        Raises:
            DataCloneError: *value* cannot be cloned.
            ValueError: it is larger than 16,384 bytes once cloned.
        """
        if value is None:
            self._attachment = None
            return
        data = clone.dumps(value)
        if len(data) > MAX_ATTACHMENT:
            raise ValueError(
                f"a WebSocket attachment is at most {MAX_ATTACHMENT} bytes cloned, not {len(data)}"
            )
        self._attachment = data

    def deserialize_attachment(self) -> object:
        """A fresh clone of the attachment, or ``None``. Not a checkpoint."""
        return None if self._attachment is None else clone.loads(self._attachment)

    def deliver(self, frame: Frame) -> None:
        """Write *frame* now (the runtime's side of an output)."""
        if self.state != "closed":
            self._connection.write(frame)

    def __repr__(self) -> str:
        return f"<WebSocket {self.actor_id.binding}/{self.actor_id.name or self.actor_id.hex[:12]} {self.state} tags={list(self._tags)}>"


def _output(deliver: Output) -> None:
    turn = current_turn.get()
    if turn is None:
        deliver()
    else:
        turn.activation.output(deliver)


@final
class _Write:
    """A frame waiting for the commit of the writes before it."""

    __slots__ = ("frame", "ws")

    def __init__(self, ws: WebSocket, frame: Frame) -> None:
        self.ws, self.frame = ws, frame

    def __call__(self) -> None:
        self.ws.deliver(self.frame)

    def fail(self, error: BaseException) -> None:
        if isinstance(self.frame, CloseFrame) and self.ws.state == "closing":
            self.ws.state = "open"  # the close did not happen
        log.warning("a WebSocket frame was dropped: %r", error)


@final
class _ActorSockets:
    __slots__ = ("auto_response", "sockets")

    def __init__(self) -> None:
        self.sockets: dict[WebSocket, None] = {}  # insertion-ordered set
        self.auto_response: tuple[str, str] | None = None


@final
class WebSocketRegistry:
    """The accepted sockets of every actor of a mesh, and their auto-responses (``mesh.websockets``)."""

    __slots__ = ("_actors",)

    def __init__(self) -> None:
        self._actors: dict[ActorId, _ActorSockets] = {}

    def sockets(self, actor_id: ActorId, tag: str | None = None) -> list[WebSocket]:
        entry = self._actors.get(actor_id)
        if entry is None:
            return []
        if tag is None:
            return list(entry.sockets)
        return [ws for ws in entry.sockets if tag in ws._tags]

    def count(self, actor_id: ActorId) -> int:
        entry = self._actors.get(actor_id)
        return 0 if entry is None else len(entry.sockets)

    def add(self, ws: WebSocket) -> None:
        entry = self._actors.get(ws.actor_id)
        if entry is None:
            entry = self._actors[ws.actor_id] = _ActorSockets()
        entry.sockets[ws] = None

    def remove(self, ws: WebSocket) -> None:
        entry = self._actors.get(ws.actor_id)
        if entry is not None:
            entry.sockets.pop(ws, None)
            self._prune(ws.actor_id, entry)

    def auto_response(self, actor_id: ActorId) -> tuple[str, str] | None:
        entry = self._actors.get(actor_id)
        return None if entry is None else entry.auto_response

    def set_auto_response(self, actor_id: ActorId, pair: tuple[str, str] | None) -> None:
        entry = self._actors.get(actor_id)
        if entry is None:
            entry = self._actors[actor_id] = _ActorSockets()
        entry.auto_response = pair
        self._prune(actor_id, entry)

    def _prune(self, actor_id: ActorId, entry: _ActorSockets) -> None:
        if not entry.sockets and entry.auto_response is None:
            del self._actors[actor_id]

    def __len__(self) -> int:
        """How many actors have sockets or an auto-response."""
        return len(self._actors)


# -- what ActorContext offers ----------------------------------------------------------------


def accept(
    activation: Activation,
    ws: object,
    tags: Iterable[str],
    raw: bool,
    subprotocol: str | None,
) -> None:
    """``ctx.accept_websocket``: see :meth:`ActorContext.accept_websocket`."""
    if not isinstance(ws, WebSocket):
        raise TypeError(f"accept_websocket() needs the ws given to on_connect, not {type(ws).__name__}")
    if ws.actor_id != activation.id:
        raise ValueError("this WebSocket was routed to another actor")
    turn = current_turn.get()
    if turn is None or turn.activation is not activation:
        raise RuntimeError("accept_websocket() can only be used inside one of this actor's turns")
    if ws.state != "connecting":
        raise ValueError(f"this WebSocket is already {'accepted' if ws.state == 'open' else ws.state}")
    if isinstance(tags, str):
        raise TypeError("tags must be a list of str, not a str")
    checked = [] if ws.client_id is None else [ws.client_id]
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"a tag is a non-empty str, not {tag!r}")
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"a tag is at most {MAX_TAG_LENGTH} characters, not {len(tag)}")
        if tag not in checked:
            checked.append(tag)
    if len(checked) > MAX_TAGS:
        raise ValueError(
            f"a WebSocket has at most {MAX_TAGS} tags (the client id counts), not {len(checked)}"
        )
    if subprotocol is None:
        offered = ws.subprotocols
        subprotocol = next((p for p in offered if not p.startswith(CLIENT_ID_PREFIX)), None)
        if subprotocol is None and offered:
            subprotocol = offered[0]  # browsers fail a handshake that selects none of those offered
    elif subprotocol not in ws.subprotocols:
        raise ValueError(f"the client did not offer the subprotocol {subprotocol!r}")
    registry = activation.mesh.websockets
    if registry.count(ws.actor_id) >= MAX_WEBSOCKETS_PER_ACTOR:
        raise OverloadedError(f"an actor holds at most {MAX_WEBSOCKETS_PER_ACTOR} WebSockets")
    ws._tags = tuple(checked)
    ws.raw = bool(raw)
    ws.subprotocol = subprotocol
    ws.state = "open"
    registry.add(ws)


def set_auto_response(activation: Activation, request: str | None, response: str | None) -> None:
    """``ctx.set_websocket_auto_response``: see :class:`ActorContext`."""
    pair: tuple[str, str] | None = None
    if request is not None or response is not None:
        for text in (request, response):
            if not isinstance(text, str) or not text:
                raise TypeError("the auto-response request and response are non-empty str (or both None)")
            if len(text) > MAX_AUTO_RESPONSE:
                raise ValueError(f"an auto-response string is at most {MAX_AUTO_RESPONSE} characters")
        assert request is not None
        assert response is not None
        pair = (request, response)
    activation.mesh.websockets.set_auto_response(activation.id, pair)


# -- events ----------------------------------------------------------------------------------


#: What a ConnectEvent's turn decided: accepted, or the response that refuses the upgrade.
ACCEPTED: Final = "accepted"


class _SocketEvent(Event):
    __slots__ = ("reply",)

    def __init__(self) -> None:
        self.reply = Reply()

    def fail(self, error: BaseException) -> None:
        self.reply.fail(error)

    def _done(self) -> None:
        self.reply.set(True, _DONE)


@final
class ConnectEvent(_SocketEvent):
    """Run ``on_connect(ws, request)``: the outcome (accepted, or a Response) leaves through the
    output gate."""

    __slots__ = ("outcome", "request", "ws")

    def __init__(self, ws: WebSocket, request: Request) -> None:
        super().__init__()
        self.ws, self.request = ws, request
        self.outcome: Response | Literal["accepted"] | None = None

    async def run(self, activation: Activation, turn: Turn) -> None:
        ws = self.ws
        token = current_call_context.set(None)
        outcome: Response | Literal["accepted"]
        try:
            result = await activation.run_segment(turn, _on_connect, activation.instance, ws, self.request)
        except Exception:
            log.exception(
                "on_connect of %s/%s failed", activation.id.binding, activation.id.name or activation.id.hex
            )
            result = Response(
                500, headers={"content-type": "text/plain; charset=utf-8"}, content="Internal Server Error"
            )
        finally:
            current_call_context.reset(token)
        if isinstance(result, Response):
            _forget(activation.mesh, ws)  # a Response refuses, even after accept_websocket
            outcome = result
        elif ws.state == "open":
            outcome = ACCEPTED
        else:
            outcome = Response(
                403,
                headers={"content-type": "text/plain; charset=utf-8"},
                content="Forbidden: the actor did not accept the WebSocket",
            )
        activation.output(_Decided(self, activation.mesh, outcome))


def _forget(mesh: Mesh, ws: WebSocket) -> None:
    if ws.state != "connecting":
        mesh.websockets.remove(ws)
        ws.state = "closed"


@final
class _Decided:
    __slots__ = ("event", "mesh", "outcome")

    def __init__(self, event: ConnectEvent, mesh: Mesh, outcome: Response | Literal["accepted"]) -> None:
        self.event, self.mesh, self.outcome = event, mesh, outcome

    def __call__(self) -> None:
        self.event.outcome = self.outcome
        self.event._done()

    def fail(self, error: BaseException) -> None:
        _forget(self.mesh, self.event.ws)
        self.event.fail(error)


async def _on_connect(node: object, ws: WebSocket, request: Request) -> Response | None:
    handler = getattr(node, "on_connect", None)
    if handler is None:
        return None
    result = handler(ws, request)
    if inspect.isawaitable(result):
        result = await result
    if result is not None and not isinstance(result, Response):
        raise TypeError(
            f"{type(node).__name__}.on_connect() returned {type(result).__name__}: return a Response to refuse, None otherwise"
        )
    return result


@final
class HookEvent(_SocketEvent):
    """Run ``on_message(ws, message)`` or ``on_close(ws, code, reason, was_clean)`` as a turn."""

    __slots__ = ("args", "hook")

    def __init__(self, hook: str, *args: object) -> None:
        super().__init__()
        self.hook, self.args = hook, args

    async def run(self, activation: Activation, turn: Turn) -> None:
        handler = getattr(activation.instance, self.hook, None)
        token = current_call_context.set(None)
        try:
            if handler is not None:
                await activation.run_segment(turn, _call, handler, self.args)
        except Exception:
            # Its writes were rolled back, its sends dropped; the socket stays open.
            log.exception(
                "%s of %s/%s raised",
                self.hook,
                activation.id.binding,
                activation.id.name or activation.id.hex,
            )
        finally:
            current_call_context.reset(token)
        activation.output(_Ended(self))


async def _call(handler: Callable[..., object], args: tuple[object, ...]) -> None:
    result = handler(*args)
    if inspect.isawaitable(result):
        await result


@final
class _Ended:
    __slots__ = ("event",)

    def __init__(self, event: _SocketEvent) -> None:
        self.event = event

    def __call__(self) -> None:
        self.event._done()

    def fail(self, error: BaseException) -> None:
        self.event.fail(error)


async def run_event(mesh: Mesh, actor_id: ActorId, event: _SocketEvent) -> None:
    """Deliver *event* to the actor as a turn and wait until its outputs are released.

    Raises:
        OverloadedError, ActorResetError: not run, or its commit failed (its outputs dropped).
        trio.ClosedResourceError: the mesh is closed, or closed first.

    Cancellation: a checkpoint; cancelling stops the waiting only.
    """
    reply = event.reply
    mesh._pending.add(reply)
    try:
        mesh.activate(actor_id).submit(event)
        try:
            await reply.wait()
        except (ActorResetError, OverloadedError):
            raise
        except Exception as exc:
            if mesh.stopping:
                raise trio.ClosedResourceError("the mesh closed before the event ran") from exc
            raise
    finally:
        mesh._pending.discard(reply)
