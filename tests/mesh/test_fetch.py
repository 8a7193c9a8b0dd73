"""Tests for ``self.svc.fetch`` (``lumenize_trio.node._fetch``) and the mesh's fetch executors
(``lumenize_trio.runtime._fetcher``), against real Hypercorn servers on 127.0.0.1 under real time.

The mock clock cannot drive real sockets, so waits are short and every outcome is awaited with
:func:`until`, a polling loop bounded by ``trio.fail_after``; nothing asserts how long anything
took. Where a test needs a request to stay open until it says so, the server's ``/wait/{key}``
endpoint blocks until :meth:`Recorder.release`; races are forced by holding an actor's input gate
(:meth:`Fetching.hold`) while outcomes queue behind it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import pytest
import trio
from tests.httpserver import app as endpoints, open_http_server  # loaded by tests/conftest.py

from lumenize_trio import (
    RESULT,
    ActorResetError,
    Browser,
    FetchError,
    FetchPolicy,
    FetchRefusedError,
    FetchTimeoutError,
    LumenizeDO,
    LumenizeWorker,
    Request,
    Response,
    ServiceError,
    mesh,
    open_mesh,
)
from lumenize_trio.node._fetch import LIVENESS_ID
from lumenize_trio.runtime._fetcher import Fetcher, _client, _PolicyBackend, check_fetch_options

from .fetch_crash_child import DELAY, FETCHES, Resumer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from contextlib import AbstractAsyncContextManager

    from lumenize_trio.runtime import Mesh

ROOT = Path(__file__).resolve().parents[2]
BOUND = 10.0  # seconds any single wait may take before the test fails


async def until(check: Callable[[], Awaitable[Any]], *, bound: float = BOUND) -> Any:
    """Poll *check* until it returns something truthy (and return that); fail after *bound* s."""
    with trio.fail_after(bound):
        while True:
            value = await check()
            if value:
                return value
            await trio.sleep(0.01)


async def seen(condition: Callable[[], object], *, bound: float = BOUND) -> None:
    """Wait until a synchronous *condition* (on the server, the fetcher...) holds."""

    async def check() -> object:
        return condition()

    await until(check, bound=bound)


# -- the server --------------------------------------------------------------------------------


class Recorder:
    """The test server's app (``tests/httpserver.py``) behind a recorder, plus two endpoints:

    - ``/flaky/{key}?fail=N&status=S``: status *S* (default 503) for the first *N* requests for
      *key*, then 200 with ``{"attempt": n}`` (counted from 1);
    - ``/wait/{key}``: answers 200 ``{"key": key}`` once the test calls :meth:`release` (key).

    It records every request (method, path, query), when each one for a path arrived, and how many
    were in progress at once.
    """

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[tuple[str, str, str]] = []
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.active = 0
        self.max_active = 0
        self._gates: dict[str, trio.Event] = defaultdict(trio.Event)

    def count(self, path: str, *, method: str | None = None) -> int:
        """Requests seen for *path* (``/p`` or ``/p?query``), of *method* if given."""
        path, _, query = path.partition("?")
        return sum(
            1
            for m, p, q in self.requests
            if p == path and (not query or q == query) and (method is None or m == method)
        )

    def release(self, key: str) -> None:
        self._gates[key].set()

    def release_all(self) -> None:
        for gate in self._gates.values():
            gate.set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await endpoints(scope, receive, send)
            return
        path: str = scope["path"]
        self.requests.append((scope["method"], path, scope["query_string"].decode()))
        self.arrivals[path].append(trio.current_time())
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            head, _, key = path[1:].partition("/")
            if head == "flaky":
                await _drain(receive)
                query = dict(httpx.QueryParams(scope["query_string"].decode()))
                attempt = len(self.arrivals[path])
                if attempt <= int(query.get("fail", "0")):
                    await _reply(send, int(query.get("status", "503")), {"attempt": attempt})
                else:
                    await _reply(send, 200, {"attempt": attempt})
            elif head == "wait":
                await _drain(receive)
                await self._gates[key].wait()
                await _reply(send, 200, {"key": key})
            else:
                await endpoints(scope, receive, send)
        finally:
            self.active -= 1


async def _drain(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _reply(send: Any, status: int, value: object) -> None:
    body = httpx.Response(200, json=value).content
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def server() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    async with open_http_server(recorder) as url:
        recorder.url = url
        try:
            yield recorder
        finally:
            recorder.release_all()  # nothing blocks the server's shutdown


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the actors --------------------------------------------------------------------------------


class Probe:
    """Events shared by a test and its actors (one test at a time)."""

    holding: ClassVar[trio.Event] = trio.Event()  # set by hold() once it holds the gate
    go_on: ClassVar[trio.Event] = trio.Event()  # hold() waits for it
    during: ClassVar[list[object]] = []  # what a turn saw while it waited
    broken: ClassVar[bool] = False  # Fetching.on_start raises while set

    @classmethod
    def reset(cls) -> None:
        cls.holding, cls.go_on, cls.during, cls.broken = trio.Event(), trio.Event(), [], False


@pytest.fixture(autouse=True)
def _probe() -> Iterator[None]:
    Probe.reset()
    yield
    Probe.go_on.set()


class Fetching(LumenizeDO):
    """Records fetches whose handler stores each outcome under its tag, and counts handler runs."""

    def on_start(self) -> None:
        if Probe.broken:
            raise RuntimeError("cannot start")

    @mesh
    def touch(self) -> None:
        self.ctx.storage.kv.put("touched", True)

    @mesh
    def fetch(self, request: Request | str, tag: str, **options: Any) -> str:
        return self.svc.fetch(request, self.ctn().got(tag, RESULT), **options)

    @mesh
    def fetch_result_last(self, request: Request | str, tag: str) -> str:
        return self.svc.fetch(request, self.ctn().got(tag))  # no RESULT: appended last

    @mesh
    def fetch_result_first(self, request: Request | str, tag: str) -> str:
        return self.svc.fetch(request, self.ctn().got_first(RESULT, tag=tag))

    def got(self, tag: str, outcome: object) -> None:
        kv = self.ctx.storage.kv
        kv.put("runs", [*kv.get("runs", []), tag])
        kv.put(f"outcome/{tag}", outcome)

    def got_first(self, outcome: object, *, tag: str) -> None:
        self.got(tag, outcome)

    def raising(self, tag: str, outcome: object) -> None:
        self.ctx.storage.kv.put("raising", tag)  # rolled back with the handler
        raise RuntimeError(f"handler {tag} fails")

    @mesh
    def fetch_to_raising(self, url: str, tag: str) -> str:
        return self.svc.fetch(url, self.ctn().raising(tag, RESULT))

    @mesh
    def runs(self) -> list[str]:
        return list(self.ctx.storage.kv.get("runs", []))

    @mesh
    def outcome(self, tag: str) -> object:
        return self.ctx.storage.kv.get(f"outcome/{tag}")

    @mesh
    def kv(self, key: str) -> object:
        return self.ctx.storage.kv.get(key)

    @mesh
    def pending(self) -> list[str]:
        return self.svc.fetch.pending()

    @mesh
    def cancel(self, request_id: object) -> bool:
        return self.svc.fetch.cancel(request_id)  # type: ignore[arg-type]

    @mesh
    def ping(self) -> int:
        return len(self.svc.fetch.pending())

    @mesh
    def check(self, times: int = 1) -> None:
        for _ in range(times):
            self.svc.fetch.check_liveness()

    @mesh
    def liveness_schedule(self) -> bool:
        return self.svc.alarms.get(LIVENESS_ID) is not None

    @mesh
    async def hold(self, actions: list[tuple[str, object]]) -> list[object]:
        """Hold the input gate (a plain Trio wait is no mesh await) until ``Probe.go_on``, then act."""
        Probe.holding.set()
        await Probe.go_on.wait()
        results: list[object] = []
        for action, argument in actions:
            if action == "cancel":
                results.append(self.svc.fetch.cancel(argument))  # type: ignore[arg-type]
            else:
                assert action == "check"
                self.svc.fetch.check_liveness()
        return results

    @mesh
    def record_then_raise(self, url: str) -> None:
        self.svc.fetch(url, self.ctn().got("never", RESULT))
        raise ValueError("the turn fails after recording")

    @mesh
    def record_then_cancel(self, url: str) -> bool:
        request_id = self.svc.fetch(url, self.ctn().got("cancelled", RESULT))
        return self.svc.fetch.cancel(request_id)

    @mesh
    def cancel_then_raise(self, request_id: str) -> None:
        assert self.svc.fetch.cancel(request_id)
        raise ValueError("the cancelling turn fails")

    @mesh
    async def record_and_wait(self, url: str, seen_by: str) -> str:
        """Record a fetch, then keep the turn open (uncommitted) until ``Probe.go_on``."""
        request_id = self.svc.fetch(url, self.ctn().got("gated", RESULT))
        Probe.holding.set()
        await Probe.go_on.wait()
        Probe.during.append(RECORDERS[seen_by].count("/uuid?gate"))
        return request_id

    @mesh
    async def send(self, request: Request) -> Response:
        return await self.svc.fetch.send(request)

    @mesh
    async def request(self, method: str, url: str, kwargs: dict[str, Any]) -> Response:
        return await self.svc.fetch.request(method, url, **kwargs)

    @mesh
    async def browse(self, url: str) -> tuple[str, str | None]:
        """Visit *url* with a Browser over ``svc.fetch.send``; its jar is kept in storage."""
        kv = self.ctx.storage.kv
        browser = Browser(fetch=self.svc.fetch.send, cookies=kv.get("jar"))
        response = await browser.fetch(url)
        kv.put("jar", browser.cookies)
        return response.text, browser.get_cookie("session")

    @mesh
    def bad(self, kind: str) -> str:
        """Make one bad call of svc.fetch; return the error as ``Type: message``."""
        fetch = self.svc.fetch
        url = "http://127.0.0.1:1/"
        calls: dict[str, Callable[[], object]] = {
            "handler not a continuation": lambda: fetch(url, self.got),
            "handler not a call": lambda: fetch(url, self.ctn().got),
            "empty handler": lambda: fetch(url, self.ctn()),
            "negative timeout": lambda: fetch(url, self.ctn().got("x"), timeout=-1),
            "infinite timeout": lambda: fetch(url, self.ctn().got("x"), timeout=float("inf")),
            "bool timeout": lambda: fetch(url, self.ctn().got("x"), timeout=True),
            "bool retries": lambda: fetch(url, self.ctn().got("x"), retries=True),
            "negative retries": lambda: fetch(url, self.ctn().got("x"), retries=-1),
            "float retries": lambda: fetch(url, self.ctn().got("x"), retries=1.5),
            "zero backoff": lambda: fetch(url, self.ctn().got("x"), retry_backoff=0),
            "not a request": lambda: fetch(b"http://127.0.0.1/", self.ctn().got("x")),  # type: ignore[arg-type]
            "ftp url": lambda: fetch("ftp://example.com/x", self.ctn().got("x")),
            "file url": lambda: fetch("file:///etc/passwd", self.ctn().got("x")),
            "int id": lambda: fetch.cancel(7),  # type: ignore[arg-type]
            "empty id": lambda: fetch.cancel(""),
        }
        try:
            calls[kind]()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return "accepted"

    @mesh
    def service_repr(self) -> str:
        return repr(self.svc.fetch)


class Plain(LumenizeWorker):
    @mesh
    def fetch_of_a_worker(self) -> object:
        return self.svc.fetch


#: The recorder an actor method may read (by name), set by tests that need it.
RECORDERS: dict[str, Recorder] = {}


def fetch_mesh(**options: Any) -> AbstractAsyncContextManager[Mesh]:
    options.setdefault("fetch_allow", ["127.0.0.1"])
    return open_mesh({"F": Fetching, "PLAIN": Plain}, **options)


async def call(awaitable: Awaitable[object]) -> None:
    """For ``nursery.start_soon(call, stub.method(...))``: a stub call is awaitable, not async."""
    await awaitable


def key_of(actor: Any, request_id: str) -> tuple[object, str]:
    """The fetcher's key of a request of *actor* (a stub)."""
    return (actor.id, request_id)


