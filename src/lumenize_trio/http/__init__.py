"""HTTP as values: cloneable requests and responses, a cookie jar, and a cookie-aware browser.

:class:`Request` and :class:`Response` hold a whole HTTP message in memory (headers with order
and repeats kept, the body as bytes) and cross every actor boundary; :class:`CookieJar` keeps
cookies by the rules of RFC 6265 and can be stored; :class:`Browser` composes over any fetch
function (:func:`httpx_fetch` adapts an ``httpx.AsyncClient``) and adds cookies and redirects.
See ``docs/http.md``.

This package never imports Trio: it depends on :mod:`lumenize_trio.clone` and httpx only.
"""

from __future__ import annotations

from .._exceptions import RedirectError as RedirectError
from ._browser import (
    MAX_REDIRECTS as MAX_REDIRECTS,
    Browser as Browser,
    FetchFunction as FetchFunction,
    httpx_fetch as httpx_fetch,
)
from ._cookies import Cookie as Cookie, CookieJar as CookieJar
from ._values import Request as Request, Response as Response

__all__ = [
    "Browser",
    "Cookie",
    "CookieJar",
    "FetchFunction",
    "MAX_REDIRECTS",
    "RedirectError",
    "Request",
    "Response",
    "httpx_fetch",
]

# Tracebacks, reprs and docs show the public path, not the private module.
for _obj in (Browser, Cookie, CookieJar, FetchFunction, Request, Response, httpx_fetch):
    _obj.__module__ = __name__
del _obj
