"""The RPC wire protocol, sans-IO: frames as bytes in, events out, and bytes to send.

:class:`RpcClientConnection` batches calls (operation chains, with pipelined :class:`CallRef`
arguments) into BATCH frames and turns RESULTS, DOWNSTREAM, PING/PONG and CLOSE frames into
events; :class:`RpcServerConnection` checks batches and writes results, pushes and closes;
:func:`plan_batch` runs a received batch's calls in order with their references resolved. No
Trio, no sockets, no clock: every ``now`` is the caller's. The frames are specified in
``docs/protocol.md`` (section "RPC frames").
"""

from __future__ import annotations

from ._client import RpcClientConnection as RpcClientConnection
from ._events import (
    BatchReceived as BatchReceived,
    Call as Call,
    CallError as CallError,
    CallResult as CallResult,
    ClientEvent as ClientEvent,
    Close as Close,
    Downstream as Downstream,
    EncodedOutcome as EncodedOutcome,
    Outcome as Outcome,
    Ping as Ping,
    Pong as Pong,
    ProtocolError as ProtocolError,
    ServerEvent as ServerEvent,
)
from ._limits import (
    DEFAULT_BATCH_TIMEOUT as DEFAULT_BATCH_TIMEOUT,
    MAX_CALLS_PER_BATCH as MAX_CALLS_PER_BATCH,
    MAX_FRAME_SIZE as MAX_FRAME_SIZE,
    PROTOCOL_VERSION as PROTOCOL_VERSION,
    CloseCode as CloseCode,
)
from ._plan import (
    BatchPlan as BatchPlan,
    ReadyCall as ReadyCall,
    plan_batch as plan_batch,
    run_batch as run_batch,
)
from ._refs import CallRef as CallRef
from ._server import RpcServerConnection as RpcServerConnection

__all__ = [
    "BatchPlan",
    "BatchReceived",
    "Call",
    "CallError",
    "CallRef",
    "CallResult",
    "ClientEvent",
    "Close",
    "CloseCode",
    "DEFAULT_BATCH_TIMEOUT",
    "Downstream",
    "EncodedOutcome",
    "MAX_CALLS_PER_BATCH",
    "MAX_FRAME_SIZE",
    "Outcome",
    "PROTOCOL_VERSION",
    "Ping",
    "Pong",
    "ProtocolError",
    "ReadyCall",
    "RpcClientConnection",
    "RpcServerConnection",
    "ServerEvent",
    "plan_batch",
    "run_batch",
]

# Tracebacks, reprs and docs show the public path, not the private module.
for _obj in (
    BatchPlan,
    BatchReceived,
    Call,
    CallError,
    CallRef,
    CallResult,
    Close,
    CloseCode,
    Downstream,
    Ping,
    Pong,
    ProtocolError,
    ReadyCall,
    RpcClientConnection,
    RpcServerConnection,
    plan_batch,
    run_batch,
):
    _obj.__module__ = __name__
del _obj
