"""``LumenizeWorker``: the base class of stateless nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..runtime._events import run_worker_handler
from ._node import Node

if TYPE_CHECKING:
    from ..ocan import OperationChain
    from ..runtime import Mesh, WorkerContext
    from ..runtime._call_context import CallContext, NodeType


class LumenizeWorker(Node):
    """Base class of a stateless node, registered with ``open_mesh`` and addressed by binding only.

    Every call runs on a fresh instance, ``cls(ctx, env)``, in its own task: there is no input
    gate, no storage, no instance name and no alarm, so handlers may await freely (many calls
    run at once). ``on_before_call(self)`` (synchronous) runs before every incoming call;
    ``on_request(self, request)`` answers HTTP requests routed to the worker by the edge (the
    default answers ``501``).

    Attributes:
        ctx: a :class:`~lumenize_trio.WorkerContext` (``binding``).
        env: the mesh.

    .. versionadded:: 0.1
    """

    _lmz_type: ClassVar[NodeType] = "LumenizeWorker"

    ctx: WorkerContext
    env: Mesh

    def __init__(self, ctx: WorkerContext, env: Mesh) -> None:
        self.ctx = ctx
        self.env = env

    def _lmz_mesh(self) -> Mesh | None:
        return self.env

    def _lmz_binding(self) -> str | None:
        return self.ctx.binding

    def _lmz_instance(self) -> None:
        return None

    def _lmz_deliver(
        self, handler: OperationChain, payload: bytes, context: CallContext | None, what: str
    ) -> None:
        # The mesh's nursery is open while any call is in flight, so this cannot fail.
        self.env.spawn(run_worker_handler, self, handler, payload, context, what)
