"""Putting a call's result (or its exception) into a handler chain.

Substitution is only ever at the top level of the last ``Apply``: a handler names where the
result goes by passing ``RESULT`` as an argument of its final call. Anything deeper is the
handler's own data and is never rewritten.
"""

from __future__ import annotations

from .._exceptions import ChainError
from ._builder import Continuation
from ._format import describe, describe_operation
from ._limits import MAX_ARGUMENTS
from ._operations import Apply, OperationChain, Verbatim, is_result


def fill_result(chain: OperationChain, value: object) -> OperationChain:
    """A copy of *chain* whose last call receives *value*.

    Every ``RESULT`` among the top-level positional arguments and keyword-argument values of
    the last :class:`Apply` becomes *value*. With no ``RESULT`` there, *value* is appended as the
    last positional argument (the last-argument convention). ``RESULT`` deeper inside arguments
    is not replaced (and :func:`execute` refuses a chain that still holds one).

    *value* is inserted wrapped in :class:`Verbatim`, so :func:`execute` passes it exactly as it
    is and never runs ``NestedChain`` markers that a (possibly hostile) result might contain.

    *chain* is not changed; the returned chain shares every other operation and argument.

    Args:
        chain: a handler chain, ending with a call.
        value: the result or the exception to deliver.

    Raises:
        ChainError: *chain* is not a non-empty tuple ending with an ``Apply``, or appending would
            exceed :data:`MAX_ARGUMENTS`.

    .. versionadded:: 0.1
    """
    if type(chain) is not tuple or not chain:
        received: object = chain  # typed as a chain, but callers get it wrong at run time
        got = "an empty chain" if type(received) is tuple else type(received).__name__
        hint = " (pass chain_of(builder))" if type(received) is Continuation else ""
        raise ChainError(f"fill_result() needs a non-empty tuple of operations, got {got}{hint}")
    last = chain[-1]
    args = getattr(last, "args", None)
    kwargs = getattr(last, "kwargs", None)
    if type(last) is not Apply or type(args) is not tuple or type(kwargs) is not dict:
        raise ChainError(
            f"fill_result(): the chain {describe(chain)} must end with a well-formed Apply to "
            f"receive the result, but ends with {describe_operation(last)}"
        )
    wrapped = Verbatim(value)
    new_args = tuple(wrapped if is_result(arg) else arg for arg in args)
    new_kwargs = {key: wrapped if is_result(arg) else arg for key, arg in kwargs.items()}
    if not any(is_result(arg) for arg in (*args, *kwargs.values())):
        count = len(args) + len(kwargs) + 1
        if count > MAX_ARGUMENTS:
            raise ChainError(
                f"fill_result(): appending the result to {describe_operation(last)} would pass "
                f"{count} arguments; the limit (MAX_ARGUMENTS) is {MAX_ARGUMENTS}"
            )
        new_args = (*new_args, wrapped)
    return (*chain[:-1], Apply(new_args, new_kwargs))
