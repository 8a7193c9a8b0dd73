"""The data a chain is made of: operations, nesting markers and the ``RESULT`` placeholder.

Everything here is a plain value registered with the clone under a stable, explicit name
(``lumenize.ocan.*``), never under its Python path, so stored chains survive refactors.

Decoding a registered value sets its attributes without calling ``__init__`` or attrs validators,
so nothing here may rely on construction-time checks for safety: the executor validates every
chain it is given (:mod:`._plan`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, final

import attrs

from .. import clone
from .._exceptions import ChainError, NotMeshCallableError

if TYPE_CHECKING:
    from collections.abc import Callable

_T = TypeVar("_T")


def _check_kwargs(instance: object, attribute: object, value: object) -> None:
    if type(value) is not dict:
        raise ChainError(f"Apply.kwargs must be a dict, got {type(value).__name__}")
    for key in value:
        if type(key) is not str:
            raise ChainError(f"Apply.kwargs keys must be str, got {type(key).__name__}")


def _exact(kind: type[_T]) -> Callable[[object, attrs.Attribute[_T], _T], None]:
    """An attrs validator that accepts instances of exactly *kind* (no subclasses)."""

    def check(instance: object, attribute: attrs.Attribute[_T], value: _T) -> None:
        if type(value) is not kind:
            raise ChainError(
                f"{type(instance).__name__}.{attribute.name} must be a {kind.__name__}, "
                f"got {type(value).__name__}"
            )

    return check


@final
@attrs.frozen
class Get:
    """Read the attribute *name* of the current value (``obj.name``).

    Attributes:
        name: the attribute name; an identifier that does not start with ``_``.

    .. versionadded:: 0.1
    """

    name: str = attrs.field(validator=_exact(str))


@final
@attrs.frozen
class Apply:
    """Call the current value with *args* and *kwargs* (``value(*args, **kwargs)``).

    The argument containers are not copied: an ``Apply`` is frozen, but the tuple, dict and the
    values in them are the caller's. An ``Apply`` holding unhashable arguments is unhashable, as
    a tuple holding a list is.

    Attributes:
        args: the positional arguments.
        kwargs: the keyword arguments (``str`` keys).

    .. versionadded:: 0.1
    """

    args: tuple[object, ...] = attrs.field(default=(), validator=_exact(tuple))
    kwargs: dict[str, object] = attrs.field(factory=dict, validator=_check_kwargs)


#: One step of a chain.
Operation: TypeAlias = Get | Apply

_new = object.__new__
_set_name = Get.__dict__["name"].__set__
_set_args = Apply.__dict__["args"].__set__
_set_kwargs = Apply.__dict__["kwargs"].__set__


def make_get(name: str) -> Get:
    """``Get(name)`` for a *name* already known to be exactly a ``str`` (the validator is skipped).

    For the builder and the wire decoder, which have just checked the type; the result is equal to
    ``Get(name)``. It validates nothing else, like ``Get(name)`` itself: names are checked by
    :func:`execute`.
    """
    op = _new(Get)
    _set_name(op, name)
    return op


def make_apply(args: tuple[object, ...], kwargs: dict[str, object]) -> Apply:
    """``Apply(args, kwargs)`` for an exact ``tuple`` and an exact ``dict`` with ``str`` keys,
    already checked by the caller (the validators are skipped; the result is equal)."""
    op = _new(Apply)
    _set_args(op, args)
    _set_kwargs(op, kwargs)
    return op


#: A chain: the operations to apply, in order, starting from a target object. Always a tuple, so
#: that a chain is immutable and crosses the clone as a tuple.
OperationChain: TypeAlias = tuple[Operation, ...]


@final
@attrs.frozen
class NestedChain:
    """An argument that is itself a chain: run it on the same target and pass its result.

    The builder puts one wherever a continuation was passed as an argument (at any depth inside
    lists, tuples and dict values). :func:`execute` runs it just before the ``Apply`` that holds
    it and passes the result in its place.

    Attributes:
        chain: the nested chain.

    .. versionadded:: 0.1
    """

    chain: OperationChain = attrs.field(validator=_exact(tuple))


@final
@attrs.frozen
class Verbatim:
    """An argument passed exactly as it is: the executor never looks inside it.

    :func:`fill_result` wraps the value it substitutes in a ``Verbatim``, so that a result that
    happens to contain ``NestedChain`` markers or ``RESULT`` (for instance one crafted by a
    remote peer) is delivered as data and never executed against the local target. Wrap your
    own arguments in it for the same guarantee.

    Attributes:
        value: the argument.

    .. versionadded:: 0.1
    """

    value: object


@final
class _ResultMarker:
    """The type of :data:`RESULT`, which has exactly one instance.

    Why ``__new__`` returns the singleton: the clone decodes a registered class by calling
    ``cls.__new__(cls)`` and then setting attributes (there are none here), so a ``RESULT`` that
    crossed the wire or was read back from storage comes out as the very same object and
    ``arg is RESULT`` holds everywhere. ``copy``, ``deepcopy`` and ``pickle`` keep it too
    (``__reduce__`` names the module global). No mutable class state is needed for this.
    """

    __slots__ = ()

    def __new__(cls) -> _ResultMarker:
        return _RESULT

    def __repr__(self) -> str:
        return "RESULT"

    def __reduce__(self) -> str:
        return "_RESULT"


_RESULT: Final = object.__new__(_ResultMarker)

#: Where the result (or the exception) of a call goes in a handler chain: ``ctn.handle(RESULT, x)``.
#: :func:`fill_result` replaces it. Typed ``Any`` on purpose: it stands for a value of whatever
#: type the handler's parameter has, so that typed continuations accept it in any position.
RESULT: Final[Any] = _RESULT


def is_result(value: object) -> bool:
    """Whether *value* is the ``RESULT`` placeholder."""
    return type(value) is _ResultMarker


# The wire names are a contract with stored data and with peers: never change them.
clone.register(Get, name="lumenize.ocan.Get")
clone.register(Apply, name="lumenize.ocan.Apply")
clone.register(NestedChain, name="lumenize.ocan.NestedChain")
clone.register(Verbatim, name="lumenize.ocan.Verbatim")
clone.register(_ResultMarker, name="lumenize.ocan.RESULT")
# The errors an executing chain raises travel back to callers as values; register them under the
# same convention the clone uses for the library's other errors.
clone.register(ChainError, name="lumenize_trio.ChainError")
clone.register(NotMeshCallableError, name="lumenize_trio.NotMeshCallableError")
