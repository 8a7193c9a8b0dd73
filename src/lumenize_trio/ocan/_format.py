"""Readable text for chains, used in reprs and error messages: ``.a.b(1, x=2).c()``.

Arguments are shortened with :mod:`reprlib`, so that an error about a chain carrying a large
value stays one line, and a hostile value cannot make an error message huge.
"""

from __future__ import annotations

import reprlib

from ._operations import Apply, Get, NestedChain


class _Short(reprlib.Repr):
    """reprlib, plus nested chains shown the way they were written."""

    def repr_NestedChain(self, value: NestedChain, level: int) -> str:
        # The level bounds the recursion, which matters for a (hostile) chain nesting itself.
        if level <= 0:
            return "<chain ...>"
        return f"<chain {describe(getattr(value, 'chain', None), level - 1)}>"


_SHORT = _Short()
_SHORT.maxstring = _SHORT.maxother = 40
_SHORT.maxlevel = _LEVELS = 3
#: How many operations, and arguments per call, a description shows before eliding the rest.
_MAX_SHOWN = 12
_MAX_SHOWN_ARGS = 6


def describe(chain: object, level: int = _LEVELS) -> str:
    """``.a.b(1, x=2)`` for the chain ``(Get("a"), Get("b"), Apply((1,), {"x": 2}))``.

    Anything malformed is shown as ``<?type>``, so this never raises on a chain that came off the
    wire half-formed (it is used to report such chains).
    """
    if type(chain) is not tuple:
        return f"<?{type(chain).__name__}>"
    parts: list[str] = []
    for index, op in enumerate(chain):
        if index == _MAX_SHOWN:
            parts.append("...")
            break
        parts.append(describe_operation(op, level))
    return "".join(parts)


def describe_operation(op: object, level: int = _LEVELS) -> str:
    """One operation as text: ``.name``, ``(args)`` or ``<?type>``."""
    # getattr with a default: a decoded operation may lack attributes (decoding sets only what
    # was sent and runs no validators).
    if type(op) is Get:
        name = getattr(op, "name", None)
        return f".{name}" if type(name) is str else f".<?{type(name).__name__}>"
    if type(op) is Apply:
        args = getattr(op, "args", None)
        kwargs = getattr(op, "kwargs", None)
        if type(args) is not tuple or type(kwargs) is not dict:
            return "(<?malformed>)"
        shown = [_SHORT.repr1(value, level) for value in args[:_MAX_SHOWN_ARGS]]
        shown.extend(
            f"{key}={_SHORT.repr1(value, level)}"
            for key, value in list(kwargs.items())[: _MAX_SHOWN_ARGS - len(shown)]
        )
        if len(args) + len(kwargs) > len(shown):
            shown.append("...")
        return f"({', '.join(shown)})"
    return f"<?{type(op).__name__}>"