def queued_events(m: Any, actor: Any) -> int:
    """How many events wait at *actor*'s gate."""
    return int(m.activate(actor.id).gate.queued_events)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lumenize_trio"]


async def outcome_of(f: Any, tag: str) -> Any:
    """Wait until the handler of *tag* ran; return what it received."""

    async def ran() -> bool:
        return tag in await f.runs()

    await until(ran)
    return await f.outcome(tag)


# -- outcomes ------------------------------------------------------------------------------------


async def test_fetch_delivers_the_response_to_the_handler(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/response-headers?X-Kind=a&X-Kind=b", "ok")
        assert isinstance(request_id, str)
        assert len(request_id) == 32
        response = await outcome_of(f, "ok")
        assert isinstance(response, Response)
        assert (response.status, response.ok, response.reason) == (200, True, "OK")
        assert response.json() == [["X-Kind", "a"], ["X-Kind", "b"]]
        assert response.headers.get_list("x-kind") == ["a", "b"]
        assert response.url == httpx.URL(f"{server.url}/response-headers?X-Kind=a&X-Kind=b")
        assert await f.pending() == []


async def test_the_result_goes_where_result_is_or_last(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch_result_last(f"{server.url}/uuid", "last")
        await f.fetch_result_first(f"{server.url}/status/204", "first")
        assert (await outcome_of(f, "last")).json().keys() == {"uuid"}
        assert (await outcome_of(f, "first")).status == 204


@pytest.mark.parametrize("status", [404, 418, 500, 503])
async def test_http_errors_are_values_not_exceptions(server: Recorder, status: int) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/status/{status}", "s")
        response = await outcome_of(f, "s")
        assert isinstance(response, Response)
        assert (response.status, response.ok) == (status, False)
        assert server.count(f"/status/{status}") == 1  # not retried (retries=0)


async def test_a_closed_port_is_a_fetch_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}/x"
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(url, "down")
        error = await outcome_of(f, "down")
        assert type(error) is FetchError
        assert error.url == url
        assert str(error).startswith(f"GET {url} failed: ConnectError")


async def test_a_slow_response_is_a_timeout_error_with_the_url(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        url = f"{server.url}/wait/slow"  # answers when the test ends
        await f.fetch(url, "slow", timeout=0.3)
        error = await outcome_of(f, "slow")
        assert type(error) is FetchTimeoutError
        assert error.url == url
        assert str(error) == f"no response from {url} before the deadline"
        assert await f.pending() == []


async def test_user_name_and_password_stay_out_of_errors() -> None:
    port = closed_port()
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"http://ada:secret@127.0.0.1:{port}/x", "down")
        error = await outcome_of(f, "down")
        assert error.url == f"http://127.0.0.1:{port}/x"
        assert "secret" not in str(error)


async def test_a_response_slower_than_httpx_default_timeout_is_delivered(server: Recorder) -> None:
    """The deadline is svc.fetch's ``timeout`` only: no hidden 5 s httpx timeout (regression)."""
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/delay/5.5", "slow", timeout=8)
        response = await outcome_of(f, "slow")
        assert isinstance(response, Response), response
        assert response.json() == {"delay": 5.5}


# -- retries -------------------------------------------------------------------------------------


async def test_get_is_retried_after_5xx_until_it_succeeds(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/flaky/a?fail=2", "a", retries=2, retry_backoff=0.01)
        response = await outcome_of(f, "a")
        assert (response.status, response.json()) == (200, {"attempt": 3})
        assert server.count("/flaky/a") == 3


async def test_the_last_5xx_is_delivered_when_retries_run_out(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/flaky/b?fail=5&status=502", "b", retries=1, retry_backoff=0.01)
        response = await outcome_of(f, "b")
        assert (response.status, response.json()) == (502, {"attempt": 2})
        assert server.count("/flaky/b") == 2


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
async def test_every_idempotent_method_is_retried(server: Recorder, method: str) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(Request(method, f"{server.url}/flaky/c?fail=1"), "c", retries=1, retry_backoff=0.01)
        assert (await outcome_of(f, "c")).status == 200
        assert server.count("/flaky/c", method=method) == 2


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_request_that_is_not_idempotent_is_never_retried(server: Recorder, method: str) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(Request(method, f"{server.url}/flaky/d?fail=1", content=b"x"), "d", retries=3)
        assert (await outcome_of(f, "d")).status == 503
        assert server.count("/flaky/d") == 1


@pytest.mark.parametrize("status", [400, 404, 429])
async def test_4xx_is_never_retried(server: Recorder, status: int) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/flaky/e?fail=1&status={status}", "e", retries=3, retry_backoff=0.01)
        assert (await outcome_of(f, "e")).status == status
        assert server.count("/flaky/e") == 1


async def test_the_backoff_doubles_from_retry_backoff(server: Recorder) -> None:
    """Sleeps never end early, so each gap is at least its backoff: 0.1 s, then 0.2 s, then 0.4 s."""
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/flaky/g?fail=3", "g", retries=3, retry_backoff=0.1)
        assert (await outcome_of(f, "g")).json() == {"attempt": 4}
    times = server.arrivals["/flaky/g"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3
    assert gaps[0] >= 0.1, gaps
    assert gaps[1] >= 0.2, gaps
    assert gaps[2] >= 0.4, gaps


async def test_retries_stop_at_the_deadline(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        url = f"{server.url}/flaky/h?fail=100"
        await f.fetch(url, "h", retries=50, retry_backoff=0.05, timeout=0.5)
        error = await outcome_of(f, "h")
        assert type(error) is FetchTimeoutError
        assert error.url == url
        assert 2 <= server.count("/flaky/h") < 50


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(partial(trio.serve_tcp, raw.handle, 0, host="127.0.0.1"))
        raw.url = f"http://127.0.0.1:{listener.socket.getsockname()[1]}"
        yield raw
        nursery.cancel_scope.cancel()


class RawServer:
    """A bare TCP server: the first ``hang_ups`` connections are closed at once (a network
    error for the client), the next get ``reply`` (raw bytes), then the connection is closed."""

    def __init__(self) -> None:
        self.url = ""
        self.connections = 0
        self.hang_ups = 0
        self.reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        async with stream:
            if self.connections <= self.hang_ups:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some()
                if not chunk:
                    return
                data += chunk
            await stream.send_all(self.reply)


async def test_a_network_error_is_retried_for_get(raw_server: RawServer) -> None:
    raw_server.hang_ups = 2
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{raw_server.url}/x", "x", retries=2, retry_backoff=0.01)
        response = await outcome_of(f, "x")
        assert (response.status, response.content) == (200, b"ok")
        assert raw_server.connections == 3


async def test_a_network_error_after_the_last_retry_is_a_fetch_error(raw_server: RawServer) -> None:
    raw_server.hang_ups = 5
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{raw_server.url}/x", "x", retries=1, retry_backoff=0.01)
        error = await outcome_of(f, "x")
        assert type(error) is FetchError
        assert "RemoteProtocolError" in str(error)
        assert raw_server.connections == 2


async def test_a_body_cut_short_is_a_fetch_error(raw_server: RawServer) -> None:
    raw_server.reply = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b"
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{raw_server.url}/x", "x")
        error = await outcome_of(f, "x")
        assert type(error) is FetchError
        assert str(error).startswith(
            f"reading the response of {raw_server.url}/x failed: RemoteProtocolError"
        )


# httpx raises DecodingError from its outer stream generator, which leaves the inner ones (raw
# bytes, pool, connection) suspended; Trio closes them in its system nursery, with a
# ResourceWarning that nothing in svc.fetch can reach. Only that warning is let through here.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object:pytest.PytestUnraisableExceptionWarning"
)
async def test_a_body_that_does_not_decode_is_a_fetch_error_not_a_crash(raw_server: RawServer) -> None:
    """A remote server must not be able to take the mesh down (regression: DecodingError escaped)."""
    raw_server.reply = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 8\r\n\r\nnot gzip"
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{raw_server.url}/x", "x")
        error = await outcome_of(f, "x")
        assert type(error) is FetchError
        assert str(error).startswith(f"reading the response of {raw_server.url}/x failed: DecodingError")
        with pytest.raises(FetchError, match="DecodingError"):
            await f.send(Request("GET", f"{raw_server.url}/y"))
        assert await f.ping() == 0  # the mesh is still up


async def test_a_status_a_response_cannot_hold_is_a_fetch_error_not_a_crash(raw_server: RawServer) -> None:
    raw_server.reply = b"HTTP/1.1 999 Odd\r\ncontent-length: 0\r\n\r\n"
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.fetch(f"{raw_server.url}/x", "x")
        error = await outcome_of(f, "x")
        assert type(error) is FetchError
        assert (
            str(error)
            == f"the response from {raw_server.url}/x is not valid: status must be from 100 to 599, not 999"
        )
        assert await f.ping() == 0


# -- cancel --------------------------------------------------------------------------------------


async def test_cancel_stops_the_request_and_its_handler_never_runs(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/wait/c", "c")
        await seen(lambda: server.count("/wait/c"))
        assert await f.cancel(request_id) is True
        assert await f.pending() == []
        assert key_of(f, request_id) not in m.fetcher().in_flight
        server.release("c")
        await f.fetch(f"{server.url}/uuid", "after")
        await outcome_of(f, "after")
        assert await f.runs() == ["after"]
        assert await f.cancel(request_id) is False  # no longer pending


async def test_cancel_of_an_unknown_id_is_false_and_a_bad_id_is_refused() -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        assert await f.cancel("0" * 32) is False
        assert await f.bad("int id") == "TypeError: a fetch id is a non-empty str, not 7"
        assert await f.bad("empty id") == "TypeError: a fetch id is a non-empty str, not ''"


async def test_cancel_frees_the_executor_slot(server: Recorder) -> None:
    async with fetch_mesh(fetch_concurrency=1) as m:
        f = m.get("F", "f")
        stuck = await f.fetch(f"{server.url}/wait/stuck", "stuck")
        await seen(lambda: server.count("/wait/stuck"))
        await f.fetch(f"{server.url}/uuid", "next")  # waits for the only slot
        assert await f.cancel(stuck) is True
        assert (await outcome_of(f, "next")).status == 200  # the slot came free
        assert await f.runs() == ["next"]


async def test_a_request_cancelled_in_its_own_turn_is_never_sent(server: Recorder) -> None:
    """Cancelled before its turn committed, the request must not leave when it commits (regression)."""
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        assert await f.record_then_cancel(f"{server.url}/uuid?cancelled") is True
        await f.fetch(f"{server.url}/uuid?control", "control")
        await outcome_of(f, "control")
        await trio.sleep(0.1)  # time for a wrongly sent request to arrive too
        assert server.count("/uuid?cancelled") == 0
        assert await f.runs() == ["control"]
        assert not m.fetcher().in_flight


async def test_a_cancel_whose_turn_fails_leaves_the_request_pending(server: Recorder) -> None:
    """The cancel is rolled back with its turn; the liveness check then sends the GET again."""
    async with fetch_mesh(fetch_liveness=0.2) as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/wait/k", "k")
        await seen(lambda: server.count("/wait/k"))
        with pytest.raises(ValueError, match="the cancelling turn fails"):
            await f.cancel_then_raise(request_id)
        assert await f.pending() == [request_id]
        await seen(lambda: server.count("/wait/k") == 2)  # re-sent by the liveness check
        server.release("k")
        assert (await outcome_of(f, "k")).json() == {"key": "k"}
        assert await f.runs() == ["k"]


# -- exactly once under forced races -------------------------------------------------------------


async def hold_gate(nursery: trio.Nursery, f: Any, actions: list[tuple[str, object]]) -> list[Any]:
    """Start ``f.hold(actions)``; return once it holds the actor's gate. Its results go in the list."""
    results: list[Any] = []

    async def run() -> None:
        results.extend(await f.hold(actions))

    nursery.start_soon(run)
    with trio.fail_after(BOUND):
        await Probe.holding.wait()
    return results


async def test_cancel_wins_over_an_outcome_queued_behind_it(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/wait/r", "r")
        await seen(lambda: server.count("/wait/r"))
        async with trio.open_nursery() as nursery:
            results = await hold_gate(nursery, f, [("cancel", request_id)])
            server.release("r")
            await seen(lambda: queued_events(m, f) == 1)  # the outcome waits at the gate
            Probe.go_on.set()
        assert results == [True]  # the cancel found the row: it won
        assert await f.runs() == []  # the queued outcome (before this call) found nothing


async def test_an_outcome_delivered_first_makes_cancel_return_false(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/uuid", "u")
        await outcome_of(f, "u")
        assert await f.cancel(request_id) is False
        assert await f.runs() == ["u"]


async def test_an_outcome_queued_first_wins_over_a_deadline_found_passed(server: Recorder) -> None:
    async with fetch_mesh(fetch_liveness=60) as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/wait/t", "t", timeout=0.5)
        await seen(lambda: server.count("/wait/t"))
        async with trio.open_nursery() as nursery:
            await hold_gate(nursery, f, [("check", None), ("check", None)])
            server.release("t")
            await seen(lambda: queued_events(m, f) == 1)  # the outcome waits at the gate
            await trio.sleep(0.6)  # the deadline passes while the outcome waits at the gate
            # Two liveness checks now find it past its deadline, but still held: its outcome is
            # on its way, so neither takes it for lost.
            Probe.go_on.set()
        assert await f.runs() == ["t"]
        assert (await f.outcome("t")).json() == {"key": "t"}


async def test_a_request_whose_outcome_waits_at_the_gate_is_not_taken_for_lost(server: Recorder) -> None:
    """Between its executor's end and its outcome's turn a request is still held, so a liveness
    check in between leaves it alone (regression: it sent the GET again, seen as a third request
    in the SIGKILL test)."""
    async with fetch_mesh(fetch_liveness=60) as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/wait/q", "q")
        await seen(lambda: server.count("/wait/q"))
        async with trio.open_nursery() as nursery:
            await hold_gate(nursery, f, [("check", None)])
            server.release("q")
            await seen(lambda: queued_events(m, f) == 1)  # the outcome waits at the gate
            Probe.go_on.set()  # a liveness check runs first
        assert await f.runs() == ["q"]
        assert await f.pending() == []
        await trio.sleep(0.1)  # time for a wrongly repeated request to arrive
        assert server.count("/wait/q") == 1
        assert key_of(f, request_id) not in m.fetcher().in_flight


async def test_a_liveness_timeout_wins_over_a_late_outcome(server: Recorder, deliveries: list[str]) -> None:
    """A POST whose executor looks lost gets FetchTimeoutError; its late response is dropped."""
    async with fetch_mesh(fetch_liveness=60) as m:
        f = m.get("F", "f")
        request_id = await f.fetch(Request("POST", f"{server.url}/wait/p"), "p")
        await seen(lambda: server.count("/wait/p"))
        del m.fetcher().in_flight[key_of(f, request_id)]  # looks lost; the task goes on
        await f.check()
        error = await outcome_of(f, "p")
        assert type(error) is FetchTimeoutError
        assert "was interrupted" in str(error)
        assert "not sent again" in str(error)
        server.release("p")
        await seen(lambda: deliveries == [request_id])  # the late response reached the actor...
        assert await f.runs() == ["p"]  # ...and found nothing to deliver to


@pytest.fixture
def deliveries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ids of the outcomes the executors hand to their actors (not the liveness check's)."""
    handed: list[str] = []
    submit = Fetcher.submit

    def recording(self: Fetcher, key: tuple[object, str], request: Request, **kw: Any) -> None:
        deliver = kw["deliver"]

        def wrapped(outcome: object) -> None:
            handed.append(key[1])
            deliver(outcome)

        submit(self, key, request, **{**kw, "deliver": wrapped})

    monkeypatch.setattr(Fetcher, "submit", recording)
    return handed


async def test_two_liveness_checks_fail_a_lost_post_once(server: Recorder) -> None:
    async with fetch_mesh(fetch_liveness=60) as m:
        f = m.get("F", "f")
        request_id = await f.fetch(Request("POST", f"{server.url}/wait/q"), "q")
        await seen(lambda: server.count("/wait/q"))
        assert m.fetcher().cancel(key_of(f, request_id))  # the executor is lost, the row stays
        await f.check(2)
        assert type(await outcome_of(f, "q")) is FetchTimeoutError
        assert await f.runs() == ["q"]
        assert server.count("/wait/q") == 1


async def test_two_liveness_checks_send_a_lost_get_again_once(server: Recorder) -> None:
    async with fetch_mesh(fetch_liveness=60) as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/wait/g", "g")
        await seen(lambda: server.count("/wait/g"))
        assert m.fetcher().cancel(key_of(f, request_id))
        await f.check(2)
        await seen(lambda: server.count("/wait/g") == 2)
        server.release("g")
        assert (await outcome_of(f, "g")).status == 200
        assert await f.runs() == ["g"]
        assert server.count("/wait/g") == 2


async def test_a_liveness_check_in_the_recording_batch_does_not_take_the_request_for_lost(
    server: Recorder,
) -> None:
    """Group commit: turns queued behind each other share one commit; a liveness check among them
    must neither send the uncommitted requests early (twice) nor fail the POST (regression)."""
    async with fetch_mesh(fetch_liveness=60) as m:
        f = m.get("F", "f")
        async with trio.open_nursery() as nursery:
            await hold_gate(nursery, f, [])

            nursery.start_soon(call, f.fetch(f"{server.url}/uuid?batch", "get"))
            nursery.start_soon(call, f.fetch(Request("POST", f"{server.url}/echo?batch"), "post"))
            nursery.start_soon(call, f.check())
            await seen(lambda: m.activate(f.id).gate.queued_events == 3)
            Probe.go_on.set()
        assert (await outcome_of(f, "get")).status == 200
        assert (await outcome_of(f, "post")).status == 200
        await trio.sleep(0.1)  # time for a second copy to arrive
        assert server.count("/uuid?batch") == 1
        assert server.count("/echo?batch") == 1
        assert sorted(await f.runs()) == ["get", "post"]


# -- durability: only committed requests leave ----------------------------------------------------


async def test_a_turn_that_raises_after_recording_sends_nothing(server: Recorder) -> None:
    """The record is rolled back with the turn, so the request must not leave (regression)."""
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        with pytest.raises(ValueError, match="the turn fails after recording"):
            await f.record_then_raise(f"{server.url}/uuid?raised")
        assert await f.pending() == []
        await f.fetch(f"{server.url}/uuid?control", "control")
        await outcome_of(f, "control")
        await trio.sleep(0.1)
        assert server.count("/uuid?raised") == 0
        assert await f.runs() == ["control"]
        assert not m.fetcher().in_flight


async def test_a_failed_commit_sends_nothing(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        await f.ping()
        m.fail_next_commit(f, OSError("disk on fire"))
        with pytest.raises(ActorResetError, match="could not be committed"):
            await f.fetch(f"{server.url}/uuid?lost", "lost")
        assert await f.pending() == []
        await f.fetch(f"{server.url}/uuid?control", "control")
        await outcome_of(f, "control")
        await trio.sleep(0.1)
        assert server.count("/uuid?lost") == 0
        assert await f.runs() == ["control"]
        assert not m.fetcher().in_flight


async def test_the_request_leaves_only_after_its_turn_committed(server: Recorder) -> None:
    RECORDERS["gate"] = server
    try:
        async with fetch_mesh() as m:
            f = m.get("F", "f")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, f.record_and_wait(f"{server.url}/uuid?gate", "gate"))
                with trio.fail_after(BOUND):
                    await Probe.holding.wait()
                await trio.sleep(0.2)  # time for a request that left too early to arrive
                Probe.go_on.set()
            assert Probe.during == [0]  # nothing reached the server while the turn was open
            assert (await outcome_of(f, "gated")).status == 200
            assert server.count("/uuid?gate") == 1
    finally:
        RECORDERS.clear()


# -- the actor stays available; the concurrency bound -----------------------------------------------


async def test_the_actor_answers_other_calls_while_100_slow_fetches_are_pending(server: Recorder) -> None:
    async with fetch_mesh(fetch_concurrency=100) as m:
        f = m.get("F", "f")
        for i in range(100):
            await f.fetch(f"{server.url}/wait/slow?i={i}", f"slow{i}")
        await seen(lambda: server.active == 100)
        for _ in range(50):
            assert await f.ping() == 100  # answered while every fetch is pending
        server.release("slow")
        await until(lambda: _all_ran(f, 100))
        assert await f.pending() == []


async def _all_ran(f: Any, n: int) -> bool:
    return len(await f.runs()) == n


async def test_fetch_concurrency_bounds_the_requests_in_flight(server: Recorder) -> None:
    async with fetch_mesh(fetch_concurrency=4) as m:
        f = m.get("F", "f")
        for i in range(8):
            await f.fetch(f"{server.url}/delay/0.3?i={i}", f"d{i}")
        await until(lambda: _all_ran(f, 8))
        assert server.count("/delay/0.3") == 8
        assert server.max_active == 4


# -- the outbound policy and the body cap ------------------------------------------------------------


async def test_the_default_policy_refuses_loopback(server: Recorder) -> None:
    async with open_mesh({"F": Fetching}) as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/uuid", "refused")
        error = await outcome_of(f, "refused")
        assert type(error) is FetchRefusedError
        assert (error.host, error.address) == ("127.0.0.1", "127.0.0.1")
        assert "fetch_allow" in str(error)
        assert server.requests == []


async def test_ipv6_loopback_is_refused_too() -> None:
    async with open_mesh({"F": Fetching}) as m:
        f = m.get("F", "f")
        await f.fetch("http://[::1]:1/x", "v6")
        error = await outcome_of(f, "v6")
        assert type(error) is FetchRefusedError
        assert error.address == "::1"


async def test_fetch_allow_lets_a_host_through_and_a_policy_object_works_too(server: Recorder) -> None:
    async with open_mesh({"F": Fetching}, fetch_allow=FetchPolicy(["127.0.0.0/8"])) as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/uuid", "allowed")
        assert (await outcome_of(f, "allowed")).status == 200


async def test_a_body_over_fetch_max_body_is_a_fetch_error(server: Recorder) -> None:
    async with fetch_mesh(fetch_max_body=1000) as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/bytes/1000", "fits")
        await f.fetch(f"{server.url}/bytes/5000", "big")
        assert len((await outcome_of(f, "fits")).content) == 1000
        error = await outcome_of(f, "big")
        assert type(error) is FetchError
        assert "over fetch_max_body (1000 bytes)" in str(error)


async def test_a_streamed_body_over_the_cap_stops_the_download(server: Recorder) -> None:
    """Many chunks: the response is closed once over the cap (no warnings: they are errors here)."""
    async with fetch_mesh(fetch_max_body=1000) as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/bytes/1000000", "big")
        error = await outcome_of(f, "big")
        assert type(error) is FetchError
        assert "over fetch_max_body (1000 bytes)" in str(error)


async def test_the_httpx_client_goes_through_the_policy_backend(server: Recorder) -> None:
    """``_client`` replaces httpx's private pool; this fails if httpx stops using ``_pool``."""
    async with _client(FetchPolicy(), 2) as client:
        with pytest.raises(FetchRefusedError):
            await client.get(f"{server.url}/uuid")
    async with _client(FetchPolicy(["127.0.0.1"]), 2) as client:
        assert (await client.get(f"{server.url}/uuid")).status_code == 200
    assert server.count("/uuid") == 1


async def test_the_policy_backend_sleeps_through_trio() -> None:
    start = trio.current_time()
    await _PolicyBackend(FetchPolicy()).sleep(0.01)
    assert trio.current_time() >= start + 0.01


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fetch_concurrency": 0}, "fetch_concurrency must be a positive int, not 0"),
        ({"fetch_concurrency": True}, "fetch_concurrency must be a positive int, not True"),
        ({"fetch_max_body": 1.5}, "fetch_max_body must be a positive int, not 1.5"),
        ({"fetch_liveness": 0}, "fetch_liveness must be a positive number of seconds, not 0"),
        ({"fetch_liveness": float("inf")}, "fetch_liveness must be a positive number of seconds, not inf"),
        ({"fetch_liveness": False}, "fetch_liveness must be a positive number of seconds, not False"),
    ],
)
def test_the_fetch_options_of_open_mesh_are_checked(options: dict[str, object], message: str) -> None:
    full: dict[str, object] = {"concurrency": 1, "allow": (), "max_body": 1, "liveness": 1.0}
    full.update({k.removeprefix("fetch_"): v for k, v in options.items()})
    with pytest.raises(ValueError, match=message):
        check_fetch_options(full["concurrency"], full["allow"], full["max_body"], full["liveness"])


async def test_open_mesh_refuses_bad_fetch_options_before_starting() -> None:
    with pytest.raises(ValueError, match="fetch_concurrency must be a positive int, not -1"):
        async with open_mesh({"F": Fetching}, fetch_concurrency=-1):
            pass  # pragma: no cover - never reached


# -- the awaitable forms ------------------------------------------------------------------------------


async def test_send_returns_the_response_and_request_builds_it_httpx_style(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        response = await f.send(Request("PUT", f"{server.url}/echo", headers={"X-A": "1"}, content=b"body"))
        echoed = response.json()
        assert (response.status, echoed["method"], echoed["body"]) == (200, "PUT", "body")
        assert ["x-a", "1"] in echoed["headers"]
        response = await f.request(
            "POST", f"{server.url}/echo", {"params": {"q": "a b"}, "json": {"n": 1}, "headers": {"X-B": "2"}}
        )
        echoed = response.json()
        assert (echoed["method"], echoed["query"], echoed["body"]) == ("POST", "q=a+b", '{"n":1}')
        assert ["x-b", "2"] in echoed["headers"]
        assert ["content-type", "application/json"] in echoed["headers"]
        assert (await f.send(Request("GET", f"{server.url}/status/500"))).status == 500  # a value


async def test_send_raises_fetch_errors(server: Recorder) -> None:
    async with fetch_mesh(fetch_max_body=10) as m:
        f = m.get("F", "f")
        with pytest.raises(FetchError, match="over fetch_max_body"):
            await f.send(Request("GET", f"{server.url}/bytes/11"))
        with pytest.raises(FetchError, match="ConnectError"):
            await f.send(Request("GET", f"http://127.0.0.1:{closed_port()}/"))
    async with open_mesh({"F": Fetching}) as m:
        with pytest.raises(FetchRefusedError):
            await m.get("F", "f").send(Request("GET", f"{server.url}/uuid"))


async def test_request_refuses_what_httpx_does_not_take(server: Recorder) -> None:
    async with fetch_mesh() as m:
        with pytest.raises(TypeError, match="unexpected keyword argument 'nonsense'"):
            await m.get("F", "f").request("GET", f"{server.url}/uuid", {"nonsense": 1})


async def test_the_gate_is_open_while_send_waits(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        done: list[str] = []

        async def slow() -> None:
            await f.send(Request("GET", f"{server.url}/wait/s"))
            done.append("send")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow)
            await seen(lambda: server.count("/wait/s"))
            await f.ping()  # the same actor answers while its send waits
            done.append("ping")
            server.release("s")
        assert done == ["ping", "send"]


async def test_a_browser_over_send_follows_redirects_and_keeps_cookies(server: Recorder) -> None:
    login = f"{server.url}/response-headers?status=302&Location=/cookies&Set-Cookie=session%3Dabc%3D1%3B%20Path%3D/"
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        text, session = await f.browse(login)
        assert session == "abc=1"  # a value with "=" kept whole
        assert '"session": "abc=1"' in text  # the redirect hop carried the new cookie
        text, _ = await f.browse(f"{server.url}/redirect/2")  # the jar came back from storage
        assert '"path": "/get"' in text
        assert ["cookie", "session=abc=1"] in json.loads(text)["headers"]
        assert server.count("/redirect/2") == server.count("/redirect/1") == server.count("/get") == 1


# -- bad inputs, workers, pending -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "handler not a continuation",
            "TypeError: the handler must be a continuation (like self.ctn().fetched(RESULT)), not method",
        ),
        (
            "handler not a call",
            "ChainError: the handler continuation must end with a call, e.g. self.ctn().fetched(RESULT)",
        ),
        (
            "empty handler",
            "ChainError: the handler continuation must end with a call, e.g. self.ctn().fetched(RESULT)",
        ),
        ("negative timeout", "ValueError: timeout must be a positive number of seconds, not -1"),
        ("infinite timeout", "ValueError: timeout must be a positive number of seconds, not inf"),
        ("bool timeout", "ValueError: timeout must be a positive number of seconds, not True"),
        ("bool retries", "ValueError: retries must be an int >= 0, not True"),
        ("negative retries", "ValueError: retries must be an int >= 0, not -1"),
        ("float retries", "ValueError: retries must be an int >= 0, not 1.5"),
        ("zero backoff", "ValueError: retry_backoff must be a positive number of seconds, not 0"),
        ("not a request", "TypeError: svc.fetch needs a Request or a URL, not bytes"),
        ("ftp url", "ValueError: url must be an absolute http or https URL, not 'ftp://example.com/x'"),
        ("file url", "ValueError: url must be an absolute http or https URL, not 'file:///etc/passwd'"),
    ],
)
async def test_bad_arguments_are_refused_with_a_message(kind: str, message: str) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        assert await f.bad(kind) == message
        assert await f.pending() == []
        assert await f.liveness_schedule() is False  # nothing was recorded


async def test_svc_fetch_is_for_actors_only() -> None:
    async with fetch_mesh() as m:
        with pytest.raises(ServiceError, match="'fetch' service is not available to a LumenizeWorker"):
            await m.get("PLAIN").fetch_of_a_worker()
        assert await m.get("F", "f").service_repr() == "<svc.fetch of F/f>"


async def test_pending_lists_the_requests_not_yet_delivered(server: Recorder) -> None:
    async with fetch_mesh() as m:
        f = m.get("F", "f")
        assert await f.pending() == []
        first = await f.fetch(f"{server.url}/wait/p1", "p1")
        second = await f.fetch(f"{server.url}/wait/p2", "p2")
        assert sorted(await f.pending()) == sorted([first, second])
        assert await f.liveness_schedule() is True
        server.release("p1")
        await outcome_of(f, "p1")
        assert await f.pending() == [second]
        server.release("p2")
        await outcome_of(f, "p2")
        assert await f.pending() == []


async def test_the_liveness_schedule_ends_with_the_last_pending_request(server: Recorder) -> None:
    async with fetch_mesh(fetch_liveness=0.05) as m:
        f = m.get("F", "f")
        await f.fetch(f"{server.url}/wait/l", "l")
        await seen(lambda: server.count("/wait/l"))
        await trio.sleep(0.2)  # a few checks find it in flight and keep the schedule
        assert await f.liveness_schedule() is True
        server.release("l")
        await outcome_of(f, "l")

        async def no_schedule() -> bool:
            return not await f.liveness_schedule()

        await until(no_schedule)
        assert server.count("/wait/l") == 1  # never taken for lost while in flight


async def test_a_handler_that_raises_is_logged_and_not_run_again(
    server: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="lumenize_trio")
    async with fetch_mesh(fetch_liveness=0.05) as m:
        f = m.get("F", "f")
        request_id = await f.fetch_to_raising(f"{server.url}/uuid", "boom")
        await seen(lambda: any("raised" in text for text in messages(caplog)))
        assert f"the handler of fetch {request_id[:8]} raised" in messages(caplog)
        assert await f.pending() == []
        assert await f.kv("raising") is None  # its writes were rolled back
        await trio.sleep(0.2)  # liveness checks would have found a leftover row by now
        assert messages(caplog).count(f"the handler of fetch {request_id[:8]} raised") == 1


async def test_an_outcome_the_actor_cannot_take_is_recovered_by_the_liveness_check(
    server: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """An outcome refused by a full queue is logged; the liveness check sends the GET again."""
    caplog.set_level(logging.WARNING, logger="lumenize_trio")
    async with fetch_mesh(max_queue=1, fetch_liveness=0.2) as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/wait/full", "full")
        await seen(lambda: server.count("/wait/full"))
        async with trio.open_nursery() as nursery:
            await hold_gate(nursery, f, [])
            nursery.start_soon(call, f.ping())  # fills the queue
            await seen(lambda: m.activate(f.id).gate.queued_events == 1)
            server.release("full")
            await seen(lambda: any("could not be delivered yet" in t for t in messages(caplog)))
            Probe.go_on.set()
        assert (await outcome_of(f, "full")).status == 200
        assert server.count("/wait/full") == 2  # sent again: the first outcome was lost
        assert await f.runs() == ["full"]
        assert (
            f"fetch {request_id[:8]} of {server.url}/wait/full was lost with its executor; sending it again"
            in (messages(caplog))
        )


async def test_an_outcome_whose_turn_cannot_start_is_logged_and_recovered(
    server: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The actor cannot start when the outcome arrives: it is logged, the row stays, and the
    liveness check sends the GET again once the actor starts."""
    caplog.set_level(logging.WARNING, logger="lumenize_trio")
    async with fetch_mesh(fetch_liveness=60, idle_timeout=0.3) as m:
        f = m.get("F", "f")
        request_id = await f.fetch(f"{server.url}/wait/fr", "fr")
        await seen(lambda: server.count("/wait/fr"))
        Probe.broken = True
        m.fail_next_commit(f, OSError("disk on fire"))
        with pytest.raises(ActorResetError):
            await f.touch()  # the actor is reset: its next turn constructs it again, and fails
        server.release("fr")
        await seen(
            lambda: any(f"fetch {request_id[:8]} could not be delivered yet" in t for t in messages(caplog))
        )
        Probe.broken = False
        evictions = m.statistics().evictions
        await seen(lambda: m.statistics().evictions > evictions)  # a new activation starts afresh
        assert await f.pending() == [request_id]
        await f.check()
        assert (await outcome_of(f, "fr")).status == 200
        assert server.count("/wait/fr") == 2
        assert await f.runs() == ["fr"]


# -- resume after SIGKILL ----------------------------------------------------------------------------


async def test_pending_fetches_resume_after_sigkill(server: Recorder, tmp_path: Path) -> None:
    """A process holding three fetches is killed: the GET and the POST that allowed a retry are
    sent again and delivered; the other POST gets FetchTimeoutError and is not sent again."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.mesh.fetch_crash_child", str(tmp_path), server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    paths = {tag: f"/delay/{DELAY}?tag={query}" for tag, (_, query, _) in FETCHES.items()}
    try:
        assert process.stdout is not None
        output = b""
        with trio.fail_after(BOUND):
            while b"ready\n" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, "the child ended before it was ready"
                output += chunk
        await seen(lambda: all(server.count(path) == 1 for path in paths.values()))
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    async with open_mesh(
        {"RESUMER": Resumer}, data_dir=tmp_path, fetch_allow=["127.0.0.1"], fetch_liveness=0.2
    ) as m:
        r = m.get("RESUMER", "r")

        async def all_delivered() -> bool:
            return sorted(await r.runs()) == sorted(FETCHES)

        await until(all_delivered, bound=BOUND + DELAY)
        outcomes = await r.outcomes()
        assert await r.pending() == []
    assert isinstance(outcomes["get"], Response)
    assert outcomes["get"].json() == {"delay": DELAY}
    assert isinstance(outcomes["post-retried"], Response)
    error = outcomes["post"]
    assert type(error) is FetchTimeoutError
    assert error.url == f"{server.url}{paths['post']}"
    assert "was interrupted" in str(error)
    assert server.count(paths["get"]) == 2  # sent again
    assert server.count(paths["post-retried"]) == 2  # sent again: its caller allowed it
    assert server.count(paths["post"]) == 1  # never sent again
