"""A cookie jar with the rules of RFC 6265, as a cloneable value.

Theory of operation: the jar is a list of :class:`Cookie` values in creation order. Receiving a
``Set-Cookie`` header (RFC 6265 §5.2 parsing, §5.3 storage model) replaces the cookie with the
same name, domain and path in place — so it keeps its creation order — or appends; a cookie that
arrives already expired deletes its namesake instead. Choosing the cookies for a request (§5.4)
drops expired ones from the jar, keeps those whose domain and path match and whose ``Secure``
flag the URL allows, and orders them longest path first, then oldest first.

The jar never reads a clock: every method that needs the time takes ``now`` (seconds since the
epoch), so expiry can be tested without sleeping. :class:`~lumenize_trio.http.Browser` passes
its own ``now()``.

Deliberately not implemented (this is a testing and automation jar, not a browser's):
the public-suffix list (a server may set ``Domain=com``), ``SameSite`` enforcement (the attribute
is kept), cookie name prefixes (``__Secure-``/``__Host-``), limits on the number or size of
cookies, and the RFC 6265bis rule that stops an insecure origin from overwriting a ``Secure``
cookie.
"""

from __future__ import annotations

import calendar
import datetime as dt
import ipaddress
import math
import re
from typing import TYPE_CHECKING, Final, final

import attrs

from .. import clone
from ._values import check_url

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import httpx

#: Hosts where ``Secure`` cookies are sent over plain http (potentially trustworthy origins).
LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

# RFC 6265bis §5.6: a cookie whose name or value holds one of these is ignored.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DOMAIN: Final = re.compile(r"[a-z0-9_.:-]+")
_MAX_AGE: Final = re.compile(r"-?[0-9]+")
# RFC 6265 §5.1.1, the cookie-date grammar.
_DATE_DELIMITER: Final = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME: Final = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9].*)?")
_DAY: Final = re.compile(r"([0-9]{1,2})(?:[^0-9].*)?")
_YEAR: Final = re.compile(r"([0-9]{2,4})(?:[^0-9].*)?")
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: A Max-Age with more digits than this is clamped (about 31,700 years).
_MAX_AGE_DIGITS: Final = 12
_SAME_SITE: Final = {"strict": "Strict", "lax": "Lax", "none": "None"}


