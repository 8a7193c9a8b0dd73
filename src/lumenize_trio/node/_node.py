"""What every node (actor, worker) has: ``self.lmz``, ``self.svc``, ``self.ctn()``."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, TypeVar, overload

from ..http import Response
from ..ocan import Continuation, continuation
from ._lmz import Lmz
from ._mesh_decorator import check_mesh_access, mesh
from ._services import Services

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ..http import Request
    from ..ocan import OperationChain
    from ..runtime import Mesh
    from ..runtime._call_context import CallContext, NodeType

T = TypeVar("T")


class Node:
    """The part every node class shares. Subclass :class:`LumenizeDO` or :class:`LumenizeWorker`."""

    _lmz_type: ClassVar[NodeType]
    _lmz_check_access = staticmethod(check_mesh_access)

    @cached_property
    def lmz(self) -> Lmz:
        """This node in the mesh: identity, ``call_context``, ``call``, ``call_raw``."""
        return Lmz(self)

    @cached_property
    def svc(self) -> Services:
        """This node's services (``self.svc.alarms``, ``self.svc.broadcast``, the mesh's own)."""
        return Services(self)

    @overload
    def ctn(self, cls: None = None) -> Continuation: ...
    @overload
    def ctn(self, cls: type[T]) -> T: ...
    def ctn(self, cls: type[object] | None = None) -> object:
        """A new continuation builder: ``self.ctn().method(args)`` records a call to send or
        store. *cls* only informs type checkers (the builder is typed as an instance of it)."""
        return continuation(cls)

    def on_request(self, request: Request) -> Response | Awaitable[Response]:
        """Answer an HTTP request the edge routed to this node (``lumenize_trio.create_app``).

        Override it (``def`` or ``async def``) to serve HTTP; this default answers ``501 Not
        Implemented``. On an actor it runs as a turn: the response leaves only once the turn's
        writes are committed. *request* carries the full URL the client asked for (prefix,
        binding and instance segments included) and no call context (``self.lmz.call_context``
        raises). An exception, or a return value that is not a :class:`~lumenize_trio.Response`,
        is logged and answered with a generic ``500``. See ``docs/edge.md``.
        """
        return Response(501, headers={"content-type": "text/plain; charset=utf-8"}, content="Not Implemented")

    @mesh
    def lmz_broadcast_result(self, token: object, settled: object, failures: object) -> None:
        """The return path of ``self.svc.broadcast``'s tree; not for your code.

        The ``LMZ_BROADCAST`` worker calls it on the broadcasting node with the failures of a
        broadcast that has ``on_result`` (and how many deliveries it accounts for). It runs no
        chain it is given: it looks *token* up among this node's broadcasts in flight and runs
        the ``on_result`` kept there. Any other caller is refused; unknown or expired tokens are
        ignored (logged). ``on_before_call`` sees these calls too: let through calls whose
        ``call_context.caller`` is the ``LMZ_BROADCAST`` worker.

        Raises:
            NotMeshCallableError: the caller is not the ``LMZ_BROADCAST`` worker.
            MeshCallError: a malformed report.
        """
        from ._broadcast import receive_report  # late: it builds on the node classes

        receive_report(self, token, settled, failures)

    # -- what Lmz and Services need from each kind of node -----------------------------------

    def _lmz_mesh(self) -> Mesh | None:
        raise NotImplementedError

    def _lmz_binding(self) -> str | None:
        raise NotImplementedError

    def _lmz_instance(self) -> str | None:
        raise NotImplementedError

    def _lmz_deliver(
        self, handler: OperationChain, payload: bytes, context: CallContext | None, what: str
    ) -> None:
        """Run a reply handler later, locally, inside *context*; never raises."""
        raise NotImplementedError
