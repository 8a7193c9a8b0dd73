"""The edge: an ASGI application that routes HTTP requests to actors and workers, and serving it.

``create_app(mesh)`` routes ``/{binding}/{instance}[/rest]`` to ``on_request`` of the actor (as
a turn: the response leaves after its writes commit), with CORS and a pre-request hook;
``await nursery.start(serve, mesh, app, port=0)`` serves it with Hypercorn in the mesh's Trio
run. The same routes take hibernatable WebSockets (``on_connect``/``on_message``/``on_close``
on the actor, sockets kept by the mesh across evictions). See ``docs/edge.md``.
"""

from __future__ import annotations

from ._app import (
    DEFAULT_MAX_REQUEST_BODY as DEFAULT_MAX_REQUEST_BODY,
    EdgeApp as EdgeApp,
    create_app as create_app,
)
from ._cors import CorsPolicy as CorsPolicy
from ._routing import Route as Route, kebab as kebab
from ._serve import serve as serve

__all__ = ["CorsPolicy", "DEFAULT_MAX_REQUEST_BODY", "EdgeApp", "Route", "create_app", "kebab", "serve"]

# Tracebacks, reprs and docs show the public path, not the private module.
for _obj in (CorsPolicy, EdgeApp, Route, create_app, kebab, serve):
    _obj.__module__ = __name__
del _obj
