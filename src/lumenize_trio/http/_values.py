"""HTTP requests and responses as immutable, cloneable values.

A :class:`Request` or :class:`Response` holds everything about one HTTP message in memory — the
method or status, the URL, the headers (order, repeats and exact bytes kept, as an
``httpx.Headers``) and the whole body as ``bytes`` — so it can be compared, hashed, stored in actor
storage and sent across any actor boundary (both are registered with :func:`lumenize_trio.clone.register`
as ``lumenize.Request`` and ``lumenize.Response``). Reading the body is synchronous: ``.content``,
``.text`` and ``.json()`` never await.

Validation happens in the constructors. Values decoded by :func:`lumenize_trio.clone.loads` are
rebuilt field by field without running the constructor (that is how the clone treats every
registered class), so they are exactly what was sent.
"""

from __future__ import annotations

import email.message
import json as _json
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, NoReturn, final

import httpx

from .. import clone

if TYPE_CHECKING:
    from typing import Self, TypeAlias

#: What ``headers=`` accepts: ``httpx.Headers`` (raw bytes, order and repeats kept), a mapping,
#: or an iterable of ``(name, value)`` pairs; names and values as ``str`` or ``bytes``.
HeadersInput: TypeAlias = "httpx.Headers | Mapping[str, str | bytes] | Mapping[bytes, str | bytes] | Iterable[tuple[str | bytes, str | bytes]]"
#: What ``content=`` accepts: bytes, a bytearray (copied), a str (encoded as UTF-8) or ``None`` (empty).
ContentInput: TypeAlias = "bytes | bytearray | str | None"

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Bytes that would split or truncate a header line on the wire.
_BREAKS_LINE: Final = re.compile(rb"[\r\n\x00]")
# RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
_REASON: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_NO_JSON: Final = object()


def check_url(url: object, what: str = "url") -> httpx.URL:
    """*url* as an ``httpx.URL``, if it is an absolute http or https URL with a host.

    Raises:
        TypeError: *url* is neither a ``str`` nor an ``httpx.URL``.
        ValueError: it does not parse, or is not absolute http(s); the message names the URL.
    """
    if isinstance(url, httpx.URL):
        parsed = url
    elif isinstance(url, str):
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"{what} {url!r} is not a valid URL: {exc}") from None
    else:
        raise TypeError(f"{what} must be a str or an httpx.URL, not {type(url).__name__}")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        shown = url if isinstance(url, str) else str(url)
        raise ValueError(f"{what} must be an absolute http or https URL, not {shown!r}")
    return parsed


def check_headers(headers: object) -> httpx.Headers:
    """*headers* as a new ``httpx.Headers``, every name a token and no value breaking its line.

    ``str`` names must be ASCII; ``str`` values are encoded as UTF-8; ``bytes`` are kept as they
    are. Order and repeated names are kept.

    Raises:
        TypeError: *headers* is not a mapping, ``httpx.Headers`` or iterable of pairs, or holds a
            name or value that is not ``str``/``bytes``.
        ValueError: a name is not an HTTP token, or a value holds CR, LF or NUL.
    """
    if headers is None:
        return httpx.Headers()
    pairs: Iterable[object]
    if isinstance(headers, httpx.Headers):
        pairs = headers.raw
    elif isinstance(headers, Mapping):
        pairs = list(headers.items())
    elif isinstance(headers, Iterable) and not isinstance(headers, str | bytes | bytearray):
        pairs = list(headers)
    else:
        raise TypeError(
            f"headers must be a mapping, an httpx.Headers or an iterable of (name, value) pairs, not {type(headers).__name__}"
        )
    out: list[tuple[bytes, bytes]] = []
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError(f"headers must hold (name, value) pairs, not {pair!r}")
        name, value = pair
        out.append((_header_name(name), _header_value(name, value)))
    return httpx.Headers(out)


def _header_name(name: object) -> bytes:
    if isinstance(name, str):
        raw = name.encode("utf-8", "surrogatepass")
    elif isinstance(name, bytes):
        raw = name
    else:
        raise TypeError(f"a header name must be str or bytes, not {type(name).__name__}")
    if not _TOKEN.fullmatch(raw):
        raise ValueError(f"header name {name!r} is not a valid HTTP token")
    return raw


