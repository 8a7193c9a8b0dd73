"""``LumenizeDO``: the base class of stateful actors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._mesh_decorator import check_mesh_access

if TYPE_CHECKING:
    from ..runtime import ActorContext, Mesh


class LumenizeDO:
    """Base class of a stateful actor (a Durable Object), registered with ``open_mesh``.

    The runtime makes one instance per activation with ``cls(ctx, env)``; if you override
    ``__init__``, accept ``(ctx, env)`` and call ``super().__init__(ctx, env)``. Keep it cheap:
    it runs again after every eviction.

    Optional hooks (sync or ``async def``):

    - ``on_start(self)``: runs on every activation before any other event, with no other event
      delivered until it finishes; if it raises, events fail with that error until the next
      activation.
    - ``on_alarm(self, info)``: the actor's alarm fired; ``info.retry_count``, ``info.is_retry``.

    Attributes:
        ctx: the :class:`~lumenize_trio.ActorContext` (``id``, ``storage``,
            ``block_concurrency_while``).
        env: the mesh (``env.get(binding, name)`` for stubs to other actors).

    .. versionadded:: 0.1
    """

    ctx: ActorContext
    env: Mesh

    def __init__(self, ctx: ActorContext, env: Mesh) -> None:
        self.ctx = ctx
        self.env = env

    _lmz_check_access = staticmethod(check_mesh_access)
