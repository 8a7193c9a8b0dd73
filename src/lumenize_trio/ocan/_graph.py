"""Finding markers inside argument values, and copying only the containers that hold them.

Used twice: the builder replaces continuation builders passed as arguments by ``NestedChain``
markers, and the executor replaces markers by the results of the nested chains.

Theory of operation:

* Arguments are an object graph, not a tree: the clone restores aliases and cycles, so the same
  list may be reached many times and a list may contain itself. Every walk here visits each
  container once (by identity), so the work is linear in the size of the graph even when a
  hostile peer sends a small document that unfolds exponentially.
* Markers ("leaves") are looked for in ``list`` and ``tuple`` items and ``dict`` values, at any
  depth. Subclasses of those (named tuples, ``OrderedDict``...) are opaque values: they are
  passed through as they are, so their type is never changed by a copy.
* A leaf may not be a ``set``/``frozenset`` member or part of a ``dict`` key: a copy would have
  to rehash it, and markers are not meant to be hashed. Such a leaf is reported as misplaced.
* A container is *dirty* when a leaf is reachable from it. Only dirty containers are copied;
  everything else (including the argument objects themselves) is passed through untouched, so
  identity is preserved where nothing had to change. Dirtiness is computed from the reverse
  edges after the walk, which makes it exact for cycles too.
* A copy of a list or dict is registered before its items are copied, so a cycle through it
  resolves to the copy. A tuple cannot be registered first (it is built from its items), but
  every cycle contains a list or a dict, so copying terminates.
* The walk keeps a reference to everything it identified by ``id()``, so no id can be reused by
  a new object while the result of the walk is alive.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, NoReturn, final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


class Kind(enum.Enum):
    """How a walk treats one value."""

    PLAIN = enum.auto()  # descend if it is a list, tuple, dict, set or frozenset
    LEAF = enum.auto()  # a marker: record it, do not descend
    OPAQUE = enum.auto()  # pass through without looking inside


_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})


@final
class Found:
    """The result of :func:`scan`.

    Attributes:
        leaves: each distinct leaf (by identity) with the depth it was first found at, in
            depth-first, left-to-right order.
        dirty: ids of the containers from which a leaf is reachable.
    """

    __slots__ = ("_leaf_ids", "_pinned", "dirty", "leaves")

    def __init__(self) -> None:
        self.leaves: list[tuple[object, int]] = []
        self.dirty: set[int] = set()
        self._leaf_ids: set[int] = set()
        self._pinned: list[object] = []

    def is_leaf(self, value: object) -> bool:
        """Whether *value* is one of the leaves found (by identity)."""
        return id(value) in self._leaf_ids


@final
class _Scanner:
    __slots__ = (
        "_classify",
        "_direct",
        "_max_depth",
        "_misplaced",
        "_parents",
        "_seen",
        "_too_deep",
        "found",
    )

    def __init__(
        self,
        classify: Callable[[object], Kind],
        max_depth: int,
        misplaced: Callable[[object], NoReturn],
        too_deep: Callable[[], NoReturn],
    ) -> None:
        self._classify = classify
        self._max_depth = max_depth
        self._misplaced = misplaced
        self._too_deep = too_deep
        self.found = Found()
        self._parents: dict[int, list[int]] = {}
        self._direct: set[int] = set()
        # Keyed by (id, inside a key): a tuple seen as a value must still be checked as a key.
        self._seen: set[tuple[int, bool]] = set()

    def visit(self, value: object, depth: int, parent: int | None, keyed: bool) -> None:
        kind = self._classify(value)
        if kind is Kind.LEAF:
            if keyed:
                self._misplaced(value)
            found = self.found
            if id(value) not in found._leaf_ids:
                found._leaf_ids.add(id(value))
                found._pinned.append(value)
                found.leaves.append((value, depth))
            # Not keyed and not a root (roots are containers), so there is a parent.
            assert parent is not None
            self._direct.add(parent)
            return
        if kind is Kind.OPAQUE or type(value) not in _CONTAINERS:
            return
        ident = id(value)
        if parent is not None:
            self._parents.setdefault(ident, []).append(parent)
        if (ident, keyed) in self._seen:
            return
        self._seen.add((ident, keyed))
        self.found._pinned.append(value)
        if depth >= self._max_depth:
            self._too_deep()
        below = depth + 1
        # Inside a key, nothing is copied, so no parent edges are needed.
        here = None if keyed else ident
        if type(value) is dict:
            for key, item in value.items():
                self.visit(key, below, None, True)
                self.visit(item, below, here, keyed)
        elif type(value) is set or type(value) is frozenset:
            for item in value:
                self.visit(item, below, None, True)
        else:
            assert type(value) is list or type(value) is tuple
            for item in value:
                self.visit(item, below, here, keyed)

    def finish(self) -> Found:
        dirty = self.found.dirty
        stack = list(self._direct)
        while stack:
            ident = stack.pop()
            if ident not in dirty:
                dirty.add(ident)
                stack.extend(self._parents.get(ident, ()))
        return self.found


def scan(
    roots: Iterable[object],
    classify: Callable[[object], Kind],
    *,
    max_depth: int,
    misplaced: Callable[[object], NoReturn],
    too_deep: Callable[[], NoReturn],
) -> Found:
    """Find the leaves reachable from *roots* (each root at depth 0).

    Args:
        roots: the containers to search: an argument tuple and a keyword dict.
        classify: tells leaves and opaque values from the rest.
        max_depth: containers at this depth or deeper are not descended; *too_deep* is called.
        misplaced: called with a leaf found in a set or a dict key; must raise.
        too_deep: called when the nesting exceeds *max_depth*; must raise.
    """
    scanner = _Scanner(classify, max_depth, misplaced, too_deep)
    for root in roots:
        scanner.visit(root, 0, None, False)
    return scanner.finish()


def rebuild(
    value: object,
    found: Found,
    replace: Callable[[object], object],
    memo: dict[int, object],
) -> object:
    """*value* with every leaf in *found* replaced by ``replace(leaf)``.

    Only dirty containers are copied (once each, through *memo*, which callers share between
    the roots of one scan); anything else is returned as it is.
    """
    if found.is_leaf(value):
        return replace(value)
    ident = id(value)
    if ident not in found.dirty:
        return value
    if ident in memo:
        return memo[ident]
    if type(value) is list:
        new_list: list[object] = []
        memo[ident] = new_list
        new_list.extend(rebuild(item, found, replace, memo) for item in value)
        return new_list
    if type(value) is dict:
        new_dict: dict[object, object] = {}
        memo[ident] = new_dict
        for key, item in value.items():
            new_dict[key] = rebuild(item, found, replace, memo)
        return new_dict
    # Only lists, dicts and tuples are ever dirty (sets and keys are never copied).
    assert type(value) is tuple
    new_tuple = tuple(rebuild(item, found, replace, memo) for item in value)
    memo[ident] = new_tuple
    return new_tuple
