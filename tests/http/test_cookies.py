"""Tests for `lumenize_trio.http._cookies`: the RFC 6265 rules of CookieJar, with time passed in."""

from __future__ import annotations

import calendar
import datetime as dt

import httpx
import pytest
from hypothesis import given, strategies as st

from lumenize_trio import CookieJar, clone
from lumenize_trio.http import Cookie
from lumenize_trio.http._cookies import default_path, parse_cookie_date, path_matches

T0 = 1_700_000_000.0


def jar_after(url: str, *set_cookies: str, now: float = T0) -> CookieJar:
    jar = CookieJar()
    jar.receive(url, list(set_cookies), now=now)
    return jar


def names(jar: CookieJar, url: str, now: float = T0) -> list[str]:
    return [cookie.name for cookie in jar.matching(url, now=now)]


# --- parsing --------------------------------------------------------------------------------


def test_value_containing_equals_is_kept_whole_and_whitespace_trimmed() -> None:
    jar = jar_after("http://example.com/", "  token = a=b==c ; Path=/")
    assert jar.header_for("http://example.com/", now=T0) == "token=a=b==c"


@pytest.mark.parametrize(
    "line",
    ["no-equals-sign", "=value", " =value", "", ";a=1", "bad\x01name=1", "a=b\x7f", "a=\x00"],
)
def test_malformed_set_cookie_is_ignored(line: str) -> None:
    assert len(jar_after("http://example.com/", line)) == 0


def test_empty_value_and_flags_are_parsed() -> None:
    jar = jar_after("https://example.com/", "e=; secure; HTTPONLY; SameSite=strict; Unknown=1; ;")
    (cookie,) = jar
    assert (cookie.value, cookie.secure, cookie.http_only, cookie.same_site) == ("", True, True, "Strict")
    (other,) = jar_after("https://example.com/", "e=1; SameSite=sideways")
    assert other.same_site is None


def test_receive_refuses_a_single_string_and_non_strings() -> None:
    jar = CookieJar()
    with pytest.raises(TypeError, match="iterable of Set-Cookie header values, not one str"):
        jar.receive("http://example.com/", "a=1", now=T0)
    with pytest.raises(TypeError, match="must be a str, not bytes"):
        jar.receive("http://example.com/", [b"a=1"], now=T0)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="absolute http or https URL"):
        jar.receive("ws://example.com/", ["a=1"], now=T0)


# --- domain ---------------------------------------------------------------------------------


def test_host_only_cookie_is_sent_to_its_host_only() -> None:
    jar = jar_after("http://a.example.com/", "h=1")
    (cookie,) = jar
    assert cookie.host_only
    assert cookie.domain == "a.example.com"
    assert names(jar, "http://a.example.com/") == ["h"]
    assert names(jar, "http://A.EXAMPLE.COM/") == ["h"]
    assert names(jar, "http://b.a.example.com/") == []
    assert names(jar, "http://example.com/") == []


def test_domain_cookie_is_sent_to_the_domain_and_its_subdomains() -> None:
    jar = jar_after("http://a.example.com/", "d=1; Domain=.Example.COM")
    (cookie,) = jar
    assert not cookie.host_only
    assert cookie.domain == "example.com"
    for url in ("http://example.com/", "http://a.example.com/", "http://x.y.example.com/"):
        assert names(jar, url) == ["d"], url
    for url in ("http://notexample.com/", "http://example.com.evil.test/", "http://com/"):
        assert names(jar, url) == [], url


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("http://a.example.com/", "other.com"),
        ("http://example.com/", "a.example.com"),  # a subdomain of the host
        ("http://127.0.0.1/", "0.0.1"),  # suffix of an IP address
        ("http://example.com/", "ample.com"),  # suffix that is not at a dot
    ],
)
def test_domain_the_host_does_not_match_is_ignored(url: str, domain: str) -> None:
    assert len(jar_after(url, f"x=1; Domain={domain}")) == 0


def test_empty_domain_attribute_means_host_only_and_ip_domain_matches_itself() -> None:
    (cookie,) = jar_after("http://a.example.com/", "x=1; Domain=")
    assert cookie.host_only
    (dotted,) = jar_after("http://a.example.com/", "x=1; Domain=.")
    assert dotted.host_only
    (ip,) = jar_after("http://127.0.0.1:8000/", "x=1; Domain=127.0.0.1")
    assert not ip.host_only
    assert names(CookieJar([ip]), "http://127.0.0.1/") == ["x"]


