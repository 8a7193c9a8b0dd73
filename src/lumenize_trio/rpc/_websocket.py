"""The RPC client's WebSocket: wsproto over one Trio stream, read only by the task that asks.

Theory of operation
-------------------
A general WebSocket library runs a reader task of its own and hands each message to the
application through a queue. The RPC client already has one task reading its socket, so this
connection reads only inside :meth:`ClientWebSocket.receive`, called by that task: a message goes
from the socket to the code that decodes it with no other task and no queue on the way (a task
switch per round trip fewer). Control frames are handled there too: a ping is answered, a close
is answered and reported as :class:`WebSocketClosed`.

Any task may :meth:`~ClientWebSocket.send`; a lock keeps each message's bytes together. Sends are
not cancel-safe once started (a frame cut short would corrupt the stream), so callers send from
tasks that are cancelled only when the connection is being dropped anyway.
"""

from __future__ import annotations

import collections
import contextlib
from typing import TYPE_CHECKING, Final, final

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Bytes asked of the stream per read.
RECEIVE_SIZE: Final = 65536
#: The close code reported when the connection ends without a close frame (RFC 6455 §7.1.5).
ABNORMAL_CLOSURE: Final = 1006
#: The close code sent when a message is larger than allowed.
MESSAGE_TOO_BIG: Final = 1009

#: The states in which a received close event is answered with a close frame.
_ANSWER_CLOSE: Final = frozenset({ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING})
#: What a broken or closed stream raises; the connection reports it as a close.
_STREAM_ERRORS: Final = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


@final
class WebSocketRejected(Exception):
    """The server answered the upgrade with an HTTP response instead of accepting it."""

    def __init__(self, status_code: int, body: bytes) -> None:
        super().__init__(f"the WebSocket upgrade was refused with HTTP {status_code}")
        self.status_code = status_code
        self.body = body