def _header_value(name: object, value: object) -> bytes:
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"header {name!r} has a value that is not valid Unicode: {value!r}") from None
    elif isinstance(value, bytes):
        raw = value
    else:
        raise TypeError(f"header {name!r} must have a str or bytes value, not {type(value).__name__}")
    if _BREAKS_LINE.search(raw):
        raise ValueError(f"header {name!r} has a value holding CR, LF or NUL: {value!r}")
    return raw


def check_content(content: object, what: str = "content") -> bytes:
    """*content* as ``bytes``: bytes kept, bytearray copied, str encoded as UTF-8, ``None`` empty.

    Raises:
        TypeError: any other type.
        ValueError: a ``str`` that cannot be encoded as UTF-8 (lone surrogates).
    """
    if content is None:
        return b""
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    if isinstance(content, str):
        try:
            return content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{what} is a str that cannot be encoded as UTF-8: {exc}") from None
    raise TypeError(f"{what} must be bytes, bytearray, str or None, not {type(content).__name__}")


def _check_method(method: object) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    upper = method.upper()
    if not _TOKEN.fullmatch(upper.encode("utf-8", "surrogatepass")):
        raise ValueError(f"method {method!r} is not a valid HTTP token")
    return upper


def _check_status(status: object) -> int:
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"status must be an int, not {type(status).__name__}")
    if not 100 <= status <= 599:
        raise ValueError(f"status must be from 100 to 599, not {status}")
    return int(status)


def _check_reason(reason: object, status: int) -> str:
    if reason is None:
        try:
            return HTTPStatus(status).phrase
        except ValueError:
            return ""
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a str or None, not {type(reason).__name__}")
    if not _REASON.fullmatch(reason):
        raise ValueError(f"reason {reason!r} holds characters a status line cannot carry")
    return reason


def _encode_json(value: object) -> bytes:
    try:
        text = _json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except TypeError as exc:
        raise TypeError(f"json= value cannot be encoded as JSON: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"json= value cannot be encoded as JSON: {exc}") from exc
    return text.encode("utf-8")


def _charset(headers: httpx.Headers) -> str | None:
    content_type = headers.get("content-type")
    if content_type is None:
        return None
    message = email.message.Message()
    message["content-type"] = content_type
    charset = message.get_content_charset(failobj=None)
    return charset if isinstance(charset, str) else None


def _text(content: bytes, headers: httpx.Headers) -> str:
    charset = _charset(headers)
    try:
        return content.decode(charset or "utf-8", "replace")
    except LookupError:  # an unknown charset: fall back to the default
        return content.decode("utf-8", "replace")


def _parse_json(content: bytes, headers: httpx.Headers) -> Any:
    charset = _charset(headers)
    if charset is None:
        return _json.loads(content)  # UTF-8 (or a UTF-16/32 BOM), strictly
    try:
        return _json.loads(content.decode(charset))
    except LookupError:
        return _json.loads(content)


def _header_key(headers: httpx.Headers) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((name.lower(), value) for name, value in headers.raw)


def _frozen(self: object, name: str) -> NoReturn:
    raise AttributeError(f"{type(self).__name__} is immutable: cannot change {name!r}; build a new one")


class _Message:
    """What requests and responses share: headers and a body, immutability, value equality."""

    __slots__ = ("_content", "_headers")

    _headers: httpx.Headers
    _content: bytes

    @property
    def headers(self) -> httpx.Headers:
        """A *copy* of the headers (changing it does not change the message)."""
        return httpx.Headers(self._headers)

    @property
    def content(self) -> bytes:
        """The body, as bytes (empty when there is none)."""
        return self._content

    @property
    def text(self) -> str:
        """The body decoded with the ``Content-Type`` charset (UTF-8 when absent or unknown);
        undecodable bytes become U+FFFD."""
        return _text(self._content, self._headers)

    def json(self) -> Any:
        """The body parsed as JSON (decoded with the ``Content-Type`` charset if one is given).

        Raises:
            ValueError: the body is not JSON (``json.JSONDecodeError``) or not decodable
                (``UnicodeDecodeError``); an empty body is not JSON.
        """
        return _parse_json(self._content, self._headers)

    def _key(self) -> tuple[object, ...]:  # pragma: no cover - each message class defines it
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Message)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name: str, value: object) -> NoReturn:
        _frozen(self, name)

    def __delattr__(self, name: str) -> NoReturn:
        _frozen(self, name)

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        return self


