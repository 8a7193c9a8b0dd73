"""The RPC endpoint of the edge: ``[prefix]/__rpc/{binding}/{instance}`` over HTTP POST and WebSocket.

Theory of operation
-------------------
:class:`RpcPolicy` is what ``create_app(mesh, rpc=RpcPolicy())`` takes; the app calls its
``mount(app)``, which makes an :class:`RpcEndpoint`. The app hands the endpoint every
``http``/``websocket`` scope whose path is under ``[prefix]/__rpc`` (``claims``). The rest of
the path is routed with the edge's own router (the same binding and instance rules, a 400 for
a path it cannot route, a 404 for a binding it does not know or a worker binding).

Framing is the protocol layer's (:class:`~lumenize_trio.protocol.RpcServerConnection`): one
BATCH frame per POST body or WebSocket binary message, answered by one RESULTS frame. The calls
of a batch run one at a time with :func:`~lumenize_trio.protocol.plan_batch` (pipelined
references resolved), each through ``mesh.call(actor, chain)``: the ``@mesh`` check, guards and
``on_before_call`` apply, and each call is a turn of the actor. With ``expose_internals=True``
each call goes through the separate unchecked path of ``_internals`` instead.

A WebSocket is served by two tasks: the reader runs batches in order (so a batch's results leave
before the next batch runs) and answers PING; the writer sends what the reader and
:func:`send_downstream` put in the socket's queue. A protocol error sends a CLOSE frame, then
closes the socket with its code.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Final, final
from urllib.parse import parse_qsl, unquote

import attrs
import httpx
import trio

from ..edge._app import run_hook
from ..edge._asgi import BodyTooLarge, Disconnected, make_request, raw_path, read_body
from ..edge._cors import is_preflight, preflight, response_headers
from ..edge._routing import Route, Router, RoutingError
from ..edge._websocket import upgrade_url
from ..http import Request, Response
from ..protocol import (
    MAX_FRAME_SIZE,
    BatchReceived,
    Close,
    CloseCode,
    Ping,
    ProtocolError,
    RpcServerConnection,
    plan_batch,
)
from ..runtime import ActorId
from ..runtime._http_event import internal_error
from ..runtime._websockets import CLIENT_ID_RULE, is_client_id
from ._downstream import register, unregister
from ._internals import call_unchecked

if TYPE_CHECKING:
    from ..edge import EdgeApp
    from ..edge._asgi import Message, Receive, Scope, Send
    from ..protocol import Outcome
    from ..runtime import Mesh

log = logging.getLogger("lumenize_trio")

#: The path segment, after the app's prefix, that the RPC endpoint lives under.
RPC_SEGMENT: Final = "__rpc"
#: The WebSocket subprotocol prefix a client sends its id in: ``lmz.client-id.<id>``.
CLIENT_ID_SUBPROTOCOL: Final = "lmz.client-id."
#: Frames waiting to be written to one socket; a downstream push past it is dropped.
SOCKET_QUEUE: Final = 1024

_CBOR: Final = [(b"content-type", b"application/cbor")]


@final
@attrs.frozen
class RpcPolicy:
    """What the RPC endpoint of an app allows: ``create_app(mesh, rpc=RpcPolicy())``.

    Attributes:
        expose_internals: ``False`` (the default): only ``@mesh`` methods are reachable, with
            their guards, exactly as for any mesh caller. ``True`` runs chains without the
            ``@mesh`` check, so a client reaches the actor's internals (``ctx.storage``...).
            **For tests and local tools only: never on a server others can reach.**

    .. versionadded:: 0.1
    """

    expose_internals: bool = attrs.field(default=False, kw_only=True)

    def mount(self, app: EdgeApp) -> RpcEndpoint:
        """The endpoint for *app* (called by ``create_app``)."""
        return RpcEndpoint(app, self)


@final
class RpcEndpoint:
    """The RPC endpoint of one app (made by :meth:`RpcPolicy.mount`).

    Attributes:
        frames_received: how many frames (POST bodies and WebSocket messages) it has received:
            the number of round trips clients made, for tests and monitoring.

    .. versionadded:: 0.1
    """

    __slots__ = ("_app", "_router", "_under", "cors", "frames_received", "mesh", "policy")

    def __init__(self, app: EdgeApp, policy: RpcPolicy) -> None:
        self._app = app
        self.mesh: Mesh = app.mesh
        self.cors = app.cors
        self.policy = policy
        self._under = (*app._router.prefix, RPC_SEGMENT)
        self._router = Router(app.mesh, self._under)
        self.frames_received = 0

    def claims(self, scope: Scope) -> bool:
        """Whether the path of *scope* is under ``[prefix]/__rpc``."""
        text = raw_path(scope).decode("latin-1")
        segments = text[1:].split("/")
        n = len(self._under)
        return (
            text.startswith("/")
            and len(segments) >= n
            and [unquote(s, errors="replace") for s in segments[:n]] == list(self._under)
        )

    def _target(self, scope: Scope) -> ActorId | tuple[int, str]:
        """The actor a scope addresses, or the status and text to refuse it with."""
        route = self._route(scope)
        if isinstance(route, tuple):
            return route
        if isinstance(route.instance, ActorId):
            return route.instance
        assert route.instance is not None
        return self.mesh.namespace(route.binding).id_from_name(route.instance)

    def _route(self, scope: Scope) -> Route | tuple[int, str]:
        try:
            route = self._router.route(raw_path(scope))
        except RoutingError as exc:
            return exc.status, str(exc)
        if route is None or route.instance is None or route.rest:
            return 404, "Not Found: the RPC endpoint is /__rpc/{binding}/{instance}, for actor bindings"
        return route

    async def _hook(self, scope: Scope, body: bytes, *, connect: bool) -> Response | bytes | None:
        """Run the app's ``on_before_request`` (or ``on_before_connect`` for an upgrade) on an RPC
        request: a Response refuses it (returned); a Request replaces the body of an HTTP batch
        (returned as bytes); ``None`` goes on. A hook that raises refuses with 500 (logged)."""
        hook = self._app.on_before_connect if connect else self._app.on_before_request
        if hook is None:
            return None
        route = self._route(scope)
        assert not isinstance(route, tuple)  # routed before the hook runs
        try:
            if connect:  # the upgrade request, as the edge shows it to on_before_connect
                request = Request(
                    "GET", upgrade_url(scope, list(scope["headers"])), headers=list(scope["headers"])
                )
            else:
                request = make_request(scope, body)
            decided = await run_hook(hook, request, route)
        except Exception:
            log.exception(
                "the %s hook raised for an RPC request",
                "on_before_connect" if connect else "on_before_request",
            )
            return internal_error()
        if isinstance(decided, Request):
            return decided.content
        return decided

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ``http`` or ``websocket`` scope claimed by :meth:`claims`."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self._websocket(scope, receive, send)

    # -- running a batch ----------------------------------------------------------------------

    async def _run(self, actor_id: ActorId, event: BatchReceived) -> list[Outcome]:
        """Run a batch's calls in order. Each reply goes into the RESULTS frame as the actor
        encoded it (decoded only if a later call of the batch uses it)."""
        plan = plan_batch(event.calls)
        while (ready := plan.next_call()) is not None:
            try:
                if self.policy.expose_internals:
                    plan.succeed(ready.call_id, await call_unchecked(self.mesh, actor_id, ready.chain))
                else:
                    plan.settle_encoded(ready.call_id, *await self.mesh.call_outcome(actor_id, ready.chain))
            except Exception as exc:
                plan.fail(ready.call_id, exc)
        return plan.outcomes()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = httpx.Headers(list(scope["headers"]))
        extra = response_headers(self.cors, headers.get("origin"))
        target = self._target(scope)
        if isinstance(target, tuple):
            await _respond(send, target[0], target[1].encode(), extra, [(b"content-type", b"text/plain")])
            return
        method = scope["method"]
        if is_preflight(method, headers):
            answer = preflight(self.cors, headers)
            await _respond(send, answer.status, answer.content, [], list(answer.headers.raw))
            return
        if method != "POST":
            await _respond(send, 405, b"POST a BATCH frame", extra, [(b"allow", b"POST")])
            return
        server = RpcServerConnection()
        try:
            body = await read_body(scope, receive, MAX_FRAME_SIZE)
        except BodyTooLarge:
            close = server.send_close(CloseCode.TOO_LARGE, f"a frame is at most {MAX_FRAME_SIZE} bytes")
            await _respond(send, 413, close, extra, _CBOR)
            return
        except Disconnected:
            return
        decided = await self._hook(scope, body, connect=False)
        if isinstance(decided, Response):
            own = [(k, v) for k, v in decided.headers.raw if k.lower() != b"content-length"]
            await _respond(send, decided.status, decided.content, extra, own)
            return
        if decided is not None:
            body = decided
        self.frames_received += 1
        [event] = server.receive_data(body)
        if type(event) is BatchReceived:
            results = server.send_results(await self._run(target, event))
            await _respond(send, 200, results, extra, _CBOR)
        elif type(event) is Ping:
            await _respond(send, 200, server.send_pong(), extra, _CBOR)
        else:
            if type(event) is ProtocolError:
                code, message = event.code, event.message
            else:
                code, message = int(CloseCode.PROTOCOL_ERROR), "over HTTP, send a BATCH or a PING frame"
            await _respond(send, 400, server.send_close(code, message), extra, _CBOR)

    # -- WebSocket ----------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client went away
        target = self._target(scope)
        if isinstance(target, tuple):
            await _refuse(scope, send, *target)
            return
        accept: Message = {"type": "websocket.accept"}
        client_id = None
        for protocol in scope.get("subprotocols") or ():
            if protocol.startswith(CLIENT_ID_SUBPROTOCOL):
                client_id = protocol.removeprefix(CLIENT_ID_SUBPROTOCOL)
                accept["subprotocol"] = protocol
                break
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            client_id = dict(parse_qsl(query)).get("client_id")
        if client_id is not None and not is_client_id(client_id):
            await _refuse(scope, send, 400, f"Bad client id: {CLIENT_ID_RULE}")
            return
        decided = await self._hook(scope, b"", connect=True)
        if isinstance(decided, Response):
            await _refuse(scope, send, decided.status, decided.text)
            return
        await send(accept)
        socket = _Socket(send, client_id)
        register(self.mesh, target, socket)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(socket.write)
                close = await self._read(target, receive, socket)
                if close is None:
                    nursery.cancel_scope.cancel()  # the client is gone: nothing more to write
                else:
                    await socket.finish(*close)
        finally:
            unregister(self.mesh, target, socket)

    async def _read(self, actor_id: ActorId, receive: Receive, socket: _Socket) -> tuple[int, str] | None:
        """Serve frames until the client closes (``None``) or the socket must close (code, reason)."""
        server = RpcServerConnection()
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return None  # websocket.disconnect
            self.frames_received += 1
            data = message.get("bytes")
            if data is None:
                events: list[object] = [
                    ProtocolError(int(CloseCode.PROTOCOL_ERROR), "frames are binary messages")
                ]
            else:
                events = list(server.receive_data(data))
            for event in events:
                if type(event) is BatchReceived:
                    await socket.answer(server.send_results(await self._run(actor_id, event)))
                elif type(event) is Ping:
                    await socket.answer(server.send_pong())
                elif type(event) is Close:
                    return int(CloseCode.NORMAL), ""
                elif type(event) is ProtocolError:
                    await socket.put(server.send_close(event.code, event.message))
                    return event.code, event.message
                # a Pong needs no answer


@final
class _Socket:
    """One open RPC WebSocket: its client id, and its queue of downstream pushes (which actors
    make without waiting), drained by :meth:`write`.

    Answers (RESULTS, PONG) are sent by the task that reads the socket, without the queue: one
    task switch fewer per round trip. The server's ``send`` writes each message whole, so answers
    and pushes interleave only between messages; an answer may overtake pushes still queued.
    """

    __slots__ = ("_in", "_out", "_send", "client_id")

    def __init__(self, send: Send, client_id: str | None) -> None:
        self._send = send
        self.client_id = client_id
        self._in, self._out = trio.open_memory_channel[dict[str, object]](SOCKET_QUEUE)

    async def answer(self, data: bytes) -> None:
        """Send an answer now (a checkpoint); if the client is gone, the reader will see it."""
        try:
            await self._send({"type": "websocket.send", "bytes": data})
        except Exception as exc:  # pragma: no cover - the server's socket is already gone
            log.debug("RPC socket of client %r: send failed: %r", self.client_id, exc)

    async def put(self, data: bytes) -> None:
        """Queue a frame behind the pushes already queued (the CLOSE frame sent before
        :meth:`finish`): a checkpoint that waits while the queue is full."""
        with contextlib.suppress(trio.BrokenResourceError):  # the writer stopped: the client left
            await self._in.send({"type": "websocket.send", "bytes": data})

    def push(self, data: bytes) -> None:
        """Queue a downstream frame without waiting; dropped (logged) if the queue is full."""
        try:
            self._in.send_nowait({"type": "websocket.send", "bytes": data})
        except trio.WouldBlock:
            log.warning(
                "a downstream push to client %r was dropped: its socket's queue is full", self.client_id
            )
        except (trio.ClosedResourceError, trio.BrokenResourceError):  # pragma: no cover - closing
            pass

    async def finish(self, code: int, reason: str) -> None:
        """Close the socket with *code* after what is queued."""
        reason_bytes = reason.encode()[:123].decode(errors="ignore")
        await self._in.send({"type": "websocket.close", "code": code, "reason": reason_bytes})
        await self._in.aclose()

    async def write(self) -> None:
        async with self._out:
            async for message in self._out:
                try:
                    await self._send(message)
                except Exception as exc:  # pragma: no cover - the server's socket is already gone
                    log.debug("RPC socket of client %r: send failed: %r", self.client_id, exc)
                    return


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]],
    headers: list[tuple[bytes, bytes]],
) -> None:
    all_headers = [*headers, *extra, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse(scope: Scope, send: Send, status: int, text: str) -> None:
    """Refuse a WebSocket upgrade with an HTTP status (or a close before accept)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = text.encode()
        await _respond_ws(send, status, body)
    else:  # pragma: no cover - Hypercorn has the extension
        await send({"type": "websocket.close", "code": 1008})


async def _respond_ws(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
