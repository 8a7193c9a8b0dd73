"""Tests for `lumenize_trio.http._browser`: the Browser against the real test server.

Rules that need other host names (domains, origins, https) go through ``virtual_hosts``, a fetch
function that sends every request to the test server with the original ``Host`` header — the
Browser composes over it exactly as over any other fetch function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest

from lumenize_trio import Browser, CookieJar, LumenizeDO, RedirectError, Request, Response, mesh, open_mesh
from lumenize_trio.http import MAX_REDIRECTS, Cookie, FetchFunction, httpx_fetch

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

T0 = 1_700_000_000.0


class Clock:
    """An injected clock: tests move it, nothing sleeps."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A fetch function that records every request it passes on."""

    def __init__(self, fetch: FetchFunction) -> None:
        self.fetch = fetch
        self.sent: list[Request] = []

    async def __call__(self, request: Request) -> Response:
        self.sent.append(request)
        return await self.fetch(request)


def virtual_hosts(fetch: FetchFunction, server: str) -> FetchFunction:
    """Send any http(s) URL to the test server, keeping the original host in ``Host``."""
    target = httpx.URL(server)

    async def send(request: Request) -> Response:
        routed = request.url.copy_with(scheme="http", host=target.host, port=target.port)
        headers = request.headers
        headers["Host"] = request.url.netloc.decode()
        answer = await fetch(Request(request.method, routed, headers=headers, content=request.content))
        return Response(answer.status, headers=answer.headers, content=answer.content, url=request.url)

    return send


def set_cookie_url(base: str, *set_cookies: str, status: int = 200, location: str | None = None) -> str:
    query = [f"Set-Cookie={quote(line)}" for line in set_cookies]
    if status != 200:
        query.append(f"status={status}")
    if location is not None:
        query.append(f"Location={quote(location)}")
    return f"{base}/response-headers?{'&'.join(query)}"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as opened:
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder(client: httpx.AsyncClient) -> Recorder:
    return Recorder(httpx_fetch(client))


@pytest.fixture
def browser(recorder: Recorder, clock: Clock) -> Browser:
    return Browser(recorder, now=clock)


@pytest.fixture
def vbrowser(recorder: Recorder, clock: Clock, http_server: str) -> Browser:
    """A browser for which every host name is the test server."""
    return Browser(virtual_hosts(recorder, http_server), now=clock)


# --- cookies travel ---------------------------------------------------------------------------


async def test_cookies_set_by_a_response_are_sent_back(http_server: str, browser: Browser) -> None:
    first = await browser.fetch(f"{http_server}/cookies/set?a=1&b=x%3Dy")
    assert first.ok
    assert first.json()["cookies"] == {}
    assert browser.get_cookie("a") == "1"
    assert browser.get_cookie("b") == "x=y"
    second = await browser.fetch(f"{http_server}/cookies")
    assert second.json() == {"cookies": {"a": "1", "b": "x=y"}, "header": "a=1; b=x=y"}
    assert browser.cookies_for(f"{http_server}/anything") == "a=1; b=x=y"


async def test_cookies_set_on_intermediate_redirects_are_stored_and_sent(
    http_server: str, browser: Browser, recorder: Recorder
) -> None:
    second_hop = set_cookie_url("", "second=2", status=307, location="/cookies")
    url = set_cookie_url(http_server, "first=1; Path=/", status=302, location=second_hop)
    response = await browser.fetch(url)
    assert response.status == 200
    assert response.json()["cookies"] == {"first": "1", "second": "2"}
    assert [r.headers.get("cookie") for r in recorder.sent] == [None, "first=1", "first=1; second=2"]
    assert response.url == httpx.URL(f"{http_server}/cookies")


async def test_a_cookie_header_of_the_caller_is_kept_and_extended(http_server: str, browser: Browser) -> None:
    browser.set_cookie("jar", "1", domain="127.0.0.1")
    response = await browser.fetch(f"{http_server}/cookies", headers={"Cookie": "mine=0"})
    assert response.json()["header"] == "mine=0; jar=1"


