"""Encoder pass 1 (every value) and the graph layout (values with sharing only).

Theory of operation
-------------------
:func:`scan` walks the value once, iteratively (no recursion, so long chains cannot exhaust the
stack): it refuses unclonable types, counts how often each identity-bearing object is reached,
and records the deepest nesting. (Plain JSON-like data never gets here: ``dumps`` hands it to
cbor2 after a quicker check.)

If some object is reached twice, :func:`layout` decides how the graph is written: every shared
object becomes a *body* in a table, written once, and every occurrence becomes a reference, so the
document nests no deeper than the unshared parts of the value. For cycles through tuples,
frozensets or exception args (which cannot exist before their contents), the layout also makes
sure every cycle passes through a body that can exist first (a list, dict, set, identity map,
registered object or a constructed exception): at each back edge ``u -> v`` of its depth-first
walk, ``v`` is a body already (it is reached twice); if ``v`` is immutable, ``u`` is promoted to a
body too, or, when ``u`` is immutable as well, the value is refused. Bodies are listed in
depth-first *finishing* order, so a decoder building them in table order finds every immutable
body's contents ready.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from . import _registry
from ._limits import MAX_DEPTH
from ._parts import ATOMS, LEAVES, VALUES, children, is_container
from ._values import IdentityMap

_EXIT: Final = object()  # a stack marker: the object below it is finished
_ARGS_DONE: Final = object()  # a stack marker: this exception's args are done, so it can exist now


class ScanError(Exception):
    """Carries the offending object and why; :func:`path_to` turns it into a message with a path."""

    def __init__(self, obj: object, message: str) -> None:
        super().__init__(message)
        self.obj = obj
        self.message = message


class Scan:
    __slots__ = ("counts", "deepest", "max_depth", "shared")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.shared = False
        self.max_depth = 0
        self.deepest: object = None


def scan(root: object) -> Scan:
    """Pass 1 over *root*. Raises :class:`ScanError` for an unclonable value."""
    result = Scan()
    counts = result.counts
    max_depth = 0
    stack: list[tuple[object, int]] = [(root, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        obj, depth = pop()
        cls = type(obj)
        if cls in ATOMS:
            continue
        if depth > max_depth:
            max_depth = depth
            result.deepest = obj
        if cls in VALUES:
            continue
        oid = id(obj)
        if oid in counts:
            counts[oid] += 1
            result.shared = True
            continue
        counts[oid] = 1
        depth += 1
        if cls is list:
            for item in obj:  # type: ignore[attr-defined]
                if type(item) not in ATOMS:
                    push((item, depth))
        elif cls is dict:
            for key, value in obj.items():  # type: ignore[attr-defined]
                if type(key) not in ATOMS:
                    push((key, depth))
                if type(value) not in ATOMS:
                    push((value, depth))
        elif is_container(obj):
            for _, child, _ in children(obj):
                if type(child) not in ATOMS:
                    push((child, depth))
        else:
            raise ScanError(obj, describe(obj))
    result.max_depth = max_depth
    return result


class Layout:
    """How a graph with sharing is written: its bodies in finishing order and their indices."""

    __slots__ = ("bodies", "index")

    def __init__(self, bodies: list[object]) -> None:
        self.bodies = bodies
        self.index = {id(body): i for i, body in enumerate(bodies)}


_IMMUTABLE_KINDS: Final = frozenset({tuple, frozenset})


def layout(root: object, counts: dict[int, int]) -> Layout:
    """Pass 2 for values with sharing. Raises :class:`ScanError` for the one refused cycle shape."""
    is_body = {oid for oid, n in counts.items() if n > 1}
    finished: list[object] = []
    state: dict[int, bool] = {}  # id -> True while on the walk's path, False once finished
    emitted_depth: dict[int, int] = {}
    # Stack entries: (object, inline depth, parent object, edge from an immutable parent).
    stack: list[tuple[object, int, object, bool]] = [(root, 0, None, False)]
    while stack:
        obj, depth, parent, immutable_edge = stack.pop()
        if obj is _EXIT:
            state[id(parent)] = False
            if id(parent) in is_body:
                finished.append(parent)
            continue
        if obj is _ARGS_DONE:
            state[id(parent)] = False
            continue
        if type(obj) in ATOMS or type(obj) in VALUES:
            continue
        oid = id(obj)
        seen = state.get(oid)
        if seen is not None:
            if seen:  # a back edge into a tuple, frozenset or exception that cannot exist yet
                _cut_cycle(root, obj, parent, immutable_edge, is_body)
            continue
        state[oid] = _is_immutable(obj)
        depth = 1 if oid in is_body else depth + 1
        emitted_depth[oid] = depth
        if depth > MAX_DEPTH:
            raise ScanError(obj, f"nesting deeper than {MAX_DEPTH} levels")
        stack.append((_EXIT, 0, obj, False))
        if type(obj) not in LEAVES:
            kids = list(children(obj))
            # Children an object needs before it exists (tuple items, exception args) are walked
            # first; for an exception, a marker then says it exists, before its attributes.
            for _, child, needed_first in reversed(kids):
                if not needed_first:
                    stack.append((child, depth, obj, False))
            if isinstance(obj, BaseException):
                stack.append((_ARGS_DONE, 0, obj, False))
            for _, child, needed_first in reversed(kids):
                if needed_first:
                    stack.append((child, depth, obj, True))
    return Layout(finished)


def _is_immutable(obj: object) -> bool:
    return type(obj) in _IMMUTABLE_KINDS or isinstance(obj, BaseException)


def _cut_cycle(root: object, target: object, parent: object, immutable_edge: bool, is_body: set[int]) -> None:
    if immutable_edge:
        raise ScanError(
            parent,
            f"refers back to {path_to(root, target)}, which contains it: a cycle that returns to a tuple, "
            "frozenset or exception args through another tuple, frozenset or exception args cannot be "
            "rebuilt (Python cannot make such an object); put a list on the cycle",
        )
    is_body.add(id(parent))


def path_to(root: object, target: object) -> str:
    """The shortest path from *root* to *target* (by identity), like ``$.a[3].b``."""
    if root is target:
        return "$"
    parents: dict[int, tuple[object, str]] = {}
    queue = deque([root])
    seen = {id(root)}
    while queue:
        obj = queue.popleft()
        if type(obj) in ATOMS or not (is_container(obj) or type(obj) in VALUES):
            continue
        for segment, child, _ in children(obj):
            if id(child) in seen:
                continue
            seen.add(id(child))
            parents[id(child)] = (obj, segment)
            if child is target:
                return _join(parents, root, child)
            queue.append(child)
    return "$"  # pragma: no cover - the scan only reports objects it reached from the root


def _join(parents: dict[int, tuple[object, str]], root: object, node: object) -> str:
    segments: list[str] = []
    while node is not root:
        node, segment = parents[id(node)]
        segments.append(segment)
    segments.reverse()
    if len(segments) > 12:  # a deep path: its two ends say where it is
        segments = [*segments[:4], "...", *segments[-6:]]
    return "$" + "".join(segments)


def describe(value: object) -> str:
    cls = type(value)
    kind = f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__
    hint = _HINTS.get(cls.__name__, "")
    if not hint and callable(value):
        hint = " (callables do not cross actor boundaries; send a continuation instead)"
    if not hint and isinstance(value, list | dict | tuple | set | frozenset | IdentityMap):
        hint = " (subclasses of builtin containers are refused: register the class or convert it)"
    if not hint and _registry.name_of(cls) is None and hasattr(value, "__dict__"):
        hint = " (register the class with lumenize_trio.clone.register to let it cross)"
    return f"cannot clone a value of type {kind}{hint}"


_HINTS: Final = {
    "function": " (functions and lambdas do not cross actor boundaries; send a continuation instead)",
    "method": " (bound methods do not cross actor boundaries; send a continuation instead)",
    "generator": " (generators cannot be cloned; send a list)",
    "coroutine": " (coroutines cannot be cloned; await it and send the result)",
    "module": " (modules cannot be cloned)",
    "type": " (classes cannot be cloned; send a registered name instead)",
    "memoryview": " (convert it to bytes)",
}
