"""ASGI plumbing: a request's :class:`Request` value from its scope and body, a
:class:`Response` value sent back, and the types of the ASGI 3 interface."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from ..http import Request

if TYPE_CHECKING:
    from ..http import Response

#: The ASGI 3 interface: messages are dicts whose values depend on their type.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# RFC 9110 §7.2 / RFC 3986 §3.2.2: uri-host [ ":" port ], a reg-name or an IP literal; nothing
# that could end the authority (``/``, ``?``, ``#``, ``@``) and so change the URL the actor sees.
_HOST: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_~!$&'()*+,;=%]+)(:[0-9]{1,5})?")
#: Response headers the server owns (framing); a response's own values are dropped.
_FRAMING: Final = frozenset((b"content-length", b"transfer-encoding", b"connection", b"keep-alive"))


class BodyTooLarge(Exception):
    """The request body is over the app's limit."""


class Disconnected(Exception):
    """The client went away before its request body arrived."""


def raw_path(scope: Scope) -> bytes:
    """The request path as sent (percent-encoded, without the query)."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.partition(b"?")[0]
    path: str = scope["path"]
    return quote(path, safe="/:@!$&'()*+,;=-._~").encode("ascii")


def own_url(scope: Scope, headers: list[tuple[bytes, bytes]]) -> str:
    """The absolute URL the client asked for: scheme, ``Host`` (or the server address), raw
    path and query string.

    Raises:
        ValueError: the ``Host`` header is not a host with an optional port.
    """
    host = next((value.decode("latin-1") for name, value in headers if name == b"host"), None)
    if host and not _HOST.fullmatch(host):
        raise ValueError(f"invalid Host header {host!r}")
    if not host:
        server = scope.get("server")
        if server and server[1] is not None:
            host = f"{server[0]}:{server[1]}"
        else:
            host = server[0] if server else "localhost"
    scheme = scope.get("scheme") or "http"
    url = f"{scheme}://{host}{raw_path(scope).decode('latin-1')}"
    query: bytes = scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body.

    Raises:
        BodyTooLarge: ``Content-Length`` or the bytes received exceed *limit* (the rest is not
            read).
        Disconnected: the client went away first.

    Cancellation: a checkpoint (each ``receive()``).
    """
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge
        if not message.get("more_body", False):
            return bytes(body)


def make_request(scope: Scope, body: bytes) -> Request:
    """The :class:`Request` value of an ASGI HTTP request.

    Raises:
        ValueError, TypeError: the URL or a header cannot make a valid request.
    """
    headers: list[tuple[bytes, bytes]] = list(scope["headers"])
    return Request(scope["method"], own_url(scope, headers), headers=headers, content=body)


async def send_response(
    send: Send, response: Response, *, head: bool, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Send *response* (plus *extra* headers); no body for ``HEAD`` or for 204/304.

    The server owns framing: ``Content-Length`` is the body's length (for ``HEAD``, the
    response's own value if it set one), and ``Transfer-Encoding``/``Connection`` are dropped.

    Cancellation: a checkpoint; a cancelled send may leave the response half-sent.
    """
    status = response.status
    own_length: bytes | None = None
    headers: list[tuple[bytes, bytes]] = []
    for name, value in response.headers.raw:
        lower = name.lower()
        if lower in _FRAMING:
            if lower == b"content-length":
                own_length = value
            continue
        headers.append((lower, value))
    headers.extend(extra)
    content = response.content
    if status in (204, 304):
        content = b""
    else:
        length = own_length if head and own_length is not None else str(len(content)).encode()
        headers.append((b"content-length", length))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else content})