def test_ipv6_host() -> None:
    jar = jar_after("http://[::1]:8000/", "x=1; Secure")
    assert names(jar, "http://[::1]/") == ["x"]


# --- path -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_path", "cookie_path", "matches"),
    [
        ("/", "/", True),
        ("/docs", "/docs", True),
        ("/docs/", "/docs", True),
        ("/docs/web", "/docs", True),
        ("/docs/web", "/docs/", True),
        ("/docsets", "/docs", False),
        ("/doc", "/docs", False),
        ("/Docs", "/docs", False),
        ("/anything", "/", True),
    ],
)
def test_path_match(request_path: str, cookie_path: str, matches: bool) -> None:
    assert path_matches(request_path, cookie_path) is matches


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://x/", "/"),
        ("http://x", "/"),
        ("http://x/page", "/"),
        ("http://x/dir/page", "/dir"),
        ("http://x/dir/sub/", "/dir/sub"),
        ("http://x/dir/page?q=/a/b", "/dir"),
    ],
)
def test_default_path(url: str, path: str) -> None:
    assert default_path(httpx.URL(url)) == path
    (cookie,) = jar_after(url, "x=1")
    assert cookie.path == path


def test_path_attribute_that_is_not_absolute_gives_the_default_path() -> None:
    (cookie,) = jar_after("http://x/dir/page", "x=1; Path=relative")
    assert cookie.path == "/dir"
    (explicit,) = jar_after("http://x/dir/page", "x=1; Path=/other/place")
    assert explicit.path == "/other/place"
    assert names(CookieJar([explicit]), "http://x/other/place/deeper") == ["x"]
    assert names(CookieJar([explicit]), "http://x/other") == []


def test_cookie_header_orders_longer_paths_first_then_older_first() -> None:
    jar = CookieJar()
    jar.receive("http://x/", ["a=1; Path=/", "b=2; Path=/a/b", "c=3; Path=/a"], now=T0)
    jar.receive("http://x/", ["d=4; Path=/a"], now=T0)
    assert jar.header_for("http://x/a/b/c", now=T0) == "b=2; c=3; d=4; a=1"


def test_same_name_domain_and_path_replaces_in_place_other_paths_coexist() -> None:
    jar = CookieJar()
    jar.receive("http://x/", ["a=1", "b=2", "a=3", "a=4; Path=/p"], now=T0)
    assert [(c.name, c.value, c.path) for c in jar] == [("a", "3", "/"), ("b", "2", "/"), ("a", "4", "/p")]
    assert jar.header_for("http://x/p", now=T0) == "a=4; a=3; b=2"


# --- secure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://example.com/", True),
        ("http://example.com/", False),
        ("http://localhost:8000/", True),
        ("http://127.0.0.1/", True),
        ("http://[::1]/", True),
        ("http://127.0.0.2/", False),
    ],
)
def test_secure_cookies_only_over_https_or_to_local_hosts(url: str, sent: bool) -> None:
    host = httpx.URL(url).host
    jar = CookieJar([Cookie("s", "1", domain=host, secure=True)])
    assert names(jar, url) == (["s"] if sent else [])


def test_secure_cookie_from_an_insecure_origin_is_ignored() -> None:
    assert len(jar_after("http://example.com/", "s=1; Secure")) == 0
    assert len(jar_after("https://example.com/", "s=1; Secure")) == 1
    assert len(jar_after("http://localhost/", "s=1; Secure")) == 1


# --- expiry ---------------------------------------------------------------------------------


def test_max_age_expires_the_cookie_and_expired_ones_are_purged() -> None:
    jar = jar_after("http://x/", "m=1; Max-Age=60", "session=1")
    assert names(jar, "http://x/", now=T0 + 59.9) == ["m", "session"]
    assert names(jar, "http://x/", now=T0 + 60) == ["session"]
    assert [c.name for c in jar] == ["session"]  # purged from the jar, not only hidden


def test_max_age_wins_over_expires_in_either_order() -> None:
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    for line in (f"a=1; Expires={past}; Max-Age=60", f"a=1; Max-Age=60; Expires={past}"):
        (cookie,) = jar_after("http://x/", line)
        assert cookie.expires == T0 + 60
    assert len(jar_after("http://x/", f"a=1; Max-Age=0; Expires={future}")) == 0


