"""The continuation builder: a proxy that records attribute reads and calls as a chain.

``continuation().a.b(1, x=2)`` records ``(Get("a"), Get("b"), Apply((1,), {"x": 2}))``. Nothing
runs: the proxy only remembers. A builder is immutable, so one can be extended in several
directions and reused for many calls.

The proxy has no ordinary attributes, so no user method name can collide with one: its only
state is a slot whose name starts with ``_`` (names a chain may never hold), set with
``object.__setattr__``, and it is read through :func:`chain_of`. Every dunder and private name is
refused with :class:`NotMeshCallableError`, an ``AttributeError``, so protocols that probe for
optional methods (``copy``, ``pickle``, ``__await__``, IPython's ``_repr_html_``) see "absent"
instead of recording a call.
"""

from __future__ import annotations

from typing import NoReturn, TypeVar, final, overload

from .._exceptions import ChainError
from . import _graph
from ._format import describe
from ._limits import MAX_ARGUMENT_DEPTH, MAX_ARGUMENTS, MAX_CHAIN_LENGTH, SCALARS
from ._names import check_name
from ._operations import (
    Apply,
    NestedChain,
    Operation,
    OperationChain,
    Verbatim,
    make_apply,
    make_get,
)

T = TypeVar("T")


@final
class Continuation:
    """A recording proxy: reading an attribute records ``Get``, calling records ``Apply``.

    Made by :func:`continuation`; turned into its chain by :func:`chain_of`. Each step returns a
    new builder, so builders are immutable and can be reused.

    Another builder passed as an argument (directly, or inside lists, tuples and dict values at
    any depth) is recorded as a :class:`NestedChain`: the executor runs it first, on the same
    target, and passes its result. The same builder object passed twice becomes one marker, so
    it runs once and both places get the same result (like a variable); two separate builders
    run twice. ``RESULT`` and :class:`Verbatim` values are recorded as they are.

    Raises (while recording):
        NotMeshCallableError: the name starts with ``_`` (an ``AttributeError``).
        ChainError: the chain would exceed ``MAX_CHAIN_LENGTH`` operations, a call would pass
            more than ``MAX_ARGUMENTS`` arguments, or a nested builder recorded nothing.
        TypeError: a builder was put in a set or a dict key.

    .. versionadded:: 0.1
    """

    __slots__ = ("_ops",)
    _ops: OperationChain

    def __init__(self) -> None:
        raise TypeError("Continuation has no public constructor; use lumenize_trio.ocan.continuation()")

    def __getattr__(self, name: str) -> Continuation:
        # Only called for names that normal lookup did not find, i.e. anything but the slot
        # and the dunders defined here.
        return _extend(self, make_get(check_name(name, "continuation")))

    def __call__(self, *args: object, **kwargs: object) -> Continuation:
        return _extend(self, _record_apply(args, kwargs))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"continuation builders are immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"continuation builders are immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"continuation(){describe(self._ops)}"

    def __reduce__(self) -> tuple[object, tuple[OperationChain]]:
        # copy, deepcopy and pickle go through here; the default would set the slot with
        # setattr, which builders refuse.
        return (_make, (self._ops,))


def _make(ops: OperationChain) -> Continuation:
    builder = object.__new__(Continuation)
    object.__setattr__(builder, "_ops", ops)
    return builder


_EMPTY: OperationChain = ()


def _extend(builder: Continuation, op: Operation) -> Continuation:
    ops = builder._ops
    if len(ops) >= MAX_CHAIN_LENGTH:
        raise ChainError(
            f"continuation{describe(ops)}: a chain may hold at most {MAX_CHAIN_LENGTH} "
            f"operations (MAX_CHAIN_LENGTH); this would be {len(ops) + 1}"
        )
    return _make((*ops, op))


def _classify(value: object) -> _graph.Kind:
    if type(value) is Continuation:
        return _graph.Kind.LEAF
    if type(value) is Verbatim:
        return _graph.Kind.OPAQUE  # "exactly as it is": not even builders inside are converted
    return _graph.Kind.PLAIN


def _misplaced(leaf: object) -> NoReturn:
    raise TypeError(
        f"{leaf!r} is in a set or a dict key: a continuation can be nested only as an "
        "argument or inside list, tuple and dict values"
    )


def _too_deep() -> NoReturn:
    raise ChainError(f"continuation arguments nest deeper than {MAX_ARGUMENT_DEPTH} levels")


def _record_apply(args: tuple[object, ...], kwargs: dict[str, object]) -> Apply:
    count = len(args) + len(kwargs)
    if count > MAX_ARGUMENTS:
        raise ChainError(f"a call may pass at most {MAX_ARGUMENTS} arguments (MAX_ARGUMENTS); got {count}")
    # (From __call__, args is a tuple and kwargs a dict with str keys: no validator to run.)
    if SCALARS.issuperset(map(type, args)) and SCALARS.issuperset(map(type, kwargs.values())):
        return make_apply(args, kwargs)  # the common case: scalar arguments cannot hold a builder
    found = _graph.scan(
        (args, kwargs),
        _classify,
        max_depth=MAX_ARGUMENT_DEPTH,
        misplaced=_misplaced,
        too_deep=_too_deep,
    )
    if not found.leaves:
        # Nothing to convert: keep the caller's argument objects (identity matters for values
        # used as keys or compared with `is` by the callee).
        return make_apply(args, kwargs)
    markers: dict[int, NestedChain] = {}

    def to_marker(leaf: object) -> object:
        marker = markers.get(id(leaf))
        if marker is None:
            ops = chain_of(leaf)
            if not ops:
                raise ChainError("a continuation passed as an argument must record at least one operation")
            marker = markers[id(leaf)] = NestedChain(ops)
        return marker

    memo: dict[int, object] = {}
    new_args = _graph.rebuild(args, found, to_marker, memo)
    new_kwargs = _graph.rebuild(kwargs, found, to_marker, memo)
    assert type(new_args) is tuple
    assert type(new_kwargs) is dict
    return Apply(new_args, new_kwargs)


@overload
def continuation(cls: None = None) -> Continuation: ...
@overload
def continuation(cls: type[T]) -> T: ...
def continuation(cls: type[object] | None = None) -> object:
    """A new, empty continuation builder.

    Args:
        cls: the class of the object the chain will run on. It only informs type checkers: with
            it, the builder is typed as an instance of *cls*, so method names and arguments are
            checked and completed by your editor (``RESULT`` is typed ``Any`` so it fits any
            parameter). At run time the builder records whatever it is given.

    Returns:
        A :class:`Continuation` (typed as *cls* when given).

    Raises:
        TypeError: *cls* is not a class.

    .. versionadded:: 0.1
    """
    if cls is not None and not isinstance(cls, type):
        raise TypeError(f"continuation() takes a class or nothing, got {cls!r}")
    return _make(_EMPTY)


def chain_of(builder: object) -> OperationChain:
    """The chain a builder recorded.

    Nested builders were already turned into :class:`NestedChain` markers when they were
    recorded, so the chain is ready to clone, store or execute. Cheap: the chain is kept, not
    rebuilt.

    Args:
        builder: a builder from :func:`continuation`, possibly extended.

    Returns:
        The recorded chain; empty for a builder that recorded nothing (which :func:`execute`
        and :func:`validate_chain` refuse).

    Raises:
        TypeError: *builder* is not a continuation builder.

    .. versionadded:: 0.1
    """
    if type(builder) is not Continuation:
        raise TypeError(
            f"expected a continuation builder (from continuation()), got {type(builder).__name__}"
        )
    return builder._ops
