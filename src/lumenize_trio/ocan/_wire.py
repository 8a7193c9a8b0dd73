"""The compact wire form of a chain: plain lists, so the clone's fast path carries it.

A chain crosses every actor call; as registered objects (``Get``/``Apply``) it would take the
clone's general path. On the wire it is instead a list of operations, each a list:
``["get", name]`` or ``["apply", [args...], {kwargs...}]``. Arguments stay as they are (nested
chain markers and ``RESULT`` inside them are still registered values). :func:`from_wire` checks
the shape and rebuilds the tuple of operations; :func:`execute` validates the rest.
"""

from __future__ import annotations

from .._exceptions import ChainError
from ._operations import Apply, Get, Operation, OperationChain, make_apply, make_get


def to_wire(chain: OperationChain) -> list[list[object]]:
    """The wire form of *chain* (see the module docstring). Never fails for a valid chain."""
    out: list[list[object]] = []
    for op in chain:
        if type(op) is Get:
            out.append(["get", op.name])
        else:
            assert type(op) is Apply
            out.append(["apply", list(op.args), op.kwargs])
    return out


def from_wire(data: object) -> OperationChain:
    """Rebuild a chain from its wire form.

    Raises:
        ChainError: *data* is not a list of ``["get", name]`` / ``["apply", args, kwargs]``.
    """
    if type(data) is not list:
        raise ChainError(f"a chain on the wire is a list of operations, got {type(data).__name__}")
    ops: list[Operation] = []
    for item in data:
        # The types are checked here, so the operations are made without re-running attrs'
        # validators (make_get/make_apply); execute() validates the rest.
        if type(item) is list:
            size = len(item)
            if size == 2 and item[0] == "get" and type(item[1]) is str:
                ops.append(make_get(item[1]))
                continue
            if (
                size == 3
                and item[0] == "apply"
                and type(item[1]) is list
                and type(item[2]) is dict
                and all(type(key) is str for key in item[2])
            ):
                ops.append(make_apply(tuple(item[1]), item[2]))
                continue
        raise ChainError(f"operation {len(ops)} of a chain on the wire is malformed: {item!r:.80}")
    return tuple(ops)