async def test_value_with_equals_http_only_and_same_site(http_server: str, browser: Browser) -> None:
    await browser.fetch(set_cookie_url(http_server, "token=a=b=c; HttpOnly; SameSite=Strict"))
    assert browser.get_cookie("token") == "a=b=c"  # HttpOnly cookies stay readable
    (cookie,) = browser.cookies
    assert cookie.http_only
    assert cookie.same_site == "Strict"
    assert (await browser.fetch(f"{http_server}/cookies")).json()["cookies"] == {"token": "a=b=c"}


# --- cookie rules, end to end -----------------------------------------------------------------


async def test_domain_and_host_only_cookies(vbrowser: Browser) -> None:
    await vbrowser.fetch(
        set_cookie_url(
            "http://a.example.test", "host=1", "dom=2; Domain=example.test", "evil=3; Domain=other.test"
        )
    )
    assert {c.name for c in vbrowser.cookies} == {"host", "dom"}

    async def sent_to(url: str) -> dict[str, str]:
        cookies: dict[str, str] = (await vbrowser.fetch(f"{url}/cookies")).json()["cookies"]
        return cookies

    assert await sent_to("http://a.example.test") == {"host": "1", "dom": "2"}
    assert await sent_to("http://b.example.test") == {"dom": "2"}
    assert await sent_to("http://example.test") == {"dom": "2"}
    assert await sent_to("http://other.test") == {}
    assert vbrowser.get_cookie("host", "b.example.test") is None
    assert vbrowser.get_cookie("dom", "b.example.test") == "2"


async def test_path_rules(vbrowser: Browser) -> None:
    await vbrowser.fetch(set_cookie_url("http://x.test", "p=1; Path=/cookies", "root=2"))

    async def header(path: str) -> str | None:
        found: str | None = (await vbrowser.fetch(f"http://x.test{path}")).json().get("header")
        return found

    assert await header("/cookies") == "p=1; root=2"
    assert await header("/cookies/set") == "p=1; root=2"
    assert vbrowser.cookies_for("http://x.test/cookiesx") == "root=2"
    assert vbrowser.cookies_for("http://x.test/") == "root=2"


async def test_secure_cookies(vbrowser: Browser, http_server: str, browser: Browser) -> None:
    await vbrowser.fetch(set_cookie_url("http://plain.test", "s=1; Secure"))
    assert len(vbrowser.cookies) == 0  # an insecure origin cannot set a Secure cookie
    await vbrowser.fetch(set_cookie_url("https://safe.test", "s=1; Secure"))
    assert (await vbrowser.fetch("https://safe.test/cookies")).json()["cookies"] == {"s": "1"}
    assert (await vbrowser.fetch("http://safe.test/cookies")).json()["cookies"] == {}
    # Local hosts are trustworthy over plain http.
    await browser.fetch(set_cookie_url(http_server, "local=1; Secure"))
    assert (await browser.fetch(f"{http_server}/cookies")).json()["cookies"] == {"local": "1"}


async def test_expiry_follows_the_injected_clock(http_server: str, browser: Browser, clock: Clock) -> None:
    await browser.fetch(
        set_cookie_url(
            http_server,
            "short=1; Max-Age=60",
            "dated=2; Expires=Wed, 15 Nov 2023 00:00:00 GMT",  # T0 + 78,400 s
            "both=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=120",  # Max-Age wins
            "session=4",
        )
    )
    assert len(browser.cookies) == 4
    clock.now = T0 + 59
    assert browser.cookies_for(http_server) == "short=1; dated=2; both=3; session=4"
    clock.now = T0 + 60
    assert (await browser.fetch(f"{http_server}/cookies")).json()["header"] == "dated=2; both=3; session=4"
    clock.now = T0 + 120
    assert browser.get_cookie("both") is None
    clock.now = 1_700_006_400.0
    assert browser.cookies_for(http_server) == "session=4"
    assert [c.name for c in browser.cookies] == ["session"]  # purged
    await browser.fetch(set_cookie_url(http_server, "session=gone; Max-Age=0"))
    assert len(browser.cookies) == 0


