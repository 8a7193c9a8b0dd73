"""Tests for `lumenize_trio.http._values`: Request and Response as cloneable, validated values."""

from __future__ import annotations

import copy
import gzip
import json
from http import HTTPStatus

import httpx
import pytest
from hypothesis import given, strategies as st

from lumenize_trio import LumenizeDO, Request, Response, clone, mesh, open_mesh

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
header_values = st.binary(max_size=40).filter(lambda b: not any(c in b for c in b"\r\n\x00"))
headers = st.lists(st.tuples(tokens, header_values), max_size=8)
urls = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}/{path}{query}",
    st.sampled_from(["http", "https"]),
    st.sampled_from(["example.com", "127.0.0.1", "[::1]", "a.b.example.org", "xn--bcher-kva.example"]),
    st.sampled_from(["", ":8080", ":1"]),
    st.text(alphabet="abc/-_~%20", max_size=12),
    st.sampled_from(["", "?a=1", "?a=1&a=2#frag", "?q=%C3%A9"]),
)
requests = st.builds(
    Request, tokens, urls, headers=headers, content=st.binary(max_size=200) | st.text(max_size=20) | st.none()
)
responses = st.builds(
    Response,
    st.integers(100, 599),
    headers=headers,
    content=st.binary(max_size=200),
    reason=st.none() | st.text(alphabet="abc XYZ-\t", max_size=20),
    url=st.none() | urls,
)


def raw(value: Request | Response) -> list[tuple[bytes, bytes]]:
    return value.headers.raw


@given(requests)
def test_request_round_trips_through_clone(request: Request) -> None:
    copied = clone.loads(clone.dumps(request))
    assert type(copied) is Request
    assert copied == request
    assert hash(copied) == hash(request)
    assert raw(copied) == raw(request)  # order, repeats and exact bytes (name case too)
    assert (copied.method, copied.url, copied.content) == (request.method, request.url, request.content)


@given(responses)
def test_response_round_trips_through_clone(response: Response) -> None:
    copied = clone.loads(clone.dumps(response))
    assert type(copied) is Response
    assert copied == response
    assert hash(copied) == hash(response)
    assert raw(copied) == raw(response)
    assert (copied.status, copied.reason, copied.url, copied.ok) == (
        response.status,
        response.reason,
        response.url,
        response.ok,
    )


@given(requests, responses)
def test_values_round_trip_inside_a_graph_with_sharing(request: Request, response: Response) -> None:
    copied = clone.loads(clone.dumps({"pair": (request, response), "again": request}))
    assert copied["pair"] == (request, response)
    assert copied["again"] is copied["pair"][0]