@final
class WebSocketClosed(Exception):
    """The connection is closed: by a close frame (its code and reason) or lost (code 1006)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"WebSocket closed ({code}): {reason}")
        self.code = code
        self.reason = reason


@final
class ClientWebSocket:
    """An open client WebSocket on *stream* (made by :meth:`open`)."""

    __slots__ = ("_closed", "_connection", "_done", "_max_size", "_pending", "_send_lock", "_stream")

    def __init__(self, stream: trio.abc.Stream, connection: WSConnection, max_message_size: int) -> None:
        self._stream = stream
        self._connection = connection
        self._max_size = max_message_size
        self._pending: collections.deque[Event] = collections.deque()
        self._send_lock = trio.Lock()
        self._closed: WebSocketClosed | None = None
        self._done = trio.Event()  # set once the close is known to the reader

    @classmethod
    async def open(
        cls,
        stream: trio.abc.Stream,
        host: str,
        resource: str,
        *,
        subprotocols: Sequence[str] = (),
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
        max_message_size: int,
    ) -> ClientWebSocket:
        """Upgrade *stream* (already connected to *host*) to a WebSocket on *resource*.

        Raises:
            WebSocketRejected: the server answered with an HTTP response (status and body).
            WebSocketClosed: the stream ended before the server's answer was complete.
            wsproto.utilities.RemoteProtocolError: the server's answer is not a valid upgrade
                response.
            trio.BrokenResourceError, OSError: the stream failed.
        """
        connection = WSConnection(ConnectionType.CLIENT)
        request = Request(
            host=host, target=resource, subprotocols=list(subprotocols), extra_headers=list(extra_headers)
        )
        await stream.send_all(connection.send(request))
        ws = cls(stream, connection, max_message_size)
        status: int | None = None
        body = bytearray()
        while True:
            data = bytes(await stream.receive_some(RECEIVE_SIZE))
            if data:
                connection.receive_data(data)
            else:
                # The end of the stream ends a refusal's body sent without a length; an answer it
                # cuts short makes h11 raise, reported below as a close (1006).
                with contextlib.suppress(RemoteProtocolError):
                    connection.receive_data(None)
            ws._pending.extend(connection.events())
            while ws._pending:
                event = ws._pending.popleft()
                if isinstance(event, AcceptConnection):
                    return ws  # later events (the first messages, perhaps) stay pending
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise WebSocketRejected(status, b"")
                elif isinstance(event, RejectData):  # pragma: no branch - nothing else comes first
                    body += event.data
                    if event.body_finished:
                        assert status is not None
                        raise WebSocketRejected(status, bytes(body))
            if not data:
                raise WebSocketClosed(ABNORMAL_CLOSURE, "the connection ended during the upgrade")

    async def _read(self) -> bool:
        """Feed one read of the stream to wsproto; False at the end of the stream."""
        data = bytes(await self._stream.receive_some(RECEIVE_SIZE))
        self._connection.receive_data(data or None)
        self._pending.extend(self._connection.events())
        return bool(data)

    async def receive(self) -> bytes | str:
        """The next message (``bytes`` or ``str``), answering pings and closes on the way.

        For one task at a time (the reader). Cancellation: a checkpoint; cancelling it while a
        message is half read drops that message, so cancel it only to drop the connection.

        Raises:
            WebSocketClosed: the peer closed the connection (its code and reason, after our
                answer), it was lost (1006), or a message was larger than allowed (1009, after
                we closed with that code).
        """
        if self._closed is not None:
            raise self._closed
        text: list[str] = []
        data: list[bytes | bytearray] = []
        size = 0
        try:
            while True:
                while self._pending:
                    event = self._pending.popleft()
                    if isinstance(event, BytesMessage | TextMessage):
                        size += len(event.data)
                        if size > self._max_size:
                            await self.aclose(MESSAGE_TOO_BIG, "message too big")
                            raise self._close(MESSAGE_TOO_BIG, "message too big")
                        if isinstance(event, TextMessage):
                            text.append(event.data)
                            if event.message_finished:
                                return "".join(text)
                        else:
                            data.append(event.data)
                            if event.message_finished:
                                return b"".join(data)
                    elif isinstance(event, Ping):
                        # Not once a close was sent or received (wsproto refuses: RFC 6455 §5.5.2).
                        if self._connection.state is ConnectionState.OPEN:
                            await self._send_bytes(self._connection.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        # The peer's close is answered; a frame wsproto cannot parse (still OPEN)
                        # fails the connection with its code (1002, 1007: RFC 6455 §7.1.7).
                        if self._connection.state in _ANSWER_CLOSE:
                            await self._send_bytes(self._connection.send(event.response()))
                        raise self._close(event.code, event.reason or "")
                    # A Pong needs nothing.
                if not await self._read():
                    raise self._close(ABNORMAL_CLOSURE, "the connection was lost")
        except _STREAM_ERRORS as exc:
            raise self._close(ABNORMAL_CLOSURE, f"the connection was lost: {exc!r}") from None

    def _close(self, code: int, reason: str) -> WebSocketClosed:
        if self._closed is None:
            self._closed = WebSocketClosed(code, reason)
            self._done.set()
        return self._closed

    async def send(self, message: bytes | str) -> None:
        """Send one message (``bytes`` as binary, ``str`` as text).

        Raises:
            WebSocketClosed: the connection is closing or closed, or the stream failed.
        """
        try:
            data = self._connection.send(
                TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
            )
        except LocalProtocolError:
            raise self._closed or WebSocketClosed(ABNORMAL_CLOSURE, "the connection is closing") from None
        await self._send_bytes(data)

    async def _send_bytes(self, data: bytes) -> None:
        try:
            self._send_lock.acquire_nowait()  # uncontended (the usual case): no extra yield
        except trio.WouldBlock:
            await self._send_lock.acquire()
        try:
            await self._stream.send_all(data)
        except _STREAM_ERRORS as exc:
            raise self._close(ABNORMAL_CLOSURE, f"the connection was lost: {exc!r}") from None
        finally:
            self._send_lock.release()

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake: send a close frame, if none was sent or received yet.

        The reader sees the peer's answer (:meth:`receive` raises); :meth:`wait_closed` waits
        for that. Never raises for a connection that is already closing or broken.
        """
        if self._connection.state is not ConnectionState.OPEN:
            return
        data = self._connection.send(CloseConnection(code=code, reason=reason))
        with contextlib.suppress(WebSocketClosed):
            await self._send_bytes(data)

    async def wait_closed(self) -> None:
        """Wait until the reader has seen the connection close."""
        await self._done.wait()

    async def close_stream(self) -> None:
        """Close the underlying stream at once (the TCP connection)."""
        await trio.aclose_forcefully(self._stream)