def test_expires_sets_the_expiry() -> None:
    (cookie,) = jar_after("http://x/", "a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT")
    assert cookie.expires == calendar.timegm((2100, 1, 1, 0, 0, 0))
    (unparsable,) = jar_after("http://x/", "a=1; Expires=someday")
    assert unparsable.expires is None
    (later_wins,) = jar_after("http://x/", "a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT; Expires=nonsense")
    assert later_wins.expires == calendar.timegm((2100, 1, 1, 0, 0, 0))


@pytest.mark.parametrize("max_age", ["0", "-1", "-999999999999999999999"])
def test_non_positive_max_age_deletes_the_stored_cookie(max_age: str) -> None:
    jar = jar_after("http://x/", "a=1", "a=2; Path=/other", "b=1")
    jar.receive("http://x/", [f"a=gone; Max-Age={max_age}"], now=T0)
    assert [(c.name, c.path) for c in jar] == [("a", "/other"), ("b", "/")]


def test_expires_in_the_past_deletes_the_stored_cookie() -> None:
    jar = jar_after("http://x/", "a=1")
    jar.receive("http://x/", ["a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT"], now=T0)
    assert len(jar) == 0


@pytest.mark.parametrize("max_age", ["abc", "1.5", "+5", "-", " ", "5s"])
def test_malformed_max_age_is_ignored(max_age: str) -> None:
    (cookie,) = jar_after("http://x/", f"a=1; Max-Age={max_age}")
    assert cookie.expires is None


def test_huge_max_age_is_clamped_not_an_error() -> None:
    (cookie,) = jar_after("http://x/", "a=1; Max-Age=" + "9" * 5000)
    assert cookie.expires == T0 + 10**12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wed, 21 Oct 2015 07:28:00 GMT", (2015, 10, 21, 7, 28, 0)),
        ("Wednesday, 21-Oct-15 07:28:00 GMT", (2015, 10, 21, 7, 28, 0)),
        ("Wed Oct 21 07:28:00 2015", (2015, 10, 21, 7, 28, 0)),
        ("21 oct 1970 7:8:9", (1970, 10, 21, 7, 8, 9)),
        ("Thu, 01-Jan-69 00:00:00 GMT", (2069, 1, 1, 0, 0, 0)),
        ("Thu, 01-Jan-70 00:00:00 GMT", (1970, 1, 1, 0, 0, 0)),
        ("01 Jan 1601 00:00:00", (1601, 1, 1, 0, 0, 0)),
        ("29 Feb 2024 23:59:59", (2024, 2, 29, 23, 59, 59)),
        ("Sun, 06 Nov 1994 08:49:37 GMTfoo", (1994, 11, 6, 8, 49, 37)),
    ],
)
def test_cookie_dates_parse(text: str, expected: tuple[int, ...]) -> None:
    assert parse_cookie_date(text) == calendar.timegm((*expected,))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Wed, 21 Oct 2015",  # no time
        "21 2015 07:28:00",  # no month
        "Oct 2015 07:28:00",  # no day (2015 is not a day)
        "21 Oct 07:28:00",  # no year
        "31 Dec 1600 23:59:59",  # before 1601
        "21 Oct 2015 24:00:00",
        "21 Oct 2015 07:60:00",
        "21 Oct 2015 07:28:60",
        "30 Feb 2015 00:00:00",
        "00 Jan 2015 00:00:00",
        "32 Jan 2015 00:00:00",
    ],
)
def test_non_dates_do_not_parse(text: str) -> None:
    assert parse_cookie_date(text) is None


# --- Cookie ---------------------------------------------------------------------------------


