"""RPC: call actors from outside the mesh, over WebSocket or HTTP, in batches; push to clients.

Server: ``create_app(mesh, rpc=RpcPolicy())`` mounts ``[prefix]/__rpc/{binding}/{instance}``
(each call goes through ``mesh.call``: ``@mesh`` methods only, their guards, one turn per call);
:func:`send_downstream` pushes a value to the clients of an actor by client id. Client:
``async with open_rpc_client(url) as actor: await actor.method(...)``; calls made before the
next checkpoint travel in one batch, and nested, chained and pipelined (:func:`issue`) calls
take one round trip. The frames are the protocol layer's. See ``docs/rpc.md``.
"""

from __future__ import annotations

from ._client import (
    BACKOFF_FIRST as BACKOFF_FIRST,
    BACKOFF_MAX as BACKOFF_MAX,
    IssuedCall as IssuedCall,
    RpcCall as RpcCall,
    RpcConnectionError as RpcConnectionError,
    RpcProxy as RpcProxy,
    backoff_delays as backoff_delays,
    issue as issue,
    open_rpc_client as open_rpc_client,
)
from ._downstream import connected_clients as connected_clients, send_downstream as send_downstream
from ._server import (
    CLIENT_ID_SUBPROTOCOL as CLIENT_ID_SUBPROTOCOL,
    RpcEndpoint as RpcEndpoint,
    RpcPolicy as RpcPolicy,
)

__all__ = [
    "BACKOFF_FIRST",
    "BACKOFF_MAX",
    "CLIENT_ID_SUBPROTOCOL",
    "IssuedCall",
    "RpcCall",
    "RpcConnectionError",
    "RpcEndpoint",
    "RpcPolicy",
    "RpcProxy",
    "backoff_delays",
    "connected_clients",
    "issue",
    "open_rpc_client",
    "send_downstream",
]

# Tracebacks, reprs and docs show the public path, not the private module.
for _obj in (
    IssuedCall,
    RpcCall,
    RpcConnectionError,
    RpcEndpoint,
    RpcPolicy,
    RpcProxy,
    backoff_delays,
    connected_clients,
    issue,
    open_rpc_client,
    send_downstream,
):
    _obj.__module__ = __name__
del _obj