# --- redirects --------------------------------------------------------------------------------


async def test_follows_up_to_twenty_redirects(http_server: str, browser: Browser, recorder: Recorder) -> None:
    response = await browser.fetch(f"{http_server}/redirect/{MAX_REDIRECTS}")
    assert response.ok
    assert response.url == httpx.URL(f"{http_server}/get")
    assert len(recorder.sent) == MAX_REDIRECTS + 1
    assert recorder.sent[1].url == httpx.URL(
        f"{http_server}/redirect/{MAX_REDIRECTS - 1}"
    )  # relative Location


async def test_more_than_twenty_redirects_is_an_error(
    http_server: str, browser: Browser, recorder: Recorder
) -> None:
    with pytest.raises(
        RedirectError, match=r"too many redirects: more than 20 in a row, the last a 302 to '/get'"
    ):
        await browser.fetch(f"{http_server}/redirect/{MAX_REDIRECTS + 1}")
    assert len(recorder.sent) == MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    ("status", "method", "after"),
    [
        (301, "POST", "GET"),
        (302, "POST", "GET"),
        (303, "POST", "GET"),
        (303, "PUT", "GET"),
        (303, "DELETE", "GET"),
        (301, "PUT", "PUT"),
        (302, "PATCH", "PATCH"),
        (307, "POST", "POST"),
        (308, "POST", "POST"),
        (308, "PUT", "PUT"),
    ],
)
async def test_redirect_method_rules(
    http_server: str, browser: Browser, status: int, method: str, after: str
) -> None:
    response = await browser.fetch(
        f"{http_server}/redirect-to?url=/echo&status_code={status}",
        method=method,
        headers={"Content-Type": "text/plain", "X-Kept": "yes"},
        content="the body",
    )
    echoed = response.json()
    headers = {name.lower(): value for name, value in echoed["headers"]}
    assert echoed["method"] == after
    assert headers["x-kept"] == "yes"
    if after == method:
        assert echoed["body"] == "the body"
        assert headers["content-type"] == "text/plain"
    else:
        assert echoed["body"] == ""
        assert "content-type" not in headers
        assert "content-length" not in headers


async def test_head_stays_head_on_303(http_server: str, browser: Browser, recorder: Recorder) -> None:
    response = await browser.fetch(f"{http_server}/redirect-to?url=/get&status_code=303", method="HEAD")
    assert response.ok
    assert response.content == b""
    assert [r.method for r in recorder.sent] == ["HEAD", "HEAD"]


async def test_relative_locations_and_fragments(
    http_server: str, browser: Browser, recorder: Recorder
) -> None:
    response = await browser.fetch(f"{http_server}/redirect-to?url={quote('echo?x=1')}#part")
    assert response.json()["path"] == "/echo"
    assert response.json()["query"] == "x=1"
    assert recorder.sent[1].url == httpx.URL(f"{http_server}/echo?x=1#part")  # the fragment is inherited


async def test_manual_returns_the_redirect_and_keeps_its_cookies(http_server: str, browser: Browser) -> None:
    response = await browser.fetch(
        set_cookie_url(http_server, "m=1", status=302, location="/cookies"), redirect="manual"
    )
    assert response.status == 302
    assert response.headers["location"] == "/cookies"
    assert browser.get_cookie("m") == "1"


async def test_error_mode_raises_and_keeps_the_cookies(http_server: str, browser: Browser) -> None:
    with pytest.raises(RedirectError, match=r"302 redirect to '/cookies' from '.*', and redirect='error'"):
        await browser.fetch(
            set_cookie_url(http_server, "e=1", status=302, location="/cookies"), redirect="error"
        )
    assert browser.get_cookie("e") == "1"
    assert (await browser.fetch(f"{http_server}/get", redirect="error")).ok  # no redirect, no error


async def test_a_redirect_without_location_or_a_300_is_the_answer(http_server: str, browser: Browser) -> None:
    assert (await browser.fetch(f"{http_server}/status/302")).status == 302
    assert (await browser.fetch(f"{http_server}/redirect-to?url=/get&status_code=300")).status == 300


