"""The edge's hooks guard RPC too: ``on_before_request`` for HTTP batches, ``on_before_connect``
for WebSocket upgrades (a Response refuses; a hook that raises refuses with 500)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio

from lumenize_trio import Request, Response, open_mesh
from lumenize_trio.edge import Route, create_app, serve
from lumenize_trio.rpc import RpcConnectionError, RpcPolicy, open_rpc_client

from .nodes import Calc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SEEN: list[tuple[str, str, str]] = []


def gate(kind: str) -> Any:
    def hook(request: Request, route: Route) -> Response | Request | None:
        SEEN.append((kind, request.method, f"{route.binding}/{route.instance}"))
        token = request.headers.get("authorization")
        if token == "Bearer boom":
            raise RuntimeError("hook failed")
        if token != "Bearer ok":
            return Response(403, content="forbidden")
        return request  # a replacement (the same request) goes on

    return hook


@asynccontextmanager
async def guarded() -> AsyncIterator[str]:
    SEEN.clear()
    async with open_mesh({"CALC": Calc}) as mesh:
        app = create_app(
            mesh, rpc=RpcPolicy(), on_before_request=gate("request"), on_before_connect=gate("connect")
        )
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(partial(serve, mesh, app, port=0))
            yield f"http://{host}:{port}/__rpc/calc/one"
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("transport", ["http", "websocket"])
async def test_hooks_admit_and_refuse_rpc(transport: str) -> None:
    async with guarded() as url:
        async with open_rpc_client(url, transport=transport, headers={"authorization": "Bearer ok"}) as calc:  # type: ignore[arg-type]
            assert await calc.add(20, 22) == 42
        kind = "request" if transport == "http" else "connect"
        assert SEEN[0] == (kind, "POST" if transport == "http" else "GET", "CALC/one")
        for token, status in (("Bearer no", 403), ("Bearer boom", 500)):
            with pytest.raises(RpcConnectionError) as refused:
                async with open_rpc_client(
                    url, transport=transport, headers={"authorization": token}
                ) as calc:  # type: ignore[arg-type]
                    await calc.add(1, 2)
            assert refused.value.code == status


@pytest.mark.parametrize("transport", ["http", "websocket"])
async def test_an_error_in_the_client_block_propagates_unwrapped(transport: str) -> None:
    async with guarded() as url:
        with pytest.raises(KeyError, match="mine"):
            async with open_rpc_client(url, transport=transport, headers={"authorization": "Bearer ok"}):  # type: ignore[arg-type]
                raise KeyError("mine")
