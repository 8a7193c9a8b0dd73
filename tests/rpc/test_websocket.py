"""The RPC client's WebSocket (rpc/_websocket.py) against real servers on 127.0.0.1: trio-websocket,
and a test-driven server end (wsproto over the accepted stream, or raw HTTP bytes) for the
behaviours a well-behaved library does not show: fragments, pings, bad frames, refusals, drops."""

from __future__ import annotations

import collections
import socket
import struct
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
import trio_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from lumenize_trio.rpc._websocket import ClientWebSocket, WebSocketClosed, WebSocketRejected

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

RECEIVE = 65536


@asynccontextmanager
async def serving(handler: Callable[[trio.SocketStream], Awaitable[None]]) -> AsyncIterator[int]:
    """Serve *handler* with ``trio.serve_tcp`` on 127.0.0.1:0; yield the port. All within 5 s."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
            try:
                yield listeners[0].socket.getsockname()[1]
            finally:
                nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_client(
    port: int, resource: str = "/ws", *, max_message_size: int = 1 << 20, **options: Any
) -> AsyncIterator[ClientWebSocket]:
    """A ClientWebSocket on a new TCP connection to *port*; the stream is closed on the way out."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        yield await ClientWebSocket.open(
            stream, f"127.0.0.1:{port}", resource, max_message_size=max_message_size, **options
        )
    finally:
        await trio.aclose_forcefully(stream)


class Peer:
    """The server's end of one connection, driven step by step by the test."""

    def __init__(self, stream: trio.SocketStream, connection: WSConnection, request: Request) -> None:
        self.stream = stream
        self.connection = connection
        self.request = request
        self.pending: collections.deque[Event] = collections.deque()

    @classmethod
    async def accept(cls, stream: trio.SocketStream) -> Peer:
        connection = WSConnection(ConnectionType.SERVER)
        while True:
            connection.receive_data(await stream.receive_some(RECEIVE))
            for event in connection.events():
                assert isinstance(event, Request)
                await stream.send_all(connection.send(AcceptConnection()))
                return cls(stream, connection, event)

    async def send(self, *events: Event) -> None:
        """Send *events* in one write, so that the client reads them together."""
        await self.stream.send_all(b"".join(self.connection.send(event) for event in events))

    async def next_event(self) -> Event:
        while not self.pending:
            data = await self.stream.receive_some(RECEIVE)
            self.connection.receive_data(data or None)
            self.pending.extend(self.connection.events())
        return self.pending.popleft()

    async def message(self) -> bytes | str:
        """The next whole message (wsproto hands large ones over in pieces)."""
        parts: list[Any] = []
        while True:
            event = await self.next_event()
            assert isinstance(event, Message)
            parts.append(event.data)
            if event.message_finished:
                return "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)

    async def assert_eof(self) -> None:
        """Nothing more arrives: the client closed the TCP connection."""
        assert not self.pending
        assert await self.stream.receive_some(RECEIVE) == b""


@asynccontextmanager
async def connected(*, max_message_size: int = 1 << 20) -> AsyncIterator[tuple[ClientWebSocket, Peer]]:
    """An open client and the server's end of its connection."""
    peer_in, peer_out = trio.open_memory_channel[Peer](1)

    async def handler(stream: trio.SocketStream) -> None:
        await peer_in.send(await Peer.accept(stream))
        await trio.sleep_forever()  # until the test ends (serve_tcp then closes the stream)

    async with serving(handler) as port, open_client(port, max_message_size=max_message_size) as client:
        yield client, await peer_out.receive()


async def closed_error(client: ClientWebSocket) -> WebSocketClosed:
    with pytest.raises(WebSocketClosed) as info:
        await client.receive()
    return info.value


# Messages, fragments, control frames


async def test_messages_round_trip_through_trio_websocket_with_subprotocols_and_headers() -> None:
    request_seen: list[tuple[str, list[str], list[tuple[bytes, bytes]]]] = []
    server_closed: list[tuple[int, str | None]] = []
    done = trio.Event()

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        request_seen.append((request.path, list(request.proposed_subprotocols), list(request.headers)))
        ws = await request.accept(subprotocol="v2")
        for _ in range(2):  # an echo of two messages
            await ws.send_message(await ws.get_message())
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            await ws.get_message()
        reason = info.value.reason
        assert reason is not None
        server_closed.append((reason.code, reason.reason))
        done.set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
            )
            async with open_client(
                server.port, "/rpc/x?y=1", subprotocols=["v1", "v2"], extra_headers=[(b"x-token", b"abc")]
            ) as client:
                await client.send(b"\x00\xffbinary")
                await client.send("text \u00e9\u2603")
                binary = await client.receive()
                text = await client.receive()
                assert type(binary) is bytes
                assert binary == b"\x00\xffbinary"
                assert type(text) is str
                assert text == "text \u00e9\u2603"
                await client.aclose(1000, "bye")
                error = await closed_error(client)
                assert (error.code, error.reason) == (1000, "bye")
                await done.wait()
            nursery.cancel_scope.cancel()

    [(path, subprotocols, headers)] = request_seen
    assert path == "/rpc/x?y=1"
    assert subprotocols == ["v1", "v2"]
    assert (b"x-token", b"abc") in headers
    assert server_closed == [(1000, "bye")]


