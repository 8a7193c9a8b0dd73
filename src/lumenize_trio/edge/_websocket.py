"""The edge's WebSocket route: the upgrade, then the connection of a hibernatable socket.

Theory of operation
-------------------
An upgrade to ``[prefix]/{binding}/{instance}[/rest]`` goes, in the task the server gives it:

1. *Origin*: a browser's ``Origin`` must be the edge's own, or allowed by the CORS policy
   (:meth:`CorsPolicy.allows`); otherwise 403 before the upgrade. No ``Origin`` (not a browser)
   passes.
2. *Hook*: ``on_before_connect(request, route)`` may refuse (a Response), replace the request
   (a Request) or let it through (None).
3. *Actor*: ``on_connect(ws, request)`` runs as a turn (``runtime._websockets``); the upgrade is
   answered when its outputs are released: accepted, refused with its Response, or 403 when it
   neither accepted nor answered.
4. *Connection*: this task then reads the socket (one turn per message, waiting for each turn,
   so messages arrive in order; auto-responses answered here without a turn) and a child task
   writes the frames the actor's outputs put in its queue.

The socket's handle, tags and attachment live in ``mesh.websockets``, not in the activation: the
actor can be evicted while the connection stays open.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
from typing import TYPE_CHECKING, Final

import trio

from .. import clone
from .._exceptions import ActorResetError, OverloadedError
from ..http import Request, Response
from ..runtime import ActorId, _websockets
from ..runtime._http_event import internal_error, plain_response
from ..runtime._websockets import (
    CLIENT_ID_PREFIX,
    CLIENT_ID_RULE,
    CloseFrame,
    ConnectEvent,
    Frame,
    HookEvent,
    WebSocket,
    is_client_id,
    run_event,
)
from ._asgi import own_url
from ._cors import response_headers

if TYPE_CHECKING:
    from ..runtime import Mesh
    from ._app import EdgeApp
    from ._asgi import Receive, Scope, Send
    from ._routing import Route

log = logging.getLogger("lumenize_trio")

#: Bytes of frames that may wait for a slow client before its socket is closed with 1013.
MAX_BUFFERED: Final = 16 * 2**20

_HTTP_SCHEME: Final = {"ws": "http", "wss": "https"}


async def serve_websocket(app: EdgeApp, scope: Scope, receive: Receive, send: Send, route: Route) -> None:
    """Answer an upgrade routed to *route* (after ``websocket.connect``), then serve the socket."""
    headers: list[tuple[bytes, bytes]] = list(scope["headers"])
    origin = next((v.decode("latin-1") for n, v in headers if n == b"origin"), None)
    cors = response_headers(app.cors, origin)
    if origin is not None and not _origin_allowed(app, scope, headers, origin):
        await reject(scope, send, plain_response(403, "Forbidden: origin not allowed"), cors)
        return
    response, ws = await _upgrade(app, scope, headers, route)
    if response is not None:
        await reject(scope, send, response, cors)
        return
    assert ws is not None
    await send({"type": "websocket.accept", "subprotocol": ws.subprotocol, "headers": cors})
    await _connected(app.mesh, ws, receive, send)


def upgrade_url(scope: Scope, headers: list[tuple[bytes, bytes]]) -> str:
    """The upgrade request's URL, with the HTTP scheme (``ws`` -> ``http``, ``wss`` -> ``https``).

    Raises:
        ValueError: a bad ``Host`` header.
    """
    scheme, _, rest = own_url(scope, headers).partition("://")
    return f"{_HTTP_SCHEME.get(scheme, scheme)}://{rest}"


def _origin_allowed(app: EdgeApp, scope: Scope, headers: list[tuple[bytes, bytes]], origin: str) -> bool:
    if app.cors is not None and app.cors.allows(origin):
        return True
    try:
        own = upgrade_url(scope, headers)
    except ValueError:
        return False
    scheme, _, rest = own.partition("://")
    return origin.rstrip("/").lower() == f"{scheme}://{rest.partition('/')[0]}".lower()


async def _upgrade(
    app: EdgeApp, scope: Scope, headers: list[tuple[bytes, bytes]], route: Route
) -> tuple[Response | None, WebSocket | None]:
    """Hook and ``on_connect``: a Response refusing the upgrade, or the accepted socket."""
    try:
        request = Request("GET", upgrade_url(scope, headers), headers=headers)
    except (TypeError, ValueError) as exc:
        return plain_response(400, f"Bad Request: {exc}"), None
    if app.on_before_connect is not None:
        try:
            decided = app.on_before_connect(request, route)
            if inspect.isawaitable(decided):
                decided = await decided
            if decided is not None and not isinstance(decided, Request | Response):
                raise TypeError(
                    f"on_before_connect returned {type(decided).__name__}: it must return a Response, a Request or None"
                )
        except Exception:
            log.exception("on_before_connect raised for %s", request.url)
            return internal_error(), None
        if isinstance(decided, Response):
            return decided, None
        if decided is not None:
            request = decided
    if route.instance is None:
        return plain_response(400, f"A WebSocket needs an actor: /{route.binding}/{{instance}}"), None
    mesh = app.mesh
    actor_id = (
        route.instance
        if isinstance(route.instance, ActorId)
        else mesh.namespace(route.binding).id_from_name(route.instance)
    )
    subprotocols = tuple(str(p) for p in scope.get("subprotocols") or ())
    client_id = next(
        (p[len(CLIENT_ID_PREFIX) :] for p in subprotocols if p.startswith(CLIENT_ID_PREFIX)), None
    )
    if client_id is not None and not is_client_id(client_id):
        return plain_response(400, f"Bad client id: {CLIENT_ID_RULE}"), None
    connection = _Connection()
    ws = connection.ws = WebSocket(actor_id, connection, client_id=client_id, subprotocols=subprotocols)
    event = ConnectEvent(ws, request)
    try:
        await run_event(mesh, actor_id, event)
    except (OverloadedError, ActorResetError, trio.ClosedResourceError) as exc:
        log.warning("upgrade to %s/%s not answered: %r", route.binding, route.instance, exc)
        return plain_response(503, "Service Unavailable"), None
    except Exception:
        log.exception("upgrade to %s/%s failed", route.binding, route.instance)
        return internal_error(), None
    outcome = event.outcome
    if isinstance(outcome, Response):
        return outcome, None
    return None, ws


async def reject(scope: Scope, send: Send, response: Response, extra: list[tuple[bytes, bytes]]) -> None:
    """Refuse an upgrade with *response* (an HTTP answer if the server can send one; else a
    ``websocket.close`` before accepting, which servers answer with 403)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = response.content
    out = [
        (n.lower(), v)
        for n, v in response.headers.raw
        if n.lower() not in (b"content-length", b"transfer-encoding", b"connection")
    ]
    out += extra
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "websocket.http.response.start", "status": response.status, "headers": out})
    await send({"type": "websocket.http.response.body", "body": body})


