"""Validating a chain, with every chain nested in it, before anything runs.

The result is a :class:`Plan`: the chain tree with the marker positions of each ``Apply``
already found, so that the executor walks the arguments once. Validation never calls into the
target and never looks at values beyond the argument containers (lists, tuples, dicts, sets).

Every object is processed once by identity (chains, ``Apply`` operations, containers), so the
work is linear in the size of the chain graph even when aliases make the tree exponential.
"""

from __future__ import annotations

from typing import NoReturn, final

from .._exceptions import ChainError
from . import _graph
from ._builder import Continuation
from ._format import describe, describe_operation
from ._limits import (
    MAX_ARGUMENT_DEPTH,
    MAX_ARGUMENTS,
    MAX_CHAIN_LENGTH,
    NESTED_CHAIN_DEPTH,
    SCALARS,
)
from ._names import check_name
from ._operations import Apply, Get, NestedChain, OperationChain, Verbatim, is_result


@final
class Location:
    """Where an operation sits, for error messages; formatted only when an error is raised."""

    __slots__ = ("_index", "_op", "_owner")

    def __init__(self, owner: Location | None, index: int, op: object) -> None:
        self._owner = owner
        self._index = index
        self._op = op

    def __str__(self) -> str:
        text = f"operation {self._index} `{describe_operation(self._op)}`"
        if self._owner is not None:
            text += f" of the chain nested in {self._owner}"
        return text


def chain_label(owner: Location | None) -> str:
    """``chain`` for the outer chain, ``chain nested in operation 2 `...``` for a nested one."""
    return "chain" if owner is None else f"chain nested in {owner}"


@final
class Step:
    """What validation learned about one ``Apply``: where its markers are."""

    __slots__ = ("found", "markers")

    def __init__(self, found: _graph.Found, markers: list[NestedChain]) -> None:
        #: Every marker (``NestedChain``, ``Verbatim``) in the arguments.
        self.found = found
        #: The distinct nested chains to run before the call, in argument order.
        self.markers = markers


@final
class ChainPlan:
    """One validated chain."""

    __slots__ = ("chain", "owner", "steps")

    def __init__(self, chain: OperationChain, owner: Location | None) -> None:
        self.chain = chain
        self.owner = owner
        #: The ``Step`` of each ``Apply``, by operation index.
        self.steps: dict[int, Step] = {}


@final
class Plan:
    """A validated chain tree."""

    __slots__ = ("chains", "root")

    def __init__(self, root: ChainPlan, chains: dict[int, ChainPlan]) -> None:
        self.root = root
        #: Every distinct chain by ``id()``, the outer chain first, then nested chains in
        #: depth-first order of appearance.
        self.chains = chains


def _classify(value: object) -> _graph.Kind:
    if type(value) is NestedChain or type(value) is Verbatim or is_result(value):
        return _graph.Kind.LEAF
    return _graph.Kind.PLAIN


