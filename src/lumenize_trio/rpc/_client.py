"""The Trio RPC client: ``async with open_rpc_client(url) as actor: await actor.method(...)``.

Theory of operation
-------------------
The proxy (``actor``) records chains like a mesh stub: ``actor.a(1).b`` is an :class:`RpcCall`,
sent when awaited. Awaiting *issues* it: the chain is queued in the open batch of the sans-IO
:class:`~lumenize_trio.protocol.RpcClientConnection` and the *flusher* task is woken; the caller
then waits. The flusher runs at the next checkpoint, so every call issued before it (by any task)
leaves in one BATCH frame. :func:`issue` queues a call without waiting: the :class:`IssuedCall`
it returns, passed as an argument of another call issued before the flush, travels as a
``CallRef`` (pipelining); an unissued ``RpcCall`` passed as an argument is a nested chain, run by
the server as part of the call that holds it.

Transports: a WebSocket (wsproto, read by one task that decodes results and pushes as they
arrive; see ``_websocket.py``) or HTTP POST (httpx;
one request per batch). A *reaper* task fails the calls of a batch whose deadline passed with
``trio.TooSlowError``. With ``on_downstream`` the WebSocket client reconnects when the socket
closes, with backoff 1, 2, 4 ... 30 s, unless ``on_close`` returns ``False``; without it the
client is closed for good when its socket closes.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from contextlib import asynccontextmanager
from typing import Final, Literal, final
from urllib.parse import urlsplit

import httpx
import trio
from wsproto.utilities import RemoteProtocolError

from .._exceptions import LumenizeError
from ..ocan import Continuation, chain_of, continuation
from ..protocol import (
    DEFAULT_BATCH_TIMEOUT,
    MAX_FRAME_SIZE,
    CallError,
    CallRef,
    CallResult,
    Close,
    CloseCode,
    Downstream,
    Ping,
    ProtocolError,
    RpcClientConnection,
)
from ..protocol._frames import BatchFrame, decode_frame
from ..runtime._signal import Signal
from ..runtime._websockets import is_client_id
from ._server import CLIENT_ID_SUBPROTOCOL
from ._websocket import ClientWebSocket, WebSocketClosed, WebSocketRejected

log = logging.getLogger("lumenize_trio")

#: Reconnection backoff: the first wait, in seconds, doubled after each failed attempt up to the last.
BACKOFF_FIRST: Final = 1.0
BACKOFF_MAX: Final = 30.0


OnDownstream = Callable[[object], object]
OnClose = Callable[[int, str], object]


@final
class RpcConnectionError(LumenizeError, ConnectionError):
    """The RPC connection closed (or was refused) before a call's result arrived.

    Attributes:
        code: the close code (a :class:`~lumenize_trio.protocol.CloseCode` or WebSocket code), or
            the HTTP status of a refused request or upgrade.
        reason: why, as the server or the transport said.

    .. versionadded:: 0.1
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"RPC connection closed ({code}): {reason}")
        self.code = code
        self.reason = reason


def backoff_delays() -> Generator[float, None, None]:
    """The waits between reconnection attempts: 1, 2, 4, 8, 16, 30, 30 ... seconds."""
    delay = BACKOFF_FIRST
    while True:
        yield delay
        delay = min(delay * 2, BACKOFF_MAX)


@final
class IssuedCall:
    """A call that was queued (by :func:`issue` or by awaiting it): await it for its outcome.

    Passed as an argument of another call issued before the batch is sent, it becomes a
    ``CallRef`` (the server passes it the result without a round trip).

    .. versionadded:: 0.1
    """

    __slots__ = ("_client", "_done", "_error", "_value", "call_id")

    def __init__(self, client: _Client, call_id: int) -> None:
        self._client = client
        self.call_id = call_id
        self._done = Signal()
        self._value: object = None
        self._error: BaseException | None = None

    def _settle(self, value: object, error: BaseException | None) -> None:
        self._value, self._error = value, error
        self._done.set()

    async def _wait(self) -> object:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value

    def __await__(self) -> Generator[object, None, object]:
        return self._wait().__await__()

    def __repr__(self) -> str:
        return f"<IssuedCall {self.call_id}>"


