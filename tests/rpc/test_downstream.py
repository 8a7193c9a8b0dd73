"""Server push with client ids, reconnect with backoff, on_close."""

from __future__ import annotations

import itertools
import logging

import pytest
import trio

from lumenize_trio.rpc import (
    RpcConnectionError,
    _client as client_module,
    backoff_delays,
    connected_clients,
    open_rpc_client,
    send_downstream,
)

from .helpers import open_rpc_edge, rpc_url


async def wait_until(predicate: object) -> None:
    with trio.fail_after(5):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await trio.sleep(0.01)


async def test_downstream_by_client_id() -> None:
    got: dict[str, list[object]] = {"a": [], "b": [], "q": []}
    async with open_rpc_edge() as edge:
        url = rpc_url(edge, "room")
        async with (
            open_rpc_client(url, client_id="a", on_downstream=got["a"].append) as a,
            open_rpc_client(url, client_id="b", on_downstream=got["b"].append),
            open_rpc_client(url + "?client_id=q", on_downstream=got["q"].append),
        ):
            stub = edge.mesh.get("CALC", "room")
            # The server registers a socket after its accept went out: the client may be first.
            await wait_until(lambda: connected_clients(stub) == ["a", "b", "q"])
            await a.push(["b"], {"to": "b"}, 3)  # from inside a turn: an output of the turn
            await wait_until(lambda: got["b"])
            send_downstream(None, stub, "all")  # from outside: now
            await wait_until(lambda: all(len(v) >= 1 + (k == "b") for k, v in got.items()))
            send_downstream("q", stub, "only q")
            await wait_until(lambda: len(got["q"]) == 2)
            assert got == {"a": ["all"], "b": [{"to": "b"}, "all"], "q": ["all", "only q"]}
            with pytest.raises(TypeError, match="an actor"):
                send_downstream("a", object(), 1)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="client_ids"):
                send_downstream([1], stub, 1)  # type: ignore[list-item]
        await wait_until(lambda: connected_clients(stub) == [])
        send_downstream("a", stub, "nobody")  # no socket: nothing happens


async def test_downstream_handler_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[object] = []

    async def handler(payload: object) -> None:
        seen.append(payload)
        raise RuntimeError("boom")

    async with open_rpc_edge() as edge, open_rpc_client(rpc_url(edge), on_downstream=handler) as actor:
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            await actor.push(None, 1)
            await wait_until(lambda: seen)
            assert await actor.add(1, 1) == 2  # the client lives on
        assert "on_downstream raised" in caplog.text


