"""lumenize_trio: a structured-concurrency actor runtime for Trio.

The public surface is re-exported here; the modules behind it are private.
"""

from __future__ import annotations

from . import clone as clone, http as http, ocan as ocan, storage as storage
from ._exceptions import (
    ActorResetError as ActorResetError,
    BlockConcurrencyError as BlockConcurrencyError,
    ChainError as ChainError,
    DataCloneError as DataCloneError,
    FetchError as FetchError,
    FetchRefusedError as FetchRefusedError,
    FetchTimeoutError as FetchTimeoutError,
    InvalidActorIdError as InvalidActorIdError,
    LumenizeError as LumenizeError,
    MeshCallError as MeshCallError,
    NoCallContextError as NoCallContextError,
    NotMeshCallableError as NotMeshCallableError,
    OverloadedError as OverloadedError,
    RedirectError as RedirectError,
    RemoteError as RemoteError,
    ServiceError as ServiceError,
    StorageError as StorageError,
    UnknownBindingError as UnknownBindingError,
    UnknownServiceError as UnknownServiceError,
)
from ._version import __version__ as __version__
from .clone import UNDEFINED as UNDEFINED, IdentityMap as IdentityMap
from .edge import CorsPolicy as CorsPolicy, create_app as create_app, serve as serve
from .http import Browser as Browser, CookieJar as CookieJar, Request as Request, Response as Response
from .node import (
    LumenizeDO as LumenizeDO,
    LumenizeWorker as LumenizeWorker,
    Schedule as Schedule,
    mesh as mesh,
)
from .ocan import RESULT as RESULT
from .runtime import (
    ActorContext as ActorContext,
    ActorId as ActorId,
    ActorStub as ActorStub,
    AlarmInfo as AlarmInfo,
    CallContext as CallContext,
    FetchPolicy as FetchPolicy,
    Mesh as Mesh,
    Namespace as Namespace,
    NodeIdentity as NodeIdentity,
    Service as Service,
    WebSocket as WebSocket,
    WorkerContext as WorkerContext,
    WorkerStub as WorkerStub,
    open_mesh as open_mesh,
)

__all__ = [
    "ActorContext",
    "ActorId",
    "ActorResetError",
    "ActorStub",
    "AlarmInfo",
    "BlockConcurrencyError",
    "Browser",
    "CallContext",
    "ChainError",
    "CookieJar",
    "CorsPolicy",
    "DataCloneError",
    "FetchError",
    "FetchPolicy",
    "FetchRefusedError",
    "FetchTimeoutError",
    "IdentityMap",
    "InvalidActorIdError",
    "LumenizeDO",
    "LumenizeError",
    "LumenizeWorker",
    "Mesh",
    "MeshCallError",
    "Namespace",
    "NoCallContextError",
    "NodeIdentity",
    "NotMeshCallableError",
    "OverloadedError",
    "RESULT",
    "RedirectError",
    "RemoteError",
    "Request",
    "Response",
    "Schedule",
    "Service",
    "ServiceError",
    "StorageError",
    "UNDEFINED",
    "UnknownBindingError",
    "UnknownServiceError",
    "WebSocket",
    "WorkerContext",
    "WorkerStub",
    "__version__",
    "clone",
    "create_app",
    "http",
    "mesh",
    "ocan",
    "open_mesh",
    "serve",
    "storage",
]
