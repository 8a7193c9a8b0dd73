"""Shared by the edge tests: a mesh with an edge app served by Hypercorn on 127.0.0.1:0, and an
httpx client pointed at it."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio

from lumenize_trio import open_mesh
from lumenize_trio.edge import EdgeApp, create_app, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from lumenize_trio import Mesh


@attrs.frozen
class Edge:
    mesh: Mesh
    app: EdgeApp
    client: httpx.AsyncClient
    url: str


@asynccontextmanager
async def open_edge(
    bindings: Mapping[str, type], *, mesh_options: Mapping[str, Any] | None = None, **app_options: Any
) -> AsyncIterator[Edge]:
    """Open a mesh of *bindings*, serve ``create_app(mesh, **app_options)`` and yield it with a
    client; everything stops at the end of the block."""
    with trio.fail_after(30):
        async with open_mesh(bindings, **(mesh_options or {})) as mesh:
            app = create_app(mesh, **app_options)
            async with trio.open_nursery() as nursery:
                host, port = await nursery.start(partial(serve, mesh, app, port=0))
                url = f"http://{host}:{port}"
                try:
                    async with httpx.AsyncClient(base_url=url) as client:
                        yield Edge(mesh, app, client, url)
                finally:
                    nursery.cancel_scope.cancel()