@final
class Request(_Message):
    """An HTTP request as an immutable value that crosses actor boundaries.

    ``Request("post", "https://example.com/items", json={"n": 1})`` makes a ``POST`` with a JSON
    body and ``Content-Type: application/json``. Equal requests (same method, URL, headers in the
    same order with names compared case-insensitively, same body) compare and hash equal.

    Args:
        method: an HTTP token; stored upper-cased (``"get"`` becomes ``"GET"``).
        url: an absolute ``http``/``https`` URL (``str`` or ``httpx.URL``). Policy about *which*
            hosts may be reached belongs to whoever sends the request.
        headers: a mapping, ``httpx.Headers`` or iterable of ``(name, value)`` pairs; order and
            repeats are kept; ``str`` values are encoded as UTF-8.
        content: the body: ``bytes``, ``bytearray``, ``str`` (UTF-8) or ``None`` (empty).
        json: instead of *content*, any JSON-encodable value; sets ``Content-Type:
            application/json`` unless *headers* has a content type.

    Raises:
        TypeError: an argument of the wrong type, or both *content* and *json*.
        ValueError: a method that is not a token, a URL that is not absolute http(s) (the message
            names it), a bad header name or value, or a *json* value JSON cannot encode.
    """

    __slots__ = ("_method", "_url")

    _method: str
    _url: httpx.URL

    def __init__(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: HeadersInput | None = None,
        content: ContentInput = None,
        json: object = _NO_JSON,
    ) -> None:
        checked_method = _check_method(method)
        checked_url = check_url(url)
        checked_headers = check_headers(headers)
        if json is _NO_JSON:
            body = check_content(content)
        elif content is not None:
            raise TypeError("Request() takes content= or json=, not both")
        else:
            body = _encode_json(json)
            if "content-type" not in checked_headers:
                checked_headers["Content-Type"] = "application/json"
        object.__setattr__(self, "_method", checked_method)
        object.__setattr__(self, "_url", checked_url)
        object.__setattr__(self, "_headers", checked_headers)
        object.__setattr__(self, "_content", body)

    @property
    def method(self) -> str:
        """The method, upper-case (``"GET"``)."""
        return self._method

    @property
    def url(self) -> httpx.URL:
        """The absolute http(s) URL."""
        return self._url

    @classmethod
    def from_httpx(cls, request: httpx.Request) -> Self:
        """The value of an ``httpx.Request`` whose body is in memory (built with ``content=``,
        ``json=``..., or read with ``request.read()``).

        Every header is kept, including those httpx added (``Host``, ``Content-Length``).

        Raises:
            TypeError: *request* is not an ``httpx.Request``.
            ValueError: its body is an unread stream, or its URL is not absolute http(s).
        """
        if not isinstance(request, httpx.Request):
            raise TypeError(f"from_httpx() needs an httpx.Request, not {type(request).__name__}")
        try:
            body = request.content
        except httpx.RequestNotRead:
            raise ValueError(
                "the httpx.Request body is a stream that was not read: call request.read() first"
            ) from None
        return cls(request.method, request.url, headers=request.headers, content=body)

    def to_httpx(self) -> httpx.Request:
        """A new ``httpx.Request`` with this method, URL, headers and body, ready to send.

        httpx adds ``Host`` and ``Content-Length`` when they are missing.
        """
        return httpx.Request(self._method, self._url, headers=self.headers, content=self._content)

    def _key(self) -> tuple[object, ...]:
        return (self._method, str(self._url), _header_key(self._headers), self._content)

    def __repr__(self) -> str:
        return f"<Request({self._method!r}, {str(self._url)!r})>"