async def test_the_request_reaches_a_wsproto_server() -> None:
    peer_in, peer_out = trio.open_memory_channel[Peer](1)

    async def handler(stream: trio.SocketStream) -> None:
        await peer_in.send(await Peer.accept(stream))
        await trio.sleep_forever()

    async with (
        serving(handler) as port,
        open_client(port, "/a", subprotocols=["p1"], extra_headers=[(b"x-one", b"1"), (b"x-two", b"2")]),
    ):
        request = (await peer_out.receive()).request
    assert (request.host, request.target, request.subprotocols) == (f"127.0.0.1:{port}", "/a", ["p1"])
    assert [(k, v) for k, v in request.extra_headers if k.startswith(b"x-")] == [
        (b"x-one", b"1"),
        (b"x-two", b"2"),
    ]


async def test_a_message_sent_with_the_accept_is_kept_for_receive() -> None:
    async def handler(stream: trio.SocketStream) -> None:
        connection = WSConnection(ConnectionType.SERVER)
        connection.receive_data(await stream.receive_some(RECEIVE))
        assert isinstance(next(connection.events()), Request)
        accept = connection.send(AcceptConnection())
        await stream.send_all(accept + connection.send(BytesMessage(b"early")))  # one write
        await trio.sleep_forever()

    async with serving(handler) as port, open_client(port) as client:
        assert await client.receive() == b"early"


@pytest.mark.parametrize("separate_reads", [False, True], ids=["one-read", "one-read-per-fragment"])
async def test_a_fragmented_message_is_reassembled(separate_reads: bool) -> None:
    async with connected() as (client, peer), trio.open_nursery() as nursery:
        received: list[bytes | str] = []

        async def reader() -> None:
            received.append(await client.receive())
            received.append(await client.receive())

        nursery.start_soon(reader)
        binary = [BytesMessage(b"ab", message_finished=False), BytesMessage(b"cd", message_finished=False)]
        text = [TextMessage("\u00e9t", message_finished=False), TextMessage("\u00e9!")]
        for message in ([*binary, BytesMessage(b"ef")], text):
            if separate_reads:  # the client reads each fragment before the next is sent
                for fragment in message:
                    await peer.send(fragment)
                    await trio.testing.wait_all_tasks_blocked()
            else:
                await peer.send(*message)
    assert received == [b"abcdef", "\u00e9t\u00e9!"]
    assert [type(message) for message in received] == [bytes, str]


async def test_a_ping_is_answered_and_the_next_message_still_arrives() -> None:
    async with connected() as (client, peer):
        await peer.send(Ping(b"heartbeat"), Pong(b"unasked"), BytesMessage(b"after"))
        assert await client.receive() == b"after"
        assert await peer.next_event() == Pong(b"heartbeat")
        await client.send("more")
        assert await peer.message() == "more"  # nothing else was sent in between


# Closing


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [(CloseConnection(4001, "bye now"), 4001, "bye now"), (CloseConnection(1000), 1000, "")],
    ids=["code-and-reason", "code-only"],
)
async def test_the_server_closes(frame: CloseConnection, code: int, reason: str) -> None:
    async with connected() as (client, peer):
        await peer.send(frame)
        error = await closed_error(client)
        assert (error.code, error.reason) == (code, reason)
        answer = await peer.next_event()  # the client's answer: the same code and reason
        assert isinstance(answer, CloseConnection)
        assert (answer.code, answer.reason) == (code, reason)
        assert await closed_error(client) is error  # the same error again
        await client.wait_closed()
        with pytest.raises(WebSocketClosed) as info:
            await client.send(b"too late")
        assert info.value is error
        await client.aclose()  # already closed: nothing to do
        await client.close_stream()
        await peer.assert_eof()  # no second close frame (nor anything else)


async def test_an_empty_close_frame_is_code_1005() -> None:
    async with connected() as (client, peer):
        await peer.stream.send_all(b"\x88\x00")  # a close frame with no payload
        error = await closed_error(client)
        assert (error.code, error.reason) == (1005, "")
        answer = await peer.next_event()  # an empty close frame too
        assert isinstance(answer, CloseConnection)
        assert (answer.code, answer.reason) == (1005, "")