class _Connection:
    """The write side of one socket: frames queued by the runtime, written by the writer task.

    At most ``MAX_BUFFERED`` bytes wait to be written (a frame is refused only if the buffer is
    already past it, so one message of any allowed size fits): a client that reads too slowly
    has its socket closed with 1013 once the frames before are written, instead of the edge's
    memory growing without bound.
    """

    __slots__ = ("buffered", "edge_close", "inbox", "outbox", "ws")

    def __init__(self) -> None:
        self.inbox, self.outbox = trio.open_memory_channel[Frame](math.inf)
        self.buffered = 0
        self.edge_close: CloseFrame | None = None  # a close the edge made (not the actor)
        self.ws: WebSocket | None = None

    def write(self, frame: Frame) -> None:
        if self.edge_close is not None:
            return  # closing: nothing more goes out
        if not isinstance(frame, CloseFrame):
            if self.buffered > MAX_BUFFERED:
                log.warning(
                    "%r: the client reads too slowly (%d bytes waiting); closing it", self.ws, self.buffered
                )
                if self.ws is not None:
                    self.close(self.ws, 1013, "Send buffer full")
                return
            self.buffered += len(frame)
        with contextlib.suppress(trio.ClosedResourceError):  # the connection has ended
            self.inbox.send_nowait(frame)

    def close(self, ws: WebSocket, code: int, reason: str) -> None:
        """Close *ws* from the edge (codes the actor may not use: 1001, 1007, 1009, 1013);
        ``on_close`` will get *code* with ``was_clean=False``."""
        if ws.state == "open":
            self.write(CloseFrame(code, reason))
            self.edge_close = CloseFrame(code, reason)
            ws.state = "closing"

    async def run_writer(self, send: Send) -> None:
        async for frame in self.outbox:
            if isinstance(frame, CloseFrame):
                await send({"type": "websocket.close", "code": frame.code, "reason": frame.reason})
                return
            if isinstance(frame, str):
                await send({"type": "websocket.send", "text": frame})
            else:
                await send({"type": "websocket.send", "bytes": frame})
            self.buffered -= len(frame)


