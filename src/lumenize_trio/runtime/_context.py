"""What an actor sees of the runtime: ``self.ctx`` (id, storage, block_concurrency_while)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, final

from .._exceptions import BlockConcurrencyError
from ._turns import MAX_BLOCK_DEPTH, current_turn

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Awaitable, Callable, Iterable

    from ..storage import KvStorage, SqlStorage
    from ._activation import Activation
    from ._ids import ActorId
    from ._websockets import WebSocket

T = TypeVar("T")


@final
class Storage:
    """An actor's storage, as the actor sees it: ``self.ctx.storage``.

    Everything is synchronous, as on SQLite-backed Durable Objects: a read-modify-write between
    two awaits cannot be interleaved with another turn, and the turn's writes commit together
    (replies wait for them). See ``docs/storage.md`` for the KV and SQL APIs.

    .. versionadded:: 0.1
    """

    __slots__ = ("_activation", "_kv")

    def __init__(self, activation: Activation) -> None:
        self._activation = activation
        self._kv = activation.storage.kv  # an activation keeps its storage for life

    @property
    def kv(self) -> KvStorage:
        """Key-value storage: ``get``, ``put``, ``delete``, ``list`` (values are cloned)."""
        return self._kv

    @property
    def sql(self) -> SqlStorage:
        """SQL storage: ``exec(query, *params)`` returns a cursor."""
        return self._activation.storage.sql

    def transaction_sync(self, fn: Callable[[], T]) -> T:
        """Run *fn*; if it raises, its writes roll back and the error propagates."""
        return self._activation.storage.transaction_sync(fn)

    def delete_all(self) -> None:
        """Delete all KV data, user tables and the alarm."""
        self._activation.storage.delete_all()

    def get_alarm(self) -> float | None:
        """The alarm time (epoch seconds), or ``None``. ``None`` inside ``on_alarm``."""
        return self._activation.storage.get_alarm()

    def set_alarm(self, when: float | dt.datetime) -> None:
        """Set the actor's one alarm (epoch seconds, or an aware datetime), replacing any other.

        It fires at or after *when* (mesh time), even if the actor was evicted or the process
        restarted; a time in the past fires at once.
        """
        self._activation.storage.set_alarm(when)

    def delete_alarm(self) -> None:
        """Cancel the alarm (a running ``on_alarm`` is not interrupted)."""
        self._activation.storage.delete_alarm()


@final
class ActorContext:
    """``self.ctx`` of an actor: its id, its storage, and ``block_concurrency_while``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_activation", "storage")

    def __init__(self, activation: Activation) -> None:
        self._activation = activation
        self.storage = Storage(activation)

    @property
    def id(self) -> ActorId:
        """This actor's id (``.binding``, ``.hex``, ``.name`` when known)."""
        return self._activation.id

    async def block_concurrency_while(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``await fn()`` with no other event delivered to this actor, even across mesh awaits.

        Returns what *fn* returns. Nesting deeper than 64 is refused. If *fn* raises, the
        exception propagates and the actor is reset once the current turn ends (in-memory state
        is discarded; the next event re-creates the instance from storage). A cycle of calls
        between actors blocking like this can deadlock; use it for setup, not around calls.

        Raises:
            BlockConcurrencyError: called outside one of this actor's turns, or nested too deeply.
        """
        turn = current_turn.get()
        if turn is None or turn.activation is not self._activation:
            raise BlockConcurrencyError(
                "block_concurrency_while() can only be used inside one of this actor's turns"
            )
        if turn.block_depth >= MAX_BLOCK_DEPTH:
            raise BlockConcurrencyError(
                f"block_concurrency_while() calls are nested too deeply (more than {MAX_BLOCK_DEPTH})"
            )
        turn.block_depth += 1
        try:
            return await fn()
        except BaseException:
            turn.reset_after = True
            raise
        finally:
            turn.block_depth -= 1

    # -- hibernatable WebSockets (runtime._websockets; docs/edge.md) ---------------------------

    def accept_websocket(
        self, ws: WebSocket, *, tags: Iterable[str] = (), raw: bool = False, subprotocol: str | None = None
    ) -> None:
        """Accept *ws* (in ``on_connect``): the upgrade is answered once the turn's writes commit.

        *tags* (at most 10 with the client id, which comes first; each at most 256 characters)
        select sockets in :meth:`get_websockets`. A *raw* socket sends and receives str and bytes
        frames as they are; otherwise messages are cloned values (binary frames). *subprotocol*
        must be one the client offered; by default the first offered one that is not a client
        id, else the client id entry.

        Raises:
            RuntimeError: outside one of this actor's turns.
            ValueError, TypeError: bad tags or subprotocol, or *ws* already accepted or not this
                actor's.
            OverloadedError: the actor already holds 32,768 sockets.
        """
        from ._websockets import accept

        accept(self._activation, ws, tags, raw, subprotocol)

    def get_websockets(self, tag: str | None = None) -> list[WebSocket]:
        """This actor's accepted sockets that are not closed (in accept order), or those with
        *tag*. They survive the actor's eviction."""
        return self._activation.mesh.websockets.sockets(self._activation.id, tag)

    def set_websocket_auto_response(self, request: str | None = None, response: str | None = None) -> None:
        """Have the edge answer a text message equal to *request* with *response* on every socket
        of this actor, without a turn (the actor is not woken). ``None`` for both removes it.

        Raises:
            TypeError, ValueError: not two non-empty str of at most 2,048 characters.
        """
        from ._websockets import set_auto_response

        set_auto_response(self._activation, request, response)

    def get_websocket_auto_response(self) -> tuple[str, str] | None:
        """The ``(request, response)`` pair set by :meth:`set_websocket_auto_response`, or None."""
        return self._activation.mesh.websockets.auto_response(self._activation.id)


@final
class WorkerContext:
    """``self.ctx`` of a worker: the binding it was reached through (workers have no storage).

    .. versionadded:: 0.1
    """

    __slots__ = ("binding",)

    def __init__(self, binding: str | None) -> None:
        self.binding = binding
        """The worker's binding name; ``None`` for a worker made outside a mesh."""
