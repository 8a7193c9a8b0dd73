"""Serving an ASGI app with Hypercorn's Trio worker, inside the caller's Trio run."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast, final
from urllib.parse import urlsplit

import trio

from ..runtime import Mesh
from ._app import EdgeApp

if TYPE_CHECKING:
    from hypercorn.typing import Framework

    from ._asgi import ASGIApp

#: Hypercorn's own messages ("Running on ...", connection errors) go to this logger; it has no
#: handlers of its own, so the application's logging configuration decides what is shown.
server_log = logging.getLogger("lumenize_trio.server")


@final
class _Started:
    """Stands in for Hypercorn's ``task_status``: turns its bind URLs into ``(host, port)``."""

    __slots__ = ("_outer",)

    def __init__(self, outer: trio.TaskStatus[tuple[str, int]]) -> None:
        self._outer = outer

    def started(self, binds: list[str]) -> None:
        parts = urlsplit(binds[0])
        assert parts.hostname is not None
        assert parts.port is not None
        self._outer.started((parts.hostname, parts.port))


async def serve(
    mesh: Mesh,
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve *app* over HTTP/1.1 and HTTP/2 (cleartext) on *host*:*port* until cancelled.

    Runs Hypercorn's Trio worker in the current Trio run, so the app's requests reach the
    actors of *mesh* directly; run it inside the mesh's block. ``await nursery.start(serve,
    mesh, app, port=0)`` returns the bound ``(host, port)`` once the socket listens (port 0
    picks a free port).

    Args:
        mesh: the mesh the app serves (an app made by :func:`create_app` must be of this mesh).
        app: the ASGI 3 app, usually from :func:`create_app` (or any wrapper around one).
        host: the address to listen on (an IPv6 address without brackets).
        port: the TCP port; 0 picks a free one.
        task_status: for ``nursery.start``: given ``(host, port)`` when listening.

    Raises:
        TypeError: *mesh* is not a Mesh, or *app* is not callable.
        ValueError: *app* was made for another mesh, or *port* is out of range.
        trio.ClosedResourceError: the mesh is closed.
        OSError: the address cannot be bound.

    Cancellation: this runs until cancelled; cancelling stops listening and cancels the
    requests in progress (their actors' turns still finish) and returns promptly, without
    raising anything but the ``Cancelled``.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"serve() needs the open Mesh, not {type(mesh).__name__}")
    if not callable(app):
        raise TypeError(f"serve() needs an ASGI app, not {type(app).__name__}")
    if isinstance(app, EdgeApp) and app.mesh is not mesh:
        raise ValueError("this app was made by create_app() for another mesh")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int from 0 to 65535, not {port!r}")
    if mesh.stopping:
        raise trio.ClosedResourceError("the mesh is closed")
    # Late: Hypercorn (with h2 and wsproto) is only needed by programs that serve.
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    from ..runtime import _websockets
    from ._hypercorn import report_close_codes

    report_close_codes()  # on_close gets the client's close code (Hypercorn reports 1006)

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.errorlog = server_log  # a logger object: Hypercorn installs no handler of its own
    config.accesslog = None
    config.websocket_max_message_size = _websockets.MAX_MESSAGE  # the platform's 32 MiB, not 16
    started = cast("trio.TaskStatus[list[str]]", _Started(task_status))
    await hypercorn_serve(cast("Framework", app), config, mode="asgi", task_status=started)