async def _connected(mesh: Mesh, ws: WebSocket, receive: Receive, send: Send) -> None:
    """Serve an accepted socket until it closes; then ``on_close`` (unless the actor closed it)."""
    connection = ws._connection
    assert isinstance(connection, _Connection)
    code, reason = 1006, ""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connection.run_writer, send)
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.disconnect":
                    code, reason = int(message.get("code", 1005)), str(message.get("reason") or "")
                    break
                if kind == "websocket.receive" and ws.state == "open":
                    await _received(mesh, ws, connection, message.get("text"), message.get("bytes"))
            nursery.cancel_scope.cancel()
    finally:
        closed_by_actor = ws.state == "closing" and connection.edge_close is None
        mesh.websockets.remove(ws)
        ws.state = "closed"
        connection.inbox.close()
    if closed_by_actor:
        return
    was_clean = code not in (1005, 1006)
    if connection.edge_close is not None:
        code, reason, was_clean = connection.edge_close.code, connection.edge_close.reason, False
    try:
        await run_event(mesh, ws.actor_id, HookEvent("on_close", ws, code, reason, was_clean))
    except Exception as exc:
        log.warning("on_close of %r could not run: %r", ws, exc)


async def _received(
    mesh: Mesh, ws: WebSocket, connection: _Connection, text: str | None, data: bytes | None
) -> None:
    """One incoming message: answered here (auto-response, limits) or delivered as a turn."""
    value: object
    if text is not None:
        if len(text) * 4 > _websockets.MAX_MESSAGE and len(text.encode()) > _websockets.MAX_MESSAGE:
            connection.close(ws, 1009, "Message Too Big")
            return
        pair = mesh.websockets.auto_response(ws.actor_id)
        if pair is not None and text == pair[0]:
            connection.write(pair[1])
            ws.auto_response_timestamp = mesh.clock.now()
            return
        value = text
    else:
        payload = bytes(data or b"")
        if len(payload) > _websockets.MAX_MESSAGE:
            connection.close(ws, 1009, "Message Too Big")
            return
        if ws.raw:
            value = payload
        else:
            try:
                value = clone.loads(payload)
            except Exception as exc:
                log.info("%r sent a frame that is not a structured clone: %r", ws, exc)
                connection.close(ws, 1007, "Invalid structured clone")
                return
    try:
        await run_event(mesh, ws.actor_id, HookEvent("on_message", ws, value))
    except OverloadedError:
        connection.close(ws, 1013, "Try Again Later")
    except trio.ClosedResourceError:
        connection.close(ws, 1001, "Going Away")
    except Exception as exc:  # a reset: the message's outputs were dropped, the socket stays
        log.warning("a message of %r was not handled: %r", ws, exc)
