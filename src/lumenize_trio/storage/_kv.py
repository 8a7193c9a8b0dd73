"""The synchronous key-value API (``storage.kv``), stored in the reserved table ``__lmz_kv``.

Reads go through a small cache (``StorageCore.kv_cache``) of what this connection last read or
wrote for a key: values that are immutable and small (``str``, ``int``, ``float``, ``bool``,
``bytes``, ``None``; a cached object is exactly what decoding the stored bytes gives), and keys
known to be absent. It is exact because every change to ``__lmz_kv`` goes through this module
(user SQL may not touch reserved tables, and the connection is the file's only writer) and every
rollback clears it. A hot ``get`` then costs no SQL statement and no decoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, cast, final

from .. import clone
from .._exceptions import ReservedNameError, StorageLimitError
from ._construct import NoPublicConstructor
from ._limits import MAX_BATCH_KEYS, MAX_ENTRY_BYTES, MAX_KEY_BYTES, RESERVED_PREFIX

if TYPE_CHECKING:
    from ._core import StorageCore

_GET = "SELECT value FROM main.__lmz_kv WHERE key = ?"
_PUT = "INSERT OR REPLACE INTO main.__lmz_kv (key, value) VALUES (?, ?)"
_DELETE = "DELETE FROM main.__lmz_kv WHERE key = ?"

#: In the read cache: the key is known to have no entry.
ABSENT: Final = object()
#: The read cache keeps at most this many keys (it starts again empty when full) ...
CACHE_KEYS: Final = 64
#: ... each at most this many characters of key plus str or bytes value ...
CACHE_ENTRY_SIZE: Final = 256
#: ... with values of these exact types (immutable: the cached object can be handed out).
_CACHEABLE: Final = frozenset({str, int, float, bool, bytes, type(None)})


def _remember(cache: dict[str, object], key: str, value: object) -> None:
    """Note in the read cache that *key* now holds *value* (or :data:`ABSENT`); forget it if
    the value is not one the cache keeps."""
    kind = type(value)
    if value is ABSENT or (
        kind in _CACHEABLE
        and len(key) + (len(value) if kind is str or kind is bytes else 0) <= CACHE_ENTRY_SIZE  # type: ignore[arg-type]
        and (kind is not int or value.bit_length() <= 64)  # type: ignore[attr-defined]
    ):
        if len(cache) >= CACHE_KEYS and key not in cache:
            cache.clear()
        cache[key] = value
    else:
        cache.pop(key, None)


def utf8(text: str, what: str) -> bytes:
    """``text`` as UTF-8, or a :class:`ValueError` naming ``what`` if it holds a lone surrogate."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} holds a lone surrogate (U+{ord(text[exc.start]):04X} at index {exc.start}); it must be valid Unicode"
        ) from None


def check_key(key: object) -> bytes:
    """Validate a KV key; return its UTF-8 bytes.

    Raises:
        TypeError: ``key`` is not a ``str``.
        ValueError: it is empty or holds a lone surrogate.
        StorageLimitError: it is longer than 2,048 UTF-8 bytes.
        ReservedNameError: it starts with ``__lmz``.
    """
    if not isinstance(key, str):
        raise TypeError(f"a storage key must be a str, not {type(key).__name__}")
    if not key:
        raise ValueError("a storage key must not be empty")
    data = utf8(key, "the storage key")
    if len(data) > MAX_KEY_BYTES:
        raise StorageLimitError(
            f"a storage key may be at most {MAX_KEY_BYTES} UTF-8 bytes; this one is {len(data)}"
        )
    if key.startswith(RESERVED_PREFIX):
        raise ReservedNameError(
            f"the storage key {key[:60]!r} starts with {RESERVED_PREFIX!r}, which is reserved for the runtime"
        )
    return data


def key_size(key: object) -> int:
    """:func:`check_key`, returning the key's length in UTF-8 bytes (quick for ASCII keys)."""
    if (
        type(key) is str
        and key.isascii()
        and 0 < len(key) <= MAX_KEY_BYTES
        and not key.startswith(RESERVED_PREFIX)
    ):
        return len(key)  # ASCII: one byte per character, nothing to refuse
    return len(check_key(key))


