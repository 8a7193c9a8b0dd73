"""The actor runtime: the mesh, activation and eviction, turns and gates, alarms, stubs.

``open_mesh(bindings)`` runs a mesh; ``mesh.get(binding, name)`` gives a stub; awaiting
``stub.method(*args)`` runs one turn of the actor. See ``docs/runtime.md``.
"""

from __future__ import annotations

from ._call_context import CallContext as CallContext, NodeIdentity as NodeIdentity
from ._context import ActorContext as ActorContext, Storage as Storage, WorkerContext as WorkerContext
from ._events import AlarmInfo as AlarmInfo
from ._fetch_policy import FetchPolicy as FetchPolicy
from ._ids import ActorId as ActorId, Namespace as Namespace
from ._mesh import (
    FetchOptions as FetchOptions,
    Mesh as Mesh,
    MeshStatistics as MeshStatistics,
    open_mesh as open_mesh,
)
from ._service_spec import Service as Service
from ._stub import ActorStub as ActorStub, PendingCall as PendingCall, WorkerStub as WorkerStub
from ._websockets import WebSocket as WebSocket

__all__ = [
    "ActorContext",
    "ActorId",
    "ActorStub",
    "AlarmInfo",
    "CallContext",
    "FetchOptions",
    "FetchPolicy",
    "Mesh",
    "MeshStatistics",
    "Namespace",
    "NodeIdentity",
    "PendingCall",
    "Service",
    "Storage",
    "WebSocket",
    "WorkerContext",
    "WorkerStub",
    "open_mesh",
]
