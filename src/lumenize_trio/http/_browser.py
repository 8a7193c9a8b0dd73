"""A cookie-aware HTTP client for tests and automation, composed over any fetch function.

Theory of operation: :class:`Browser` never talks to the network itself. It takes a *fetch
function* — ``async def fetch(request: Request) -> Response`` that sends exactly one request and
returns exactly one response, never following redirects — and adds what a browser adds on top:
the ``Cookie`` header from its :class:`CookieJar` on every hop, ``Set-Cookie`` from every response
(intermediate redirects included) into the jar, and redirects followed one hop at a time, so that
each hop goes through the same fetch function. :func:`httpx_fetch` makes a fetch function from an
``httpx.AsyncClient``; the mesh provides another (``self.svc.fetch``).

All state is the jar, a cloneable value: an actor keeps ``browser.cookies`` in its storage and,
after a later activation, rebuilds ``Browser(fetch, cookies=stored_jar)``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, Literal, Protocol, final

import httpx

from .._exceptions import RedirectError
from ._cookies import Cookie, CookieJar
from ._values import Request, Response

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable
    from typing import Self

    from ._values import ContentInput, HeadersInput

#: The most redirects :meth:`Browser.fetch` follows in a row; one more raises RedirectError.
MAX_REDIRECTS: Final = 20
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
#: Fetch "request-body-header names": dropped with the body when a redirect turns a request into GET.
_BODY_HEADERS: Final = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-type",
    "transfer-encoding",
)
#: Credentials that must not follow a redirect to another origin.
_CROSS_ORIGIN_DROPPED: Final = ("authorization", "cookie", "proxy-authorization")


class FetchFunction(Protocol):
    """What :class:`Browser` composes over: send one request, return its response.

    It must not follow redirects (the browser does, to see every ``Set-Cookie``) and must return
    a :class:`Response`; network failures are raised as the function sees fit (httpx errors for
    :func:`httpx_fetch`).
    """

    async def __call__(self, request: Request, /) -> Response: ...


def httpx_fetch(client: httpx.AsyncClient) -> FetchFunction:
    """A fetch function that sends each request with *client*, redirects disabled.

    The client's default headers are added where the request has none of that name, its timeout
    configuration, auth and event hooks apply, and the whole body is read. The client's own cookie
    jar is never added to requests (use a :class:`Browser` for cookies).

    The returned function is a checkpoint; cancelling it abandons the request and closes its
    connection, and it raises httpx's errors (``httpx.ConnectError``, ``httpx.TimeoutException``...)
    as they are.

    Raises:
        TypeError: *client* is not an ``httpx.AsyncClient``.
    """
    if not isinstance(client, httpx.AsyncClient):
        raise TypeError(f"httpx_fetch() needs an httpx.AsyncClient, not {type(client).__name__}")

    async def fetch(request: Request) -> Response:
        headers = request.headers
        for name, value in client.headers.multi_items():
            if name not in headers:
                headers[name] = value
        outgoing = httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=request.content,
            extensions={"timeout": client.timeout.as_dict()},
        )
        response = await client.send(outgoing, follow_redirects=False)
        return Response.from_httpx(response)

    return fetch


@final
class Browser:
    """Fetch with cookies and redirects handled as a browser handles them.

    Args:
        fetch: the fetch function every hop goes through (see :class:`FetchFunction`).
        cookies: the jar to use — and to keep updating — instead of a new empty one; pass the
            jar an actor stored to resume a session.
        now: the clock for cookie expiry, seconds since the epoch; inject one in tests instead of
            sleeping.

    Raises:
        TypeError: *fetch* or *now* is not callable, or *cookies* is not a :class:`CookieJar`.
    """

    __slots__ = ("_cookies", "_fetch", "_now")

    def __init__(
        self,
        fetch: FetchFunction,
        *,
        cookies: CookieJar | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not callable(fetch):
            raise TypeError(f"fetch must be an async function of a Request, not {type(fetch).__name__}")
        if cookies is not None and not isinstance(cookies, CookieJar):
            raise TypeError(f"cookies must be a CookieJar or None, not {type(cookies).__name__}")
        if not callable(now):
            raise TypeError(
                f"now must be a callable returning seconds since the epoch, not {type(now).__name__}"
            )
        self._fetch = fetch
        self._cookies = CookieJar() if cookies is None else cookies
        self._now = now

    @classmethod
    def over_httpx(
        cls,
        client: httpx.AsyncClient,
        *,
        cookies: CookieJar | None = None,
        now: Callable[[], float] = time.time,
    ) -> Self:
        """A browser that sends through *client* (see :func:`httpx_fetch`)."""
        return cls(httpx_fetch(client), cookies=cookies, now=now)

    @property
    def cookies(self) -> CookieJar:
        """The jar itself (not a copy): store it to keep the session."""
        return self._cookies

    async def fetch(
        self,
        request_or_url: Request | str | httpx.URL,
        *,
        method: str = "GET",
        headers: HeadersInput | None = None,
        content: ContentInput = None,
        redirect: Literal["follow", "manual", "error"] = "follow",
    ) -> Response:
        """Send a request with the jar's cookies, store the cookies of every response, and
        follow redirects.

        Give either a :class:`Request`, or a URL with *method*, *headers* and *content*. Each hop
        gets a ``Cookie`` header built from the jar for its own URL (appended to a ``Cookie``
        header the request already has). With ``redirect="follow"``, a 301, 302, 303, 307 or 308
        with a ``Location`` is followed (relative locations resolve against the current URL): 303
        turns any method but ``HEAD`` into ``GET``, and 301/302 turn ``POST`` into ``GET`` —
        dropping the body and its ``Content-*`` headers —; 307 and 308 keep method and body; a
        redirect to another origin drops ``Authorization`` and any ``Cookie`` the caller set.
        ``"manual"`` returns the redirect response itself; ``"error"`` raises on it. A response
        whose fetch function left ``url`` unset gets the URL of its hop.

        Returns:
            The final response (an HTTP error status is a response, not an exception).

        Raises:
            TypeError: a :class:`Request` together with *method*, *headers* or *content*, or a
                fetch function that returned something other than a :class:`Response`.
            ValueError: a bad URL, method, header or body (see :class:`Request`) or *redirect*.
            RedirectError: more than 20 redirects in a row, a redirect under ``"error"``, or a
                ``Location`` that is not an http(s) URL.

        Cancellation: a checkpoint whenever the fetch function is one. Cancelling abandons the
        hop in flight; cookies from the responses already received stay in the jar.
        """
        if redirect not in ("follow", "manual", "error"):
            raise ValueError(f"redirect must be 'follow', 'manual' or 'error', not {redirect!r}")
        if isinstance(request_or_url, Request):
            if method != "GET" or headers is not None or content is not None:
                raise TypeError("fetch() takes a Request, or a URL with method/headers/content, not both")
            request = request_or_url
        else:
            request = Request(method, request_or_url, headers=headers, content=content)
        redirects = 0
        while True:
            response = await self._send(request)
            location = response.headers.get("location") if response.status in _REDIRECT_STATUSES else None
            if location is None or redirect == "manual":
                return response
            if redirect == "error":
                raise RedirectError(
                    f"{response.status} redirect to {location!r} from {str(request.url)!r}, and redirect='error'"
                )
            if redirects == MAX_REDIRECTS:
                raise RedirectError(
                    f"too many redirects: more than {MAX_REDIRECTS} in a row, the last a {response.status} to {location!r}"
                )
            redirects += 1
            request = _follow(request, response.status, location)

    async def _send(self, request: Request) -> Response:
        sent = request
        cookie = self._cookies.header_for(request.url, now=self._now())
        if cookie is not None:
            headers = request.headers
            own = headers.get("cookie")
            headers["Cookie"] = cookie if own is None else f"{own}; {cookie}"
            sent = Request(request.method, request.url, headers=headers, content=request.content)
        response = await self._fetch(sent)
        if not isinstance(response, Response):
            raise TypeError(f"the fetch function returned a {type(response).__name__}, not a Response")
        self._cookies.receive(request.url, response.headers.get_list("set-cookie"), now=self._now())
        if response.url is None:
            response = Response(
                response.status,
                headers=response.headers,
                content=response.content,
                reason=response.reason,
                url=request.url,
            )
        return response

    def get_cookie(self, name: str, domain: str | None = None) -> str | None:
        """The value of the unexpired cookie *name* (among those that would be sent to the host
        *domain*, if given; the longest path wins), or ``None``. ``HttpOnly`` cookies included."""
        found = self._cookies.get(name, domain, now=self._now())
        return None if found is None else found.value

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        domain: str,
        path: str = "/",
        expires: float | dt.datetime | None = None,
        secure: bool = False,
        http_only: bool = False,
    ) -> None:
        """Put a cookie in the jar as if a server at *domain* had set it with ``Domain=``: it is
        sent to *domain* and its subdomains. *expires* is seconds since the epoch or an aware
        datetime; ``None`` makes a session cookie.

        Raises:
            TypeError, ValueError: see :class:`Cookie`.
        """
        self._cookies.set(
            Cookie(
                name,
                value,
                domain=domain,
                path=path,
                expires=expires,
                secure=secure,
                http_only=http_only,
            )
        )

    def remove_cookie(self, name: str, domain: str | None = None, path: str | None = None) -> int:
        """Remove the cookies called *name* (those that would be sent to the host *domain*, and
        with exactly *path*, when given). Returns how many were removed."""
        return self._cookies.remove(name, domain, path)

    def cookies_for(self, url: str | httpx.URL) -> str | None:
        """The ``Cookie`` header this browser would send to *url* now, or ``None``."""
        return self._cookies.header_for(url, now=self._now())

    def __repr__(self) -> str:
        return f"<Browser with {len(self._cookies)} cookies>"


def _follow(request: Request, status: int, location: str) -> Request:
    """The request for the next hop of a redirect (Fetch standard, "HTTP-redirect fetch")."""
    try:
        target = request.url.join(location)
    except httpx.InvalidURL as exc:
        raise RedirectError(f"cannot follow the {status} redirect to {location!r}: {exc}") from exc
    if not target.fragment and request.url.fragment:
        target = target.copy_with(fragment=request.url.fragment)
    method, content = request.method, request.content
    headers = request.headers
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, content = "GET", b""
        for name in _BODY_HEADERS:
            headers.pop(name, None)
    headers.pop("host", None)
    if _origin(target) != _origin(request.url):
        for name in _CROSS_ORIGIN_DROPPED:
            headers.pop(name, None)
    try:
        return Request(method, target, headers=headers, content=content)
    except ValueError as exc:
        raise RedirectError(f"cannot follow the {status} redirect to {location!r}: {exc}") from exc


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    return (url.scheme, url.raw_host.lower(), url.port)