@final
class Response(_Message):
    """An HTTP response as an immutable value that crosses actor boundaries.

    An error status is a value, not an exception: check :attr:`ok` or :attr:`status`. Equal
    responses (status, reason, headers in order with names compared case-insensitively, body, URL)
    compare and hash equal.

    Args:
        status: the status code, an ``int`` from 100 to 599.
        headers: as for :class:`Request`.
        content: the body (already decoded from any ``Content-Encoding``), as for :class:`Request`.
        reason: the reason phrase; by default the standard phrase of *status*
            (``http.HTTPStatus``), or ``""`` for a code without one.
        url: the absolute http(s) URL the response came from, if known.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: a status outside 100..599, a reason with line breaks or other characters a
            status line cannot carry, a bad header, or a URL that is not absolute http(s).
    """

    __slots__ = ("_reason", "_status", "_url")

    _status: int
    _reason: str
    _url: httpx.URL | None

    def __init__(
        self,
        status: int,
        *,
        headers: HeadersInput | None = None,
        content: ContentInput = b"",
        reason: str | None = None,
        url: str | httpx.URL | None = None,
    ) -> None:
        checked_status = _check_status(status)
        checked_reason = _check_reason(reason, checked_status)
        checked_headers = check_headers(headers)
        body = check_content(content)
        checked_url = None if url is None else check_url(url)
        object.__setattr__(self, "_status", checked_status)
        object.__setattr__(self, "_reason", checked_reason)
        object.__setattr__(self, "_headers", checked_headers)
        object.__setattr__(self, "_content", body)
        object.__setattr__(self, "_url", checked_url)

    @property
    def status(self) -> int:
        """The status code."""
        return self._status

    @property
    def reason(self) -> str:
        """The reason phrase (``"Not Found"``)."""
        return self._reason

    @property
    def ok(self) -> bool:
        """Whether the status is a success: 200 to 299, as in the Fetch standard."""
        return 200 <= self._status <= 299

    @property
    def url(self) -> httpx.URL | None:
        """The URL the response came from, or ``None`` when not known."""
        return self._url

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> Self:
        """The value of an ``httpx.Response`` whose body was read (``send()`` without
        ``stream=True`` reads it, or call ``await response.aread()``).

        The body is the one httpx decoded (gzip, deflate... undone); the headers are kept exactly,
        ``Content-Encoding`` included, as the Fetch standard does. ``url`` is the URL of the
        response's request, when it has one.

        Raises:
            TypeError: *response* is not an ``httpx.Response``.
            ValueError: its body was not read.
        """
        if not isinstance(response, httpx.Response):
            raise TypeError(f"from_httpx() needs an httpx.Response, not {type(response).__name__}")
        try:
            body = response.content
        except httpx.ResponseNotRead:
            raise ValueError(
                "the httpx.Response body was not read: call await response.aread() first"
            ) from None
        try:
            url: httpx.URL | None = response.request.url
        except RuntimeError:  # httpx: "The request instance has not been set on this response."
            url = None
        return cls(
            response.status_code,
            headers=response.headers,
            content=body,
            reason=response.reason_phrase,
            url=url,
        )

    def to_httpx(self, *, request: httpx.Request | None = None) -> httpx.Response:
        """A new, already-read ``httpx.Response`` with this status, reason, headers and body.

        The headers are exactly this response's (httpx adds none, and the body is not decoded
        again whatever ``Content-Encoding`` says). httpx takes a response's URL from its request:
        pass *request* to set one.
        """
        response = httpx.Response(
            self._status,
            content=self._content,
            request=request,
            extensions={"reason_phrase": self._reason.encode("latin-1")},
        )
        response.headers = self.headers
        return response

    def _key(self) -> tuple[object, ...]:
        url = None if self._url is None else str(self._url)
        return (self._status, self._reason, _header_key(self._headers), self._content, url)

    def __repr__(self) -> str:
        return (
            f"<Response [{self._status} {self._reason}]>" if self._reason else f"<Response [{self._status}]>"
        )


clone.register(Request, name="lumenize.Request")
clone.register(Response, name="lumenize.Response")