def _text(value: object, what: str, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise TypeError(f"cookie {what} must be a str, not {type(value).__name__}")
    if not allow_empty and not value:
        raise ValueError(f"cookie {what} must not be empty")
    if _CONTROL.search(value) or ";" in value or value != value.strip(" \t"):
        raise ValueError(
            f"cookie {what} {value!r} holds a control character or ';', or starts or ends with whitespace"
        )
    return value


def normalize_domain(domain: object) -> str:
    """*domain* lower-cased, without one leading dot; refused when it cannot be a host name.

    Raises:
        TypeError: *domain* is not a ``str``.
        ValueError: it is empty or holds characters no host name has.
    """
    if not isinstance(domain, str):
        raise TypeError(f"cookie domain must be a str, not {type(domain).__name__}")
    lowered = domain.lower().removeprefix(".")
    if not _DOMAIN.fullmatch(lowered):
        raise ValueError(f"cookie domain {domain!r} is not a host name")
    return lowered


def _expiry(expires: object) -> float | None:
    if expires is None:
        return None
    if isinstance(expires, dt.datetime):
        if expires.tzinfo is None or expires.utcoffset() is None:
            raise ValueError(f"cookie expires must be an aware datetime, not the naive {expires!r}")
        return expires.timestamp()
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise TypeError(
            f"cookie expires must be seconds since the epoch, an aware datetime or None, not {type(expires).__name__}"
        )
    if math.isnan(expires):
        raise ValueError("cookie expires must not be NaN")
    return float(expires)


@final
@attrs.frozen(init=False)
class Cookie:
    """One cookie as a jar keeps it: an immutable, cloneable value.

    Args:
        name: the cookie name: not empty; no ``;``, ``=`` or control characters.
        value: the value, kept whole (it may contain ``=``); no ``;`` or control characters.
        domain: the host (host-only cookies) or domain the cookie belongs to; stored lower-case
            without a leading dot.
        path: the path prefix the cookie is sent under; starts with ``/``.
        expires: when it expires, in seconds since the epoch (an aware ``datetime`` is converted);
            ``None`` for a session cookie, which never expires in a jar.
        secure: sent only over https (and to ``localhost``, ``127.0.0.1``, ``::1``).
        http_only: the ``HttpOnly`` flag; kept and readable (nothing here runs scripts).
        host_only: sent only to exactly *domain*, not its subdomains (a ``Set-Cookie`` without
            ``Domain``).
        same_site: ``"Strict"``, ``"Lax"``, ``"None"`` or ``None``; kept, not enforced.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: a name, value, domain or path a ``Cookie`` header could not carry.
    """

    name: str
    value: str
    domain: str
    path: str
    expires: float | None
    secure: bool
    http_only: bool
    host_only: bool
    same_site: str | None

    def __init__(
        self,
        name: str,
        value: str,
        *,
        domain: str,
        path: str = "/",
        expires: float | dt.datetime | None = None,
        secure: bool = False,
        http_only: bool = False,
        host_only: bool = False,
        same_site: str | None = None,
    ) -> None:
        checked_name = _text(name, "name", allow_empty=False)
        if "=" in checked_name:
            raise ValueError(f"cookie name {name!r} must not contain '='")
        checked_path = _text(path, "path")
        if not checked_path.startswith("/"):
            raise ValueError(f"cookie path {path!r} must start with '/'")
        flags = {"secure": secure, "http_only": http_only, "host_only": host_only}
        for flag, given in flags.items():
            if not isinstance(given, bool):
                raise TypeError(f"cookie {flag} must be a bool, not {type(given).__name__}")
        if same_site is not None:
            if not isinstance(same_site, str):
                raise TypeError(f"cookie same_site must be a str or None, not {type(same_site).__name__}")
            if same_site.lower() not in _SAME_SITE:
                raise ValueError(f"cookie same_site must be 'Strict', 'Lax' or 'None', not {same_site!r}")
            same_site = _SAME_SITE[same_site.lower()]
        self.__attrs_init__(
            checked_name,
            _text(value, "value"),
            normalize_domain(domain),
            checked_path,
            _expiry(expires),
            secure,
            http_only,
            host_only,
            same_site,
        )

    def is_expired(self, now: float) -> bool:
        """Whether the cookie has expired at *now* (seconds since the epoch)."""
        return self.expires is not None and self.expires <= now


def _host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii").lower()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def domain_matches(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3: *host* is *domain*, or a name (not an IP address) under it."""
    return host == domain or (host.endswith("." + domain) and not _is_ip(host))


def path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4: *cookie_path* is *request_path* or a prefix of it ending at a ``/``."""
    if request_path == cookie_path:
        return True
    return request_path.startswith(cookie_path) and (
        cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    )


def _request_path(url: httpx.URL) -> str:
    path = url.raw_path.split(b"?", 1)[0].decode("ascii")
    return path or "/"


def default_path(url: httpx.URL) -> str:
    """RFC 6265 §5.1.4: the directory of the URL's path (``/a/b`` gives ``/a``; ``/a`` gives ``/``)."""
    path = _request_path(url)
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


def is_secure_context(url: httpx.URL) -> bool:
    """Whether ``Secure`` cookies may be sent to (and set by) *url*: https, or a local host."""
    return url.scheme == "https" or _host(url) in LOCAL_HOSTS


def parse_cookie_date(text: str) -> float | None:
    """An RFC 6265 §5.1.1 cookie date as seconds since the epoch, or ``None`` if it is not one.

    The algorithm is the RFC's lenient one (``Wed, 21 Oct 2015 07:28:00 GMT``, ``Wed,
    21-Oct-15 07:28:00 GMT`` and other real-world variants all parse); the time is always UTC.
    """
    time: tuple[int, int, int] | None = None
    day = month = year = None
    for token in _DATE_DELIMITER.split(text):
        if not token:
            continue
        if time is None and (match := _TIME.fullmatch(token)):
            time = (int(match[1]), int(match[2]), int(match[3]))
        elif day is None and (match := _DAY.fullmatch(token)):
            day = int(match[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (match := _YEAR.fullmatch(token)):
            year = int(match[1])
    if time is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    hour, minute, second = time
    if year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        dt.date(year, month, day)
    except ValueError:  # day 0, day 31 of a 30-day month, Feb 29 of a common year
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second)))


