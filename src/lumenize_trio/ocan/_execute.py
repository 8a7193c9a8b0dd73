"""Running a chain against a target object.

Theory of operation:

1. Validate the whole tree (the chain and every chain nested in its arguments): structure,
   limits, names. Nothing has run yet, so a refused chain has no effect at all.
2. Ask ``check_access`` about every chain of the tree, the outer one first. Again nothing has run,
   so a denial anywhere in the tree has no effect at all.
3. Walk the chain once, left to right, keeping only the current value. ``Get`` reads an attribute
   (a method read this way is bound to the object it was read from, so a later ``Apply`` calls it
   on that receiver); ``Apply`` runs the nested chains of its arguments, then calls, then awaits
   the result if it is awaitable. Earlier operations are never re-run to find a receiver (the
   TypeScript original did, which ran ``admin()`` twice in ``admin().force_reset()``).

Each distinct nested chain runs at most once per ``execute`` call (results are remembered by the
chain's identity), and each distinct ``Apply`` gets its arguments rebuilt at most once. Together
with the validation in :mod:`._plan`, that bounds the work by the size of the chain graph.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Final, final

from .._exceptions import ChainError
from . import _graph
from ._limits import SCALARS
from ._names import check_receiver, receiver_refused, refused_receiver_error
from ._operations import Apply, Get, NestedChain, OperationChain, Verbatim
from ._plan import ChainPlan, Location, Plan, Step, is_simple, make_plan

if TYPE_CHECKING:
    from collections.abc import Callable


async def execute(
    target: object,
    chain: OperationChain,
    *,
    check_access: Callable[[object, OperationChain], None] | None = None,
) -> object:
    """Apply *chain* to *target* and return the final value.

    ``Get(name)`` reads ``getattr(current, name)``; ``Apply(args, kwargs)`` calls the current value
    and awaits the result when it is awaitable. ``NestedChain`` markers in the arguments (in
    lists, tuples and dict values, at any depth) are run on the same *target*, with the same
    *check_access*, just before the call that holds them, and replaced by their results;
    ``Verbatim`` values are unwrapped. Containers that hold no marker are passed as they are.

    Args:
        target: the object the chain starts from (an actor, a worker, a client).
        chain: the operations, e.g. from :func:`chain_of` or :func:`fill_result`, or decoded
            from the wire.
        check_access: called as ``check_access(target, chain)`` for the outer chain and then
            for every distinct nested chain, all before the first operation runs; it raises to
            deny, and the exception propagates unchanged. The runtime passes its ``@mesh`` and
            guard check here; local handlers pass ``None``.

    Returns:
        The value of the last operation.

    Raises:
        ChainError: the chain tree is malformed or over a limit (before anything runs), or an
            ``Apply`` meets a value that is not callable (the message says which operation).
        NotMeshCallableError: a name starts with ``_`` (before anything runs), or reads
            interpreter internals (frames, code, ``gi_frame``, ``str.format``).
        Exception: whatever *check_access*, a property or a called method raises, unchanged
            (``AttributeError`` included, for a name the object does not have).

    Cancellation:
        Not a checkpoint by itself: it awaits only what the called methods return. If that is
        cancelled, the operations that already ran keep their effects.

    .. versionadded:: 0.1
    """
    if not is_simple(chain):
        plan = make_plan(chain)
        if check_access is not None:
            for chain_plan in plan.chains.values():
                check_access(target, chain_plan.chain)
        return await _Run(target, plan).chain(plan.root)
    # A simple chain (the commonest call): validated by is_simple, nothing nested to plan or
    # run first, and its arguments are passed as they are. The same walk as _Run.chain.
    if check_access is not None:
        check_access(target, chain)
    current = target
    for index, op in enumerate(chain):
        if type(op) is Get:
            name = op.name
            if receiver_refused(current, name):
                raise refused_receiver_error(current, name, Location(None, index, op))
            current = getattr(current, name)
            continue
        if not callable(current):
            raise _not_callable(current, Location(None, index, op))
        current = current(*op.args, **op.kwargs)
        if type(current) not in _NEVER_AWAITABLE and inspect.isawaitable(current):
            current = await current
    return current


#: Exact types whose instances are never awaitable (a quick answer before inspect's).
_NEVER_AWAITABLE: Final = SCALARS | {list, dict, tuple}


def _not_callable(value: object, where: Location) -> ChainError:
    return ChainError(f"{where}: cannot call a {type(value).__name__}, it is not callable")


@final
class _Run:
    """The state of one ``execute`` call."""

    __slots__ = ("_arguments", "_plan", "_results", "_target")

    def __init__(self, target: object, plan: Plan) -> None:
        self._target = target
        self._plan = plan
        self._results: dict[int, object] = {}  # id(chain) → result
        self._arguments: dict[int, tuple[tuple[object, ...], dict[str, object]]] = {}

    async def chain(self, plan: ChainPlan) -> object:
        current = self._target
        for index, op in enumerate(plan.chain):
            if type(op) is Get:
                check_receiver(current, op.name, Location(plan.owner, index, op))
                current = getattr(current, op.name)
                continue
            assert type(op) is Apply  # the plan accepted nothing else
            if not callable(current):
                raise _not_callable(current, Location(plan.owner, index, op))
            args, kwargs = await self._prepare(op, plan.steps[index])
            current = current(*args, **kwargs)
            if inspect.isawaitable(current):
                current = await current
        return current

    async def _prepare(self, op: Apply, step: Step) -> tuple[tuple[object, ...], dict[str, object]]:
        known = self._arguments.get(id(op))
        if known is not None:
            return known
        for marker in step.markers:
            key = id(marker.chain)
            if key not in self._results:
                self._results[key] = await self.chain(self._plan.chains[key])
        if step.found.leaves:
            memo: dict[int, object] = {}
            args = _graph.rebuild(op.args, step.found, self._replace, memo)
            kwargs = _graph.rebuild(op.kwargs, step.found, self._replace, memo)
            assert type(args) is tuple
            assert type(kwargs) is dict
            prepared = (args, kwargs)
        else:
            prepared = (op.args, op.kwargs)
        self._arguments[id(op)] = prepared
        return prepared

    def _replace(self, leaf: object) -> object:
        if type(leaf) is Verbatim:
            return leaf.value
        assert type(leaf) is NestedChain  # RESULT was refused by the plan
        return self._results[id(leaf.chain)]
