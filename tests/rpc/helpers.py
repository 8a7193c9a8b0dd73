"""Shared by the RPC tests: a mesh of Calc served by Hypercorn on 127.0.0.1:0 with the RPC
endpoint (as tests/edge/helpers.py serves the edge)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio

from lumenize_trio import open_mesh
from lumenize_trio.edge import EdgeApp, create_app, serve
from lumenize_trio.rpc import RpcEndpoint, RpcPolicy

from .nodes import Calc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from lumenize_trio import Mesh


@attrs.frozen
class Edge:
    mesh: Mesh
    app: EdgeApp
    url: str


@asynccontextmanager
async def open_rpc_edge(prefix: str = "", **policy: Any) -> AsyncIterator[Edge]:
    with trio.fail_after(30):
        async with open_mesh({"CALC": Calc}) as mesh:
            app = create_app(mesh, prefix=prefix, rpc=RpcPolicy(**policy))
            async with trio.open_nursery() as nursery:
                host, port = await nursery.start(partial(serve, mesh, app, port=0))
                try:
                    yield Edge(mesh, app, f"http://{host}:{port}{prefix}")
                finally:
                    nursery.cancel_scope.cancel()


def endpoint(edge: Edge) -> RpcEndpoint:
    rpc = edge.app._rpc
    assert isinstance(rpc, RpcEndpoint)
    return rpc


def rpc_url(edge: Edge, instance: str = "one", binding: str = "calc") -> str:
    return f"{edge.url}/__rpc/{binding}/{instance}"