@pytest.mark.parametrize("how", ["eof", "reset"])
async def test_the_tcp_connection_drops_without_a_close_frame(how: str) -> None:
    async with connected() as (client, peer):
        if how == "reset":  # SO_LINGER 0: the close sends a RST, the client's read fails
            peer.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await peer.stream.aclose()
        error = await closed_error(client)
        assert error.code == 1006
        assert error.reason.startswith("the connection was lost")
        if how == "reset":
            assert "BrokenResourceError" in error.reason
        await client.wait_closed()
        with pytest.raises(WebSocketClosed) as info:
            await client.send(b"x")
        assert info.value is error


async def test_a_message_larger_than_allowed_closes_with_1009() -> None:
    async with connected(max_message_size=10) as (client, peer):
        await peer.send(BytesMessage(b"0123456789"))  # exactly the limit
        assert await client.receive() == b"0123456789"
        await peer.send(TextMessage("01234", message_finished=False), TextMessage("56789"))
        assert await client.receive() == "0123456789"  # the limit counts the whole message
        await peer.send(BytesMessage(b"012345", message_finished=False), BytesMessage(b"6789A"))
        error = await closed_error(client)
        assert (error.code, error.reason) == (1009, "message too big")
        assert await peer.next_event() == CloseConnection(1009, "message too big")
        assert await closed_error(client) is error
        with pytest.raises(WebSocketClosed) as info:
            await client.send(b"x")
        assert info.value is error


async def test_a_text_message_larger_than_allowed_closes_with_1009() -> None:
    async with connected(max_message_size=3) as (client, peer):
        await peer.send(TextMessage("abcd"))
        error = await closed_error(client)
        assert error.code == 1009
        assert await peer.next_event() == CloseConnection(1009, "message too big")


async def test_aclose_sends_a_close_frame_and_the_reader_sees_the_answer() -> None:
    async with connected() as (client, peer):
        errors: list[WebSocketClosed] = []

        async def reader() -> None:
            errors.append(await closed_error(client))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await client.aclose(4000, "done")
            close = await peer.next_event()
            assert close == CloseConnection(4000, "done")
            with pytest.raises(WebSocketClosed) as info:  # closing: no more messages
                await client.send(b"late")
            assert (info.value.code, info.value.reason) == (1006, "the connection is closing")
            await client.aclose(4001, "again")  # already closing: nothing sent
            assert not errors  # the reader waits for the server's answer
            await peer.send(close.response())
            await client.wait_closed()
        assert [(e.code, e.reason) for e in errors] == [(4000, "done")]
        await client.aclose()  # closed: nothing to do
        with pytest.raises(WebSocketClosed) as info:
            await client.send(b"later")
        assert info.value is errors[0]
        await client.close_stream()
        await peer.assert_eof()  # the server's close was not answered a second time


async def test_a_ping_while_closing_is_not_answered() -> None:
    async with connected() as (client, peer):
        errors: list[WebSocketClosed] = []

        async def reader() -> None:
            errors.append(await closed_error(client))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await client.aclose(1000, "bye")
            await peer.send(Ping(b"crossed"))  # sent before the server reads the close
            await trio.testing.wait_all_tasks_blocked()  # the reader has seen the ping
            close = await peer.next_event()
            assert close == CloseConnection(1000, "bye")
            await peer.send(close.response())
        assert [(e.code, e.reason) for e in errors] == [(1000, "bye")]
        await client.close_stream()
        await peer.assert_eof()  # no pong after the close frame


async def test_a_ping_read_together_with_the_close_is_not_answered() -> None:
    async with connected() as (client, peer):
        await peer.send(Ping(b"p"), CloseConnection(1001, "going away"))
        error = await closed_error(client)
        assert (error.code, error.reason) == (1001, "going away")
        assert await peer.next_event() == CloseConnection(1001, "going away")
        await client.close_stream()
        await peer.assert_eof()


@pytest.mark.parametrize(
    ("frame", "code"),
    [(b"\x81\x02\xff\xfe", 1007), (b"\x83\x00", 1002)],
    ids=["invalid-utf8-text", "reserved-opcode"],
)
async def test_a_frame_that_cannot_be_parsed_fails_the_connection(frame: bytes, code: int) -> None:
    async with connected() as (client, peer):
        await peer.stream.send_all(frame)
        error = await closed_error(client)
        assert error.code == code
        event = await peer.next_event()  # the client says why it gives up
        assert isinstance(event, CloseConnection)
        assert (event.code, event.reason) == (code, error.reason)
        with pytest.raises(WebSocketClosed) as info:
            await client.send(b"x")
        assert info.value is error


