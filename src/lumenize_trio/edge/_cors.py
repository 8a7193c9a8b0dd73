"""CORS: which other origins may read the edge's responses, and the preflight answers.

Without a policy (``cors=None``) the edge is same-origin only: it adds no CORS headers, so a
browser lets only pages of the edge's own origin read responses, and it refuses every preflight
(a browser sends preflights only for cross-origin requests) with 403. With a
:class:`CorsPolicy`, preflights are answered by the edge itself (the actor is not woken) and
responses to allowed origins carry ``Access-Control-Allow-Origin`` with the request's origin.

CORS decides what a *browser page* may read; it does not stop a request from reaching the actor
(a plain cross-origin form post still arrives). Refuse requests in ``on_before_request`` if that
matters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final, final

import attrs

from ..http import Response

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("lumenize_trio")

_ORIGIN: Final = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#\s@]+")
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
DEFAULT_METHODS: Final = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")

#: What ``origins=`` holds once checked: normalised origins (``"*"`` for any), or a predicate.
Origins = frozenset[str] | Callable[[str], bool]


def _origins(value: Iterable[str] | str | Callable[[str], bool]) -> Origins:
    if isinstance(value, str):
        value = [value]
    elif callable(value):
        return value
    if not isinstance(value, Iterable):
        raise TypeError(
            f"origins must be origins like ['https://app.example'], '*', or a predicate, not {type(value).__name__}"
        )
    out: set[str] = set()
    for origin in value:
        if not isinstance(origin, str):
            raise TypeError(f"an origin must be a str, not {type(origin).__name__}")
        normal = origin.rstrip("/").lower()
        if normal != "*" and not _ORIGIN.fullmatch(normal):
            raise ValueError(f"an origin is 'scheme://host[:port]' (or '*' for any), not {origin!r}")
        out.add(normal)
    return frozenset(out)


def _tokens(value: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a list of names, not {value!r}")
    out = tuple(value)
    for item in out:
        if not isinstance(item, str) or not _TOKEN.fullmatch(item):
            raise ValueError(f"{what} must hold HTTP tokens, not {item!r}")
    return out


def _methods(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(method.upper() for method in _tokens(value, "allow_methods"))


def _headers(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else _tokens(value, "allow_headers")


def _expose(value: Iterable[str]) -> tuple[str, ...]:
    return _tokens(value, "expose_headers")


def _max_age(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_age must be a non-negative int of seconds, not {value!r}")
    return value


def _flag(value: bool) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"allow_credentials must be a bool, not {type(value).__name__}")
    return value


@final
@attrs.frozen
class CorsPolicy:
    """Which other origins may read responses (``create_app(mesh, cors=CorsPolicy(...))``).

    Args:
        origins: the allowed origins (``["https://app.example", "http://localhost:3000"]``,
            compared case-insensitively; ``"*"`` allows any), or a predicate
            ``origins(origin) -> bool`` given the ``Origin`` header as sent (an exception in it
            is logged and counts as "no").
        allow_credentials: send ``Access-Control-Allow-Credentials: true`` (cookies and HTTP
            auth) to allowed origins.
        max_age: seconds a browser may cache a preflight answer.
        allow_methods: methods a preflight may ask for.
        allow_headers: request headers a preflight may ask for; ``None`` (the default) allows
            whatever it asks for.
        expose_headers: response headers a page may read beyond the CORS-safelisted ones.

    Raises:
        TypeError, ValueError: an argument of the wrong type, or an origin that is not
            ``scheme://host[:port]``.

    .. versionadded:: 0.1
    """

    origins: Origins = attrs.field(converter=_origins)
    allow_credentials: bool = attrs.field(default=False, kw_only=True, converter=_flag)
    max_age: int = attrs.field(default=600, kw_only=True, converter=_max_age)
    allow_methods: tuple[str, ...] = attrs.field(default=DEFAULT_METHODS, kw_only=True, converter=_methods)
    allow_headers: tuple[str, ...] | None = attrs.field(default=None, kw_only=True, converter=_headers)
    expose_headers: tuple[str, ...] = attrs.field(default=(), kw_only=True, converter=_expose)

    def allows(self, origin: str) -> bool:
        """Whether *origin* (an ``Origin`` header's value) may read responses. Not a checkpoint.

        This is the one origin check of the edge (preflights, responses, and WebSocket upgrades
        when they arrive).
        """
        origins = self.origins
        if isinstance(origins, frozenset):
            return "*" in origins or origin.rstrip("/").lower() in origins
        try:
            return origins(origin) is True
        except Exception:
            log.exception("the CORS origins predicate raised for %r; the origin is refused", origin)
            return False


def is_preflight(method: str, headers: httpx.Headers) -> bool:
    """Whether a request is a CORS preflight (``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method``)."""
    return method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


def preflight(cors: CorsPolicy | None, headers: httpx.Headers) -> Response:
    """The edge's answer to a preflight: 204 with what may be asked, or 403.

    The origin's own headers (``Access-Control-Allow-Origin``, ``Vary``...) are added to it
    like to any response (:func:`response_headers`): a refused origin gets none.
    """
    origin = headers["origin"]
    method = headers["access-control-request-method"].strip().upper()
    if cors is None or not cors.allows(origin) or method not in cors.allow_methods:
        return Response(
            403,
            headers={"content-type": "text/plain; charset=utf-8"},
            content="Forbidden: origin not allowed",
        )
    if cors.allow_headers is None:
        asked = headers.get("access-control-request-headers", "")
    else:
        asked = ", ".join(cors.allow_headers)
    out = [
        ("access-control-allow-methods", ", ".join(cors.allow_methods)),
        ("access-control-max-age", str(cors.max_age)),
    ]
    if asked:
        out.append(("access-control-allow-headers", asked))
    return Response(204, headers=out)


def response_headers(cors: CorsPolicy | None, origin: str | None) -> list[tuple[bytes, bytes]]:
    """The CORS headers to add to a response for a request from *origin* (``None``: no
    ``Origin`` header). ``Vary: Origin`` goes on every response when there is a policy, since
    the answer depends on the origin."""
    if cors is None:
        return []
    out = [(b"vary", b"Origin")]
    if origin is None or not cors.allows(origin):
        return out
    out.append((b"access-control-allow-origin", origin.encode("latin-1")))
    if cors.allow_credentials:
        out.append((b"access-control-allow-credentials", b"true"))
    if cors.expose_headers:
        out.append((b"access-control-expose-headers", ", ".join(cors.expose_headers).encode("latin-1")))
    return out
