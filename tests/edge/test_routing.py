"""Tests for `lumenize_trio.edge._routing`: how paths reach bindings and actors, through a real server."""

from __future__ import annotations

import json

import pytest

from lumenize_trio import LumenizeDO, LumenizeWorker, Response
from lumenize_trio.edge import Route, kebab
from lumenize_trio.edge._routing import check_prefix

from .helpers import open_edge


def json_response(value: object) -> Response:
    return Response(200, headers={"content-type": "application/json"}, content=json.dumps(value))


class Echo(LumenizeDO):
    def on_request(self, request):
        return json_response(
            {
                "binding": self.lmz.binding_name,
                "name": self.lmz.instance_name,
                "id": self.ctx.id.hex,
                "url": str(request.url),
            }
        )


class Other(LumenizeDO):
    """Has no on_request of its own: the default answers 501."""


class Ping(LumenizeWorker):
    def on_request(self, request):
        return json_response({"binding": self.lmz.binding_name, "url": str(request.url)})


BINDINGS = {
    "MY_DO": Echo,
    "MyDo": Echo,
    "ChatRoom": Echo,
    "HTTPServer": Echo,
    "PING_WORKER": Ping,
    "room": Echo,
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MY_DO", "my-do"),
        ("MyDo", "my-do"),
        ("MyDO", "my-do"),
        ("myDo", "my-do"),
        ("my_do", "my-do"),
        ("COUNTER", "counter"),
        ("Counter", "counter"),
        ("HTTPServer", "http-server"),
        ("Chat2Room", "chat2-room"),
        ("A__B", "a-b"),
    ],
)
def test_kebab_forms(name: str, expected: str) -> None:
    assert kebab(name) == expected


@pytest.mark.parametrize(
    ("prefix", "segments"), [("", ()), ("/", ()), ("/api", ("api",)), ("/api/v1/", ("api", "v1"))]
)
def test_check_prefix_accepts(prefix: str, segments: tuple[str, ...]) -> None:
    assert check_prefix(prefix) == segments


@pytest.mark.parametrize("prefix", ["api", "/api//v1", "/a?b", "/a#b"])
def test_check_prefix_refuses_malformed(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        check_prefix(prefix)


def test_check_prefix_refuses_non_str() -> None:
    with pytest.raises(TypeError, match="prefix"):
        check_prefix(b"/api")


@pytest.mark.parametrize(
    ("path", "binding", "name"),
    [
        ("/chat-room/lobby", "ChatRoom", "lobby"),
        ("/CHAT-ROOM/lobby", "ChatRoom", "lobby"),
        ("/ChatRoom/lobby/more/path", "ChatRoom", "lobby"),
        ("/http-server/x", "HTTPServer", "x"),
        ("/MY_DO/x", "MY_DO", "x"),
        ("/MyDo/x", "MyDo", "x"),
        ("/room/r1", "room", "r1"),
        ("/room/a%2Fb%20c", "room", "a/b c"),
        ("/room/%C3%A9t%C3%A9", "room", "été"),
        ("/room/" + "0" * 63 + "g", "room", "0" * 63 + "g"),  # not hex: a name
        ("/room/" + "0" * 65, "room", "0" * 65),  # not 64 long: a name
    ],
)
async def test_routes_reach_the_named_actor(path: str, binding: str, name: str) -> None:
    async with open_edge(BINDINGS) as edge:
        response = await edge.client.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["binding"], body["name"]) == (binding, name)
        assert body["id"] == edge.mesh.namespace(binding).id_from_name(name).hex
        assert body["url"] == edge.url + path  # the full URL, as sent


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/nope/x", 404, "Not Found"),
        ("/", 404, "Not Found"),
        ("", 404, "Not Found"),
        ("/my_do/x", 404, "Not Found"),  # neither kebab case nor an exact name
        ("/lmz-broadcast/x", 404, "Not Found"),  # the runtime's own bindings are never routed
        ("/my-do/x", 400, "several bindings (MY_DO, MyDo)"),
        ("/chat-room", 400, "the path needs /chat-room/{instance}"),
        ("/chat-room/", 400, "the path needs"),
        ("/chat-room//x", 400, "the path needs"),
        ("/room/" + "0" * 64, 400, "is not an id of namespace 'room'"),
        ("/room/" + "A" * 64, 400, "is not an id of namespace"),
        ("/room/%FF", 400, "not percent-encoded UTF-8"),
        ("/room/" + "x" * 2049, 400, "at most 2048 UTF-8 bytes"),
    ],
)
async def test_routing_errors(path: str, status: int, message: str) -> None:
    async with open_edge(BINDINGS) as edge:
        response = await edge.client.get(path)
        assert response.status_code == status
        assert message in response.text
        assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_a_64_hex_instance_is_an_id() -> None:
    """An id reaches the same actor as its name; the actor keeps the name it learnt first."""
    async with open_edge(BINDINGS) as edge:
        actor_id = edge.mesh.namespace("room").id_from_name("r1")
        by_id = (await edge.client.get(f"/room/{actor_id.hex}")).json()
        assert by_id == {
            "binding": "room",
            "name": None,
            "id": actor_id.hex,
            "url": f"{edge.url}/room/{actor_id.hex}",
        }
        assert (await edge.client.get("/room/r1")).json()["name"] == "r1"
        assert (await edge.client.get(f"/room/{actor_id.hex}")).json()["name"] == "r1"
        unique = edge.mesh.namespace("room").new_unique_id()
        assert (await edge.client.get(f"/room/{unique.hex}/x")).json()["id"] == unique.hex


async def test_worker_bindings_take_no_instance() -> None:
    async with open_edge(BINDINGS) as edge:
        for path in ("/ping-worker", "/ping-worker/", "/PING_WORKER/a/b?c=d"):
            response = await edge.client.get(path)
            assert response.json() == {"binding": "PING_WORKER", "url": edge.url + path}


async def test_prefix() -> None:
    async with open_edge(BINDINGS, prefix="/api/v1") as edge:
        assert (await edge.client.get("/api/v1/room/r1")).json()["name"] == "r1"
        assert (await edge.client.get("/api/v1/room/r1")).json()["url"] == edge.url + "/api/v1/room/r1"
        for path in ("/room/r1", "/api/room/r1", "/api/v2/room/r1", "/api/v1", "/api/v1/"):
            assert (await edge.client.get(path)).status_code == 404, path


async def test_default_on_request_answers_501() -> None:
    async with open_edge({"OTHER": Other}) as edge:
        response = await edge.client.post("/other/x", content=b"hi")
        assert response.status_code == 501
        assert response.text == "Not Implemented"


async def test_hook_sees_the_route() -> None:
    seen: list[Route] = []

    def hook(request, route):
        seen.append(route)

    async with open_edge(BINDINGS, on_before_request=hook) as edge:
        actor_id = edge.mesh.namespace("room").id_from_name("r1")
        await edge.client.get("/chat-room/a%2Fb/x/y%20z?q=1")
        await edge.client.get(f"/room/{actor_id.hex}")
        await edge.client.get("/ping-worker/p")
    assert seen == [
        Route("ChatRoom", "a/b", "/x/y%20z"),
        Route("room", actor_id, ""),
        Route("PING_WORKER", None, "/p"),
    ]
