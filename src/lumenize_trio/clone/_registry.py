"""The registry of classes that may cross the wire by name.

Decoding never imports anything: a class arrives as a *name*, and only names registered here
resolve to a class. Builtin exception classes are registered under their bare names (``ValueError``),
which is also what a JavaScript peer sends for ``TypeError`` or ``RangeError``.

Classes are process-wide, so the registry is too; registering is idempotent for the same
``(class, name)`` pair and an error for a clash.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, TypeVar, overload

from .. import _exceptions
from .._exceptions import DataCloneError, LumenizeError

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T", bound=type)

_BY_NAME: dict[str, type] = {}
_BY_CLASS: dict[type, str] = {}
#: For registered non-exception classes: the slot names their instances may carry.
_SLOTS: dict[type, tuple[str, ...]] = {}


@overload
def register(cls: T, *, name: str | None = None) -> T: ...
@overload
def register(cls: None = None, *, name: str | None = None) -> Callable[[T], T]: ...


def register(cls: T | None = None, *, name: str | None = None) -> T | Callable[[T], T]:
    """Let instances of *cls* cross the wire, under *name*.

    Use it for exception classes and for your own value types (dataclasses, attrs classes, any
    class whose state is its attributes). Returns *cls*, so it works as a decorator::

        @clone.register
        @dataclass
        class Point:
            x: int
            y: int

    Instances are sent as their class name plus their attributes (``__dict__`` and
    ``__slots__``). Decoding makes the instance with ``cls.__new__`` and sets the attributes
    directly: ``__init__``, ``__post_init__`` and validators do *not* run, so decoded values are
    exactly the values that were sent.

    ``@clone.register(name="shop.Order.v1")`` (with no class) returns the decorator.

    Args:
        cls: the class. Builtin exceptions are registered already.
        name: the stable name on the wire. Defaults to ``f"{cls.__module__}.{cls.__qualname__}"``;
            give an explicit name for values that are stored, so that moving the class does not
            orphan them.

    Raises:
        DataCloneError: *cls* is not a class, or *name* is taken by another class, or *cls* is
            registered already under another name.
    """
    if cls is None:
        return lambda klass: register(klass, name=name)
    if not isinstance(cls, type):
        raise DataCloneError(f"register() needs a class, got {type(cls).__name__}")
    wire_name = name if name is not None else f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(wire_name, str) or not wire_name:
        raise DataCloneError(f"register() needs a non-empty str name, got {wire_name!r}")
    holder = _BY_NAME.get(wire_name)
    if holder is not None and holder is not cls:
        raise DataCloneError(
            f"cannot register {cls.__qualname__} as {wire_name!r}: that name belongs to {holder.__module__}.{holder.__qualname__}"
        )
    known = _BY_CLASS.get(cls)
    if known is not None and known != wire_name:
        raise DataCloneError(f"{cls.__qualname__} is registered already, as {known!r}")
    _BY_NAME[wire_name] = cls
    _BY_CLASS[cls] = wire_name
    if not issubclass(cls, BaseException):
        _SLOTS[cls] = _slot_names(cls)
    return cls


def name_of(cls: type) -> str | None:
    """The wire name of a registered class, or ``None``."""
    return _BY_CLASS.get(cls)


def class_named(name: str) -> type | None:
    """The class registered under *name*, or ``None``."""
    return _BY_NAME.get(name)


def slots_of(cls: type) -> tuple[str, ...]:
    """The slot names (other than ``__dict__``/``__weakref__``) of a registered class."""
    return _SLOTS[cls]


def is_builtin_exception(cls: type) -> bool:
    """Whether *cls* is one of Python's own exception classes (safe to construct from args)."""
    return cls.__module__ == "builtins"


def _slot_names(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        names.extend(s for s in slots if s not in ("__dict__", "__weakref__") and s not in names)
    return tuple(names)


def _register_builtins() -> None:
    for value in vars(builtins).values():
        if isinstance(value, type) and issubclass(value, BaseException):
            register(value, name=value.__name__)
    # Our own errors travel too (a remote OverloadedError should stay one).
    for value in vars(_exceptions).values():
        if isinstance(value, type) and issubclass(value, LumenizeError):
            register(value, name=f"lumenize_trio.{value.__name__}")


_register_builtins()
