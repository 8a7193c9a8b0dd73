"""What a value is made of: the one definition of "children" that every encoder pass shares.

The scan, the depth check, the path finder and the emitter must agree exactly on which objects a
value contains, or a shared object could be written twice; so they all read it from here.
"""

from __future__ import annotations

import datetime as dt
import re
import traceback
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Final

import cbor2
import httpx

from .._exceptions import LumenizeError, RemoteError
from . import _registry
from ._values import IdentityMap

if TYPE_CHECKING:
    from collections.abc import Iterator

_NoneType: Final = type(None)
_UndefinedType: Final = type(cbor2.undefined)
Pattern: Final = type(re.compile(""))

#: Values cbor2 writes natively with no tag and no identity worth keeping.
ATOMS: Final = frozenset({_NoneType, bool, int, float, str, bytes, _UndefinedType, cbor2.CBORSimpleValue})
#: Immutable values that need a hook but have no children and no identity worth keeping.
VALUES: Final = frozenset(
    {complex, dt.datetime, dt.date, dt.timedelta, Decimal, Fraction, uuid.UUID, Pattern, httpx.URL}
)
#: Identity-bearing values with no children.
LEAVES: Final = frozenset({bytearray, httpx.Headers})
#: Attributes never carried as exception attributes (they travel in their own fields).
_EXCEPTION_OWN: Final = frozenset({"__notes__", "remote_traceback"})
#: Attributes that builtin exceptions keep in C fields (not ``__dict__``, not ``args``).
_BUILTIN_FIELDS: Final = (
    (ImportError, ("name", "path")),
    (AttributeError, ("name",)),
    (NameError, ("name",)),
    (OSError, ("filename", "filename2")),
)
#: Exception bases that RemoteError already implies; not worth reporting as a "base".
_IMPLIED_BASES: Final = frozenset({RemoteError, LumenizeError, Exception, BaseException, object})


class ExceptionParts:
    """An exception as the wire sees it: name, args, attributes, cause, notes, traceback."""

    __slots__ = ("args", "attrs", "base", "cause", "exc", "name", "notes")

    def __init__(self, exc: BaseException) -> None:
        cls = type(exc)
        name = _registry.name_of(cls)
        self.base: str | None = None
        if name is None:
            remote_name = cls.__dict__.get("remote_class_name") if issubclass(cls, RemoteError) else None
            name = remote_name if isinstance(remote_name, str) else f"{cls.__module__}.{cls.__qualname__}"
            for klass in cls.__mro__[1:]:
                base = _registry.name_of(klass)
                if base is not None and klass not in _IMPLIED_BASES:
                    self.base = base
                    break
        self.name: str = name
        self.args: tuple[object, ...] = exc.args
        attrs = vars(exc)
        self.attrs: dict[str, object] = {k: v for k, v in attrs.items() if k not in _EXCEPTION_OWN}
        for kind, fields in _BUILTIN_FIELDS:
            if isinstance(exc, kind):
                for field in fields:
                    value = getattr(exc, field, None)
                    if value is not None:
                        self.attrs[field] = value
        notes = attrs.get("__notes__")
        self.notes: list[object] = list(notes) if isinstance(notes, list) else []
        self.cause: BaseException | None = exc.__cause__
        self.exc = exc

    def payload(self) -> dict[str, object]:
        """The wire map. Its field order is the order the decoder rebuilds them in."""
        out: dict[str, object] = {"name": self.name}
        if self.base is not None:
            out["base"] = self.base
        out["args"] = list(self.args)
        if self.attrs:
            out["attrs"] = self.attrs
        if self.cause is not None:
            out["cause"] = self.cause
        if self.notes:
            out["notes"] = self.notes
        tb = self.exc.__traceback__
        text = (
            "".join(traceback.format_tb(tb))
            if tb is not None
            else getattr(self.exc, "remote_traceback", None)
        )
        if isinstance(text, str):
            out["traceback"] = text
        return out


def object_state(obj: object) -> dict[str, object]:
    """The attributes of a registered object: its ``__dict__`` plus any slots that are set."""
    state = dict(getattr(obj, "__dict__", {}))
    for slot in _registry.slots_of(type(obj)):
        try:
            state[slot] = getattr(obj, slot)
        except AttributeError:
            continue  # an unset slot stays unset
    return state


def short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def key_segment(key: object) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{short_repr(key)}]"


def children(obj: object) -> Iterator[tuple[str, object, bool]]:
    """Yield ``(path segment, child, parent is immutable)`` for every child of a container.

    "Immutable" parents (tuple, frozenset, exception args) must have their children before they
    can exist, which matters for cycles (see ``_scan``). Atoms, values and leaves have no children.
    """
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            yield f"[{i}]", item, False
    elif isinstance(obj, tuple):
        for i, item in enumerate(obj):
            yield f"[{i}]", item, True
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield f".<key {short_repr(key)}>", key, False
            yield key_segment(key), value, False
    elif isinstance(obj, set | frozenset):
        immutable = isinstance(obj, frozenset)
        for member in obj:
            yield f"{{{short_repr(member)}}}", member, immutable
    elif isinstance(obj, IdentityMap):
        for i, (key, value) in enumerate(obj.items()):
            yield f".<key {i}>", key, False
            yield f"[<key {i}>]", value, False
    elif isinstance(obj, BaseException):
        parts = ExceptionParts(obj)
        for i, arg in enumerate(parts.args):
            yield f".args[{i}]", arg, True
        for name, value in parts.attrs.items():
            yield f".{name}", value, False
        if parts.cause is not None:
            yield ".__cause__", parts.cause, False
        for i, note in enumerate(parts.notes):
            yield f".__notes__[{i}]", note, False
    elif _registry.name_of(type(obj)) is not None:
        for name, value in object_state(obj).items():
            yield f".{name}", value, False


def is_container(obj: object) -> bool:
    """Whether *obj* is an identity-bearing value the clone can carry (container or leaf)."""
    cls = type(obj)
    return (
        cls in _CONTAINERS
        or cls in LEAVES
        or isinstance(obj, BaseException)
        or _registry.name_of(cls) is not None
    )


_CONTAINERS: Final = frozenset({list, tuple, dict, set, frozenset, IdentityMap})
