"""The edge's ASGI application: routes HTTP requests to ``on_request`` of actors and workers.

Theory of operation
-------------------
Each request is handled in the task the server gives it, in this order:

1. *Route* the raw path (``_routing``): not ours -> the fallback app, or 404; a named binding
   that cannot be routed -> 400 with the reason.
2. *Preflight*: a CORS preflight is answered here (``_cors``), never by the actor.
3. *Body*: read whole, up to ``max_request_body`` (413 beyond), into a :class:`Request` value.
4. *Hook*: ``on_before_request(request, route)`` may answer (a Response), replace the request
   (a Request), or let it through (None).
5. *Node*: an actor gets the request as a turn and answers through its output gate
   (``runtime._http_event``); a worker binding gets a fresh instance.
6. *Send* the response, with the CORS headers of the policy.

WebSocket scopes go through the same routing, then to ``_websocket`` (origin check,
``on_before_connect``, the actor's ``on_connect`` as a turn, then the hibernatable connection).
``lifespan`` is answered here.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Final, Protocol, final

import trio

from .._exceptions import ActorResetError, OverloadedError
from ..http import Request, Response
from ..runtime import ActorId, Mesh
from ..runtime._http_event import internal_error, plain_response, request_actor, request_worker
from ._asgi import (
    ASGIApp,
    BodyTooLarge,
    Disconnected,
    Receive,
    Scope,
    Send,
    make_request,
    raw_path,
    read_body,
    send_response,
)
from ._cors import CorsPolicy, is_preflight, preflight, response_headers
from ._routing import Route, Router, RoutingError, check_prefix
from ._websocket import serve_websocket

log = logging.getLogger("lumenize_trio")

#: The default request body limit: 100 MiB, as on the platform.
DEFAULT_MAX_REQUEST_BODY: Final = 100 * 2**20

HookResult = Request | Response | None
#: ``on_before_request(request, route)``: sync or async; a Response answers, a Request replaces.
BeforeRequest = Callable[[Request, Route], HookResult | Awaitable[HookResult]]
#: ``on_before_connect(request, route)``: the same, for WebSocket upgrades.
BeforeConnect = Callable[[Request, Route], HookResult | Awaitable[HookResult]]


class RpcEndpoint(Protocol):
    """What an RPC policy mounts on an app (``lumenize_trio.rpc`` implements it): the paths it
    claims, and how it serves them."""

    def claims(self, scope: Scope) -> bool: ...  # pragma: no cover - a protocol

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...  # pragma: no cover


class RpcMount(Protocol):
    """An RPC policy (``lumenize_trio.rpc.RpcPolicy``): makes the endpoint of one app."""

    def mount(self, app: EdgeApp) -> RpcEndpoint: ...  # pragma: no cover - a protocol


@final
class EdgeApp:
    """The ASGI 3 application made by :func:`create_app`; call it as ``await app(scope,
    receive, send)`` (any ASGI server does).

    Attributes:
        mesh: the mesh whose actors it serves.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_router",
        "_rpc",
        "cors",
        "fallback",
        "max_request_body",
        "mesh",
        "on_before_connect",
        "on_before_request",
    )

    def __init__(
        self,
        mesh: Mesh,
        router: Router,
        *,
        cors: CorsPolicy | None,
        on_before_request: BeforeRequest | None,
        on_before_connect: BeforeConnect | None,
        max_request_body: int,
        fallback: ASGIApp | None,
    ) -> None:
        self.mesh = mesh
        self._router = router
        self.cors = cors
        self.on_before_request = on_before_request
        self.on_before_connect = on_before_connect
        self.max_request_body = max_request_body
        self.fallback = fallback
        self._rpc: RpcEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope (``http``, ``websocket`` or ``lifespan``).

        Cancellation: a checkpoint; cancelling (the client went away) stops waiting for the
        node, whose turn still runs to its end.
        """
        kind = scope["type"]
        if self._rpc is not None and kind != "lifespan" and self._rpc.claims(scope):
            await self._rpc(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    def _route(self, scope: Scope) -> Route | RoutingError | None:
        try:
            return self._router.route(raw_path(scope))
        except RoutingError as exc:
            return exc

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope)
        if route is None and self.fallback is not None:
            await self.fallback(scope, receive, send)
            return
        origin = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"origin"), None)
        head = scope["method"] == "HEAD"
        response = await self._answer(scope, receive, route)
        if response is not None:
            await send_response(send, response, head=head, extra=response_headers(self.cors, origin))

    async def _answer(
        self, scope: Scope, receive: Receive, route: Route | RoutingError | None
    ) -> Response | None:
        """The response to an HTTP request (``None``: the client went away)."""
        if route is None:
            return plain_response(404, "Not Found")
        if isinstance(route, RoutingError):
            return plain_response(route.status, str(route))
        try:
            body = await read_body(scope, receive, self.max_request_body)
        except BodyTooLarge:
            return plain_response(413, f"Request body larger than {self.max_request_body} bytes")
        except Disconnected:
            return None
        try:
            request = make_request(scope, body)
        except (TypeError, ValueError) as exc:
            return plain_response(400, f"Bad Request: {exc}")
        headers = request.headers
        if is_preflight(request.method, headers):
            return preflight(self.cors, headers)
        if self.on_before_request is not None:
            try:
                decided = await run_hook(self.on_before_request, request, route)
            except Exception:
                log.exception("on_before_request raised for %s", request.url)
                return internal_error()
            if isinstance(decided, Response):
                return decided
            if decided is not None:
                request = decided
        return await self._deliver(route, request)

    async def _deliver(self, route: Route, request: Request) -> Response:
        mesh = self.mesh
        try:
            if isinstance(route.instance, ActorId):
                return await request_actor(mesh, route.instance, request)
            if route.instance is None:
                return await request_worker(mesh, route.binding, request)
            return await request_actor(
                mesh, mesh.namespace(route.binding).id_from_name(route.instance), request
            )
        except (OverloadedError, ActorResetError, trio.ClosedResourceError) as exc:
            log.warning("request to %s/%s not answered: %r", route.binding, route.instance, exc)
            return plain_response(503, "Service Unavailable")
        except Exception:
            log.exception("request to %s/%s failed", route.binding, route.instance)
            return internal_error()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope)
        if route is None and self.fallback is not None:
            await self.fallback(scope, receive, send)
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client went away
        if route is None:
            status, text = 404, "Not Found"
        elif isinstance(route, RoutingError):
            status, text = route.status, str(route)
        else:
            await serve_websocket(self, scope, receive, send, route)
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            body = text.encode()
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})  # before accept: the server's 403


async def run_hook(hook: BeforeRequest, request: Request, route: Route) -> HookResult:
    result = hook(request, route)
    if inspect.isawaitable(result):
        result = await result
    if result is None or isinstance(result, Request | Response):
        return result
    raise TypeError(
        f"on_before_request returned {type(result).__name__}: it must return a Response, a Request or None"
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    """Answer the server's lifespan messages (there is nothing to start or stop)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(
    mesh: Mesh,
    *,
    prefix: str = "",
    cors: CorsPolicy | None = None,
    on_before_request: BeforeRequest | None = None,
    on_before_connect: BeforeConnect | None = None,
    rpc: RpcMount | None = None,
    max_request_body: int = DEFAULT_MAX_REQUEST_BODY,
    fallback: ASGIApp | None = None,
) -> EdgeApp:
    """An ASGI 3 application that routes HTTP requests to the nodes of *mesh*.

    ``[prefix]/{binding}/{instance}[/rest]`` reaches ``on_request`` of the actor *instance* (a
    name, or a 64-hex id) of *binding*; ``[prefix]/{binding}[/rest]`` reaches a worker binding.
    Binding segments may be written in kebab case (``my-do`` for ``MY_DO`` or ``MyDo``). See
    ``docs/edge.md`` for the full rules and status codes. Serve it with :func:`serve`, or with
    any ASGI server running under Trio in the mesh's run.

    Args:
        mesh: the open mesh whose nodes are served.
        prefix: a path the routes live under (``"/api"``); ``""`` for none.
        cors: which other origins may read responses; ``None`` is same-origin only.
        on_before_request: ``hook(request, route)``, sync or async, before a request reaches
            its node: return a Response to answer it (the node is not woken), a Request to
            replace it, or None to let it through. An exception in it gives a generic 500.
        on_before_connect: the same for WebSocket upgrades, after the origin check and
            before the actor's ``on_connect`` (see "WebSockets" in ``docs/edge.md``).
        rpc: an RPC policy (``lumenize_trio.rpc.RpcPolicy()``) to mount the RPC endpoint at
            ``[prefix]/__rpc/{binding}/{instance}`` (see ``docs/rpc.md``); ``None`` for none.
        max_request_body: the largest request body accepted, in bytes (413 beyond).
        fallback: an ASGI app for the requests the routes do not match (instead of a 404), to
            compose the edge with another app. It never sees ``lifespan``.

    Raises:
        TypeError: an argument of the wrong type (a hook that is not callable...).
        ValueError: a malformed prefix or a bad body limit.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"create_app() needs an open Mesh, not {type(mesh).__name__}")
    if rpc is not None and not callable(getattr(rpc, "mount", None)):
        raise TypeError(f"rpc must be an RpcPolicy or None, not {type(rpc).__name__}")
    if cors is not None and not isinstance(cors, CorsPolicy):
        raise TypeError(f"cors must be a CorsPolicy or None, not {type(cors).__name__}")
    for name, value in (
        ("on_before_request", on_before_request),
        ("on_before_connect", on_before_connect),
        ("fallback", fallback),
    ):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable or None, not {type(value).__name__}")
    if isinstance(max_request_body, bool) or not isinstance(max_request_body, int) or max_request_body < 0:
        raise ValueError(f"max_request_body must be a non-negative int of bytes, not {max_request_body!r}")
    app = EdgeApp(
        mesh,
        Router(mesh, check_prefix(prefix)),
        cors=cors,
        on_before_request=on_before_request,
        on_before_connect=on_before_connect,
        max_request_body=max_request_body,
        fallback=fallback,
    )
    if rpc is not None:
        app._rpc = rpc.mount(app)
    return app
