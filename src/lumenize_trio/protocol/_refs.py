"""Pipelined references: an argument standing for the result of an earlier call of the same batch.

Theory of operation
-------------------
``x = actor.make(); await actor.use(x)`` issued before the client's next checkpoint is one batch
of two calls; the second call's argument is ``CallRef(<id of make>)``. The server runs the calls
in batch order, and before running ``use`` replaces the marker by ``Verbatim(<result of make>)``,
so the executor passes the result as data (a result is never executed, even if it holds chain
markers).

Rules (checked by both connections):

1. A ``CallRef`` is looked for where :class:`~lumenize_trio.ocan.NestedChain` markers are: in the
   arguments of every ``Apply`` of the chain and of every chain nested in it, inside ``list`` and
   ``tuple`` items and ``dict`` values, at any depth. Anything else (registered objects,
   ``Verbatim``) is data and is not looked into.
2. It may not be a ``set``/``frozenset`` member or part of a ``dict`` key (it will be replaced).
3. Its ``call_id`` names a call that comes *earlier in the same batch*. A forward reference, a
   reference to the call itself or to an id the batch does not have is refused, so references can
   never form a cycle and the batch order is always an order in which they can be resolved.

Walks visit each container and each chain once (by identity), so the work is linear in the size
of the argument graph even when the clone restored aliases or cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import attrs

from .. import clone
from ..ocan import Apply, NestedChain, OperationChain, Verbatim
from ..ocan._plan import is_simple
from ._limits import MAX_ID

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@final
@attrs.frozen
class CallRef:
    """An argument that stands for the result of an earlier call of the same batch.

    Put it in a chain's arguments (anywhere a nested chain may go) to pass the result of call
    *call_id* without waiting for it: both calls travel in one batch and the server substitutes
    the result before running this call. If that call fails, this one fails with the same error.

    On the wire it is a registered object named ``lumenize.protocol.CallRef`` with the one field
    ``call_id`` (see ``docs/protocol.md``).

    Attributes:
        call_id: the id :meth:`RpcClientConnection.call` returned for the earlier call.

    .. versionadded:: 0.1
    """

    call_id: int


clone.register(CallRef, name="lumenize.protocol.CallRef")


@final
class RefError(Exception):
    """A reference breaks rule 2, or its ``call_id`` is not an id (raised internally, reported by
    the connections)."""


def _ref_id(ref: object) -> int:
    call_id = getattr(ref, "call_id", None)  # a decoded CallRef has only the fields that were sent
    if type(call_id) is not int or not 0 <= call_id <= MAX_ID:
        raise RefError(f"a CallRef's call_id must be an integer from 0 to 2**53-1, got {call_id!r:.40}")
    return call_id


def find_refs(chain: OperationChain) -> tuple[int, ...]:
    """The call ids referenced by *chain* (a chain already accepted by ``validate_chain``).

    Returns each id once, in depth-first, left-to-right order of first appearance.

    Raises:
        RefError: a ``CallRef`` is in a set or a dict key, or its ``call_id`` is not an id.
    """
    if is_simple(chain):
        return ()  # scalar arguments only: nothing can hold a reference
    found: dict[int, None] = {}
    seen: set[tuple[int, bool]] = set()
    # (value, inside a key or set): the stack holds values still to look at.
    stack: list[tuple[object, bool]] = [(chain, False)]
    while stack:
        value, keyed = stack.pop()
        kind = type(value)
        if kind is CallRef:
            if keyed:
                raise RefError("a CallRef may not be a set member or part of a dict key")
            found.setdefault(_ref_id(value), None)
            continue
        if kind not in _WALKED:
            continue
        marker = (id(value), keyed)
        if marker in seen:
            continue
        seen.add(marker)
        items: list[tuple[object, bool]]
        if kind is Apply:
            assert isinstance(value, Apply)
            items = [(arg, False) for arg in value.args]
            items += [(arg, False) for arg in value.kwargs.values()]
        elif kind is NestedChain:
            assert isinstance(value, NestedChain)
            items = [(value.chain, False)]
        elif kind is dict:
            assert isinstance(value, dict)
            items = []
            for key, item in value.items():
                items += ((key, True), (item, keyed))
        elif kind is set or kind is frozenset:
            assert isinstance(value, set | frozenset)
            items = [(item, True) for item in value]
        else:
            assert isinstance(value, list | tuple)
            items = [(item, keyed) for item in value]
        stack.extend(reversed(items))
    return tuple(found)


#: Types a walk descends into (a chain is a tuple; its Get operations hold no arguments).
_WALKED = frozenset({Apply, NestedChain, list, tuple, dict, set, frozenset})


def substitute(chain: OperationChain, result_of: Callable[[int], object]) -> OperationChain:
    """*chain* with every ``CallRef`` (where rule 1 looks) replaced by ``Verbatim(result_of(id))``.

    The chain, its ``Apply`` operations, nested chains and the lists, tuples and dicts around the
    markers are copied; nothing given is changed. Aliases stay aliases (each object is copied
    once), so a nested chain used twice still runs once. *result_of* is called once per
    referenced id, and every reference to that id becomes the same ``Verbatim``: within one call,
    a result passed twice is one object, as a variable would be.
    """
    memo: dict[int, object] = {}
    verbatims: dict[int, Verbatim] = {}
    keep: list[object] = []  # keeps every memoised original alive, so ids stay unique

    def copy(value: object) -> object:
        kind = type(value)
        if kind is CallRef:
            assert isinstance(value, CallRef)
            known = verbatims.get(value.call_id)
            if known is None:
                known = verbatims[value.call_id] = Verbatim(result_of(value.call_id))
            return known
        if kind not in _COPIED:
            return value
        ident = id(value)
        if ident in memo:
            return memo[ident]
        keep.append(value)
        if kind is list:
            assert isinstance(value, list)
            new_list: list[object] = []
            memo[ident] = new_list
            new_list.extend(copy(item) for item in value)
            return new_list
        if kind is dict:
            assert isinstance(value, dict)
            new_dict: dict[object, object] = {}
            memo[ident] = new_dict
            for key, item in value.items():
                new_dict[key] = copy(item)
            return new_dict
        if kind is tuple:
            assert isinstance(value, tuple)
            new: object = tuple(copy(item) for item in value)
        elif kind is Apply:
            assert isinstance(value, Apply)
            args = copy(value.args)
            kwargs = copy(value.kwargs)
            assert isinstance(args, tuple)
            assert isinstance(kwargs, dict)
            new = Apply(args, kwargs)
        else:
            assert isinstance(value, NestedChain)
            nested = copy(value.chain)
            assert isinstance(nested, tuple)
            new = NestedChain(nested)
        memo[ident] = new
        return new

    result = copy(chain)
    assert isinstance(result, tuple)
    return result


#: Types :func:`substitute` copies (sets and dict keys never hold a reference: rule 2).
_COPIED = frozenset({Apply, NestedChain, list, tuple, dict})


def check_refs(refs: tuple[int, ...], earlier: Mapping[int, object], call_id: int) -> str | None:
    """Why *refs* of call *call_id* break rule 3 given the *earlier* ids of the batch, or None."""
    for ref in refs:
        if ref not in earlier:
            where = "itself" if ref == call_id else f"call {ref}, which is not an earlier call of the batch"
            return f"call {call_id} references {where} (a CallRef may only name an earlier call of the same batch)"
    return None
