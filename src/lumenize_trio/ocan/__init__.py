"""Operation chains: serialisable, nestable descriptions of method calls (OCAN).

A chain is a tuple of :class:`Get` (read an attribute) and :class:`Apply` (call) operations that
:func:`execute` applies, in one walk, to a target object. :func:`continuation` makes a builder
that records a chain from ordinary Python syntax; :func:`chain_of` reads the chain back; a
builder passed as an argument becomes a :class:`NestedChain` that runs first; :data:`RESULT`
marks where :func:`fill_result` puts a call's result in a handler chain. All of it is plain,
cloneable data (registered with :mod:`lumenize_trio.clone` under ``lumenize.ocan.*`` names).

Pure Python: this package imports neither Trio nor cbor2 (the clone layer below owns cbor2).
See ``docs/ocan.md``.
"""

from __future__ import annotations

from .._exceptions import ChainError as ChainError, NotMeshCallableError as NotMeshCallableError
from ._builder import (
    Continuation as Continuation,
    chain_of as chain_of,
    continuation as continuation,
)
from ._execute import execute as execute
from ._fill import fill_result as fill_result
from ._limits import MAX_ARGUMENTS as MAX_ARGUMENTS, MAX_CHAIN_LENGTH as MAX_CHAIN_LENGTH
from ._operations import (
    RESULT as RESULT,
    Apply as Apply,
    Get as Get,
    NestedChain as NestedChain,
    Operation as Operation,
    OperationChain as OperationChain,
    Verbatim as Verbatim,
)
from ._plan import validate_chain as validate_chain
from ._wire import from_wire as from_wire, to_wire as to_wire

__all__ = [
    "Apply",
    "ChainError",
    "Continuation",
    "Get",
    "MAX_ARGUMENTS",
    "MAX_CHAIN_LENGTH",
    "NestedChain",
    "NotMeshCallableError",
    "Operation",
    "OperationChain",
    "RESULT",
    "Verbatim",
    "chain_of",
    "continuation",
    "execute",
    "fill_result",
    "from_wire",
    "to_wire",
    "validate_chain",
]

# Tracebacks, reprs and docs show the public path, not the private module.
for _obj in (
    Apply,
    Continuation,
    Get,
    NestedChain,
    Verbatim,
    chain_of,
    continuation,
    execute,
    fill_result,
    validate_chain,
):
    _obj.__module__ = __name__
del _obj