async def test_a_location_that_is_not_http_cannot_be_followed(http_server: str, browser: Browser) -> None:
    with pytest.raises(
        RedirectError, match=r"cannot follow the 302 redirect to 'ftp://example\.com/f': .*absolute http"
    ):
        await browser.fetch(f"{http_server}/redirect-to?url={quote('ftp://example.com/f')}")


async def test_a_location_that_is_not_a_url_cannot_be_followed() -> None:
    """(httpx itself refuses to return such a response, so this one comes from a plain function.)"""

    async def answer(request: Request) -> Response:
        return Response(301, headers={"Location": "http://[::1"})

    with pytest.raises(
        RedirectError, match=r"cannot follow the 301 redirect to 'http://\[::1': Invalid port"
    ):
        await Browser(answer).fetch("https://example.com/")
    assert (await Browser(answer).fetch("https://example.com/", redirect="manual")).status == 301


async def test_cross_origin_redirect_drops_credentials(vbrowser: Browser, recorder: Recorder) -> None:
    hop = quote("http://b.test/echo")
    await vbrowser.fetch(
        f"http://a.test/redirect-to?url={hop}&status_code=307",
        headers={"Authorization": "Bearer t", "Cookie": "own=1", "X-Other": "kept"},
    )
    first, second = recorder.sent
    assert first.headers["authorization"] == "Bearer t"
    assert first.headers["cookie"] == "own=1"
    assert "authorization" not in second.headers
    assert "cookie" not in second.headers
    assert second.headers["x-other"] == "kept"
    assert second.headers["host"] == "b.test"


async def test_same_origin_redirect_keeps_credentials(
    http_server: str, browser: Browser, recorder: Recorder
) -> None:
    await browser.fetch(f"{http_server}/redirect-to?url=/echo", headers={"Authorization": "Bearer t"})
    assert recorder.sent[1].headers["authorization"] == "Bearer t"


# --- the API ----------------------------------------------------------------------------------


async def test_fetch_takes_a_request(http_server: str, browser: Browser) -> None:
    request = Request("POST", f"{http_server}/echo", json={"a": 1})
    echoed = (await browser.fetch(request)).json()
    assert (echoed["method"], echoed["body"]) == ("POST", '{"a":1}')
    with pytest.raises(TypeError, match="takes a Request, or a URL with method/headers/content, not both"):
        await browser.fetch(request, method="PUT")
    with pytest.raises(TypeError, match="not both"):
        await browser.fetch(request, content=b"x")


async def test_fetch_argument_errors(browser: Browser) -> None:
    with pytest.raises(ValueError, match="redirect must be 'follow', 'manual' or 'error', not 'sometimes'"):
        await browser.fetch("http://127.0.0.1/", redirect="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="absolute http or https URL, not 'ws://x/'"):
        await browser.fetch("ws://x/")


async def test_set_get_remove_cookies_and_cookies_for(browser: Browser, clock: Clock) -> None:
    browser.set_cookie("a", "1", domain="example.com")
    browser.set_cookie("a", "2", domain="example.com", path="/deep", http_only=True)
    browser.set_cookie("s", "3", domain="example.com", secure=True, expires=T0 + 10)
    assert browser.cookies_for("https://www.example.com/deep/x") == "a=2; a=1; s=3"
    assert browser.cookies_for("http://www.example.com/") == "a=1"
    assert browser.cookies_for("http://other.com/") is None
    assert browser.get_cookie("a") == "2"
    assert browser.get_cookie("a", "example.com") == "2"
    assert browser.get_cookie("a", "unrelated.org") is None
    clock.now = T0 + 10
    assert browser.get_cookie("s") is None
    assert browser.remove_cookie("a", path="/deep") == 1
    assert browser.remove_cookie("a", "www.example.com") == 1
    assert browser.remove_cookie("a") == 0
    assert len(browser.cookies) == 0
    assert repr(browser) == "<Browser with 0 cookies>"
    with pytest.raises(ValueError, match="cookie domain '' is not a host name"):
        browser.set_cookie("a", "1", domain="")


async def test_browser_constructor_errors(client: httpx.AsyncClient) -> None:
    with pytest.raises(TypeError, match="fetch must be an async function of a Request, not str"):
        Browser("http://x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cookies must be a CookieJar or None, not dict"):
        Browser(httpx_fetch(client), cookies={})  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="now must be a callable returning seconds since the epoch, not float"
    ):
        Browser(httpx_fetch(client), now=1.0)  # type: ignore[arg-type]
    with (
        httpx.Client() as sync_client,
        pytest.raises(TypeError, match=r"httpx_fetch\(\) needs an httpx\.AsyncClient, not Client"),
    ):
        httpx_fetch(sync_client)  # type: ignore[arg-type]


