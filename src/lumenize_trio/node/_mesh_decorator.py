"""``@mesh``: the mark that makes a method callable from other actors and clients.

Secure by default: a chain sent to an actor may start only with a method marked ``@mesh``
(reading any other attribute is refused too), and ``@mesh(guard=fn)`` adds a check that runs
before the method and raises to deny.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar, final, overload

from .._exceptions import NotMeshCallableError
from ..ocan import Get, OperationChain

F = TypeVar("F", bound=Callable[..., object])
Guard = Callable[[object], object]


@final
class MeshMark:
    """What ``@mesh`` attaches to a method (``method.__lmz_mesh__``)."""

    __slots__ = ("guard",)

    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard


@overload
def mesh(fn: F, /) -> F: ...
@overload
def mesh(*, guard: Guard | None = None) -> Callable[[F], F]: ...
def mesh(fn: F | None = None, /, *, guard: Guard | None = None) -> F | Callable[[F], F]:
    """Mark a method as callable through the mesh: ``@mesh`` or ``@mesh(guard=fn)``.

    Args:
        fn: the method (sync or ``async def``).
        guard: called as ``guard(actor)`` before the method on every call; raise to deny (the
            caller receives the exception), return ``None`` to allow. It must be a plain
            ``def``: an ``async def`` guard is refused here, and a guard that returns anything
            else (an awaitable, ``False``) denies the call with ``TypeError`` rather than let
            it through.

    Raises:
        TypeError: *guard* is not callable, or is an ``async def`` function.

    .. versionadded:: 0.1
    """
    if guard is not None and not callable(guard):
        raise TypeError(f"@mesh(guard=...) needs a callable, got {type(guard).__name__}")
    if inspect.iscoroutinefunction(guard) or inspect.isasyncgenfunction(guard):
        raise TypeError(
            "@mesh(guard=...) must be synchronous (a plain def that raises to deny), not async def"
        )

    def mark(method: F) -> F:
        target = method.__func__ if isinstance(method, staticmethod | classmethod) else method
        if not callable(target):
            raise TypeError(f"@mesh marks methods, not {type(method).__name__}")
        setattr(target, "__lmz_mesh__", MeshMark(guard))  # noqa: B010 - a marker attribute on a function
        return method

    return mark(fn) if fn is not None else mark


def _class_attribute(cls: type, name: str) -> object:
    """The class attribute *name* as defined (no descriptors run): a cheap ``getattr_static``."""
    for klass in cls.__mro__:
        namespace = klass.__dict__
        if name in namespace:
            return namespace[name]
    return None


def check_mesh_access(target: object, chain: OperationChain) -> None:
    """Allow *chain* on *target* only if it starts with a ``@mesh`` method (then run its guard).

    Raises:
        NotMeshCallableError: the first operation does not name a ``@mesh`` method.
        TypeError: the guard returned something other than ``None`` (an awaitable, which is
            closed unawaited, or a value such as ``False``): a guard denies by raising, so a
            guard that seems to mean something else is treated as a denial, never as a pass.
        Exception: whatever the guard raises.
    """
    first = chain[0] if chain else None
    if not isinstance(first, Get):
        raise NotMeshCallableError("a call must start by naming a @mesh method")
    attribute = _class_attribute(type(target), first.name)
    if isinstance(attribute, staticmethod | classmethod):
        attribute = attribute.__func__
    mark = getattr(attribute, "__lmz_mesh__", None)
    if not isinstance(mark, MeshMark):
        raise NotMeshCallableError(
            f"{type(target).__name__}.{first.name} is not callable through the mesh (mark it @mesh)",
            name=first.name,
        )
    if mark.guard is not None:
        verdict = mark.guard(target)
        if verdict is not None:
            # Fail closed: an async guard (its coroutine never runs) or `return False` would
            # otherwise let the call through.
            close = getattr(verdict, "close", None) if inspect.isawaitable(verdict) else None
            if close is not None:
                close()
            raise TypeError(
                f"the guard of {type(target).__name__}.{first.name} returned {type(verdict).__name__}, "
                "so the call is refused: a guard must be synchronous, raise to deny and return None to allow"
            )
