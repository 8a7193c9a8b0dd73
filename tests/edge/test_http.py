"""Tests for `lumenize_trio.edge` (the app and serve) and `lumenize_trio.runtime._http_event`:
on_request as a turn, hooks, CORS, limits, served by real Hypercorn to a real httpx client."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.lowlevel

from lumenize_trio import (
    LumenizeDO,
    LumenizeWorker,
    NoCallContextError,
    Request,
    Response,
    open_mesh,
)
from lumenize_trio.edge import DEFAULT_MAX_REQUEST_BODY, CorsPolicy, EdgeApp, create_app, serve
from lumenize_trio.runtime._http_event import handle_request

from .helpers import open_edge

STARTED: list[str] = []  # actor constructions, to see resets


def text(status: int, body: str, **headers: str) -> Response:
    return Response(status, headers=headers, content=body)


class Store(LumenizeDO):
    """GET reads the stored value, POST stores the body, DELETE raises after writing."""

    def __init__(self, ctx, env) -> None:
        super().__init__(ctx, env)
        STARTED.append(ctx.id.name or ctx.id.hex)

    def on_request(self, request: Request) -> Response:
        kv = self.ctx.storage.kv
        if request.method == "POST":
            kv.put("value", request.text)
            return text(201, "stored")
        if request.method == "DELETE":
            kv.put("value", "half-written")
            raise RuntimeError("secret detail")
        if request.method == "PATCH":
            kv.put("value", "not a response")
            return "not a response"  # type: ignore[return-value]
        return text(200, kv.get("value", "<none>"), **{"x-method": request.method})


class AsyncStore(LumenizeDO):
    async def on_request(self, request: Request) -> Response:
        await trio.lowlevel.checkpoint()
        count = self.ctx.storage.kv.get("count", 0) + 1
        self.ctx.storage.kv.put("count", count)
        await trio.lowlevel.checkpoint()
        return text(200, str(count))


class Introspect(LumenizeDO):
    def on_request(self, request: Request) -> Response:
        try:
            self.lmz.call_context  # noqa: B018 - reading it is the test
        except NoCallContextError:
            context = "none"
        else:  # pragma: no cover - the test fails if reached
            context = "some"
        return Response(
            200,
            headers={
                "x-context": context,
                "x-body": request.text,
                "x-header": request.headers.get("x-test", ""),
            },
            content=str(request.url),
        )


class Framing(LumenizeDO):
    """Responses with framing headers of their own, and bodiless statuses."""

    def on_request(self, request: Request) -> Response:
        if request.url.path.endswith("/empty"):
            return Response(204, headers={"content-length": "99"})
        return Response(
            200,
            headers=[("Content-Length", "999"), ("Transfer-Encoding", "chunked"), ("X-Mixed-Case", "1")],
            content=b"abc",
        )


class Failing(LumenizeDO):
    def on_start(self) -> None:
        raise OSError("cannot start")

    def on_request(self, request: Request) -> Response:  # pragma: no cover - never starts
        return text(200, "unreachable")


class Blocked(LumenizeDO):
    """Holds the input gate (a plain await keeps it shut) until told to go on."""

    entered: trio.Event
    release: trio.Event

    async def on_request(self, request: Request) -> Response:
        Blocked.entered.set()
        await Blocked.release.wait()
        return text(200, "released")


class Hello(LumenizeWorker):
    async def on_request(self, request: Request) -> Response:
        await trio.lowlevel.checkpoint()
        return text(200, f"hello from {self.lmz.binding_name}")


class BadWorker(LumenizeWorker):
    def on_request(self, request: Request) -> Response:
        raise ValueError("worker secret")


class NoHandlerWorker(LumenizeWorker):
    """Keeps the default on_request (501)."""


BINDINGS: dict[str, type] = {
    "STORE": Store,
    "ASYNC_STORE": AsyncStore,
    "INTROSPECT": Introspect,
    "FRAMING": Framing,
    "FAILING": Failing,
    "HELLO": Hello,
    "BAD_WORKER": BadWorker,
    "NO_HANDLER": NoHandlerWorker,
}


@pytest.fixture(autouse=True)
def _clear() -> None:
    STARTED.clear()


def lumenize_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "lumenize_trio"]


# -- on_request ---------------------------------------------------------------------------------


async def test_on_request_sync_reads_and_writes_storage() -> None:
    async with open_edge(BINDINGS) as edge:
        assert (await edge.client.get("/store/a")).text == "<none>"
        response = await edge.client.post("/store/a", content="hello")
        assert (response.status_code, response.text) == (201, "stored")
        got = await edge.client.get("/store/a")
        assert (got.text, got.headers["x-method"]) == ("hello", "GET")
        assert (await edge.client.get("/store/b")).text == "<none>"  # another actor
        stub = edge.mesh.get("STORE", "a")
        assert stub.id.name == "a"


async def test_on_request_async_runs_as_turns_in_order() -> None:
    async with open_edge(BINDINGS) as edge, trio.open_nursery() as nursery:
        results: list[int] = []

        async def one() -> None:
            results.append(int((await edge.client.get("/async-store/x")).text))

        for _ in range(10):
            nursery.start_soon(one)
    assert sorted(results) == list(range(1, 11))  # each turn saw the one before it


async def test_request_carries_full_url_headers_body_and_no_call_context() -> None:
    async with open_edge(BINDINGS, prefix="/api") as edge:
        response = await edge.client.put(
            "/api/introspect/n%20m/rest/of?q=1&r=%20", content="body!", headers={"X-Test": "yes"}
        )
        assert response.status_code == 200
        assert response.text == f"{edge.url}/api/introspect/n%20m/rest/of?q=1&r=%20"
        assert response.headers["x-context"] == "none"
        assert response.headers["x-body"] == "body!"
        assert response.headers["x-header"] == "yes"


async def test_exception_gives_generic_500_rolls_back_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with open_edge(BINDINGS) as edge:
        await edge.client.post("/store/a", content="kept")
        response = await edge.client.delete("/store/a")
        assert (response.status_code, response.text) == (500, "Internal Server Error")
        assert "secret" not in response.text
        assert (await edge.client.get("/store/a")).text == "kept"  # the write was rolled back
    assert any(message.startswith("on_request of STORE/a failed") for message in lumenize_messages(caplog))


async def test_non_response_gives_500_rolls_back_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with open_edge(BINDINGS) as edge:
        response = await edge.client.patch("/store/a")
        assert (response.status_code, response.text) == (500, "Internal Server Error")
        assert (await edge.client.get("/store/a")).text == "<none>"
    errors = [r for r in caplog.records if r.name == "lumenize_trio" and r.exc_info]
    assert any("returned str, not a Response" in str(r.exc_info[1]) for r in errors if r.exc_info)


async def test_handle_request_without_on_request_answers_501() -> None:
    """A node object with no on_request at all (not a Node subclass) also answers 501."""
    response = await handle_request(object(), Request("GET", "http://x/"))
    assert response.status == 501


async def test_default_on_request_of_workers_answers_501() -> None:
    async with open_edge(BINDINGS) as edge:
        assert (await edge.client.get("/no-handler")).status_code == 501


async def test_worker_on_request_and_its_failures(caplog: pytest.LogCaptureFixture) -> None:
    async with open_edge(BINDINGS) as edge:
        assert (await edge.client.get("/hello/x")).text == "hello from HELLO"
        response = await edge.client.get("/bad-worker")
        assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert "on_request of worker BAD_WORKER failed" in lumenize_messages(caplog)


async def test_actor_that_cannot_start_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    async with open_edge(BINDINGS) as edge:
        response = await edge.client.get("/failing/x")
        assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert "request to FAILING/x failed" in lumenize_messages(caplog)


async def test_response_framing_headers_are_the_servers() -> None:
    async with open_edge(BINDINGS) as edge:
        response = await edge.client.get("/framing/x")
        assert response.content == b"abc"
        assert response.headers["content-length"] == "3"
        assert "transfer-encoding" not in response.headers
        assert response.headers["x-mixed-case"] == "1"
        head = await edge.client.head("/framing/x")
        assert (head.content, head.headers["content-length"]) == (b"", "999")  # HEAD: the actor's own
        empty = await edge.client.get("/framing/x/empty")
        assert (empty.status_code, empty.content) == (204, b"")
        assert "content-length" not in empty.headers


# -- the output gate ----------------------------------------------------------------------------


async def test_response_leaves_only_after_the_commit() -> None:
    """A response that was sent is durable: a reset actor reads it back from storage."""
    async with open_edge(BINDINGS) as edge:
        commits = edge.mesh.statistics().commits
        assert (await edge.client.post("/store/a", content="v1")).status_code == 201
        assert edge.mesh.statistics().commits == commits + 1


async def test_failed_commit_drops_the_response_with_503_and_resets_the_actor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_edge(BINDINGS) as edge:
        assert (await edge.client.post("/store/a", content="v1")).status_code == 201
        assert STARTED == ["a"]
        edge.mesh.fail_next_commit(edge.mesh.get("STORE", "a").id, OSError("disk on fire"))
        response = await edge.client.post("/store/a", content="v2")
        assert (response.status_code, response.text) == (503, "Service Unavailable")
        assert (await edge.client.get("/store/a")).text == "v1"  # v2 never committed
        assert STARTED == ["a", "a"]  # reset: constructed again from storage
    assert any("not answered" in message for message in lumenize_messages(caplog))


async def test_full_queue_gives_503() -> None:
    """With the gate held and max_queue=1, of two more requests one waits and one is refused."""
    Blocked.entered, Blocked.release = trio.Event(), trio.Event()
    statuses: list[int] = []
    refused = trio.Event()
    async with open_edge({"BLOCKED": Blocked}, mesh_options={"max_queue": 1}) as edge:

        async def get() -> None:
            statuses.append((await edge.client.get("/blocked/x")).status_code)
            if statuses[-1] == 503:
                refused.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(get)
            await Blocked.entered.wait()  # the first holds the gate
            nursery.start_soon(get)
            nursery.start_soon(get)
            await refused.wait()
            Blocked.release.set()
    assert sorted(statuses) == [200, 200, 503]


# -- hooks --------------------------------------------------------------------------------------


async def test_hook_response_answers_without_waking_the_actor() -> None:
    def hook(request: Request, route: object) -> Response | None:
        if request.headers.get("authorization") != "Bearer ok":
            return text(401, "no")
        return None

    async with open_edge(BINDINGS, on_before_request=hook) as edge:
        assert (await edge.client.get("/store/a")).status_code == 401
        assert STARTED == []
        ok = await edge.client.get("/store/a", headers={"Authorization": "Bearer ok"})
        assert (ok.status_code, STARTED) == (200, ["a"])


async def test_async_hook_replaces_the_request() -> None:
    async def hook(request: Request, route: object) -> Request:
        await trio.lowlevel.checkpoint()
        headers = request.headers
        headers["x-test"] = "added by hook"
        return Request(request.method, request.url, headers=headers, content=request.content.upper())

    async with open_edge(BINDINGS, on_before_request=hook) as edge:
        response = await edge.client.post("/introspect/a", content="abc")
        assert (response.headers["x-header"], response.headers["x-body"]) == ("added by hook", "ABC")


@pytest.mark.parametrize("result", ["a string", 42])
async def test_hook_with_wrong_result_or_exception_gives_500(
    result: object, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(request: Request, route: object) -> object:
        if request.method == "POST":
            raise KeyError("hook secret")
        return result

    async with open_edge(BINDINGS, on_before_request=hook) as edge:
        for method in ("GET", "POST"):
            response = await edge.client.request(method, "/store/a")
            assert (response.status_code, response.text) == (500, "Internal Server Error")
        assert STARTED == []
    assert sum("on_before_request raised" in m for m in lumenize_messages(caplog)) == 2


# -- CORS ---------------------------------------------------------------------------------------

PREFLIGHT = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}


async def test_cors_default_is_same_origin_only() -> None:
    async with open_edge(BINDINGS) as edge:
        preflight = await edge.client.options("/store/a", headers=PREFLIGHT)
        assert (preflight.status_code, preflight.text) == (403, "Forbidden: origin not allowed")
        assert STARTED == []  # preflights never wake the actor
        response = await edge.client.get("/store/a", headers={"Origin": "https://app.example"})
        assert response.status_code == 200
        assert not [name for name in response.headers if name.startswith("access-control") or name == "vary"]
        plain_options = await edge.client.options("/store/a")  # not a preflight: the actor's
        assert plain_options.headers["x-method"] == "OPTIONS"


async def test_cors_allowlist() -> None:
    cors = CorsPolicy(
        ["https://App.Example/", "http://localhost:3000"], max_age=60, expose_headers=["X-Method"]
    )
    async with open_edge(BINDINGS, cors=cors) as edge:
        preflight = await edge.client.options(
            "/store/a", headers={**PREFLIGHT, "Access-Control-Request-Headers": "content-type, x-a"}
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert preflight.headers["access-control-allow-methods"] == "DELETE, GET, HEAD, PATCH, POST, PUT"
        assert preflight.headers["access-control-allow-headers"] == "content-type, x-a"
        assert preflight.headers["access-control-max-age"] == "60"
        assert preflight.headers["vary"] == "Origin"
        assert "access-control-allow-credentials" not in preflight.headers
        assert STARTED == []

        allowed = await edge.client.get("/store/a", headers={"Origin": "https://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert allowed.headers["access-control-expose-headers"] == "X-Method"
        assert allowed.headers["vary"] == "Origin"

        refused = await edge.client.get("/store/a", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 200  # CORS limits what a page reads, not what arrives
        assert "access-control-allow-origin" not in refused.headers
        assert refused.headers["vary"] == "Origin"
        no_origin = await edge.client.get("/store/a")
        assert (no_origin.headers["vary"], "access-control-allow-origin" in no_origin.headers) == (
            "Origin",
            False,
        )

        bad_preflight = await edge.client.options(
            "/store/a", headers={**PREFLIGHT, "Origin": "https://evil.example"}
        )
        assert bad_preflight.status_code == 403
        assert "access-control-allow-origin" not in bad_preflight.headers
        bad_method = await edge.client.options(
            "/store/a", headers={**PREFLIGHT, "Access-Control-Request-Method": "PURGE"}
        )
        assert bad_method.status_code == 403
        assert "access-control-allow-methods" not in bad_method.headers


async def test_cors_predicate_credentials_and_fixed_headers(caplog: pytest.LogCaptureFixture) -> None:
    def allowed(origin: str) -> bool:
        if origin == "https://boom.example":
            raise RuntimeError("predicate bug")
        return origin.endswith(".trusted.example")

    cors = CorsPolicy(
        allowed, allow_credentials=True, allow_headers=["Content-Type"], allow_methods=["get", "post"]
    )
    async with open_edge(BINDINGS, cors=cors) as edge:
        origin = {"Origin": "https://a.trusted.example"}
        preflight = await edge.client.options("/store/a", headers={**PREFLIGHT, **origin})
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert preflight.headers["access-control-allow-headers"] == "Content-Type"
        assert preflight.headers["access-control-allow-methods"] == "GET, POST"
        response = await edge.client.get("/store/a", headers=origin)
        assert response.headers["access-control-allow-origin"] == "https://a.trusted.example"
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "access-control-expose-headers" not in response.headers
        boom = await edge.client.get("/store/a", headers={"Origin": "https://boom.example"})
        assert "access-control-allow-origin" not in boom.headers
        # Routing errors carry CORS headers too, so an allowed page can read them.
        missing = await edge.client.get("/store", headers=origin)
        assert (missing.status_code, missing.headers["access-control-allow-origin"]) == (
            400,
            origin["Origin"],
        )
    assert any("predicate raised" in m for m in lumenize_messages(caplog))


async def test_cors_any_origin_and_preflight_without_requested_headers() -> None:
    async with open_edge(BINDINGS, cors=CorsPolicy("*")) as edge:
        preflight = await edge.client.options(
            "/store/a", headers={**PREFLIGHT, "Origin": "https://x.example"}
        )
        assert preflight.headers["access-control-allow-origin"] == "https://x.example"
        assert "access-control-allow-headers" not in preflight.headers


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"origins": 5}, TypeError),
        ({"origins": [5]}, TypeError),
        ({"origins": ["https://a.example/path"]}, ValueError),
        ({"origins": ["a.example"]}, ValueError),
        ({"origins": "*", "max_age": -1}, ValueError),
        ({"origins": "*", "max_age": True}, ValueError),
        ({"origins": "*", "allow_credentials": "yes"}, TypeError),
        ({"origins": "*", "allow_methods": "GET"}, TypeError),
        ({"origins": "*", "allow_methods": ["GE T"]}, ValueError),
        ({"origins": "*", "allow_headers": [1]}, ValueError),
        ({"origins": "*", "expose_headers": None}, TypeError),
    ],
)
def test_cors_policy_checks_its_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        CorsPolicy(**kwargs)


def test_cors_policy_allows() -> None:
    policy = CorsPolicy(["https://a.example:8443"])
    assert policy.allows("https://A.example:8443")
    assert not policy.allows("https://a.example")


# -- limits and protocol ------------------------------------------------------------------------


async def test_request_body_limit_gives_413() -> None:
    async def chunks() -> Any:
        for _ in range(3):
            yield b"x" * 6

    assert DEFAULT_MAX_REQUEST_BODY == 100 * 2**20
    async with open_edge(BINDINGS, max_request_body=10) as edge:
        assert (await edge.client.post("/store/a", content=b"x" * 10)).status_code == 201
        too_big = await edge.client.post("/store/a", content=b"x" * 11)
        assert (too_big.status_code, too_big.text) == (413, "Request body larger than 10 bytes")
        streamed = await edge.client.post("/store/a", content=chunks())  # chunked: no Content-Length
        assert streamed.status_code == 413
        assert (await edge.client.get("/store/a")).text == "x" * 10


async def test_websocket_scope_is_refused_before_upgrade() -> None:
    """An actor without on_connect refuses an upgrade with 403 (404/400 for bad routes)."""
    async with open_edge(BINDINGS) as edge:
        host, port = edge.client.base_url.host, edge.client.base_url.port
        assert port is not None
        for path, status, message in [
            ("/store/a", 403, b"did not accept the WebSocket"),
            ("/nope/a", 404, b"Not Found"),
            ("/store", 400, b"needs /store/{instance}"),
        ]:
            stream = await trio.open_tcp_stream(host, port)
            async with stream:
                await stream.send_all(
                    f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
                )
                received = b""
                while message not in received:
                    chunk = await stream.receive_some()
                    assert chunk, received
                    received += chunk
            assert received.startswith(f"HTTP/1.1 {status} ".encode())
        assert STARTED == ["a"]  # asked by its on_connect turn


async def test_fallback_app_gets_unrouted_requests() -> None:
    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-fallback", b"1")]})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    async with open_edge(BINDINGS, fallback=fallback) as edge:
        response = await edge.client.get("/static/app.js")
        assert (response.text, response.headers["x-fallback"]) == ("/static/app.js", "1")
        assert (await edge.client.get("/store")).status_code == 400  # a binding: ours
        assert (await edge.client.get("/store/a")).text == "<none>"


# -- the ASGI interface directly (what a network client cannot easily send) ---------------------


async def run_asgi(
    app: EdgeApp, scope: dict[str, Any], messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    incoming = iter(messages)

    async def receive() -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        await trio.lowlevel.checkpoint()
        sent.append(message)

    await app(scope, receive, send)
    return sent


def http_scope(path: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [],
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        **extra,
    }


async def test_asgi_client_gone_before_body_gets_no_response() -> None:
    async with open_mesh(BINDINGS) as mesh:
        app = create_app(mesh)
        sent = await run_asgi(app, http_scope("/store/a"), [{"type": "http.disconnect"}])
        assert sent == []
        assert STARTED == []


async def test_asgi_scope_without_raw_path_or_host() -> None:
    """Servers that omit raw_path and Host: the path is re-encoded, the server address is the host."""
    async with open_mesh(BINDINGS) as mesh:
        app = create_app(mesh)
        body = [{"type": "http.request", "body": b"", "more_body": False}]
        sent = await run_asgi(app, http_scope("/introspect/a b", query_string=b"x=1"), body)
        assert sent[1]["body"] == b"http://127.0.0.1/introspect/a%20b?x=1"  # :80 is the default
        sent = await run_asgi(app, http_scope("/introspect/a", server=("unix.sock", None)), body)
        assert sent[1]["body"] == b"http://unix.sock/introspect/a"
        sent = await run_asgi(app, http_scope("/introspect/a", server=None, scheme=None), body)
        assert sent[1]["body"] == b"http://localhost/introspect/a"
        for host in (b"evil.example/x", b"a b", b"a:b:c", b"u@h"):
            sent = await run_asgi(app, http_scope("/introspect/a", headers=[(b"host", host)]), body)
            assert sent[0]["status"] == 400
            assert sent[1]["body"].startswith(b"Bad Request: invalid Host header")
        sent = await run_asgi(app, http_scope("/introspect/a", headers=[(b"host", b"[::1]:8080")]), body)
        assert sent[1]["body"] == b"http://[::1]:8080/introspect/a"


async def test_asgi_websocket_without_response_extension_and_early_disconnect() -> None:
    async with open_mesh(BINDINGS) as mesh:
        app = create_app(mesh)
        scope = {**http_scope("/store/a"), "type": "websocket"}
        sent = await run_asgi(app, scope, [{"type": "websocket.connect"}])
        assert sent == [{"type": "websocket.close", "code": 1008}]
        assert await run_asgi(app, scope, [{"type": "websocket.disconnect", "code": 1001}]) == []


async def test_asgi_websocket_fallback_and_lifespan_and_unknown_scope() -> None:
    seen: list[str] = []

    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async with open_mesh(BINDINGS) as mesh:
        app = create_app(mesh, fallback=fallback)
        await run_asgi(app, {**http_scope("/other"), "type": "websocket"}, [])
        assert seen == ["websocket"]
        lifespan = [{"type": "lifespan.startup"}, {"type": "lifespan.other"}, {"type": "lifespan.shutdown"}]
        sent = await run_asgi(app, {"type": "lifespan"}, lifespan)
        assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
        assert await run_asgi(app, {"type": "something-else"}, []) == []
        await run_asgi(app, http_scope("*", method="OPTIONS"), [])  # OPTIONS *: no route
        assert seen == ["websocket", "http"]


async def test_requests_after_the_mesh_closed_get_503() -> None:
    async with open_mesh(BINDINGS) as mesh:
        app = create_app(mesh)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        assert (await client.get("/store/a")).status_code == 503
        assert (await client.get("/hello")).status_code == 503


async def test_request_waiting_when_the_mesh_closes_gets_503() -> None:
    Blocked.entered, Blocked.release = trio.Event(), trio.Event()
    responses: list[httpx.Response] = []
    async with trio.open_nursery() as outer, open_mesh({"BLOCKED": Blocked}) as mesh:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(create_app(mesh)), base_url="http://test")

        async def get() -> None:
            responses.append(await client.get("/blocked/x"))

        outer.start_soon(get)
        await Blocked.entered.wait()
    assert [r.status_code for r in responses] == [503]


# -- create_app and serve -----------------------------------------------------------------------


async def test_create_app_checks_its_arguments() -> None:
    async with open_mesh(BINDINGS) as mesh:
        with pytest.raises(TypeError, match="open Mesh"):
            create_app(object())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="rpc must be an RpcPolicy"):
            create_app(mesh, rpc=object())
        with pytest.raises(TypeError, match="cors must be a CorsPolicy"):
            create_app(mesh, cors=["*"])  # type: ignore[arg-type]
        for name in ("on_before_request", "on_before_connect", "fallback"):
            with pytest.raises(TypeError, match=f"{name} must be callable"):
                create_app(mesh, **{name: "nope"})
        for limit in (-1, True, 1.5):
            with pytest.raises(ValueError, match="max_request_body"):
                create_app(mesh, max_request_body=limit)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="prefix"):
            create_app(mesh, prefix="api")
        app = create_app(mesh, on_before_connect=lambda request, route: None)
        assert app.on_before_connect is not None
        assert app.mesh is mesh


async def test_serve_port_zero_and_cancellation() -> None:
    """serve() reports the bound port; cancelling it stops the server and nothing else."""
    with trio.fail_after(20):
        async with open_mesh(BINDINGS) as mesh:
            app = create_app(mesh)
            async with trio.open_nursery() as nursery:
                host, port = await nursery.start(partial(serve, mesh, app, port=0))
                assert host == "127.0.0.1"
                assert port > 0
                async with httpx.AsyncClient() as client:
                    assert (await client.get(f"http://{host}:{port}/hello")).status_code == 200
                nursery.cancel_scope.cancel()
            async with httpx.AsyncClient() as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(f"http://{host}:{port}/hello")
            assert not mesh.stopping  # the mesh goes on after its server stopped


async def test_serve_ipv6_loopback_logs_to_its_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lumenize_trio.server")
    with trio.fail_after(20):
        async with open_mesh(BINDINGS) as mesh, trio.open_nursery() as nursery:
            try:
                host, port = await nursery.start(partial(serve, mesh, create_app(mesh), host="::1", port=0))
            except OSError:  # pragma: no cover - no IPv6 on this machine
                pytest.skip("no IPv6 loopback")
            assert host == "::1"
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"http://[::1]:{port}/hello")).status_code == 200
            nursery.cancel_scope.cancel()
    assert any(
        "Running on http://[::1]" in r.getMessage()
        for r in caplog.records
        if r.name == "lumenize_trio.server"
    )


async def test_serve_checks_its_arguments() -> None:
    async with open_mesh(BINDINGS) as mesh, open_mesh(BINDINGS) as other:
        app = create_app(mesh)
        with pytest.raises(TypeError, match="open Mesh"):
            await serve(object(), app)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="ASGI app"):
            await serve(mesh, "app")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="another mesh"):
            await serve(other, app)
        for port in (-1, 65536, True):
            with pytest.raises(ValueError, match="port"):
                await serve(mesh, app, port=port)
    with pytest.raises(trio.ClosedResourceError):
        await serve(mesh, app, port=0)
