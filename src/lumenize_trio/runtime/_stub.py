"""Stubs: ``mesh.get(binding, name)`` returns one; ``await stub.method(*args)`` calls the actor.

A stub records what is asked of it as an operation chain (``stub.a().b(x)`` is one chain, run on
the callee in one delivery), and sends it when awaited. The send happens synchronously at the
start of the await, so calls through one stub arrive in the order they were awaited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from ..ocan import Continuation, chain_of, continuation

if TYPE_CHECKING:
    from collections.abc import Generator

    from ._ids import ActorId
    from ._mesh import Mesh, Target


@final
class ActorStub:
    """A handle for calling one actor. Cheap to make; making one does not wake the actor.

    ``await stub.method(*args, **kwargs)`` runs ``method`` on the actor and returns its result
    (cloned), or raises its error (cloned, class kept when registered). Only ``@mesh`` methods
    are reachable; names starting with ``_`` never are. ``stub.id`` is the actor's
    :class:`ActorId`.

    .. versionadded:: 0.1
    """

    __slots__ = ("_mesh", "id")

    def __init__(self, mesh: Mesh, actor_id: ActorId) -> None:
        self._mesh = mesh
        self.id = actor_id

    def __getattr__(self, name: str) -> PendingCall:
        builder = _METHODS.get(name)
        if builder is None:
            builder = getattr(_EMPTY, name)  # refuses private names
            if len(_METHODS) < _MAX_METHODS:
                _METHODS[name] = builder
        return PendingCall(self._mesh, self.id, builder)

    def __repr__(self) -> str:
        return f"<ActorStub {self.id!r}>"


# Builders are immutable, so ``continuation().name`` is made once per method name and shared.
_EMPTY = continuation()
_METHODS: dict[str, Continuation] = {}
_MAX_METHODS = 1024


@final
class WorkerStub:
    """A handle for calling a worker binding: ``await stub.method(*args)``, as for actors.

    Each call runs on a fresh instance of the worker. ``stub.binding`` is the binding name.

    .. versionadded:: 0.1
    """

    __slots__ = ("_mesh", "binding")

    def __init__(self, mesh: Mesh, binding: str) -> None:
        self._mesh = mesh
        self.binding = binding

    def __getattr__(self, name: str) -> PendingCall:
        return PendingCall(self._mesh, self.binding, getattr(continuation(), name))

    def __repr__(self) -> str:
        return f"<WorkerStub {self.binding}>"


@final
class PendingCall:
    """A chain of operations on a node, sent when awaited (extend it with ``.name`` or ``(...)``).

    .. versionadded:: 0.1
    """

    __slots__ = ("_builder", "_mesh", "_target")

    def __init__(self, mesh: Mesh, target: Target, builder: Continuation) -> None:
        self._mesh = mesh
        self._target = target
        self._builder = builder

    def __getattr__(self, name: str) -> PendingCall:
        return PendingCall(self._mesh, self._target, getattr(self._builder, name))

    def __call__(self, *args: object, **kwargs: object) -> PendingCall:
        return PendingCall(self._mesh, self._target, self._builder(*args, **kwargs))

    def __await__(self) -> Generator[object, None, object]:
        return self._mesh.call(self._target, chain_of(self._builder)).__await__()
