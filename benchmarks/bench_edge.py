"""Edge benchmarks: RPC round trips over loopback WebSocket and HTTP, against bare servers.

Each figure is measured in the same process and run as its baseline:

1. **RPC over WebSocket.** ``await actor.echo(i)`` in a loop through ``open_rpc_client`` to an
   actor served by ``create_app(mesh, rpc=RpcPolicy())`` under Hypercorn, vs a bare
   trio-websocket echo server and client exchanging one small binary message per round trip,
   and vs a bare ASGI echo under Hypercorn (what the server alone costs).
2. **RPC over HTTP.** The same calls with ``transport="http"`` (one POST per call), vs a bare
   Hypercorn ASGI "hello" app and a warm ``httpx.AsyncClient`` doing one POST per round trip.

3. **Memory per idle WebSocket, its actor evicted.** 1,000 sockets accepted by one actor, which
   is then evicted (its sockets stay open): Python heap growth per socket (tracemalloc: RSS is
   meaningless after the other suites have run in this process; kernel socket buffers are not
   counted), both ends of the connection included, vs 1,000 bare trio-websocket connection pairs.
4. **``broadcast_downstream`` to 1,000 sockets.** From the message that makes the actor
   broadcast to the last of the 1,000 clients receiving it, vs a bare trio-websocket server
   sending one message on each of 1,000 connections.

Both sides of each pair run in this process, so the figure includes the client's own cost.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
import trio
import trio_websocket

from lumenize_trio import LumenizeDO, clone, create_app, mesh, open_mesh, serve
from lumenize_trio.edge._app import _lifespan
from lumenize_trio.rpc import RpcPolicy, open_rpc_client

from ._harness import Result

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

ROUND_TRIPS = 2000
SOCKETS = 1000


class Echo(LumenizeDO):
    @mesh
    def echo(self, value: object) -> object:
        return value


async def _timed(n: int, one: Callable[[int], Awaitable[object]]) -> float:
    for i in range(20):  # warm up
        await one(i)
    start = time.perf_counter()
    for i in range(n):
        await one(i)
    return n / (time.perf_counter() - start)


async def _rpc(transport: str, n: int) -> float:
    async with open_mesh({"ECHO": Echo}) as m, trio.open_nursery() as nursery:
        host, port = await nursery.start(partial(serve, m, create_app(m, rpc=RpcPolicy()), port=0))
        url = f"http://{host}:{port}/__rpc/echo/e"
        async with open_rpc_client(url, transport=transport) as actor:  # type: ignore[arg-type]
            rate = await _timed(n, actor.echo)
        nursery.cancel_scope.cancel()
        return rate


async def _bare_websocket(n: int) -> float:
    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except trio_websocket.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
        )
        rate = await _echo_rate(server.port, n)
        nursery.cancel_scope.cancel()
        return rate


async def _echo_rate(port: int, n: int) -> float:
    """Round trips per second of a trio-websocket client against the echo server on *port*."""
    async with trio_websocket.open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:

        async def one(i: int) -> object:
            await ws.send_message(b"\x82\x01\x00")
            return await ws.get_message()

        return await _timed(n, one)


async def _ws_echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI WebSocket echo: what Hypercorn alone costs per round trip."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "bytes": message.get("bytes")})


async def _bare_hypercorn(nursery: trio.Nursery, app: Any) -> str:
    """Serve a bare ASGI *app* with Hypercorn on 127.0.0.1:0; its base URL."""
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    binds = await nursery.start(partial(hypercorn_serve, app, config, mode="asgi"))
    return str(binds[0])


async def _hypercorn_websocket(n: int) -> float:
    async with trio.open_nursery() as nursery:
        port = int((await _bare_hypercorn(nursery, _ws_echo_app)).rsplit(":", 1)[1])
        rate = await _echo_rate(port, n)
        nursery.cancel_scope.cancel()
        return rate


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


async def _bare_http(n: int) -> float:
    async with trio.open_nursery() as nursery:
        url = await _bare_hypercorn(nursery, _hello)
        async with httpx.AsyncClient() as client:
            rate = await _timed(n, lambda i: client.post(url, content=b"\x82\x01\x00"))
        nursery.cancel_scope.cancel()
        return rate


def bench_rpc() -> list[Result]:
    # Interleaved rounds, best of each: this machine's speed drifts within a run, and a
    # baseline measured minutes apart from ours would compare two different machines.
    rates: dict[str, list[float]] = {}
    for _ in range(3):
        for kind, run in (
            ("ws bare", lambda: trio.run(_bare_websocket, ROUND_TRIPS)),
            ("ws hypercorn", lambda: trio.run(_hypercorn_websocket, ROUND_TRIPS)),
            ("ws ours", lambda: trio.run(_rpc, "websocket", ROUND_TRIPS)),
            ("http bare", lambda: trio.run(_bare_http, ROUND_TRIPS // 4)),
            ("http ours", lambda: trio.run(_rpc, "http", ROUND_TRIPS // 4)),
        ):
            rates.setdefault(kind, []).append(run())
    ws_bare, ws_hypercorn, ws_ours, http_bare, http_ours = (max(rates[kind]) for kind in rates)
    return [
        Result(
            "edge: RPC round trip over loopback WebSocket (actor echo)",
            "calls/s",
            ws_ours,
            {
                "bare trio-websocket echo, same process": ws_bare,
                "bare Hypercorn ASGI WebSocket echo (the server we run on)": ws_hypercorn,
            },
            ">= 0.5x the bare WebSocket echo",
        ),
        Result(
            "edge: RPC round trip over HTTP POST (actor echo)",
            "calls/s",
            http_ours,
            {"bare Hypercorn ASGI hello + httpx POST": http_bare},
            "-",
        ),
    ]


class Room(LumenizeDO):
    def on_connect(self, ws: Any, request: Any) -> None:
        self.ctx.accept_websocket(ws)

    def on_message(self, ws: Any, message: Any) -> None:
        self.broadcast_downstream(message)


def _heap() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def _room_sockets(n: int) -> tuple[float, float]:
    """(RSS bytes per idle socket with the room evicted, seconds to broadcast to all n)."""
    async with open_mesh({"ROOM": Room}, idle_timeout=3600) as m, trio.open_nursery() as nursery:
        host, port = await nursery.start(partial(serve, m, create_app(m), port=0))
        async with AsyncExitStack() as stack:
            first = await stack.enter_async_context(
                trio_websocket.open_websocket(host, port, "/room/r", use_ssl=False)
            )
            tracemalloc.start()
            before = _heap()
            sockets = [first] + [
                await stack.enter_async_context(
                    trio_websocket.open_websocket(host, port, "/room/r", use_ssl=False)
                )
                for _ in range(n - 1)
            ]
            mesh_any: Any = m
            for actor_id, activation in list(mesh_any._activations.items()):
                mesh_any._evict(actor_id, activation)
            per_socket = (_heap() - before) / (n - 1)
            tracemalloc.stop()
            start = time.perf_counter()
            await first.send_message(clone.dumps("hello"))  # wakes the evicted room, which broadcasts
            for ws in sockets:
                await ws.get_message()
            elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
        return per_socket, elapsed


async def _bare_sockets(n: int) -> tuple[float, float]:
    server_side: list[trio_websocket.WebSocketConnection] = []
    all_open = trio.Event()

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        server_side.append(ws)
        if len(server_side) == n:
            all_open.set()
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
        )
        async with AsyncExitStack() as stack:
            first = await stack.enter_async_context(
                trio_websocket.open_websocket("127.0.0.1", server.port, "/", use_ssl=False)
            )
            tracemalloc.start()
            before = _heap()
            sockets = [first] + [
                await stack.enter_async_context(
                    trio_websocket.open_websocket("127.0.0.1", server.port, "/", use_ssl=False)
                )
                for _ in range(n - 1)
            ]
            await all_open.wait()
            per_socket = (_heap() - before) / (n - 1)
            tracemalloc.stop()
            start = time.perf_counter()
            for ws in server_side:
                await ws.send_message(b"hello")
            for ws in sockets:
                await ws.get_message()
            elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return per_socket, elapsed


def bench_sockets() -> list[Result]:
    bare_memory, bare_time = trio.run(_bare_sockets, SOCKETS)
    ours_memory, ours_time = trio.run(_room_sockets, SOCKETS)
    return [
        Result(
            f"edge: memory per idle WebSocket, its actor evicted ({SOCKETS:,} sockets, both ends)",
            "KiB (Python heap)",
            ours_memory / 1024,
            {"bare trio-websocket connection pair": bare_memory / 1024},
            "-",
        ),
        Result(
            f"edge: broadcast_downstream to {SOCKETS:,} sockets (evicted actor woken), time to last delivery",
            "ms",
            ours_time * 1000,
            {"bare trio-websocket server sending on each connection": bare_time * 1000},
            "-",
        ),
    ]


def run() -> list[Result]:
    return [*bench_rpc(), *bench_sockets()]
