"""``expose_internals=True``: running a chain on an actor *without* the ``@mesh`` check.

A separate code path on purpose: the normal RPC path is ``mesh.call`` (the ``@mesh`` check,
guards and ``on_before_call``, as for any mesh caller); this one submits its own event that
runs :func:`lumenize_trio.ocan.execute` with no ``check_access``, so a client reaches whatever
the actor object has (``ctx.storage``...). Names starting with ``_`` and interpreter internals
stay refused (the chain checks of the ocan layer). It is still a turn of the actor: its writes
commit before the answer leaves (the output gate), as for a call. For tests and local tools only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from ..ocan import execute
from ..runtime._activation import Event
from ..runtime._call_context import current_call_context
from ..runtime._events import _Held
from ..runtime._outcome import Reply, encode_error, encode_outcome

if TYPE_CHECKING:
    from ..ocan import OperationChain
    from ..runtime import ActorId, Mesh
    from ..runtime._activation import Activation
    from ..runtime._turns import Turn


@final
class _UncheckedCall(Event):
    """Run a chain on the actor instance with no access check, as a turn."""

    __slots__ = ("chain", "reply")

    def __init__(self, chain: OperationChain, reply: Reply) -> None:
        self.chain = chain
        self.reply = reply

    async def run(self, activation: Activation, turn: Turn) -> None:
        token = current_call_context.set(None)  # an RPC client is not a mesh caller
        try:
            result = await activation.run_segment(turn, execute, activation.instance, self.chain)
        except Exception as exc:
            ok, payload = False, encode_error(exc)
        else:
            ok, payload = encode_outcome(result)
        finally:
            current_call_context.reset(token)
        activation.output(_Held(self.reply, ok, payload))

    def fail(self, error: BaseException) -> None:  # pragma: no cover - overload, reset, shutdown
        self.reply.fail(error)


async def call_unchecked(mesh: Mesh, actor_id: ActorId, chain: OperationChain) -> object:
    """Run *chain* on the actor *actor_id* as a turn, without the ``@mesh`` check.

    Raises:
        Exception: the chain's error (cloned), or a delivery error (overload, a reset, a closed mesh).
    """
    reply = Reply()
    mesh._pending.add(reply)  # failed by the mesh if it stops first
    try:
        mesh.activate(actor_id).submit(_UncheckedCall(chain, reply))
        return await reply.wait()
    finally:
        mesh._pending.discard(reply)
