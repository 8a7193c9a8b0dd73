"""A real HTTP server for tests: a small ASGI app, served by Hypercorn on 127.0.0.1:0.

``http_server`` (a pytest-trio fixture, re-exported by ``tests/conftest.py``) yields the base URL,
like ``"http://127.0.0.1:43121"``, and shuts the server down gracefully after the test.
``open_http_server()`` is the same as an async context manager, for tests that need their own.

Endpoints (paths are exact; anything else is a 404 with a JSON body):

- ``/uuid``: ``{"uuid": "<a fresh uuid4>"}``.
- ``/delay/{seconds}``: sleeps (Trio) up to 10 s, then ``{"delay": seconds}``.
- ``/status/{code}``: an empty response with that status (200..599).
- ``/bytes/{n}``: *n* random bytes (at most 1 MiB), ``application/octet-stream``.
- ``/cookies/set?name=value&...``: one ``Set-Cookie: name=value; Path=/`` per pair, then the
  cookies this request carried, as for ``/cookies``.
- ``/cookies``: ``{"cookies": {name: value}, "header": <the Cookie header or null>}``.
- ``/response-headers?Name=value&...``: each pair as a response header (repeats kept), and the
  pairs as a JSON list; ``status=`` (200..599) sets the status. So
  ``/response-headers?Set-Cookie=a%3D1%3B%20Max-Age%3D60`` sets any cookie, and
  ``?status=302&Location=/cookies&Set-Cookie=...`` sets one on a redirect.
- ``/redirect/{n}``: a 302 to ``/redirect/{n-1}``, and from ``/redirect/1`` to ``/get`` (1..100).
- ``/redirect-to?url=...&status_code=...``: a redirect (302 by default, any 3xx) to *url*.
- ``/echo``: ``{"method", "path", "query", "headers": [[name, value], ...], "body"}`` (any method;
  the body as UTF-8 text with replacement characters).
- ``/get``: like ``/echo`` without the body, for ``GET``/``HEAD`` only (405 otherwise).
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from lumenize_trio.edge._app import _lifespan

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    Scope = dict[str, Any]
    Message = dict[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

MAX_DELAY = 10.0
MAX_BYTES = 1 << 20
MAX_REDIRECTS = 100

Headers = list[tuple[bytes, bytes]]


class _Reply:
    """One response: status, headers, body."""

    def __init__(self, status: int, body: bytes = b"", headers: Headers | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []

    @classmethod
    def json(cls, value: object, status: int = 200, headers: Headers | None = None) -> _Reply:
        body = json.dumps(value).encode()
        return cls(status, body, [(b"content-type", b"application/json"), *(headers or [])])

    @classmethod
    def error(cls, status: int, message: str) -> _Reply:
        return cls.json({"error": message}, status)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application (plain callable, no framework)."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":  # websockets: not served here
        return
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    reply = await _route(scope, bytes(body))
    headers = [*reply.headers, (b"content-length", str(len(reply.body)).encode())]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else reply.body})


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


def _request_cookies(scope: Scope) -> tuple[dict[str, str], str | None]:
    header = None
    for name, value in scope["headers"]:
        if name == b"cookie":
            header = value.decode("latin-1") if header is None else f"{header}; {value.decode('latin-1')}"
    cookies: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            cookies[name] = value
    return cookies, header


def _described(scope: Scope) -> dict[str, object]:
    return {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
    }


async def _route(scope: Scope, body: bytes) -> _Reply:
    path: str = scope["path"]
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    head, _, rest = path[1:].partition("/")
    if path == "/uuid":
        return _Reply.json({"uuid": str(uuid.uuid4())})
    if head == "delay":
        try:
            seconds = float(rest)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= MAX_DELAY:
            return _Reply.error(400, f"delay must be 0..{MAX_DELAY} seconds")
        await trio.sleep(seconds)
        return _Reply.json({"delay": seconds})
    if head == "status":
        code = _int(rest)
        if code is None or not 200 <= code <= 599:
            return _Reply.error(400, "status must be 200..599")
        return _Reply(code)
    if head == "bytes":
        n = _int(rest)
        if n is None or n > MAX_BYTES:
            return _Reply.error(400, f"bytes must be 0..{MAX_BYTES}")
        return _Reply(200, os.urandom(n), [(b"content-type", b"application/octet-stream")])
    if path in ("/cookies", "/cookies/set"):
        cookies, header = _request_cookies(scope)
        set_cookies = [(b"set-cookie", f"{name}={value}; Path=/".encode()) for name, value in query]
        if path == "/cookies":
            set_cookies = []
        return _Reply.json({"cookies": cookies, "header": header}, headers=set_cookies)
    if path == "/response-headers":
        status = _int(dict(query).get("status", "200"))
        if status is None or not 200 <= status <= 599:
            return _Reply.error(400, "status must be 200..599")
        pairs = [(name, value) for name, value in query if name != "status"]
        headers = [(name.encode(), value.encode()) for name, value in pairs]
        return _Reply.json([list(pair) for pair in pairs], status, headers)
    if head == "redirect":
        n = _int(rest)
        if n is None or not 1 <= n <= MAX_REDIRECTS:
            return _Reply.error(400, f"redirect count must be 1..{MAX_REDIRECTS}")
        location = f"/redirect/{n - 1}" if n > 1 else "/get"
        return _Reply(302, headers=[(b"location", location.encode())])
    if path == "/redirect-to":
        arguments = dict(query)
        status = _int(arguments.get("status_code", "302"))
        if "url" not in arguments or status is None or not 300 <= status <= 399:
            return _Reply.error(400, "redirect-to needs url= and a 3xx status_code=")
        return _Reply(status, headers=[(b"location", arguments["url"].encode())])
    if path == "/echo":
        return _Reply.json({**_described(scope), "body": body.decode("utf-8", "replace")})
    if path == "/get":
        if scope["method"] not in ("GET", "HEAD"):
            return _Reply.error(405, "/get takes GET or HEAD")
        return _Reply.json(_described(scope))
    return _Reply.error(404, f"no endpoint {path}")


@asynccontextmanager
async def open_http_server(asgi_app: Any = app) -> AsyncIterator[str]:
    """Serve *asgi_app* with Hypercorn on 127.0.0.1, on a free port, for the block.

    Yields the base URL (``http://127.0.0.1:<port>``). Leaving the block shuts the server down
    gracefully: idle keep-alive connections are closed, requests in flight get Hypercorn's
    graceful timeout.
    """
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.loglevel = "WARNING"  # no "Running on ..." lines in test output
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, asgi_app, config, shutdown_trigger=shutdown.wait))
        try:
            yield binds[0]
        finally:
            shutdown.set()


@pytest.fixture
async def http_server() -> AsyncIterator[str]:
    """The base URL of a real HTTP server running the endpoints above, for one test."""
    async with open_http_server() as url:
        yield url