@final
class RpcCall:
    """A chain of operations on the remote actor, sent when awaited (extend it with ``.name`` or
    ``(...)``). Passed unawaited as an argument of another call, it is a nested chain.

    .. versionadded:: 0.1
    """

    __slots__ = ("_builder", "_client")

    def __init__(self, client: _Client, builder: Continuation) -> None:
        self._client = client
        self._builder = builder

    def __getattr__(self, name: str) -> RpcCall:
        return RpcCall(self._client, getattr(self._builder, name))

    def __call__(self, *args: object, **kwargs: object) -> RpcCall:
        convert = self._client.convert
        new_args = [convert(arg) for arg in args]
        return RpcCall(self._client, self._builder(*new_args, **{k: convert(v) for k, v in kwargs.items()}))

    def __await__(self) -> Generator[object, None, object]:
        return self._client.issue(self._builder).__await__()


@final
class RpcProxy:
    """The remote actor (what :func:`open_rpc_client` yields): ``await actor.method(...)``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_client",)

    def __init__(self, client: _Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> RpcCall:
        return RpcCall(self._client, getattr(continuation(), name))

    def __repr__(self) -> str:
        return f"<RpcProxy {self._client.url}>"


def issue(call: RpcCall) -> IssuedCall:
    """Queue *call* in the client's open batch now, without waiting; await the result later.

    ``x = issue(actor.make()); await actor.use(x)`` is one batch of two calls, the second
    receiving the first's result as a pipelined ``CallRef``. Not a checkpoint.

    Raises:
        RpcConnectionError: the client is closed.
        ChainError, DataCloneError, NotMeshCallableError: the chain cannot be sent.

    .. versionadded:: 0.1
    """
    if not isinstance(call, RpcCall):
        raise TypeError(f"issue() takes a call made through an RPC client, not {type(call).__name__}")
    return call._client.issue(call._builder)


@final
class _Client:
    """The state and tasks of one client (see the module docstring)."""

    def __init__(
        self,
        url: str,
        transport: Literal["websocket", "http"],
        client_id: str | None,
        on_downstream: OnDownstream | None,
        on_close: OnClose | None,
        headers: Mapping[str, str] | None,
        batch_timeout: float,
    ) -> None:
        self.url = url
        self.transport = transport
        self.client_id = client_id
        self.on_downstream = on_downstream
        self.on_close = on_close
        self.headers = dict(headers or {})
        self.conn = RpcClientConnection(batch_timeout=batch_timeout)
        self.waiting: dict[int, IssuedCall] = {}
        self.closed: RpcConnectionError | None = None
        self.ws: ClientWebSocket | None = None
        self.http: httpx.AsyncClient | None = None
        self.nursery: trio.Nursery | None = None
        self._wake = Signal()
        self._connected = trio.Event()
        self._deadline_changed = trio.Event()
        self._reaper_until = math.inf  # when the reaper wakes up next, by itself

    # -- calls --------------------------------------------------------------------------------

    def convert(self, value: object) -> object:
        """An argument as the builder takes it: RpcCall -> nested chain, IssuedCall -> CallRef."""
        if type(value) is RpcCall:
            if value._client is not self:
                raise ValueError("a call of another RPC client cannot be an argument")
            return value._builder
        if type(value) is IssuedCall:
            if value._client is not self:
                raise ValueError("a call of another RPC client cannot be an argument")
            if not value._done.is_set():
                return CallRef(value.call_id)
            if value._error is not None:
                raise value._error
            return value._value
        if type(value) is list:
            return [self.convert(item) for item in value]
        if type(value) is tuple:
            return tuple(self.convert(item) for item in value)
        if type(value) is dict:
            return {key: self.convert(item) for key, item in value.items()}
        return value

    def issue(self, builder: Continuation) -> IssuedCall:
        if self.closed is not None:
            raise RpcConnectionError(self.closed.code, self.closed.reason)
        call_id = self.conn.call(chain_of(builder))
        issued = self.waiting[call_id] = IssuedCall(self, call_id)
        self._wake.set()
        return issued

    def settle(self, call_id: int, value: object, error: BaseException | None) -> None:
        issued = self.waiting.pop(call_id, None)
        if issued is not None:
            issued._settle(value, error)

    def fail_all(self, error: RpcConnectionError) -> None:
        self.conn.abandon()
        for call_id in list(self.waiting):
            self.settle(call_id, None, RpcConnectionError(error.code, error.reason))

    # -- tasks --------------------------------------------------------------------------------

    async def flusher(self) -> None:
        """Send the queued batches, one scheduling round after the first call of a batch."""
        while True:
            await self._wake.wait()
            self._wake = Signal()
            if self.transport == "websocket" and not self._connected.is_set():
                await self._connected.wait()
            while (data := self.conn.data_to_send(trio.current_time())) is not None:
                if self._reaper_until == math.inf:
                    # Deadlines only grow, so the reaper needs waking only when it sleeps with
                    # none (not once per batch: that would cost a task switch per round trip).
                    self._deadline_changed.set()
                if self.ws is not None:
                    # A closed socket: the reader sees the close and fails these calls.
                    with contextlib.suppress(WebSocketClosed):
                        await self.ws.send(data)
                else:
                    assert self.nursery is not None
                    self.nursery.start_soon(self._post, data)

    async def reaper(self) -> None:
        """Fail the calls of every batch whose deadline passed with ``trio.TooSlowError``."""
        while True:
            deadline = self.conn.next_deadline()
            self._reaper_until = math.inf if deadline is None else deadline
            with trio.move_on_at(self._reaper_until):
                await self._deadline_changed.wait()
            self._deadline_changed = trio.Event()
            for call_id in self.conn.expired(trio.current_time()):
                error = trio.TooSlowError(
                    f"call {call_id}: no result within the batch deadline ({self.conn.batch_timeout} s)"
                )
                self.settle(call_id, None, error)

    async def _post(self, data: bytes) -> None:
        frame = decode_frame(data)
        assert type(frame) is BatchFrame
        ids = [call_id for call_id, _ in frame.calls]
        assert self.http is not None
        try:
            response = await self.http.post(
                self.url, content=data, headers={"content-type": "application/cbor"}
            )
        except httpx.HTTPError as exc:
            for call_id in ids:
                self.settle(call_id, None, RpcConnectionError(int(CloseCode.GOING_AWAY), repr(exc)))
            return
        if response.headers.get("content-type") == "application/cbor":
            events = self.conn.receive_data(response.content)
        else:
            events = [Close(response.status_code, response.text)]
        for event in events:
            if type(event) is CallResult:
                self.settle(event.call_id, event.value, None)
            elif type(event) is CallError:
                self.settle(event.call_id, None, event.error)
            else:
                code, reason = (event.code, event.message) if type(event) is ProtocolError else _close(event)
                for call_id in ids:
                    self.settle(call_id, None, RpcConnectionError(code, reason))

    async def connect(self) -> ClientWebSocket:
        """Open the WebSocket (raises :class:`RpcConnectionError` if it is refused)."""
        subprotocols = [] if self.client_id is None else [CLIENT_ID_SUBPROTOCOL + self.client_id]
        headers = [(k.encode(), v.encode()) for k, v in self.headers.items()]
        parts = urlsplit(self.url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
        try:
            if secure:  # pragma: no cover - the tests serve plain HTTP
                stream = await trio.open_ssl_over_tcp_stream(
                    host, port, ssl_context=ssl.create_default_context()
                )
            else:
                stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise RpcConnectionError(int(CloseCode.GOING_AWAY), f"cannot connect: {exc!r}") from None
        try:
            return await ClientWebSocket.open(
                stream,
                parts.netloc,
                resource,
                subprotocols=subprotocols,
                extra_headers=headers,
                max_message_size=MAX_FRAME_SIZE,
            )
        except WebSocketRejected as refusal:
            rejected = RpcConnectionError(refusal.status_code, refusal.body.decode(errors="replace"))
        except (OSError, trio.BrokenResourceError, WebSocketClosed, RemoteProtocolError) as exc:
            rejected = RpcConnectionError(int(CloseCode.GOING_AWAY), f"cannot connect: {exc!r}")
        await trio.aclose_forcefully(stream)
        raise rejected

    async def run_websocket(self, ws: ClientWebSocket) -> None:
        """Read *ws* until it closes, and reconnect while the client wants it."""
        delays = backoff_delays()
        while True:
            self.ws = ws
            self._connected.set()
            self._wake.set()  # calls queued while disconnected leave now
            code, reason = await self._read(ws)
            self.ws = None
            await ws.close_stream()
            self._connected = trio.Event()
            error = RpcConnectionError(code, reason)
            self.fail_all(error)
            keep = self.on_downstream is not None
            if self.on_close is not None and await _call_handler(self.on_close, code, reason) is False:
                keep = False
            if not keep:
                self.closed = error
                return
            while True:
                await trio.sleep(next(delays))
                try:
                    ws = await self.connect()
                except RpcConnectionError as exc:
                    log.info("RPC client %s: reconnecting failed: %s", self.url, exc)
                    continue
                delays = backoff_delays()
                break

    async def _read(self, ws: ClientWebSocket) -> tuple[int, str]:
        """Handle frames until the socket closes; return its close code and reason."""
        close_frame: tuple[int, str] | None = None
        while True:
            try:
                message = await ws.receive()
            except WebSocketClosed as exc:
                return close_frame if close_frame is not None else (exc.code, exc.reason)
            if isinstance(message, str):
                events: list[object] = [
                    ProtocolError(int(CloseCode.PROTOCOL_ERROR), "frames are binary messages")
                ]
            else:
                events = list(self.conn.receive_data(message))
            for event in events:
                if type(event) is CallResult:
                    self.settle(event.call_id, event.value, None)
                elif type(event) is CallError:
                    self.settle(event.call_id, None, event.error)
                elif type(event) is Downstream:
                    await self._deliver(event)
                elif type(event) is Ping:
                    with contextlib.suppress(WebSocketClosed):  # the next receive reports it
                        await ws.send(self.conn.send_pong())
                elif type(event) is Close:
                    close_frame = (event.code, event.reason)
                elif type(event) is ProtocolError:
                    with contextlib.suppress(WebSocketClosed):
                        await ws.send(self.conn.send_close(event.code, event.message))
                    await ws.aclose(event.code, event.message.encode()[:123].decode(errors="ignore"))
                    return event.code, event.message

    async def _deliver(self, event: Downstream) -> None:
        if self.on_downstream is None:
            log.debug("RPC client %s: a downstream push with no on_downstream handler", self.url)
            return
        try:
            await _call_handler(self.on_downstream, event.payload)
        except Exception:
            log.exception("RPC client %s: on_downstream raised", self.url)

    async def aclose(self) -> None:
        self.closed = RpcConnectionError(int(CloseCode.NORMAL), "the client closed")
        self.fail_all(self.closed)
        if self.ws is not None:
            await self.ws.aclose(int(CloseCode.NORMAL))
            with trio.move_on_after(1):  # a peer that does not answer the close handshake
                await self.ws.wait_closed()


def _close(event: object) -> tuple[int, str]:
    if type(event) is Close:
        return event.code, event.reason
    return int(CloseCode.PROTOCOL_ERROR), f"unexpected {type(event).__name__} over HTTP"


async def _call_handler(handler: Callable[..., object], *args: object) -> object:
    result = handler(*args)
    if inspect.isawaitable(result):
        awaitable: Awaitable[object] = result
        result = await awaitable
    return result


@asynccontextmanager
async def open_rpc_client(
    url: str,
    *,
    transport: Literal["websocket", "http"] = "websocket",
    client_id: str | None = None,
    on_downstream: OnDownstream | None = None,
    on_close: OnClose | None = None,
    headers: Mapping[str, str] | None = None,
    batch_timeout: float = DEFAULT_BATCH_TIMEOUT,
) -> AsyncIterator[RpcProxy]:
    """Connect to the actor at *url* (``http://host:port[/prefix]/__rpc/{binding}/{instance}``)
    and yield its proxy: ``await actor.method(...)`` returns the result or raises the remote error.

    Args:
        url: the actor's RPC URL; ``ws://``/``wss://`` and ``http://``/``https://`` both work,
            for either transport.
        transport: ``"websocket"`` (default: one connection, server push) or ``"http"`` (one
            POST per batch; no push).
        client_id: the id the server tags this client's socket with, for ``send_downstream``
            (sent as the subprotocol ``lmz.client-id.<id>``): 1 to 128 of ``A-Z a-z 0-9 . _ ~ -``.
        on_downstream: ``handler(payload)``, sync or async, for each server push. Its exceptions
            are logged, never raised. With a handler the client reconnects when its socket closes.
        on_close: ``handler(code, reason)``, sync or async, called when the socket closes (not when
            the block ends); returning ``False`` stops reconnecting.
        headers: extra HTTP headers for the upgrade or each POST (an ``Authorization``...).
        batch_timeout: seconds each batch may wait for its results; then its calls raise
            ``trio.TooSlowError`` (the server is not told). Default 30.

    Raises:
        RpcConnectionError: the WebSocket cannot be opened or is refused (``code`` is then the
            HTTP status, or 1001 when the server cannot be reached).
        ValueError: a bad transport, client id or batch timeout, or ``on_downstream`` over HTTP.

    .. versionadded:: 0.1
    """
    if transport not in ("websocket", "http"):
        raise ValueError(f"transport must be 'websocket' or 'http', not {transport!r}")
    if client_id is not None and not is_client_id(client_id):
        raise ValueError(f"client_id must be 1 to 128 of A-Z a-z 0-9 . _ ~ -, not {client_id!r}")
    if transport == "http" and on_downstream is not None:
        raise ValueError("on_downstream needs the websocket transport: HTTP has no server push")
    url = re.sub(r"^http", "ws", url) if transport == "websocket" else re.sub(r"^ws", "http", url)
    client = _Client(url, transport, client_id, on_downstream, on_close, headers, batch_timeout)
    refused: RpcConnectionError | None = None
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            client.nursery = nursery
            if transport == "websocket":
                try:
                    ws = await client.connect()
                except RpcConnectionError as exc:
                    refused = exc  # raised below, outside the nursery (not in an exception group)
                else:
                    client.ws = ws  # usable at once (run_websocket starts at the next checkpoint)
                    nursery.start_soon(client.run_websocket, ws)
            else:
                client.http = httpx.AsyncClient(headers=client.headers)
            if refused is None:
                try:
                    nursery.start_soon(client.flusher)
                    nursery.start_soon(client.reaper)
                    try:
                        yield RpcProxy(client)
                    except BaseException as exc:
                        body_error = exc
                        raise
                finally:
                    with trio.CancelScope(shield=True):
                        await client.aclose()
                        if client.http is not None:
                            await client.http.aclose()
                    nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The block's own exception comes back wrapped by the nursery: give it back unwrapped.
        if body_error is not None and len(group.exceptions) == 1 and group.exceptions[0] is body_error:
            raise body_error from None
        raise
    if refused is not None:
        raise refused