@final
class CookieJar:
    """Cookies kept by the rules of RFC 6265: a mutable, cloneable value.

    Store it in actor storage to make a :class:`~lumenize_trio.http.Browser` session survive
    eviction (``self.ctx.storage.kv.put("cookies", browser.cookies)``) and pass it back with
    ``Browser(fetch, cookies=jar)``. Two jars are equal when they hold equal cookies in the same
    order. Methods that depend on the time take ``now``, seconds since the epoch.

    Args:
        cookies: initial cookies, in creation order (a later one replaces an earlier one with
            the same name, domain and path).

    Raises:
        TypeError: *cookies* holds something that is not a :class:`Cookie`.
    """

    __slots__ = ("_cookies",)
    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, like list

    _cookies: list[Cookie]

    def __init__(self, cookies: Iterable[Cookie] = ()) -> None:
        self._cookies = []
        for cookie in cookies:
            self.set(cookie)

    def set(self, cookie: Cookie) -> None:
        """Store *cookie*, replacing the one with the same name, domain and path (which keeps its
        place in creation order)."""
        if not isinstance(cookie, Cookie):
            raise TypeError(f"a CookieJar holds Cookie values, not {type(cookie).__name__}")
        for index, kept in enumerate(self._cookies):
            if (kept.name, kept.domain, kept.path) == (cookie.name, cookie.domain, cookie.path):
                self._cookies[index] = cookie
                return
        self._cookies.append(cookie)

    def receive(self, url: str | httpx.URL, set_cookies: Iterable[str], *, now: float) -> None:
        """Apply the ``Set-Cookie`` header values of a response from *url* (RFC 6265 §5.2-5.3).

        A malformed header, a ``Domain`` that *url*'s host does not domain-match, or a ``Secure``
        cookie from an insecure URL is ignored, as a browser ignores it. ``Max-Age`` wins over
        ``Expires``; a cookie already expired at *now* deletes the stored one with its name,
        domain and path.

        Raises:
            TypeError: *set_cookies* is a single ``str`` (pass a list of header values) or holds
                a non-``str``.
            ValueError: *url* is not an absolute http(s) URL.
        """
        origin = check_url(url)
        if isinstance(set_cookies, str):
            raise TypeError("set_cookies must be an iterable of Set-Cookie header values, not one str")
        for line in set_cookies:
            if not isinstance(line, str):
                raise TypeError(f"a Set-Cookie header value must be a str, not {type(line).__name__}")
            self._receive_one(origin, line, now)

    def _receive_one(self, url: httpx.URL, line: str, now: float) -> None:
        pair, _, attributes = line.partition(";")
        if "=" not in pair:
            return  # RFC 6265 §5.2: a set-cookie-string without '=' is ignored entirely
        name, _, value = pair.partition("=")
        name, value = name.strip(" \t"), value.strip(" \t")
        expires: float | None = None
        max_age: float | None = None
        domain: str | None = None
        path: str | None = None
        secure = http_only = False
        same_site: str | None = None
        for attribute in attributes.split(";"):
            key, _, argument = attribute.partition("=")
            key, argument = key.strip(" \t").lower(), argument.strip(" \t")
            if key == "expires":
                parsed = parse_cookie_date(argument)
                expires = expires if parsed is None else parsed
            elif key == "max-age" and _MAX_AGE.fullmatch(argument):
                digits = argument.removeprefix("-")
                delta = 10**_MAX_AGE_DIGITS if len(digits) > _MAX_AGE_DIGITS else int(argument)
                max_age = now + delta if delta > 0 else -math.inf
            elif key == "domain":
                domain = argument.removeprefix(".").lower() or None
            elif key == "path":
                path = argument if argument.startswith("/") else None
            elif key == "secure":
                secure = True
            elif key == "httponly":
                http_only = True
            elif key == "samesite":
                same_site = _SAME_SITE.get(argument.lower())
        host = _host(url)
        if domain is not None and not domain_matches(host, domain):
            return
        if secure and not is_secure_context(url):
            return
        try:
            cookie = Cookie(
                name,
                value,
                domain=domain or host,
                path=path or default_path(url),
                expires=max_age if max_age is not None else expires,
                secure=secure,
                http_only=http_only,
                host_only=domain is None,
                same_site=same_site,
            )
        except ValueError:
            return  # a name, value or path no Cookie header could carry back: ignored
        if cookie.is_expired(now):
            self._cookies = [
                kept
                for kept in self._cookies
                if (kept.name, kept.domain, kept.path) != (cookie.name, cookie.domain, cookie.path)
            ]
        else:
            self.set(cookie)

    def matching(self, url: str | httpx.URL, *, now: float) -> list[Cookie]:
        """The cookies to send to *url* at *now*, in ``Cookie`` header order (RFC 6265 §5.4):
        longest path first, then oldest first. Expired cookies are removed from the jar.

        Raises:
            ValueError: *url* is not an absolute http(s) URL.
        """
        target = check_url(url)
        self.purge(now=now)
        host, path, secure_ok = _host(target), _request_path(target), is_secure_context(target)
        found = [
            cookie
            for cookie in self._cookies
            if (host == cookie.domain if cookie.host_only else domain_matches(host, cookie.domain))
            and path_matches(path, cookie.path)
            and (secure_ok or not cookie.secure)
        ]
        return sorted(found, key=lambda cookie: -len(cookie.path))

    def header_for(self, url: str | httpx.URL, *, now: float) -> str | None:
        """The ``Cookie`` header value for a request to *url* at *now*, or ``None`` if no cookie
        matches."""
        found = self.matching(url, now=now)
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in found) if found else None

    def get(self, name: str, domain: str | None = None, *, now: float) -> Cookie | None:
        """The unexpired cookie called *name* — among those that would be sent to the host
        *domain*, if given — longest path first, then oldest first; ``None`` if there is none."""
        self.purge(now=now)
        host = None if domain is None else normalize_domain(domain)
        found = [cookie for cookie in self._cookies if cookie.name == name and _sent_to(cookie, host)]
        found.sort(key=lambda cookie: -len(cookie.path))
        return found[0] if found else None

    def remove(self, name: str, domain: str | None = None, path: str | None = None) -> int:
        """Remove the cookies called *name* (only those that would be sent to the host *domain*,
        and only those with exactly *path*, when given). Returns how many were removed."""
        host = None if domain is None else normalize_domain(domain)
        before = len(self._cookies)
        self._cookies = [
            cookie
            for cookie in self._cookies
            if not (cookie.name == name and _sent_to(cookie, host) and (path is None or cookie.path == path))
        ]
        return before - len(self._cookies)

    def purge(self, *, now: float) -> int:
        """Remove the cookies expired at *now*. Returns how many were removed."""
        before = len(self._cookies)
        self._cookies = [cookie for cookie in self._cookies if not cookie.is_expired(now)]
        return before - len(self._cookies)

    def clear(self) -> None:
        """Remove every cookie."""
        self._cookies = []

    def __iter__(self) -> Iterator[Cookie]:
        return iter(list(self._cookies))

    def __len__(self) -> int:
        return len(self._cookies)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CookieJar):
            return NotImplemented
        return self._cookies == other._cookies

    def __repr__(self) -> str:
        shown = ", ".join(f"{c.name}={c.value!r} ({c.domain}{c.path})" for c in self._cookies)
        return f"<CookieJar [{shown}]>"


def _sent_to(cookie: Cookie, host: str | None) -> bool:
    if host is None:
        return True
    return host == cookie.domain if cookie.host_only else domain_matches(host, cookie.domain)


clone.register(Cookie, name="lumenize.Cookie")
clone.register(CookieJar, name="lumenize.CookieJar")
