"""``check_storage_backend``: the behaviour every actor storage backend must show.

Each check opens fresh storage from the factory, drives it through one area of the contract
(KV round trips and ordering, ``list`` options, limits, turns, group commit, commit failure,
reserved names, SQL, alarm, ``delete_all``, close) with plain ``assert`` statements whose
messages say what was expected, and closes it again.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from .._exceptions import (
    DataCloneError,
    ReservedNameError,
    SqlError,
    SqlNotAllowedError,
    StorageClosedError,
    StorageCommitError,
    StorageError,
    StorageLimitError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..storage import ActorStorage


class StorageFactory(Protocol):
    """Makes fresh, empty actor storage; ``before_commit`` is passed on to the backend.

    For the SQLite backend: ``functools.partial(open_actor_storage, None)`` (in memory), or a
    function that opens a new file each call.

    .. versionadded:: 0.1
    """

    def __call__(self, *, before_commit: Callable[[], None] | None = None) -> ActorStorage: ...


# Keys whose UTF-8 byte order differs from UTF-16 code-unit order (U+FF61 sorts after U+1F600
# in UTF-16 but before it in UTF-8) and from naive ASCII expectations.
_ORDER_KEYS = ("\U0001f600", "\uff61", "\ue000", "\ud7ff", "é", "ÿ", "a", "Z", "a\x00", "aa", "~")


def _expect_error(error: type[BaseException], what: str, fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except error as exc:
        return exc
    except BaseException as exc:  # pragma: no cover - only reached by a non-conforming backend
        raise AssertionError(f"{what}: expected {error.__name__}, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"{what}: expected {error.__name__}, nothing was raised")


def _check_kv_round_trips(storage: ActorStorage) -> None:
    kv = storage.kv
    values: dict[str, object] = {
        "none": None,
        "int": -(2**70),
        "float": 1.5,
        "str": "héllo \U0001f600",
        "bytes": b"\x00\xff",
        "list": [1, [2, {"x": (3, 4)}]],
        "dict": {"a": {1, 2}, 3: "int key"},
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    for key, value in values.items():
        kv.put(key, value)
    for key, value in values.items():
        got = kv.get(key)
        assert got == value, f"kv.get({key!r}) returned {got!r}, expected {value!r}"
    kv.put("nan", math.nan)
    nan = kv.get("nan")
    assert isinstance(nan, float), f"NaN must come back as a float, got {nan!r}"
    assert math.isnan(nan), f"NaN must round-trip, got {nan!r}"
    first = kv.get("list")
    assert isinstance(first, list), f"a list must come back as a list, got {first!r}"
    first.append("mutated")
    assert kv.get("list") == values["list"], "changing a value returned by get() must not change storage"
    assert kv.get("list") is not kv.get("list"), "every get() must return a fresh copy"
    original = {"k": [1]}
    kv.put("copy", original)
    original["k"].append(2)
    assert kv.get("copy") == {"k": [1]}, "put() must store a copy, not the caller's object"
    assert kv.get("missing") is None, "get() of a missing key must return None"
    marker = object()
    assert kv.get("missing", marker) is marker, "get() of a missing key must return the default"
    assert kv.delete("int") is True, "delete() of a present key must return True"
    assert kv.delete("int") is False, "delete() of a missing key must return False"
    assert kv.get("int") is None, "a deleted key must be gone"
    kv.put("str", "replaced")
    assert kv.get("str") == "replaced", "put() must replace an existing value"


def _check_kv_order_and_list(storage: ActorStorage) -> None:
    kv = storage.kv
    for index, key in enumerate(_ORDER_KEYS):
        kv.put(key, index)
    expected = sorted(_ORDER_KEYS, key=lambda k: k.encode("utf-8"))
    got = list(kv.list())
    assert got == expected, f"list() must be in UTF-8 byte order: expected {expected!r}, got {got!r}"
    assert list(kv.list(reverse=True)) == expected[::-1], "list(reverse=True) must be descending"
    assert list(kv.list(limit=2)) == expected[:2], "list(limit=2) must give the first two keys"
    assert list(kv.list(reverse=True, limit=2)) == expected[::-1][:2], (
        "reverse+limit must take from the high end"
    )
    assert list(kv.list(prefix="a")) == ["a", "a\x00", "aa"], f"prefix='a' gave {list(kv.list(prefix='a'))!r}"
    assert list(kv.list(start="a", end="aa")) == ["a", "a\x00"], "start is inclusive, end exclusive"
    assert list(kv.list(start_after="a", end="~")) == ["a\x00", "aa"], "start_after is exclusive"
    window = list(kv.list(start="Z", end="\uff61", reverse=True))
    assert window == ["\ue000", "\ud7ff", "ÿ", "é", "~", "aa", "a\x00", "a", "Z"], (
        f"reverse must keep the meaning of start/end: got {window!r}"
    )
    assert list(kv.list(prefix="\U0001f600")) == ["\U0001f600"], "prefix on a non-BMP key"
    assert kv.list(prefix="nothing-here") == {}, "an empty range gives an empty dict"
    assert kv.list(prefix="a") == {"a": 6, "a\x00": 8, "aa": 9}, "list() must return the values"
    _expect_error(ValueError, "list(start=..., start_after=...)", lambda: kv.list(start="a", start_after="b"))
    _expect_error(ValueError, "list(limit=0)", lambda: kv.list(limit=0))
    _expect_error(TypeError, "list(limit=1.5)", lambda: kv.list(limit=1.5))  # type: ignore[arg-type]


def _check_kv_batches_and_limits(storage: ActorStorage) -> None:
    kv = storage.kv
    kv.put_many({"b": 2, "a": 1, "c": 3})
    many = kv.get_many(["c", "missing", "a"])
    assert list(many.items()) == [("a", 1), ("c", 3)], (
        f"get_many() must skip missing keys, in key order: {many!r}"
    )
    assert kv.delete_many(["a", "missing", "b"]) == 2, "delete_many() must count the keys that were there"
    assert kv.list() == {"c": 3}, "delete_many() must delete"
    too_many = [f"k{i}" for i in range(129)]
    _expect_error(StorageLimitError, "get_many() of 129 keys", lambda: kv.get_many(too_many))
    _expect_error(
        StorageLimitError, "put_many() of 129 keys", lambda: kv.put_many(dict.fromkeys(too_many, 0))
    )
    _expect_error(StorageLimitError, "delete_many() of 129 keys", lambda: kv.delete_many(too_many))
    _expect_error(TypeError, "get_many() of a str", lambda: kv.get_many("abc"))
    _expect_error(ValueError, "an empty key", lambda: kv.put("", 1))
    _expect_error(TypeError, "a non-str key", lambda: kv.put(1, 1))  # type: ignore[arg-type]
    _expect_error(ValueError, "a key with a lone surrogate", lambda: kv.put("a\ud800", 1))
    _expect_error(StorageLimitError, "a key over 2048 bytes", lambda: kv.put("é" * 1025, 1))
    kv.put("é" * 1024, "ok")  # exactly 2048 bytes
    _expect_error(ReservedNameError, "a reserved key", lambda: kv.put("__lmz_x", 1))
    _expect_error(ReservedNameError, "reading a reserved key", lambda: kv.get("__lmz_x"))
    _expect_error(StorageLimitError, "a value over 2 MiB", lambda: kv.put("big", b"x" * (2 * 1024 * 1024)))
    _expect_error(DataCloneError, "an unclonable value", lambda: kv.put("bad", lambda: None))
    _expect_error(
        DataCloneError,
        "put_many() with one unclonable value",
        lambda: kv.put_many({"ok": 1, "bad": object()}),
    )
    for key in ("big", "bad", "ok"):
        assert kv.get(key) is None, f"a refused write must store nothing (found {key!r})"


def _check_turns(storage: ActorStorage) -> None:
    kv = storage.kv
    storage.begin_turn()
    kv.put("kept", 1)
    storage.end_turn(True)
    storage.begin_turn()
    kv.put("dropped", 2)
    kv.put("kept", "overwritten")
    storage.end_turn(False)
    assert kv.get("kept") == 1, "end_turn(False) must restore what the turn overwrote"
    assert kv.get("dropped") is None, "end_turn(False) must roll back the turn's writes"
    assert storage.has_uncommitted_writes, "the first turn's write is still uncommitted"
    storage.begin_turn()
    storage.end_turn(False)
    assert kv.get("kept") == 1, "rolling back one turn must not touch earlier turns"
    _expect_error(StorageError, "end_turn() without a turn", lambda: storage.end_turn(True))
    storage.begin_turn()
    _expect_error(StorageError, "begin_turn() inside a turn", storage.begin_turn)
    _expect_error(StorageError, "commit() inside a turn", storage.commit)
    storage.end_turn(True)

    def inner() -> None:
        kv.put("inner", 1)
        raise KeyError("boom")

    def outer() -> str:
        kv.put("outer", 1)
        _expect_error(KeyError, "transaction_sync() must re-raise", lambda: storage.transaction_sync(inner))
        return "result"

    storage.begin_turn()
    assert storage.transaction_sync(outer) == "result", "transaction_sync() must return fn's result"
    storage.end_turn(True)
    assert kv.get("outer") == 1, "the outer block's write must stay"
    assert kv.get("inner") is None, "the failed inner block's write must be rolled back"


def _check_group_commit(storage: ActorStorage) -> None:
    kv = storage.kv
    assert not storage.has_uncommitted_writes, "fresh storage has nothing to commit"
    storage.commit()  # nothing to do
    for value in (1, 2, 3):
        storage.begin_turn()
        kv.put(f"turn{value}", value)
        storage.end_turn(True)
    assert storage.has_uncommitted_writes, "three turns wrote"
    storage.commit()
    assert not storage.has_uncommitted_writes, "commit() must clear has_uncommitted_writes"
    kv.put("uncommitted", 1)
    storage.rollback()
    assert kv.get("uncommitted") is None, "rollback() must discard uncommitted writes"
    assert kv.list() == {"turn1": 1, "turn2": 2, "turn3": 3}, "rollback() must keep what was committed"
    storage.begin_turn()
    kv.put("in-open-turn", 1)
    storage.rollback()
    assert kv.get("in-open-turn") is None, "rollback() must also discard an open turn"
    storage.begin_turn()  # the turn was closed by rollback()
    storage.end_turn(True)
    storage.begin_turn()
    _ = kv.get("turn1")
    storage.end_turn(True)
    assert not storage.has_uncommitted_writes, "a read-only turn writes nothing"


def _check_commit_failure(factory: StorageFactory) -> None:
    failures: list[Exception] = []

    def before_commit() -> None:
        if failures:
            raise failures.pop()

    storage = factory(before_commit=before_commit)
    try:
        kv = storage.kv
        kv.put("committed", 1)
        storage.commit()
        kv.put("committed", "changed")
        kv.put("lost", 2)
        cause = RuntimeError("injected commit failure")
        failures.append(cause)
        error = _expect_error(StorageCommitError, "commit() with a failing before_commit", storage.commit)
        assert error.__cause__ is cause, "StorageCommitError.__cause__ must be the original error"
        assert not storage.has_uncommitted_writes, "a failed commit rolls everything back"
        assert kv.get("lost") is None, "a failed commit must roll back every uncommitted write"
        assert kv.get("committed") == 1, "a failed commit must keep what was committed earlier"
        kv.put("after", 3)
        storage.commit()
        assert kv.list() == {"after": 3, "committed": 1}, "storage must be usable after a failed commit"
    finally:
        storage.close()


def _check_reserved_names_and_sql(storage: ActorStorage) -> None:
    sql = storage.sql
    for statement in (
        "SELECT * FROM __lmz_kv",
        "select * from __LMZ_kv",
        "CREATE TABLE __lmz_mine (x)",
        "DROP TABLE __lmz_meta",
        "BEGIN",
        "COMMIT",
        "SAVEPOINT s",
        "ATTACH ':memory:' AS other",
        "PRAGMA journal_mode = DELETE",
    ):
        _expect_error(SqlNotAllowedError, f"sql.exec({statement!r})", functools.partial(sql.exec, statement))
    sql.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
    storage.begin_turn()
    cursor = sql.exec("INSERT INTO t (name, data) VALUES (?, ?)", "a", b"\x00\x01")
    assert cursor.rows_written == 1, f"rows_written must count the insert, got {cursor.rows_written}"
    _expect_error(SqlError, "a failing statement", lambda: sql.exec("INSERT INTO t (id) VALUES (1)"))
    _expect_error(SqlError, "a syntax error", lambda: sql.exec("SELEC 1"))
    storage.end_turn(True)
    rows = sql.exec("SELECT name, data FROM t").to_list()
    assert rows == [{"name": "a", "data": b"\x00\x01"}], (
        f"a failed statement must keep earlier writes: {rows!r}"
    )
    result = sql.exec("INSERT INTO t (name) VALUES ('b'); SELECT count(*) AS n FROM t")
    assert result.column_names == ["n"], "exec() returns the cursor of the last statement"
    assert result.one() == {"n": 2}, "several statements run in order"
    _expect_error(SqlError, "one() of zero rows", lambda: sql.exec("SELECT * FROM t WHERE id < 0").one())
    assert list(sql.exec("SELECT id, name FROM t ORDER BY id").raw()) == [(1, "a"), (2, "b")], (
        "raw() gives tuples"
    )


def _check_alarm_and_delete_all(storage: ActorStorage) -> None:
    assert storage.get_alarm() is None, "fresh storage has no alarm"
    storage.set_alarm(1_700_000_000.25)
    assert storage.get_alarm() == 1_700_000_000.25, "get_alarm() returns what set_alarm() stored"
    when = datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    storage.set_alarm(when)
    assert storage.get_alarm() == when.timestamp(), "an aware datetime is stored as epoch seconds"
    _expect_error(ValueError, "a naive datetime", lambda: storage.set_alarm(datetime(2030, 1, 1)))
    _expect_error(ValueError, "a NaN alarm", lambda: storage.set_alarm(math.nan))
    storage.delete_alarm()
    assert storage.get_alarm() is None, "delete_alarm() removes the alarm"
    storage.kv.put("k", 1)
    storage.set_alarm(1.0)
    storage.put_meta("identity", {"binding": "B"})
    storage.sql.exec("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER REFERENCES p (id))")
    storage.sql.exec("INSERT INTO p VALUES (1); INSERT INTO c VALUES (1); CREATE VIEW v AS SELECT * FROM c")
    storage.delete_all()
    assert storage.kv.list() == {}, "delete_all() removes every KV entry"
    assert storage.get_alarm() is None, "delete_all() removes the alarm"
    tables = storage.sql.exec(
        "SELECT name FROM sqlite_schema WHERE name NOT LIKE '\\_\\_lmz%' ESCAPE '\\'"
    ).to_list()
    assert tables == [], f"delete_all() removes every user table and view, left {tables!r}"
    assert storage.get_meta("identity") == {"binding": "B"}, "delete_all() keeps the runtime's metadata"
    storage.commit()


def _check_close(factory: StorageFactory) -> None:
    storage = factory()
    storage.kv.put("uncommitted", 1)
    storage.close()
    storage.close()  # idempotent
    assert storage.closed, "closed must be true after close()"
    for what, operation in (
        ("kv.get", lambda: storage.kv.get("a")),
        ("kv.put", lambda: storage.kv.put("a", 1)),
        ("sql.exec", lambda: storage.sql.exec("SELECT 1")),
        ("commit", storage.commit),
        ("begin_turn", storage.begin_turn),
        ("get_alarm", storage.get_alarm),
    ):
        _expect_error(StorageClosedError, f"{what} after close()", operation)


def check_storage_backend(factory: StorageFactory) -> None:
    """Check that the storage ``factory`` makes behaves as actor storage must; raise if not.

    ``factory(before_commit=None)`` must return fresh, empty, open storage on every call; the
    check closes what it opens. Covered: KV round trips (fresh copies), UTF-8 key order with
    non-ASCII keys, every ``list`` option, batch calls and the 128-key cap, key and value limits,
    reserved names (KV and SQL), unclonable values, turns (``end_turn(False)`` rolls back only its
    turn), nested ``transaction_sync``, group commit, commit failure through ``before_commit``
    (``StorageCommitError`` with the cause, everything since the last commit rolled back, storage
    usable after), user SQL basics, the alarm, ``delete_all`` and close.

    Raises:
        AssertionError: the backend does not conform; the message says which behaviour failed.

    .. versionadded:: 0.1
    """
    for check in (
        _check_kv_round_trips,
        _check_kv_order_and_list,
        _check_kv_batches_and_limits,
        _check_turns,
        _check_group_commit,
        _check_reserved_names_and_sql,
        _check_alarm_and_delete_all,
    ):
        storage = factory()
        try:
            check(storage)
        finally:
            storage.close()
    _check_commit_failure(factory)
    _check_close(factory)