def test_backoff_delays() -> None:
    delays = backoff_delays()
    assert [next(delays) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


async def test_reconnect_after_close_and_on_close_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BACKOFF_FIRST", 0.01)
    closes: list[tuple[int, str]] = []
    got: list[object] = []
    async with open_rpc_edge() as edge:
        stub = edge.mesh.get("CALC", "r")
        async with open_rpc_client(
            rpc_url(edge, "r"),
            client_id="c",
            on_downstream=got.append,
            on_close=lambda c, r: closes.append((c, r)),
        ) as actor:
            await wait_until(lambda: connected_clients(stub) == ["c"])
            # The server drops the socket (a protocol error it provokes: a text message).
            ws = actor._client.ws
            assert ws is not None
            await ws.send("not a frame")
            await wait_until(lambda: closes)
            assert closes[0][0] == 4002
            await wait_until(lambda: actor._client.ws is not None and actor._client.ws is not ws)
            assert await actor.add(2, 2) == 4
            send_downstream("c", stub, "after")
            await wait_until(lambda: got == ["after"])

        verdicts: list[int] = []

        async def stop(code: int, reason: str) -> bool:
            verdicts.append(code)
            return False

        async with open_rpc_client(rpc_url(edge, "r"), on_downstream=got.append, on_close=stop) as actor:
            ws = actor._client.ws
            assert ws is not None
            await ws.send("not a frame")
            await wait_until(lambda: verdicts)
            await wait_until(lambda: actor._client.closed is not None)
            with pytest.raises(RpcConnectionError) as info:
                await actor.add(1, 1)
            assert info.value.code == 4002


async def test_without_downstream_the_client_closes_for_good() -> None:
    async with open_rpc_edge() as edge, open_rpc_client(rpc_url(edge)) as actor:
        ws = actor._client.ws
        assert ws is not None
        await ws.aclose(1000)
        await wait_until(lambda: actor._client.closed is not None)
        with pytest.raises(RpcConnectionError, match="1000"):
            await actor.add(1, 1)


async def test_reconnect_retries_while_the_server_is_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BACKOFF_FIRST", 0.01)
    attempts: list[float] = []
    real_connect = client_module._Client.connect

    async def counting(self: client_module._Client) -> object:
        attempts.append(trio.current_time())
        if len(attempts) in (2, 3):  # the first two reconnections fail
            raise RpcConnectionError(1001, "away")
        return await real_connect(self)

    monkeypatch.setattr(client_module._Client, "connect", counting)
    async with open_rpc_edge() as edge, open_rpc_client(rpc_url(edge), on_downstream=print) as actor:
        ws = actor._client.ws
        assert ws is not None
        await ws.aclose(1000)
        await wait_until(lambda: len(attempts) == 4 and actor._client.ws is not None)
        gaps = [b - a for a, b in itertools.pairwise(attempts[1:])]
        assert gaps[0] >= 0.02
        assert gaps[1] >= 0.04
        assert await actor.add(3, 3) == 6


async def test_a_push_waits_for_the_commit_and_is_dropped_if_it_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[object] = []
    async with (
        open_rpc_edge() as edge,
        open_rpc_client(rpc_url(edge, "w"), on_downstream=got.append) as actor,
    ):
        await actor.write_and_push("kept")
        await wait_until(lambda: got == ["kept"])
        edge.mesh.fail_next_commit(edge.mesh.get("CALC", "w"), OSError("disk"))  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="lumenize_trio"), pytest.raises(Exception):  # noqa: B017, PT011
            await actor.write_and_push("lost")
        assert "downstream push" in caplog.text
        assert await actor.add(1, 1) == 2
        assert got == ["kept"]


async def test_rpc_by_hex_id_and_other_subprotocols() -> None:
    from lumenize_trio.rpc import _client as client

    async with open_rpc_edge() as edge:
        hex_id = edge.mesh.namespace("CALC").id_from_name("byid").hex
        async with open_rpc_client(rpc_url(edge, hex_id), transport="http") as actor:
            assert await actor.add(4, 4) == 8
        real = client.CLIENT_ID_SUBPROTOCOL
        try:
            client.CLIENT_ID_SUBPROTOCOL = "other."  # type: ignore[misc]
            async with open_rpc_client(rpc_url(edge, "sub"), client_id="z") as actor:
                assert await actor.add(1, 1) == 2
                assert connected_clients(edge.mesh.get("CALC", "sub")) == [None]  # type: ignore[arg-type]
        finally:
            client.CLIENT_ID_SUBPROTOCOL = real  # type: ignore[misc]


async def test_a_full_socket_queue_drops_pushes(caplog: pytest.LogCaptureFixture) -> None:
    from lumenize_trio.rpc._server import SOCKET_QUEUE

    got: list[object] = []
    async with open_rpc_edge() as edge, open_rpc_client(rpc_url(edge, "f"), on_downstream=got.append):
        stub = edge.mesh.get("CALC", "f")
        await wait_until(lambda: connected_clients(stub) == [None])  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="lumenize_trio"):
            for n in range(SOCKET_QUEUE + 10):  # no checkpoint: the writer cannot drain
                send_downstream(None, stub, n)  # type: ignore[arg-type]
        assert "queue is full" in caplog.text
        await wait_until(lambda: got)
        assert got[0] == 0
