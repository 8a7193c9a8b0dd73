"""``LumenizeDO``: the base class of stateful actors."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..runtime._events import HandlerEvent, log
from ._alarms_service import Alarms
from ._node import Node

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..ocan import OperationChain
    from ..runtime import ActorContext, AlarmInfo, Mesh
    from ..runtime._call_context import CallContext, NodeType
    from ..runtime._websockets import WebSocket


class LumenizeDO(Node):
    """Base class of a stateful actor (a Durable Object), registered with ``open_mesh``.

    The runtime makes one instance per activation with ``cls(ctx, env)``; if you override
    ``__init__``, accept ``(ctx, env)`` and call ``super().__init__(ctx, env)``. Keep it cheap:
    it runs again after every eviction.

    Optional hooks (sync or ``async def`` unless said otherwise):

    - ``on_start(self)``: runs on every activation before any other event, with no other event
      delivered until it finishes; if it raises, events fail with that error until the next
      activation.
    - ``on_alarm(self, info)``: the actor's alarm fired; ``info.retry_count``, ``info.is_retry``.
      The default runs the due schedules of ``self.svc.alarms``, which owns the native alarm: an
      override on an actor that uses ``svc.alarms`` must call ``await super().on_alarm(info)``.
    - ``on_before_call(self)`` (synchronous): runs before every call that arrives from outside
      the actor, before the method's guard; raise to refuse the call.
    - ``on_request(self, request)``: an HTTP request routed to this actor by the edge
      (``create_app``); returns a :class:`~lumenize_trio.Response`. Runs as a turn; the default
      answers ``501``.
    - ``on_connect(self, ws, request)``, ``on_message(self, ws, message)``, ``on_close(self, ws,
      code, reason, was_clean)``: a WebSocket routed to this actor by the edge, each a turn;
      accept in ``on_connect`` with ``self.ctx.accept_websocket(ws, tags=[...])`` or return a
      Response to refuse (an actor without ``on_connect`` refuses every upgrade with 403). See
      "WebSockets" in ``docs/edge.md``; ``send``, ``send_downstream`` and
      ``broadcast_downstream`` are the helpers.

    Attributes:
        ctx: the :class:`~lumenize_trio.ActorContext` (``id``, ``storage``,
            ``block_concurrency_while``).
        env: the mesh (``env.get(binding, name)`` for stubs to other actors).

    .. versionadded:: 0.1
    """

    _lmz_type: ClassVar[NodeType] = "LumenizeDO"

    ctx: ActorContext
    env: Mesh

    def __init__(self, ctx: ActorContext, env: Mesh) -> None:
        self.ctx = ctx
        self.env = env

    async def on_alarm(self, info: AlarmInfo) -> None:
        """The native alarm fired: run the due schedules of ``self.svc.alarms``.

        ``svc.alarms`` keeps the actor's one native alarm set for its earliest schedule, so an
        actor that uses it must not set or delete the alarm itself, and a subclass that
        overrides this hook must call ``await super().on_alarm(info)`` (or schedules stop
        running). Handlers that raise are logged and removed, so this raises only if storage
        fails, and then the runtime retries the alarm with backoff.

        Cancellation: a checkpoint; see :meth:`Alarms.trigger`.
        """
        service = self.svc.get("alarms")
        if isinstance(service, Alarms):
            await service.run_due()
        else:  # the mesh replaced the built-in service: it owns the alarm, and this hook
            log.warning(
                "%s/%s: the alarm fired, but svc.alarms is %r, not the built-in service; override "
                "on_alarm to handle it",
                self.ctx.id.binding, self.ctx.id.name or self.ctx.id.hex, type(service).__name__,
            )  # fmt: skip

    # -- WebSockets (docs/edge.md, "WebSockets") ---------------------------------------------

    def send(self, ws: WebSocket, data: object) -> None:
        """Send *data* on *ws* (``ws.send(data)``): a cloned value, or str/bytes on a raw socket.
        Inside a turn it leaves once the turn's writes are committed."""
        ws.send(data)

    def send_downstream(self, client_ids: str | Iterable[str], data: object) -> int:
        """Send *data* to every open socket of this actor whose client id (the
        ``lmz.client-id.<id>`` subprotocol) is in *client_ids* (one id, or several). Returns
        how many sockets it was sent to; closing sockets are skipped."""
        wanted = {client_ids} if isinstance(client_ids, str) else set(client_ids)
        return self._send_each((ws for ws in self.ctx.get_websockets() if ws.client_id in wanted), data)

    def broadcast_downstream(self, data: object, exclude: str | Iterable[str] | None = None) -> int:
        """Send *data* to every open socket of this actor, except those of the client ids in
        *exclude* (one id, or several). Returns how many sockets it was sent to."""
        skip = set() if exclude is None else {exclude} if isinstance(exclude, str) else set(exclude)
        return self._send_each((ws for ws in self.ctx.get_websockets() if ws.client_id not in skip), data)

    @staticmethod
    def _send_each(sockets: Iterable[WebSocket], data: object) -> int:
        sent = 0
        for ws in sockets:
            if ws.state == "open":
                ws.send(data)
                sent += 1
        return sent

    def _lmz_mesh(self) -> Mesh:
        return self.env

    def _lmz_binding(self) -> str:
        return self.ctx.id.binding

    def _lmz_instance(self) -> str | None:
        return self.ctx._activation.instance_name

    def _lmz_deliver(
        self, handler: OperationChain, payload: bytes, context: CallContext | None, what: str
    ) -> None:
        event = HandlerEvent(handler, payload, context, what)
        try:
            self.env.activate(self.ctx.id).submit(event)
        except Exception as exc:  # overloaded, or the mesh is closing
            event.fail(exc)
