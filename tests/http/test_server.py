"""The real HTTP test server of ``tests/httpserver.py`` and its ``http_server`` fixture."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from ..httpserver import MAX_BYTES, open_http_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def client(http_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=http_server) as opened:
        yield opened


async def test_fixture_serves_on_localhost(http_server: str) -> None:
    assert http_server.startswith("http://127.0.0.1:")
    assert httpx.URL(http_server).port


async def test_open_http_server_shuts_down_cleanly() -> None:
    """After the block the port no longer answers; idle keep-alive connections do not hold it up."""
    async with open_http_server() as url, httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/get")).status_code == 200  # leaves a keep-alive connection
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/get")


async def test_two_servers_get_two_ports() -> None:
    async with open_http_server() as first, open_http_server() as second:
        assert first != second


async def test_uuid(client: httpx.AsyncClient) -> None:
    one, two = (await client.get("/uuid")).json(), (await client.get("/uuid")).json()
    assert uuid.UUID(one["uuid"]).version == 4
    assert one != two


async def test_delay(client: httpx.AsyncClient) -> None:
    response = await client.get("/delay/0.01")
    assert response.status_code == 200
    assert response.json() == {"delay": 0.01}
    for bad in ("-1", "11", "soon"):
        assert (await client.get(f"/delay/{bad}")).status_code == 400


@pytest.mark.parametrize("code", [200, 204, 302, 404, 418, 500, 599])
async def test_status(client: httpx.AsyncClient, code: int) -> None:
    response = await client.get(f"/status/{code}")
    assert response.status_code == code
    assert response.content == b""


@pytest.mark.parametrize("bad", ["99", "600", "abc", "1e3"])
async def test_status_refuses_codes_it_cannot_send(client: httpx.AsyncClient, bad: str) -> None:
    assert (await client.get(f"/status/{bad}")).status_code == 400


async def test_bytes(client: httpx.AsyncClient) -> None:
    one, two = await client.get("/bytes/64"), await client.get("/bytes/64")
    assert len(one.content) == 64
    assert one.content != two.content
    assert one.headers["content-type"] == "application/octet-stream"
    assert (await client.get("/bytes/0")).content == b""
    assert (await client.get(f"/bytes/{MAX_BYTES + 1}")).status_code == 400


async def test_cookies_set_and_cookies(client: httpx.AsyncClient) -> None:
    response = await client.get("/cookies/set?a=1&b=two", headers={"Cookie": "old=0"})
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=two; Path=/"]
    assert response.json() == {"cookies": {"old": "0"}, "header": "old=0"}
    plain = await client.get("/cookies", headers={"Cookie": "x=1; y=a=b"})
    assert plain.json() == {"cookies": {"x": "1", "y": "a=b"}, "header": "x=1; y=a=b"}
    assert "set-cookie" not in plain.headers
    client.cookies.clear()  # httpx's own jar kept a and b
    assert (await client.get("/cookies")).json() == {"cookies": {}, "header": None}


async def test_response_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/response-headers?X-A=1&X-A=2&Set-Cookie=s%3D1%3B%20Max-Age%3D9")
    assert response.status_code == 200
    assert response.headers.get_list("x-a") == ["1", "2"]
    assert response.headers["set-cookie"] == "s=1; Max-Age=9"
    assert response.json() == [["X-A", "1"], ["X-A", "2"], ["Set-Cookie", "s=1; Max-Age=9"]]
    redirect = await client.get("/response-headers?status=303&Location=/get")
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/get"
    assert (await client.get("/response-headers?status=1")).status_code == 400


async def test_redirect_chain(client: httpx.AsyncClient) -> None:
    response = await client.get("/redirect/3", follow_redirects=True)
    assert response.status_code == 200
    assert response.url.path == "/get"
    assert [r.headers["location"] for r in response.history] == ["/redirect/2", "/redirect/1", "/get"]
    assert all(r.status_code == 302 for r in response.history)
    for bad in ("0", "101", "x"):
        assert (await client.get(f"/redirect/{bad}")).status_code == 400


async def test_redirect_to(client: httpx.AsyncClient) -> None:
    default = await client.get("/redirect-to?url=https://example.com/x")
    assert default.status_code == 302
    assert default.headers["location"] == "https://example.com/x"
    assert (await client.get("/redirect-to?url=/get&status_code=308")).status_code == 308
    for bad in ("status_code=307", "url=/get&status_code=200", "url=/get&status_code=x"):
        assert (await client.get(f"/redirect-to?{bad}")).status_code == 400


async def test_echo(client: httpx.AsyncClient) -> None:
    response = await client.request(
        "PATCH", "/echo?a=1&a=2", headers=[("X-R", "1"), ("X-R", "2")], content="é"
    )
    echoed = response.json()
    assert (echoed["method"], echoed["path"], echoed["query"], echoed["body"]) == (
        "PATCH",
        "/echo",
        "a=1&a=2",
        "é",
    )
    assert [value for name, value in echoed["headers"] if name == "x-r"] == ["1", "2"]


async def test_get(client: httpx.AsyncClient) -> None:
    echoed = (await client.get("/get?q=1")).json()
    assert (echoed["method"], echoed["query"]) == ("GET", "q=1")
    assert "body" not in echoed
    head = await client.head("/get")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert (await client.post("/get")).status_code == 405


async def test_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": "no endpoint /nowhere"}