async def test_any_fetch_function_works_and_gets_the_url_filled_in() -> None:
    """The Browser composes over a plain function; a response without a URL gets its hop's."""

    async def answer(request: Request) -> Response:
        if request.url.path == "/start":
            return Response(302, headers=[("Location", "/end"), ("Set-Cookie", "k=v")])
        return Response(200, content=request.headers.get("cookie", ""))

    browser = Browser(answer)
    response = await browser.fetch("https://example.com/start")
    assert response.content == b"k=v"
    assert response.url == httpx.URL("https://example.com/end")


async def test_a_fetch_function_must_return_a_response() -> None:
    async def wrong(request: Request) -> Response:
        return 200  # type: ignore[return-value]

    with pytest.raises(TypeError, match="the fetch function returned a int, not a Response"):
        await Browser(wrong).fetch("https://example.com/")


async def test_over_httpx_uses_client_defaults_but_not_its_cookie_jar(http_server: str) -> None:
    async with httpx.AsyncClient(
        headers={"X-Client": "c", "X-Both": "client"}, cookies={"client": "1"}
    ) as client:
        browser = Browser.over_httpx(client, cookies=CookieJar([Cookie("jar", "1", domain="127.0.0.1")]))
        echoed = (await browser.fetch(f"{http_server}/echo", headers={"X-Both": "request"})).json()
    headers = {name.lower(): value for name, value in echoed["headers"]}
    assert headers["x-client"] == "c"
    assert headers["x-both"] == "request"
    assert headers["cookie"] == "jar=1"


async def test_over_httpx_does_not_follow_redirects_itself(http_server: str) -> None:
    async with httpx.AsyncClient(follow_redirects=True) as client:
        response = await httpx_fetch(client)(Request("GET", f"{http_server}/redirect/1"))
    assert response.status == 302
    assert response.url == httpx.URL(f"{http_server}/redirect/1")


# --- the jar survives eviction ----------------------------------------------------------------


class Visitor(LumenizeDO):
    """Keeps its browser session in storage: the jar is stored after every fetch and handed to
    the Browser it builds in the next turn, whichever activation runs it."""

    @mesh
    async def visit(self, url: str) -> Response:
        jar = self.ctx.storage.kv.get("cookies")
        async with httpx.AsyncClient() as client:
            browser = Browser.over_httpx(client, cookies=jar)
            response = await browser.fetch(url)
        self.ctx.storage.kv.put("cookies", browser.cookies)
        return response


async def test_cookie_jar_kept_in_actor_storage_survives_a_new_activation(
    http_server: str, tmp_path: Path
) -> None:
    async with open_mesh({"VISITOR": Visitor}, data_dir=tmp_path) as m:
        first = await m.get("VISITOR", "v").visit(f"{http_server}/cookies/set?session=s1&theme=dark")
        assert first.ok
    async with open_mesh({"VISITOR": Visitor}, data_dir=tmp_path) as m:  # nothing in memory survives
        again = await m.get("VISITOR", "v").visit(f"{http_server}/cookies")
        other = await m.get("VISITOR", "w").visit(f"{http_server}/cookies")
    assert isinstance(again, Response)
    assert again.json()["cookies"] == {"session": "s1", "theme": "dark"}
    assert other.json()["cookies"] == {}