@final
class _Planner:
    __slots__ = ("_active", "_chains", "_steps")

    def __init__(self) -> None:
        self._chains: dict[int, ChainPlan] = {}
        self._steps: dict[int, Step] = {}
        self._active: set[int] = set()  # chains being validated: meeting one again is a cycle

    def plan(self, chain: object) -> Plan:
        root = self._chain(chain, None, 0)
        return Plan(root, self._chains)

    def _chain(self, chain: object, owner: Location | None, depth: int) -> ChainPlan:
        if type(chain) is not tuple:
            hint = " (pass chain_of(builder))" if type(chain) is Continuation else ""
            raise ChainError(
                f"{chain_label(owner)}: must be a tuple of operations, got {type(chain).__name__}{hint}"
            )
        ident = id(chain)
        if ident in self._active:
            raise ChainError(f"{chain_label(owner)}: the chain contains itself")
        known = self._chains.get(ident)
        if known is not None:
            return known
        if not chain:
            raise ChainError(f"{chain_label(owner)}: the chain is empty")
        if len(chain) > MAX_CHAIN_LENGTH:
            raise ChainError(
                f"{chain_label(owner)}: {describe(chain)} has {len(chain)} operations; "
                f"the limit (MAX_CHAIN_LENGTH) is {MAX_CHAIN_LENGTH}"
            )
        plan = ChainPlan(chain, owner)
        # Registered before the nested chains, so that `chains` lists them in pre-order.
        self._chains[ident] = plan
        self._active.add(ident)
        for index, op in enumerate(chain):
            if type(op) is Get:
                check_name(getattr(op, "name", None), Location(owner, index, op))
            elif type(op) is Apply:
                plan.steps[index] = self._step(op, Location(owner, index, op), depth)
            else:
                raise ChainError(
                    f"{Location(owner, index, op)}: expected Get or Apply, got {type(op).__name__}"
                )
        self._active.discard(ident)
        return plan

    def _step(self, op: Apply, where: Location, depth: int) -> Step:
        known = self._steps.get(id(op))
        if known is not None:
            return known
        # getattr with a default: decoding sets only the attributes that were sent and runs no
        # validators, so nothing about a decoded Apply can be assumed.
        args = getattr(op, "args", None)
        kwargs = getattr(op, "kwargs", None)
        if type(args) is not tuple:
            raise ChainError(f"{where}: Apply.args must be a tuple, got {type(args).__name__}")
        if type(kwargs) is not dict:
            raise ChainError(f"{where}: Apply.kwargs must be a dict, got {type(kwargs).__name__}")
        for key in kwargs:
            if type(key) is not str:
                raise ChainError(f"{where}: keyword argument names must be str, got {type(key).__name__}")
        count = len(args) + len(kwargs)
        if count > MAX_ARGUMENTS:
            raise ChainError(f"{where}: {count} arguments; the limit (MAX_ARGUMENTS) is {MAX_ARGUMENTS}")

        def misplaced(leaf: object) -> NoReturn:
            raise ChainError(
                f"{where}: a {type(leaf).__name__} may not be a set member or part of a dict key"
            )

        def too_deep() -> NoReturn:
            raise ChainError(
                f"{where}: arguments nest deeper than {MAX_ARGUMENT_DEPTH} levels "
                f"(each nested chain counts {NESTED_CHAIN_DEPTH})"
            )

        if SCALARS.issuperset(map(type, args)) and SCALARS.issuperset(map(type, kwargs.values())):
            found = _graph.Found()  # the common case: scalar arguments cannot hold a marker
        else:
            found = _graph.scan(
                (args, kwargs),
                _classify,
                max_depth=MAX_ARGUMENT_DEPTH - depth,
                misplaced=misplaced,
                too_deep=too_deep,
            )
        markers: list[NestedChain] = []
        for leaf, at_depth in found.leaves:
            if type(leaf) is NestedChain:
                nested = getattr(leaf, "chain", None)
                self._chain(nested, where, depth + at_depth + NESTED_CHAIN_DEPTH)
                markers.append(leaf)
            elif is_result(leaf):
                raise ChainError(
                    f"{where}: RESULT was never filled in (fill_result replaces RESULT only "
                    "among the top-level arguments of the last Apply)"
                )
        step = Step(found, markers)
        self._steps[id(op)] = step
        return step


def make_plan(chain: object) -> Plan:
    """Validate *chain* and every chain nested in it; see :func:`validate_chain`."""
    return _Planner().plan(chain)


def is_simple(chain: object) -> bool:
    """Whether *chain* is valid and simple: its arguments are all scalars (so nothing is nested).

    Most calls look like this (``stub.method(1, "x")``); the checks reduce to the shape, the
    limits and the names, all done here. ``False`` means "look properly": such chains go through
    :func:`make_plan`, which accepts or refuses them with the precise error message.
    """
    if type(chain) is not tuple or not 0 < len(chain) <= MAX_CHAIN_LENGTH:
        return False
    try:
        for op in chain:
            kind = type(op)
            if kind is Get:
                name = op.name
                if type(name) is not str or name.startswith("_") or not name.isidentifier():
                    return False
            elif kind is Apply:
                args = op.args
                kwargs = op.kwargs
                if (
                    type(args) is not tuple
                    or type(kwargs) is not dict
                    or len(args) + len(kwargs) > MAX_ARGUMENTS
                    or (args and not SCALARS.issuperset(map(type, args)))
                    or (
                        kwargs
                        and not (
                            SCALARS.issuperset(map(type, kwargs.values()))
                            and all(type(key) is str for key in kwargs)
                        )
                    )
                ):
                    return False
            else:
                return False
    except AttributeError:  # an operation decoded without one of its fields
        return False
    return True


def validate_chain(chain: object) -> None:
    """Check *chain*, and every chain nested in its arguments, without running anything.

    :func:`execute` does the same checks first; call this where a chain is accepted for later
    execution (a call, an alarm, a stored handler) to fail at once, at the call site.

    Checks: a chain is a non-empty tuple of :class:`Get`/:class:`Apply` with at most
    :data:`MAX_CHAIN_LENGTH` operations; every ``Apply`` has a tuple of arguments and a dict of
    ``str``-keyed keyword arguments, together at most :data:`MAX_ARGUMENTS`; names are
    identifiers that do not start with ``_``; no ``RESULT`` is left unfilled; nested chains do not
    contain themselves; markers are not in sets or dict keys; arguments do not nest absurdly deep.

    Raises:
        ChainError: the chain is malformed or over a limit (the message says where, and names
            the limit and the count).
        NotMeshCallableError: a name starts with ``_``.
    """
    if not is_simple(chain):  # a chain of scalar arguments was checked in full by is_simple
        make_plan(chain)