def test_headers_keep_order_repeats_and_case() -> None:
    request = Request(
        "GET",
        "https://example.com/",
        headers=[("X-B", "1"), ("x-a", "2"), ("X-B", "3"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")],
    )
    assert request.headers.raw == [
        (b"X-B", b"1"),
        (b"x-a", b"2"),
        (b"X-B", b"3"),
        (b"Set-Cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
    assert request.headers.get_list("x-b") == ["1", "3"]
    assert request.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_headers_accept_mappings_httpx_headers_and_bytes() -> None:
    source = httpx.Headers([(b"A", b"\xff"), (b"a", b"2")])
    assert Request("GET", "http://x/", headers=source).headers.raw == [(b"A", b"\xff"), (b"a", b"2")]
    assert Request("GET", "http://x/", headers={"A": "1", b"B": b"2"}).headers.raw == [  # type: ignore[dict-item]
        (b"A", b"1"),
        (b"B", b"2"),
    ]
    assert Request("GET", "http://x/", headers=[("A", "café")]).headers.raw == [(b"A", "café".encode())]


def test_headers_property_is_a_copy() -> None:
    request = Request("GET", "http://x/", headers={"A": "1"})
    request.headers["A"] = "changed"
    assert request.headers["A"] == "1"
    response = Response(200, headers={"A": "1"})
    response.headers["A"] = "changed"
    assert response.headers["A"] == "1"


def test_equality_compares_header_names_case_insensitively_but_order_strictly() -> None:
    assert Request("GET", "http://x/", headers=[("A", "1")]) == Request(
        "get", "http://x/", headers=[("a", "1")]
    )
    one = Request("GET", "http://x/", headers=[("A", "1"), ("B", "2")])
    other = Request("GET", "http://x/", headers=[("B", "2"), ("A", "1")])
    assert one != other
    assert Request("GET", "http://x/") != Response(200)
    assert Response(200) != "200"
    assert len({Response(200), Response(200), Response(201)}) == 2


def test_method_is_upper_cased_and_content_converted() -> None:
    assert Request("patch", "http://x/").method == "PATCH"
    assert Request("GET", "http://x/").content == b""
    assert Request("GET", "http://x/", content=bytearray(b"ab")).content == b"ab"
    assert Request("GET", "http://x/", content="é").content == "é".encode()
    assert Response(204, content=None).content == b""


@pytest.mark.parametrize(
    ("status", "reason"),
    [(200, "OK"), (404, "Not Found"), (418, "I'm a Teapot"), (599, ""), (299, ""), (103, "Early Hints")],
)
def test_reason_is_derived_from_the_status(status: int, reason: str) -> None:
    assert Response(status).reason == reason


def test_reason_given_is_kept_and_status_accepts_http_status() -> None:
    response = Response(HTTPStatus.NOT_FOUND, reason="Nope")
    assert (response.status, type(response.status), response.reason) == (404, int, "Nope")
    assert Response(200, reason="").reason == ""


@pytest.mark.parametrize(
    ("status", "ok"), [(199, False), (200, True), (299, True), (300, False), (404, False)]
)
def test_ok_means_2xx(status: int, ok: bool) -> None:
    assert Response(status).ok is ok


def test_text_uses_the_charset_with_utf8_default() -> None:
    assert Response(200, content="café").text == "café"
    latin = Response(200, headers={"Content-Type": "text/plain; charset=ISO-8859-1"}, content=b"caf\xe9")
    assert latin.text == "café"
    quoted = Request(
        "POST",
        "http://x/",
        headers={"content-type": 'text/plain; charset="utf-16"'},
        content="hé".encode("utf-16"),
    )
    assert quoted.text == "hé"
    assert Response(200, headers={"content-type": "text/plain; charset=nonsense"}, content="é").text == "é"
    assert Response(200, headers={"content-type": "text/plain; charset=rot13"}, content="é").text == "é"
    assert Response(200, content=b"\xff").text == "\ufffd"
    assert Response(200, headers={"content-type": "text/plain"}, content="é").text == "é"


def test_json_parses_the_body() -> None:
    assert Response(200, content=b'{"a": [1, "\xc3\xa9"]}').json() == {"a": [1, "é"]}
    assert Request("POST", "http://x/", content='"x"').json() == "x"
    utf16 = Response(
        200, headers={"content-type": "application/json; charset=utf-16"}, content='{"a":1}'.encode("utf-16")
    )
    assert utf16.json() == {"a": 1}
    unknown = Response(200, headers={"content-type": "application/json; charset=bogus"}, content=b"[1]")
    assert unknown.json() == [1]


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe\xfd"])
def test_json_refuses_what_is_not_json(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - JSONDecodeError or UnicodeDecodeError, both ValueError
        Response(200, content=body).json()


def test_json_argument_sets_body_and_content_type() -> None:
    request = Request("POST", "https://example.com/items", json={"n": 1, "s": "é"})
    assert request.content == '{"n":1,"s":"é"}'.encode()
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"n": 1, "s": "é"}
    kept = Request("POST", "http://x/", headers={"Content-Type": "application/vnd.x+json"}, json=None)
    assert kept.content == b"null"
    assert kept.headers.get_list("content-type") == ["application/vnd.x+json"]


def test_json_argument_errors() -> None:
    with pytest.raises(TypeError, match="content= or json=, not both"):
        Request("POST", "http://x/", content=b"x", json=1)
    with pytest.raises(TypeError, match="cannot be encoded as JSON: Object of type set"):
        Request("POST", "http://x/", json={1, 2})
    with pytest.raises(ValueError, match="cannot be encoded as JSON: Out of range float"):
        Request("POST", "http://x/", json=float("nan"))


def test_request_from_and_to_httpx() -> None:
    outgoing = httpx.Request("post", "https://example.com/a?b=1", headers={"X-A": "1"}, content=b"body")
    request = Request.from_httpx(outgoing)
    assert request.method == "POST"
    assert request.url == httpx.URL("https://example.com/a?b=1")
    assert request.headers["x-a"] == "1"
    assert request.headers["content-length"] == "4"
    assert request.content == b"body"
    back = request.to_httpx()
    assert isinstance(back, httpx.Request)
    assert (back.method, back.url, back.content) == ("POST", outgoing.url, b"body")
    assert back.headers.raw == outgoing.headers.raw
    fresh = Request("GET", "http://example.com/").to_httpx()
    assert fresh.headers["host"] == "example.com"


def test_request_from_httpx_needs_a_read_body() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b"x"

    streaming = httpx.Request("POST", "http://x/", content=chunks())
    with pytest.raises(ValueError, match=r"stream that was not read: call request.read\(\) first"):
        Request.from_httpx(streaming)
    with pytest.raises(TypeError, match=r"needs an httpx\.Request, not Request"):
        Request.from_httpx(Request("GET", "http://x/"))  # type: ignore[arg-type]


def test_response_from_and_to_httpx() -> None:
    incoming = httpx.Response(
        201,
        headers=[("X-A", "1"), ("x-a", "2")],
        content=b"made",
        request=httpx.Request("PUT", "https://example.com/thing"),
        extensions={"reason_phrase": b"Made It"},
    )
    response = Response.from_httpx(incoming)
    assert (response.status, response.reason, response.content) == (201, "Made It", b"made")
    assert response.url == httpx.URL("https://example.com/thing")
    assert response.headers.get_list("x-a") == ["1", "2"]
    back = response.to_httpx()
    assert (back.status_code, back.reason_phrase, back.content) == (201, "Made It", b"made")
    assert back.headers.raw == response.headers.raw  # exactly, nothing added
    with pytest.raises(RuntimeError):
        back.url  # noqa: B018 - httpx has no URL without a request
    assert response.to_httpx(request=httpx.Request("GET", "https://e.com/")).url == "https://e.com/"
    assert Response.from_httpx(httpx.Response(200)).url is None


def test_response_converters_keep_decoded_body_and_content_encoding() -> None:
    """As in the Fetch standard: the body is decoded, the header says how it travelled."""
    incoming = httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=gzip.compress(b"plain"))
    response = Response.from_httpx(incoming)
    assert response.content == b"plain"
    assert response.headers["content-encoding"] == "gzip"
    assert response.to_httpx().content == b"plain"  # not decoded a second time


def test_response_from_httpx_needs_a_read_body() -> None:
    class Stream(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield b"x"

    with pytest.raises(ValueError, match=r"body was not read: call await response.aread\(\) first"):
        Response.from_httpx(httpx.Response(200, stream=Stream()))
    with pytest.raises(TypeError, match=r"needs an httpx\.Response, not int"):
        Response.from_httpx(200)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": 1}, TypeError, "method must be a str, not int"),
        ({"method": "GE T"}, ValueError, "method 'GE T' is not a valid HTTP token"),
        ({"method": ""}, ValueError, "method '' is not a valid HTTP token"),
        ({"method": "GÉT"}, ValueError, "not a valid HTTP token"),
        ({"url": 5}, TypeError, "url must be a str or an httpx.URL, not int"),
        ({"url": "ftp://example.com/x"}, ValueError, "absolute http or https URL, not 'ftp://example.com/x'"),
        ({"url": "/relative/path"}, ValueError, "absolute http or https URL, not '/relative/path'"),
        ({"url": "http://"}, ValueError, "absolute http or https URL, not 'http://'"),
        ({"url": httpx.URL("mailto:a@b.c")}, ValueError, "not 'mailto:a@b.c'"),
        ({"url": "http://[::1/"}, ValueError, r"url 'http://\[::1/' is not a valid URL"),
        ({"headers": "A: 1"}, TypeError, "headers must be a mapping, an httpx.Headers or an iterable"),
        ({"headers": 3}, TypeError, "not int"),
        ({"headers": [("A", "1", "2")]}, TypeError, r"\(name, value\) pairs, not \('A', '1', '2'\)"),
        ({"headers": ["AB"]}, TypeError, r"\(name, value\) pairs, not 'AB'"),
        ({"headers": [(1, "1")]}, TypeError, "a header name must be str or bytes, not int"),
        ({"headers": {"Bad Name": "1"}}, ValueError, "header name 'Bad Name' is not a valid HTTP token"),
        ({"headers": {"": "1"}}, ValueError, "header name '' is not a valid HTTP token"),
        ({"headers": {"Naïve": "1"}}, ValueError, "header name 'Naïve' is not a valid HTTP token"),
        ({"headers": {"A": "1\r\nB: 2"}}, ValueError, "header 'A' has a value holding CR, LF or NUL"),
        ({"headers": {"A": b"\x00"}}, ValueError, "header 'A' has a value holding CR, LF or NUL"),
        ({"headers": {"A": 1}}, TypeError, "header 'A' must have a str or bytes value, not int"),
        ({"headers": {"A": "\ud800"}}, ValueError, "header 'A' has a value that is not valid Unicode"),
        ({"content": 1}, TypeError, "content must be bytes, bytearray, str or None, not int"),
        ({"content": memoryview(b"x")}, TypeError, "not memoryview"),
        ({"content": "\udc80"}, ValueError, "content is a str that cannot be encoded as UTF-8"),
    ],
)
def test_request_validation(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    arguments: dict[str, object] = {"method": "GET", "url": "https://example.com/", **kwargs}
    method, url = arguments.pop("method"), arguments.pop("url")
    with pytest.raises(error, match=message):
        Request(method, url, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "kwargs", "error", "message"),
    [
        ("200", {}, TypeError, "status must be an int, not str"),
        (True, {}, TypeError, "status must be an int, not bool"),
        (200.0, {}, TypeError, "status must be an int, not float"),
        (99, {}, ValueError, "status must be from 100 to 599, not 99"),
        (600, {}, ValueError, "status must be from 100 to 599, not 600"),
        (200, {"reason": 1}, TypeError, "reason must be a str or None, not int"),
        (200, {"reason": "O\nK"}, ValueError, r"reason 'O\\nK' holds characters a status line cannot carry"),
        (200, {"reason": "€"}, ValueError, "holds characters a status line cannot carry"),
        (
            200,
            {"url": "file:///etc/passwd"},
            ValueError,
            "absolute http or https URL, not 'file:///etc/passwd'",
        ),
        (200, {"content": 5}, TypeError, "content must be bytes"),
        (200, {"headers": {"A B": "1"}}, ValueError, "header name 'A B'"),
    ],
)
def test_response_validation(
    status: object, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Response(status, **kwargs)  # type: ignore[arg-type]


def test_values_are_immutable() -> None:
    request, response = Request("GET", "http://x/"), Response(200)
    for value, name in ((request, "method"), (request, "_method"), (response, "status"), (response, "extra")):
        with pytest.raises(AttributeError, match="is immutable: cannot change"):
            setattr(value, name, "x")
        with pytest.raises(AttributeError, match="is immutable"):
            delattr(value, name)
    assert copy.copy(request) is request
    assert copy.copy(response) is response
    assert copy.deepcopy(request) is request
    assert copy.deepcopy(response) is response
    assert copy.deepcopy({"r": request})["r"] is request


def test_reprs() -> None:
    assert (
        repr(Request("post", "https://example.com/a?b=1")) == "<Request('POST', 'https://example.com/a?b=1')>"
    )
    assert repr(Response(404)) == "<Response [404 Not Found]>"
    assert repr(Response(599)) == "<Response [599]>"


class Archive(LumenizeDO):
    """Stores HTTP values in KV storage and reads them back."""

    @mesh
    def keep(self, key: str, value: object) -> None:
        self.ctx.storage.kv.put(key, value)

    @mesh
    def read(self, key: str) -> object:
        value = self.ctx.storage.kv.get(key)
        assert isinstance(value, Request | Response)
        return value


async def test_values_survive_actor_storage_and_the_actor_boundary(tmp_path: object) -> None:
    request = Request("PUT", "https://example.com/r", headers=[("A", "1"), ("a", "2")], json=[1])
    response = Response(503, headers={"Retry-After": "5"}, content=b"busy", url="https://example.com/r")
    async with open_mesh({"ARCHIVE": Archive}, data_dir=str(tmp_path)) as m:
        archive = m.get("ARCHIVE", "a")
        await archive.keep("request", request)
        await archive.keep("response", response)
    async with open_mesh({"ARCHIVE": Archive}, data_dir=str(tmp_path)) as m:  # a new activation
        archive = m.get("ARCHIVE", "a")
        stored_request, stored_response = await archive.read("request"), await archive.read("response")
    assert stored_request == request
    assert stored_request.headers.raw == request.headers.raw
    assert stored_response == response
    assert stored_response.content == b"busy"
    assert json.loads(stored_request.content) == [1]