def test_cookie_normalizes_and_validates() -> None:
    cookie = Cookie(
        "a", "1", domain=".Example.COM", expires=dt.datetime(2100, 1, 1, tzinfo=dt.UTC), same_site="lax"
    )
    assert (cookie.domain, cookie.same_site) == ("example.com", "Lax")
    assert cookie.expires == calendar.timegm((2100, 1, 1, 0, 0, 0))
    assert Cookie("a", "1", domain="x", expires=5).expires == 5.0
    assert not cookie.is_expired(T0)
    assert Cookie("a", "1", domain="x", expires=T0).is_expired(T0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": ""}, ValueError, "cookie name must not be empty"),
        ({"name": 1}, TypeError, "cookie name must be a str, not int"),
        ({"name": "a=b"}, ValueError, "cookie name 'a=b' must not contain '='"),
        ({"name": "a;b"}, ValueError, "holds a control character or ';'"),
        ({"name": " a"}, ValueError, "starts or ends with whitespace"),
        ({"value": "x\ny"}, ValueError, r"cookie value 'x\\ny' holds a control character"),
        ({"domain": ""}, ValueError, "cookie domain '' is not a host name"),
        ({"domain": "a b"}, ValueError, "cookie domain 'a b' is not a host name"),
        ({"domain": None}, TypeError, "cookie domain must be a str, not NoneType"),
        ({"path": "relative"}, ValueError, "cookie path 'relative' must start with '/'"),
        ({"expires": "tomorrow"}, TypeError, "cookie expires must be seconds since the epoch"),
        ({"expires": True}, TypeError, "not bool"),
        ({"expires": float("nan")}, ValueError, "cookie expires must not be NaN"),
        ({"expires": dt.datetime(2100, 1, 1)}, ValueError, "must be an aware datetime, not the naive"),
        ({"secure": 1}, TypeError, "cookie secure must be a bool, not int"),
        ({"http_only": "yes"}, TypeError, "cookie http_only must be a bool, not str"),
        ({"same_site": 1}, TypeError, "cookie same_site must be a str or None, not int"),
        ({"same_site": "sometimes"}, ValueError, "cookie same_site must be 'Strict', 'Lax' or 'None'"),
    ],
)
def test_cookie_validation(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    arguments: dict[str, object] = {"name": "a", "value": "1", "domain": "example.com", **kwargs}
    name, value = arguments.pop("name"), arguments.pop("value")
    with pytest.raises(error, match=message):
        Cookie(name, value, **arguments)  # type: ignore[arg-type]


# --- the jar as a value ---------------------------------------------------------------------


cookies = st.builds(
    Cookie,
    st.sampled_from(["a", "b", "sid", "__Host-x"]),
    st.text(alphabet="abcXYZ019=-_.", max_size=10),
    domain=st.sampled_from(["example.com", "a.example.com", "127.0.0.1", "::1"]),
    path=st.sampled_from(["/", "/a", "/a/b/"]),
    expires=st.none() | st.floats(0, 4e9) | st.just(float("inf")),
    secure=st.booleans(),
    http_only=st.booleans(),
    host_only=st.booleans(),
    same_site=st.sampled_from([None, "Strict", "Lax", "None"]),
)


@given(st.lists(cookies, max_size=8))
def test_jar_round_trips_through_clone(found: list[Cookie]) -> None:
    jar = CookieJar(found)
    copied = clone.loads(clone.dumps(jar))
    assert type(copied) is CookieJar
    assert copied == jar
    assert copied is not jar
    assert list(copied) == list(jar)


def test_jar_api() -> None:
    jar = CookieJar()
    jar.set(Cookie("a", "1", domain="example.com"))
    jar.set(Cookie("a", "2", domain="a.example.com", host_only=True, path="/deep"))
    jar.set(Cookie("b", "3", domain="example.com", expires=T0 + 1))
    assert len(jar) == 3
    assert jar != CookieJar()
    assert jar != "jar"
    assert "a='1' (example.com/)" in repr(jar)
    with pytest.raises(TypeError, match="unhashable"):
        hash(jar)
    got = jar.get("a", "a.example.com", now=T0)
    assert got is not None
    assert got.value == "2"
    assert jar.get("a", "example.com", now=T0) == Cookie("a", "1", domain="example.com")
    assert jar.get("a", now=T0) is not None
    assert jar.get("zzz", now=T0) is None
    assert jar.get("b", now=T0 + 1) is None
    assert len(jar) == 2
    assert jar.remove("a", "elsewhere.org") == 0
    assert jar.remove("a", path="/deep") == 1
    assert jar.purge(now=T0) == 0
    jar.clear()
    assert len(jar) == 0
    assert jar.header_for("http://example.com/", now=T0) is None
    with pytest.raises(TypeError, match="a CookieJar holds Cookie values, not dict"):
        CookieJar([{"name": "a"}])  # type: ignore[list-item]