def encode_value(key_size: int, value: object, key: str, what: str = "the value") -> bytes:
    """Clone-encode ``value``; refuse it if key plus value exceed :data:`MAX_ENTRY_BYTES`.

    Raises:
        DataCloneError: the value cannot be cloned.
        StorageLimitError: the entry is too large (the message names ``what`` and ``key``).
    """
    data = clone.dumps(value)
    if key_size + len(data) > MAX_ENTRY_BYTES:
        raise StorageLimitError(
            f"{what} for {key[:60]!r} is too large: key plus encoded value may be at most {MAX_ENTRY_BYTES} bytes; this one is {key_size + len(data)}"
        )
    return data


def _batch(keys: object, what: str) -> list[str]:
    """The keys of a batch call, checked, in the caller's order."""
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
        raise TypeError(f"{what} takes an iterable of keys (like a list), not {type(keys).__name__}")
    batch = list(keys)
    if len(batch) > MAX_BATCH_KEYS:
        raise StorageLimitError(f"{what} takes at most {MAX_BATCH_KEYS} keys per call; got {len(batch)}")
    for key in batch:
        check_key(key)
    return batch


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    Code-point order equals UTF-8 byte order, so this is also the bound in SQLite's BINARY order.
    Bump the last code point below U+10FFFF (skipping the surrogate block, which keys cannot hold)
    and drop what follows; ``None`` when there is no such code point (no upper bound).
    """
    for index in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[index])
        if code < 0x10FFFF:
            code += 1
            if 0xD800 <= code <= 0xDFFF:
                code = 0xE000
            return prefix[:index] + chr(code)
    return None


@final
class KvStorage(metaclass=NoPublicConstructor):
    """An actor's key-value storage: ``storage.kv``. Synchronous; never yields.

    Keys are non-empty ``str`` of at most 2,048 UTF-8 bytes, without lone surrogates, not starting
    with ``__lmz``. Values are anything :func:`lumenize_trio.clone.dumps` accepts; what comes back
    is always a fresh copy (changing it changes nothing stored). A key plus its encoded value may
    be at most 2 MiB. Keys are ordered by their UTF-8 bytes, as on the platform.

    Writes join the actor's open transaction: they are visible at once to every later read and
    become durable at the runtime's next commit (see ``docs/storage.md``).

    Every method raises :class:`~lumenize_trio.StorageClosedError` after the storage is closed.

    .. versionadded:: 0.1
    """

    __slots__ = ("_core",)

    def __init__(self, core: StorageCore) -> None:
        self._core = core

    def get(self, key: str, default: object = None) -> object:
        """The value stored under ``key`` (a fresh copy), or ``default`` if there is none.

        Raises:
            TypeError, ValueError, StorageLimitError, ReservedNameError: ``key`` is not a valid key.
        """
        core = self._core
        core.usable()
        cache = core.kv_cache
        if type(key) is str:
            cached = cache.get(key, cache)  # the cache itself: not there
            if cached is not cache:
                return default if cached is ABSENT else cached  # only valid keys are cached
        key_size(key)
        rows = core.read(_GET, (key,))
        if not rows:
            _remember(cache, key, ABSENT)
            return default
        data: bytes = rows[0][0]  # type: ignore[assignment]  # the value column holds BLOBs
        value = clone.loads(data)
        _remember(cache, key, value)
        return value

    def put(self, key: str, value: object) -> None:
        """Store ``value`` under ``key``, replacing any value there.

        The value is encoded before anything is written, so a failure leaves storage unchanged.

        Raises:
            TypeError, ValueError, StorageLimitError, ReservedNameError: ``key`` is not a valid key.
            DataCloneError: ``value`` cannot be cloned.
            StorageLimitError: key plus encoded value exceed 2 MiB.
        """
        core = self._core
        core.usable()
        data = encode_value(key_size(key), value, key)
        core.written(_PUT, (key, data))
        _remember(core.kv_cache, key, value)

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was there.

        Raises:
            TypeError, ValueError, StorageLimitError, ReservedNameError: ``key`` is not a valid key.
        """
        self._core.usable()
        check_key(key)
        removed = self._core.write(_DELETE, (key,)) > 0
        _remember(self._core.kv_cache, key, ABSENT)
        if removed:
            self._core.dirty = True
        else:
            self._core.settle()
        return removed

    def get_many(self, keys: Iterable[str]) -> dict[str, object]:
        """The stored values of ``keys`` (at most 128), in key order; missing keys are left out.

        Raises:
            TypeError: ``keys`` is a single ``str`` or not iterable.
            StorageLimitError: more than 128 keys.
            TypeError, ValueError, StorageLimitError, ReservedNameError: a key is not valid.
        """
        self._core.usable()
        found: dict[str, bytes] = {}
        for key in _batch(keys, "get_many()"):
            rows = self._core.query(_GET, (key,))
            if rows:
                found[key] = cast("bytes", rows[0][0])
        # Python compares str by code point, which is the UTF-8 byte order.
        return {key: clone.loads(found[key]) for key in sorted(found)}

    def put_many(self, entries: Mapping[str, object]) -> None:
        """Store every ``key: value`` of ``entries`` (at most 128), all or nothing.

        Every key is checked and every value encoded before anything is written.

        Raises:
            TypeError: ``entries`` is not a mapping.
            StorageLimitError: more than 128 entries, or an entry over 2 MiB.
            TypeError, ValueError, StorageLimitError, ReservedNameError: a key is not valid.
            DataCloneError: a value cannot be cloned.
        """
        self._core.usable()
        if not isinstance(entries, Mapping):
            raise TypeError(f"put_many() takes a mapping of keys to values, not {type(entries).__name__}")
        keys = _batch(entries.keys(), "put_many()")
        rows = [(key, encode_value(len(key.encode("utf-8")), entries[key], key)) for key in keys]
        if not rows:
            return
        with self._core.savepoint():
            self._core.write_many(_PUT, rows)
            self._core.dirty = True
        for key in keys:
            self._core.kv_cache.pop(key, None)

    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove every key in ``keys`` (at most 128); return how many were there.

        Raises:
            TypeError: ``keys`` is a single ``str`` or not iterable.
            StorageLimitError: more than 128 keys.
            TypeError, ValueError, StorageLimitError, ReservedNameError: a key is not valid.
        """
        self._core.usable()
        batch = _batch(keys, "delete_many()")
        if not batch:
            return 0
        removed = 0
        with self._core.savepoint():
            for key in batch:
                removed += self._core.write(_DELETE, (key,))
            if removed:
                self._core.dirty = True
        for key in batch:
            _remember(self._core.kv_cache, key, ABSENT)
        self._core.settle()
        return removed

    def list(
        self,
        *,
        prefix: str | None = None,
        start: str | None = None,
        start_after: str | None = None,
        end: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> dict[str, object]:
        """Entries in key order (UTF-8 byte order), each value a fresh copy.

        Args:
            prefix: only keys starting with this.
            start: only keys ``>= start``.
            start_after: only keys ``> start_after`` (not together with ``start``).
            end: only keys ``< end``.
            reverse: descending order. The range stays the same: ``start``/``end`` keep their
                meaning, and ``limit`` takes entries from the high end.
            limit: at most this many entries (a positive int).

        Returns:
            A ``dict`` whose iteration order is the result order.

        Raises:
            ValueError: ``start`` and ``start_after`` together; ``limit`` below 1; a bound holds a
                lone surrogate.
            TypeError: a bound is not a ``str``, or ``limit`` is not an ``int``.
        """
        self._core.usable()
        if start is not None and start_after is not None:
            raise ValueError("list() takes start or start_after, not both")
        clauses: list[str] = []
        params: list[object] = []
        for name, bound, operator in (
            ("prefix", prefix, ">="),
            ("start", start, ">="),
            ("start_after", start_after, ">"),
            ("end", end, "<"),
        ):
            if bound is None:
                continue
            if not isinstance(bound, str):
                raise TypeError(f"list(): {name} must be a str, not {type(bound).__name__}")
            utf8(bound, f"list(): {name}")
            clauses.append(f"key {operator} ?")
            params.append(bound)
        if prefix:
            upper = prefix_upper_bound(prefix)
            if upper is not None:
                clauses.append("key < ?")
                params.append(upper)
        sql = "SELECT key, value FROM main.__lmz_kv"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY key DESC" if reverse else " ORDER BY key"
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int):
                raise TypeError(f"list(): limit must be an int, not {type(limit).__name__}")
            if limit < 1:
                raise ValueError(f"list(): limit must be positive, not {limit}")
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._core.query(sql, params)
        return {cast("str", key): clone.loads(cast("bytes", value)) for key, value in rows}

    def __repr__(self) -> str:
        return "<lumenize_trio.storage.KvStorage>"
