"""Values that exist for the clone: :data:`UNDEFINED` and :class:`IdentityMap`."""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Final, final

import cbor2

#: The JavaScript ``undefined``: a value distinct from ``None`` (CBOR simple value 23).
#: It is falsy and its repr is ``undefined``. Compare with ``is``.
UNDEFINED: Final[object] = cbor2.undefined


@final
class IdentityMap(MutableMapping[object, object]):
    """A mapping whose keys are compared by identity, so any object can be a key.

    A JavaScript ``Map`` may have objects, arrays or other maps as keys; a Python ``dict`` cannot
    hold unhashable keys. ``IdentityMap`` can: a key is found only by the very same object (as in a
    JS ``Map``). Insertion order is kept. Two ``IdentityMap`` objects are equal when they hold
    equal ``(key, value)`` pairs in the same order.

    Example::

        >>> k = [1, 2]
        >>> m = IdentityMap([(k, "list key")])
        >>> m[k]
        'list key'
        >>> [1, 2] in m
        False

    .. versionadded:: 0.1
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[object, object]] = ()) -> None:
        self._items: dict[int, tuple[object, object]] = {}
        for key, value in items:
            self[key] = value

    def __getitem__(self, key: object) -> object:
        try:
            return self._items[id(key)][1]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: object, value: object) -> None:
        # The pair keeps the key alive, so its id cannot be reused while it is in the map.
        self._items[id(key)] = (key, value)

    def __delitem__(self, key: object) -> None:
        try:
            del self._items[id(key)]
        except KeyError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[object]:
        return (key for key, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return id(key) in self._items

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdentityMap):
            return NotImplemented
        return list(self._items.values()) == list(other._items.values())

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        inner = ", ".join(f"({k!r}, {v!r})" for k, v in self._items.values())
        return f"IdentityMap([{inner}])"