async def test_aclose_after_the_stream_is_closed_does_not_raise() -> None:
    async with connected() as (client, peer):
        await client.close_stream()
        await peer.assert_eof()
        await client.aclose(1000, "")  # the close frame cannot be sent: no error
        error = await closed_error(client)
        assert error.code == 1006
        assert "ClosedResourceError" in error.reason
        await client.wait_closed()


async def test_close_stream_closes_the_tcp_connection() -> None:
    async with connected() as (client, peer):
        await client.close_stream()
        await peer.assert_eof()
        with pytest.raises(WebSocketClosed) as info:
            await client.send(b"x")
        assert info.value.code == 1006
        assert "ClosedResourceError" in info.value.reason
        assert await closed_error(client) is info.value


async def test_close_stream_wakes_a_waiting_reader() -> None:
    async with connected() as (client, peer), trio.open_nursery() as nursery:
        errors: list[WebSocketClosed] = []

        async def reader() -> None:
            errors.append(await closed_error(client))

        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        await client.close_stream()
        await peer.assert_eof()
    assert errors[0].code == 1006
    assert "ClosedResourceError" in errors[0].reason


# Concurrent sends


async def test_concurrent_senders_keep_their_messages_whole() -> None:
    count, size = 8, 200_000
    a = [bytes([i]) * size for i in range(count)]
    b = [chr(0x41 + i) * size for i in range(count)]
    async with connected() as (client, peer):
        received: list[bytes | str] = []

        async def collect() -> None:
            for _ in range(2 * count):
                received.append(await peer.message())  # noqa: PERF401 - an await per message

        async def send_all(messages: list[bytes] | list[str]) -> None:
            for message in messages:
                await client.send(message)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            nursery.start_soon(send_all, a)
            nursery.start_soon(send_all, b)
    assert [m for m in received if isinstance(m, bytes)] == a
    assert [m for m in received if isinstance(m, str)] == b
    assert received != a + b  # the two senders' messages interleaved


# The upgrade refused or failed


async def read_request(stream: trio.SocketStream) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some(RECEIVE)


def answering(*writes: bytes) -> Callable[[trio.SocketStream], Awaitable[None]]:
    """A handler that reads the upgrade request, writes *writes* one by one, and closes."""

    async def handler(stream: trio.SocketStream) -> None:
        await read_request(stream)
        for data in writes:
            await stream.send_all(data)
            await trio.sleep(0.001)

    return handler


@pytest.mark.parametrize(
    ("writes", "status", "body"),
    [
        ([b"HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nnope"], 403, b"nope"),
        ([b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"], 401, b""),
        (
            [
                b"HTTP/1.1 429 Too Many\r\ntransfer-encoding: chunked\r\n\r\n3\r\nslo",
                b"\r\n4\r\nwer!\r\n",
                b"0\r\n\r\n",
            ],
            429,
            b"slower!",
        ),
        ([b"HTTP/1.1 500 Oops\r\nconnection: close\r\n\r\nboom"], 500, b"boom"),  # body ends at EOF
        ([b"HTTP/1.1 102 Processing\r\n\r\n"], 102, b""),  # wsproto: an informational refusal
    ],
    ids=["body", "no-body", "chunked-body", "body-until-eof", "informational"],
)
async def test_a_refused_upgrade_raises_websocket_rejected(
    writes: list[bytes], status: int, body: bytes
) -> None:
    async with serving(answering(*writes)) as port:
        with pytest.raises(WebSocketRejected) as info:
            async with open_client(port):
                pass  # pragma: no cover - the upgrade is refused
    assert (info.value.status_code, info.value.body) == (status, body)
    assert str(status) in str(info.value)


@pytest.mark.parametrize(
    "answer",
    [b"", b"HTTP/1.1 403 Forb", b"HTTP/1.1 403 Forbidden\r\ncontent-length: 10\r\n\r\nnope"],
    ids=["no-answer", "cut-in-the-head", "cut-in-the-body"],
)
async def test_the_server_closing_before_its_answer_is_complete_is_1006(answer: bytes) -> None:
    async with serving(answering(answer)) as port:
        with pytest.raises(WebSocketClosed) as info:
            async with open_client(port):
                pass  # pragma: no cover - the upgrade fails
    assert (info.value.code, info.value.reason) == (1006, "the connection ended during the upgrade")


@pytest.mark.parametrize(
    "answer",
    [
        b"not http at all\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-accept: wrong\r\n\r\n",
    ],
    ids=["garbage", "bad-accept-key"],
)
async def test_an_invalid_answer_raises_remote_protocol_error(answer: bytes) -> None:
    async with serving(answering(answer)) as port:
        with pytest.raises(RemoteProtocolError):
            async with open_client(port):
                pass  # pragma: no cover - the upgrade fails
