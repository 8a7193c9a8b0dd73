"""Tests for `lumenize_trio.storage._kv` (``storage.kv``)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lumenize_trio import clone
from lumenize_trio.clone import DataCloneError
from lumenize_trio.storage import (
    MAX_BATCH_KEYS,
    MAX_ENTRY_BYTES,
    MAX_KEY_BYTES,
    ActorStorage,
    ReservedNameError,
    StorageLimitError,
    open_actor_storage,
)
from lumenize_trio.storage._kv import check_key, key_size, prefix_upper_bound


def utf8_sorted(keys: object) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))  # type: ignore[call-overload,no-any-return]


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        -(2**80),
        1.25,
        -0.0,
        "",
        "text \U0001f600",
        b"\x00\xff",
        [1, "two", [3]],
        {"nested": {"set": {1, 2}}},
        (1, 2),
        datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC),
    ],
    ids=repr,
)
def test_kv_put_get_round_trips(storage: ActorStorage, value: object) -> None:
    storage.kv.put("k", value)
    got = storage.kv.get("k")
    assert got == value
    assert type(got) is type(value)


def test_kv_negative_zero_and_nan_survive(storage: ActorStorage) -> None:
    storage.kv.put("z", -0.0)
    storage.kv.put("n", math.nan)
    z = storage.kv.get("z")
    n = storage.kv.get("n")
    assert isinstance(z, float)
    assert math.copysign(1.0, z) == -1.0
    assert isinstance(n, float)
    assert math.isnan(n)


def test_kv_get_returns_fresh_copies(storage: ActorStorage) -> None:
    stored = {"list": [1, 2]}
    storage.kv.put("k", stored)
    stored["list"].append(3)
    first = storage.kv.get("k")
    assert first == {"list": [1, 2]}
    assert isinstance(first, dict)
    first["list"].append(99)
    assert storage.kv.get("k") == {"list": [1, 2]}
    assert storage.kv.get("k") is not storage.kv.get("k")


def test_kv_aliases_inside_a_value_survive(storage: ActorStorage) -> None:
    shared = [1]
    storage.kv.put("k", {"a": shared, "b": shared})
    got = storage.kv.get("k")
    assert isinstance(got, dict)
    assert got["a"] is got["b"]


def test_kv_get_default_and_delete(storage: ActorStorage) -> None:
    assert storage.kv.get("missing") is None
    assert storage.kv.get("missing", 42) == 42
    storage.kv.put("k", None)
    assert storage.kv.get("k", 42) is None  # a stored None is not "missing"
    assert storage.kv.delete("k") is True
    assert storage.kv.delete("k") is False
    assert storage.kv.get("k", 42) == 42


def test_kv_delete_of_missing_key_leaves_nothing_to_commit(storage: ActorStorage) -> None:
    assert storage.kv.delete("missing") is False
    assert not storage.has_uncommitted_writes


# Each pair sorts one way by UTF-8 bytes (= code points) and the other way by UTF-16 code units,
# so a store that sorted UTF-16 (as JavaScript strings do) would fail.
UTF16_DISAGREES = ("\uff61", "\U0001f600", "\ue000", "\U00010000", "\uffff", "\U0010fffd")


def test_kv_list_orders_keys_by_utf8_bytes_not_utf16(storage: ActorStorage) -> None:
    keys = [*UTF16_DISAGREES, "a", "B", "é", "a\x00b", "aa", "\x01", "ÿ"]
    for key in keys:
        storage.kv.put(key, key)
    expected = utf8_sorted(keys)
    utf16_order = sorted(keys, key=lambda k: k.encode("utf-16-be"))
    assert expected != utf16_order  # the keys really tell the two orders apart
    assert list(storage.kv.list()) == expected
    assert list(storage.kv.list(reverse=True)) == expected[::-1]
    assert list(storage.kv.list().values()) == expected


def test_kv_list_options(storage: ActorStorage) -> None:
    for key in ["a", "b", "ba", "bb", "c", "d"]:
        storage.kv.put(key, key.upper())
    kv = storage.kv
    assert kv.list(prefix="b") == {"b": "B", "ba": "BA", "bb": "BB"}
    assert list(kv.list(start="b")) == ["b", "ba", "bb", "c", "d"]
    assert list(kv.list(start_after="b")) == ["ba", "bb", "c", "d"]
    assert list(kv.list(end="bb")) == ["a", "b", "ba"]
    assert list(kv.list(start="b", end="c")) == ["b", "ba", "bb"]
    assert list(kv.list(start="b", end="c", reverse=True)) == ["bb", "ba", "b"]
    assert list(kv.list(limit=2)) == ["a", "b"]
    assert list(kv.list(limit=2, reverse=True)) == ["d", "c"]
    assert list(kv.list(prefix="b", start_after="b", limit=1)) == ["ba"]
    assert list(kv.list(prefix="b", end="bb")) == ["b", "ba"]
    assert list(kv.list(prefix="")) == ["a", "b", "ba", "bb", "c", "d"]
    assert kv.list(start="x") == {}
    assert kv.list(start="c", end="b") == {}


def test_kv_list_prefix_at_code_point_edges(storage: ActorStorage) -> None:
    top = "\U0010ffff"
    keys = ["a" + top, "a" + top + "x", "a" + top + top, "b", "\ud7ff", "\ud7ffz", "\ue000"]
    for key in keys:
        storage.kv.put(key, 1)
    assert list(storage.kv.list(prefix="a" + top)) == ["a" + top, "a" + top + "x", "a" + top + top]
    assert list(storage.kv.list(prefix=top)) == []
    storage.kv.put(top + "q", 1)
    assert list(storage.kv.list(prefix=top)) == [top + "q"]  # no upper bound exists
    assert list(storage.kv.list(prefix="\ud7ff")) == ["\ud7ff", "\ud7ffz"]  # bound skips surrogates


def test_kv_prefix_upper_bound() -> None:
    assert prefix_upper_bound("") is None
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff\U0010ffff") is None
    assert prefix_upper_bound("\ud7ff") == "\ue000"


def test_kv_list_argument_errors(storage: ActorStorage) -> None:
    kv = storage.kv
    with pytest.raises(ValueError, match="start or start_after"):
        kv.list(start="a", start_after="b")
    with pytest.raises(ValueError, match="positive"):
        kv.list(limit=0)
    with pytest.raises(TypeError, match="limit must be an int"):
        kv.list(limit=True)
    with pytest.raises(TypeError, match="prefix must be a str"):
        kv.list(prefix=b"a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lone surrogate"):
        kv.list(end="\udc00")


KEY_ALPHABET = st.sampled_from(
    ["a", "b", "é", "\x00", "\uff61", "\U0001f600", "\ud7ff", "\ue000", "\U0010ffff"]
)
KEYS = st.text(KEY_ALPHABET, min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keys=st.sets(KEYS, max_size=12),
    prefix=st.none() | st.text(KEY_ALPHABET, max_size=2),
    start=st.none() | KEYS,
    exclusive=st.booleans(),
    end=st.none() | KEYS,
    reverse=st.booleans(),
    limit=st.none() | st.integers(1, 5),
)
def test_kv_list_matches_a_model(
    keys: set[str],
    prefix: str | None,
    start: str | None,
    exclusive: bool,
    end: str | None,
    reverse: bool,
    limit: int | None,
) -> None:
    """``list`` over random keys and options agrees with filtering a sorted Python list."""
    with open_actor_storage(None) as storage:
        storage.kv.put_many(dict.fromkeys(keys, 0))
        expected = [
            k
            for k in utf8_sorted(keys)
            if (prefix is None or k.startswith(prefix))
            and (start is None or (k > start if exclusive else k >= start))
            and (end is None or k < end)
        ]
        if reverse:
            expected.reverse()
        if limit is not None:
            expected = expected[:limit]
        options = {"start_after": start} if exclusive else {"start": start}
        got = storage.kv.list(prefix=prefix, end=end, reverse=reverse, limit=limit, **options)
        assert list(got) == expected


def test_kv_key_validation(storage: ActorStorage) -> None:
    kv = storage.kv
    with pytest.raises(TypeError, match="must be a str"):
        kv.put(b"k", 1)  # type: ignore[arg-type]
    kv.put("k", 1)
    for key in (b"k", ["k"], 5):  # never mistaken for a cached key, nor a hashing error
        with pytest.raises(TypeError, match="must be a str"):
            kv.get(key)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        kv.get("")
    with pytest.raises(ValueError, match="lone surrogate"):
        kv.put("a\ud83d", 1)
    with pytest.raises(StorageLimitError, match="2048"):
        kv.put("x" * (MAX_KEY_BYTES + 1), 1)
    with pytest.raises(StorageLimitError, match="2050"):
        kv.delete("€" * 683 + "x")  # 3 bytes each: 2,050 bytes in 684 characters
    kv.put("x" * MAX_KEY_BYTES, "longest")
    assert kv.get("x" * MAX_KEY_BYTES) == "longest"
    assert storage.kv.list() == {"k": 1, "x" * MAX_KEY_BYTES: "longest"}


def test_kv_keys_with_nul_characters(storage: ActorStorage) -> None:
    storage.kv.put("a\x00", 1)
    storage.kv.put("a", 2)
    storage.kv.put("a\x00\x00", 3)
    assert storage.kv.list() == {"a": 2, "a\x00": 1, "a\x00\x00": 3}
    assert storage.kv.get("a\x00") == 1


@pytest.mark.parametrize("key", ["__lmz", "__lmz_identity", "__lmzanything"])
def test_kv_reserved_prefix_is_refused(storage: ActorStorage, key: str) -> None:
    for call in (
        lambda: storage.kv.put(key, 1),
        lambda: storage.kv.get(key),
        lambda: storage.kv.delete(key),
        lambda: storage.kv.put_many({"ok": 1, key: 2}),
        lambda: storage.kv.get_many([key]),
        lambda: storage.kv.delete_many(["ok", key]),
    ):
        with pytest.raises(ReservedNameError, match="reserved"):
            call()
    assert storage.kv.list() == {}
    assert not storage.has_uncommitted_writes


def test_kv_reserved_prefix_is_case_sensitive(storage: ActorStorage) -> None:
    for key in ("__LMZ_x", "_lmz", "x__lmz"):
        storage.kv.put(key, 1)
    assert list(storage.kv.list()) == utf8_sorted(["__LMZ_x", "_lmz", "x__lmz"])
    assert storage.kv.list(prefix="__lmz") == {}


def test_kv_entry_size_limit_is_exact(storage: ActorStorage) -> None:
    key = "k" * 10
    overhead = len(clone.dumps(b"x" * 100_000)) - 100_000  # CBOR header of a large byte string
    fits = MAX_ENTRY_BYTES - len(key) - overhead
    storage.kv.put(key, b"x" * fits)
    stored = storage.kv.get(key)
    assert isinstance(stored, bytes)
    assert len(stored) == fits
    with pytest.raises(StorageLimitError, match=str(MAX_ENTRY_BYTES + 1)):
        storage.kv.put(key, b"x" * (fits + 1))
    stored_again = storage.kv.get(key)
    assert isinstance(stored_again, bytes)
    assert len(stored_again) == fits


def test_kv_unclonable_value_stores_nothing(storage: ActorStorage) -> None:
    storage.kv.put("k", "old")
    storage.commit()
    with pytest.raises(DataCloneError):
        storage.kv.put("k", lambda: None)
    with pytest.raises(DataCloneError):
        storage.kv.put_many({"a": 1, "b": object(), "c": 3})
    assert storage.kv.list() == {"k": "old"}
    assert not storage.has_uncommitted_writes


def test_kv_batches(storage: ActorStorage) -> None:
    kv = storage.kv
    kv.put_many({"c": 3, "a": 1, "b": 2})
    assert list(kv.get_many(["c", "x", "a", "a"]).items()) == [("a", 1), ("c", 3)]
    assert kv.get_many([]) == {}
    assert kv.get_many(iter(["b"])) == {"b": 2}
    assert kv.delete_many(["a", "a", "x"]) == 1
    assert kv.delete_many([]) == 0
    assert kv.list() == {"b": 2, "c": 3}
    kv.put_many({})
    batch = {f"k{i:03}": i for i in range(MAX_BATCH_KEYS)}
    kv.put_many(batch)
    assert len(kv.get_many(list(batch))) == MAX_BATCH_KEYS
    assert kv.delete_many(list(batch)) == MAX_BATCH_KEYS


def test_kv_batches_are_capped_at_128(storage: ActorStorage) -> None:
    keys = [f"k{i}" for i in range(MAX_BATCH_KEYS + 1)]
    with pytest.raises(StorageLimitError, match="at most 128 keys per call; got 129"):
        storage.kv.put_many(dict.fromkeys(keys, 1))
    with pytest.raises(StorageLimitError, match="128"):
        storage.kv.get_many(keys)
    with pytest.raises(StorageLimitError, match="128"):
        storage.kv.delete_many(keys)
    assert storage.kv.list() == {}


def test_kv_batch_argument_types(storage: ActorStorage) -> None:
    with pytest.raises(TypeError, match="iterable of keys"):
        storage.kv.get_many("abc")
    with pytest.raises(TypeError, match="iterable of keys"):
        storage.kv.delete_many(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping"):
        storage.kv.put_many([("a", 1)])  # type: ignore[arg-type]


def test_kv_delete_many_of_missing_keys_leaves_nothing_to_commit(storage: ActorStorage) -> None:
    assert storage.kv.delete_many(["x", "y"]) == 0
    assert not storage.has_uncommitted_writes


def test_kv_repr(storage: ActorStorage) -> None:
    assert repr(storage.kv) == "<lumenize_trio.storage.KvStorage>"


@given(
    st.one_of(
        st.text(max_size=20),
        st.text(alphabet=st.characters(max_codepoint=127), min_size=2040, max_size=2056),
        st.text(alphabet=st.characters(max_codepoint=127), max_size=8).map(lambda s: "__lmz" + s),
        st.integers(),
        st.binary(max_size=4),
        st.just("é" * 1025),
    )
)
def test_key_size_agrees_with_check_key(key: object) -> None:
    """The ASCII fast path of key_size accepts exactly what check_key accepts, with its size."""
    try:
        expected: int | type[Exception] = len(check_key(key))
    except Exception as exc:
        expected = type(exc)
    try:
        got: int | type[Exception] = key_size(key)
    except Exception as exc:
        got = type(exc)
    assert got == expected
