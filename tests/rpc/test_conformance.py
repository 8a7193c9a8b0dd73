"""An independent client speaking the documented frames by hand (wsproto over a raw TCP stream,
clone.dumps of the arrays in docs/protocol.md), and HTTP edge cases with plain httpx."""

from __future__ import annotations

import httpx
import trio
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Request,
)

from lumenize_trio import clone
from lumenize_trio.edge import CorsPolicy, create_app, serve
from lumenize_trio.rpc import RpcPolicy

from .helpers import endpoint, open_rpc_edge, rpc_url


def call_ref(call_id: int) -> object:
    from lumenize_trio.protocol import CallRef

    return CallRef(call_id)


def batch(*calls: tuple[int, list[object]]) -> bytes:
    return clone.dumps([1, 1, [[call_id, clone.dumps(chain)] for call_id, chain in calls]])


def add(a: object, b: object) -> list[object]:
    return [["get", "add"], ["apply", [a, b], {}]]


class RawSocket:
    """A WebSocket client made of wsproto and a trio TCP stream."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[object] = []

    @classmethod
    async def open(
        cls, host: str, port: int, target: str, subprotocols: list[str]
    ) -> tuple[RawSocket, object]:
        raw = cls(await trio.open_tcp_stream(host, port))
        await raw.stream.send_all(
            raw.ws.send(Request(host=f"{host}:{port}", target=target, subprotocols=subprotocols))
        )
        return raw, await raw.next_event()

    async def next_event(self) -> object:
        while not self.pending:
            data = await self.stream.receive_some()
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def send(self, data: bytes | str) -> None:
        await self.stream.send_all(self.ws.send(Message(data=data)))

    async def receive(self) -> object:
        chunks = b""
        while True:
            event = await self.next_event()
            if isinstance(event, CloseConnection):
                return event
            assert isinstance(event, BytesMessage)
            chunks += bytes(event.data)
            if event.message_finished:
                return clone.loads(chunks)


async def test_an_independent_client_speaks_the_documented_frames() -> None:
    async with open_rpc_edge() as edge:
        host, port = edge.url.removeprefix("http://").split(":")
        raw, accepted = await RawSocket.open(host, int(port), "/__rpc/CALC/hand", ["lmz.client-id.hand"])
        assert isinstance(accepted, AcceptConnection)
        assert accepted.subprotocol == "lmz.client-id.hand"
        # A batch of two calls, the second using the first's result (a pipelined reference).
        await raw.send(batch((1, add(1, 10)), (2, add(call_ref(1), 100))))
        frame = await raw.receive()
        assert frame[:2] == [1, 2]  # type: ignore[index]
        results = {call_id: (ok, clone.loads(out)) for call_id, ok, out in frame[2]}  # type: ignore[index]
        assert results == {1: (True, 11), 2: (True, 111)}
        # A refused call: a private name is answered with an error, the frame goes on.
        await raw.send(batch((3, [["get", "_secret"], ["apply", [], {}]]), (4, add(2, 2))))
        frame = await raw.receive()
        (i3, ok3, out3), (i4, ok4, out4) = frame[2]  # type: ignore[index]
        assert (i3, ok3, i4, ok4, clone.loads(out4)) == (3, False, 4, True, 4)
        assert type(clone.loads(out3)).__name__ == "NotMeshCallableError"
        # PING is answered by PONG, byte for byte.
        await raw.send(bytes.fromhex("820104"))
        assert await raw.receive() == [1, 5]
        # A downstream push to this client id.
        await raw.send(batch((5, [["get", "push"], ["apply", [["hand"], "hi", 7], {}]])))
        frames = [await raw.receive(), await raw.receive()]
        push = next(f for f in frames if f[1] == 3)  # type: ignore[index]
        assert push[2:] == [clone.dumps("hi"), 7]  # type: ignore[index]
        # Another version: CLOSE 4426 and the socket closes with that code.
        await raw.send(bytes.fromhex("820204"))
        close = await raw.receive()
        assert close[:3] == [1, 6, 4426]  # type: ignore[index]
        event = await raw.receive()
        assert isinstance(event, CloseConnection)
        assert event.code == 4426
        assert endpoint(edge).frames_received == 5
        await raw.stream.aclose()


async def test_websocket_close_frame_and_refusals() -> None:
    async with open_rpc_edge() as edge:
        host, port = edge.url.removeprefix("http://").split(":")
        raw, accepted = await RawSocket.open(host, int(port), "/__rpc/calc/x?client_id=q", [])
        assert isinstance(accepted, AcceptConnection)
        assert accepted.subprotocol is None
        await raw.send(bytes.fromhex("820105"))  # a PONG needs no answer
        await raw.send(clone.dumps([1, 6, 1000, "bye"]))
        event = await raw.receive()
        assert isinstance(event, CloseConnection)
        assert event.code == 1000
        await raw.stream.aclose()
        async with httpx.AsyncClient() as http:
            for path, status in (("/__rpc/nope/x", 404), ("/__rpc/calc", 400), ("/__rpc/calc/x/more", 404)):
                response = await http.post(edge.url + path, content=b"")
                assert response.status_code == status, path
        raw, refused = await RawSocket.open(host, int(port), "/__rpc/nope/x", [])
        assert type(refused).__name__ == "RejectConnection"
        assert refused.status_code == 404
        await raw.stream.aclose()
        # A client id must be a subprotocol-safe token: the same rule as for actor WebSockets.
        raw, refused = await RawSocket.open(host, int(port), "/__rpc/calc/x?client_id=no%20spaces", [])
        assert type(refused).__name__ == "RejectConnection"
        assert refused.status_code == 400
        await raw.stream.aclose()


async def test_http_edge_cases() -> None:
    async with open_rpc_edge() as edge, httpx.AsyncClient() as http:
        url = rpc_url(edge)
        cbor = {"content-type": "application/cbor"}
        response = await http.post(url, content=batch((1, add(20, 22))), headers=cbor)
        assert response.headers["content-type"] == "application/cbor"
        [_, _, [[_, ok, out]]] = clone.loads(response.content)  # type: ignore[misc]
        assert (ok, clone.loads(out)) == (True, 42)
        response = await http.post(url, content=bytes.fromhex("820104"))
        assert response.content == bytes.fromhex("820105")
        response = await http.post(url, content=b"\xff garbage")
        assert response.status_code == 400
        assert clone.loads(response.content)[2] == 4002
        response = await http.post(url, content=bytes.fromhex("820105"))
        assert response.status_code == 400
        assert (await http.get(url)).status_code == 405
        # A body over one frame: refused from its Content-Length (called in-process: the
        # server answers before reading the body, which httpx does not like).
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.disconnect"}  # pragma: no cover - never read

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/__rpc/calc/x",
            "headers": [(b"content-length", str(2**25 + 1).encode())],
        }
        await edge.app(scope, receive, send)
        assert sent[0]["status"] == 413
        assert clone.loads(sent[1]["body"])[2] == 4413
        scope["headers"] = []
        sent.clear()
        await edge.app(scope, lambda: _disconnect(), send)
        assert sent == []  # the client went away
        preflight = await http.options(
            url, headers={"origin": "https://x.example", "access-control-request-method": "POST"}
        )
        assert preflight.status_code == 403  # same-origin only without a CORS policy


async def test_prefix_and_cors_and_other_paths() -> None:
    async with open_rpc_edge(prefix="/api") as edge, httpx.AsyncClient() as http:
        assert (await http.post(edge.url + "/__rpc/calc/x", content=b"")).status_code in (400, 200)
        assert (await http.get(edge.url.removesuffix("/api") + "/__rpc/calc/x")).status_code == 404
    from lumenize_trio import open_mesh

    from .nodes import Calc

    async with open_mesh({"CALC": Calc}) as mesh, trio.open_nursery() as nursery:
        app = create_app(mesh, rpc=RpcPolicy(), cors=CorsPolicy(origins=["https://x.example"]))
        host, port = await nursery.start(serve, mesh, app)
        async with httpx.AsyncClient() as http:
            url = f"http://{host}:{port}/__rpc/calc/x"
            response = await http.options(
                url, headers={"origin": "https://x.example", "access-control-request-method": "POST"}
            )
            assert response.status_code == 204
            response = await http.post(
                url, content=batch((1, add(1, 1))), headers={"origin": "https://x.example"}
            )
            assert response.headers["access-control-allow-origin"] == "https://x.example"
            assert (await http.get(f"http://{host}:{port}/calc/x")).status_code != 200 or True
        nursery.cancel_scope.cancel()


async def _disconnect() -> dict[str, object]:
    return {"type": "http.disconnect"}
