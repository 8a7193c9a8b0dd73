"""The client against a fake server (trio-websocket's), and its argument checks and failures."""

from __future__ import annotations

import logging
from functools import partial

import pytest
import trio
import trio_websocket

from lumenize_trio import clone
from lumenize_trio.protocol import RpcServerConnection
from lumenize_trio.rpc import RpcConnectionError, issue, open_rpc_client

from .helpers import open_rpc_edge, rpc_url


async def fake_server(script: object, nursery: trio.Nursery) -> str:
    """Serve one scripted handler with trio-websocket; return its ws:// URL."""

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await script(ws)  # type: ignore[operator]

    server = await nursery.start(
        partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
    )
    return f"ws://127.0.0.1:{server.port}/__rpc/calc/x"


async def test_client_answers_ping_and_reads_close_frames() -> None:
    server = RpcServerConnection()
    closes: list[tuple[int, str]] = []

    async def script(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(server.send_ping())
        assert await ws.get_message() == server.send_pong()
        await ws.send_message(server.send_downstream("ignored"))  # no handler: dropped
        await ws.send_message(server.send_close(4401, "Token expired"))
        await ws.aclose(4401)

    async with trio.open_nursery() as nursery:
        url = await fake_server(script, nursery)
        async with open_rpc_client(url, on_close=lambda c, r: closes.append((c, r))) as actor:
            with trio.fail_after(5):
                while not closes:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            with pytest.raises(RpcConnectionError) as info:
                await actor.add(1, 1)
            assert (info.value.code, info.value.reason) == (4401, "Token expired")
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("bad", ["text", "bytes"])
async def test_client_closes_on_a_protocol_error(bad: str) -> None:
    closed = trio.Event()
    got: list[object] = []

    async def script(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.get_message()  # the batch
        await ws.send_message("text" if bad == "text" else b"\xff")
        got.append(clone.loads(await ws.get_message()))  # the CLOSE frame
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()
        got.append(ws.closed.code)  # type: ignore[union-attr]
        closed.set()

    async with trio.open_nursery() as nursery:
        url = await fake_server(script, nursery)
        async with open_rpc_client(url) as actor:
            with pytest.raises(RpcConnectionError, match="4002"):
                await actor.add(1, 1)
            await closed.wait()
        assert got[0][:3] == [1, 6, 4002]  # type: ignore[index]
        assert got[1] == 4002
        nursery.cancel_scope.cancel()


async def test_batch_deadline_raises_too_slow() -> None:
    async with open_rpc_edge() as edge:
        for transport in ("websocket", "http"):
            async with open_rpc_client(rpc_url(edge), transport=transport, batch_timeout=0.1) as actor:  # type: ignore[arg-type]
                with pytest.raises(trio.TooSlowError):
                    await actor.slow(0.3)
                await trio.sleep(0.4)  # the late result arrives and is dropped
                assert await actor.add(1, 2) == 3


async def test_http_transport_failures() -> None:
    async with open_rpc_edge() as edge:
        async with open_rpc_client(rpc_url(edge, binding="nope"), transport="http") as actor:
            with pytest.raises(RpcConnectionError) as info:
                await actor.add(1, 1)
            assert info.value.code == 404
        async with open_rpc_client(rpc_url(edge).replace("http", "ws"), transport="http") as actor:
            ref = issue(actor.make())
            assert await actor.use(ref) == 14
    async with open_rpc_client("http://127.0.0.1:9/__rpc/calc/x", transport="http") as actor:
        with pytest.raises(RpcConnectionError, match="1001"):
            await actor.add(1, 1)


async def test_http_transport_protocol_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from lumenize_trio.protocol import ProtocolError
    from lumenize_trio.rpc import _server

    async with open_rpc_edge() as edge, open_rpc_client(rpc_url(edge), transport="http") as actor:
        with monkeypatch.context() as patch:
            patch.setattr(
                _server.RpcServerConnection, "receive_data", lambda self, data: [ProtocolError(4426, "v2")]
            )
            with pytest.raises(RpcConnectionError) as info:
                await actor.add(1, 1)
            assert info.value.code == 4426
        with monkeypatch.context() as patch:
            patch.setattr(_server.RpcServerConnection, "send_results", lambda self, outcomes: b"\xff")
            with pytest.raises(RpcConnectionError) as info:
                await actor.add(1, 1)
            assert info.value.code == 4002
        assert await actor.add(1, 1) == 2


async def test_connect_failures_and_argument_checks() -> None:
    async with open_rpc_edge() as edge:
        with pytest.raises(RpcConnectionError) as info:
            async with open_rpc_client(rpc_url(edge, binding="nope")):
                pass  # pragma: no cover
        assert info.value.code == 404
    with pytest.raises(RpcConnectionError, match="cannot connect"):
        async with open_rpc_client("ws://127.0.0.1:9/__rpc/calc/x"):
            pass  # pragma: no cover
    for options, message in (
        ({"transport": "smoke"}, "transport"),
        ({"client_id": "a b"}, "client_id"),
        ({"transport": "http", "on_downstream": print}, "on_downstream"),
    ):
        with pytest.raises(ValueError, match=message):
            async with open_rpc_client("ws://x/__rpc/a/b", **options):  # type: ignore[arg-type]
                pass  # pragma: no cover


async def test_calls_of_another_client_and_reprs(caplog: pytest.LogCaptureFixture) -> None:
    async with (
        open_rpc_edge() as edge,
        open_rpc_client(rpc_url(edge)) as one,
        open_rpc_client(rpc_url(edge)) as two,
    ):
        assert repr(one).startswith("<RpcProxy ws://")
        with pytest.raises(ValueError, match="another RPC client"):
            one.use(two.make())
        pending = issue(two.make())
        assert repr(pending).startswith("<IssuedCall ")
        with pytest.raises(ValueError, match="another RPC client"):
            one.use(pending)
        assert await pending == {"n": 7}
        assert await one.use(dict(await two.make())) == 14
    with caplog.at_level(logging.INFO):
        pass
