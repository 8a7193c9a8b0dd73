"""Which attribute names a chain may reach.

Rule 1 (static, checked before anything runs): a name must be an identifier and must not start
with ``_``. Private names, dunders (``__class__``, ``__globals__``, ...) and name-mangled
attributes are never reachable, whatever the access check says. The builder refuses them at
recording time and :func:`execute` refuses them again, because chains also arrive from the wire.

Rule 2 (dynamic, checked at each ``Get`` during the walk): a few interpreter objects expose, under
names without an underscore, a way around rule 1. A chain may not read any attribute of a frame,
code or traceback object, the ``gi_``/``cr_``/``ag_`` attributes of generators, coroutines and
async generators (``gi_frame.f_globals`` reaches module globals), nor ``format``/``format_map``
of a ``str`` or of the ``str`` type itself (``str.format(template, x)``), nor the formatting
methods of ``string.Formatter`` (a format string can walk ``{0.__class__...}``). Rule 2 matters because only the
first operations of a chain are access-checked; later ones run on whatever the earlier ones
returned.
"""

from __future__ import annotations

import string
import types

from .._exceptions import ChainError, NotMeshCallableError

_OPAQUE_TYPES = (types.FrameType, types.CodeType, types.TracebackType)
_SUSPENDABLE_TYPES = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
_SUSPENDABLE_PREFIXES = ("gi_", "cr_", "ag_")
_STR_FORMATTERS = frozenset({"format", "format_map"})
_FORMATTER_METHODS = frozenset({"format", "vformat", "get_field", "get_value", "format_field"})


def check_name(name: object, where: object) -> str:
    """Return *name* if a chain may hold it (rule 1); raise otherwise.

    Raises:
        ChainError: *name* is not a ``str`` identifier.
        NotMeshCallableError: *name* starts with ``_``.
    """
    if type(name) is not str:
        raise ChainError(f"{where}: an attribute name must be a str, got {type(name).__name__}")
    if name.startswith("_"):
        raise NotMeshCallableError(
            f"{where}: {name!r} cannot be reached through a chain: names starting with '_' are private",
            name=name,
        )
    if not name.isidentifier():
        raise ChainError(f"{where}: {name!r} is not an identifier")
    return name


def receiver_refused(receiver: object, name: str) -> bool:
    """Whether reading *name* from *receiver* would bypass rule 1 (rule 2)."""
    return (
        isinstance(receiver, _OPAQUE_TYPES)
        or (isinstance(receiver, _SUSPENDABLE_TYPES) and name.startswith(_SUSPENDABLE_PREFIXES))
        or (name in _STR_FORMATTERS and _is_str(receiver))
        or (name in _FORMATTER_METHODS and _is_formatter(receiver))
    )


def refused_receiver_error(receiver: object, name: str, where: object) -> NotMeshCallableError:
    """The error for a read :func:`receiver_refused` refuses."""
    return NotMeshCallableError(
        f"{where}: {name!r} of a {type(receiver).__name__} cannot be reached through a chain "
        "(it would expose interpreter internals)",
        name=name,
    )


def check_receiver(receiver: object, name: str, where: object) -> None:
    """Raise if reading *name* from *receiver* would bypass rule 1 (rule 2).

    Raises:
        NotMeshCallableError: naming the attribute and the receiver's type.
    """
    if receiver_refused(receiver, name):
        raise refused_receiver_error(receiver, name, where)


def _is_str(receiver: object) -> bool:
    return isinstance(receiver, str) or (isinstance(receiver, type) and issubclass(receiver, str))


def _is_formatter(receiver: object) -> bool:
    return isinstance(receiver, string.Formatter) or (
        isinstance(receiver, type) and issubclass(receiver, string.Formatter)
    )
