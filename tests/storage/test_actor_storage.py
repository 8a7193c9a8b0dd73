"""Tests for `lumenize_trio.storage._actor_storage` and `._schema`: opening, alarm, metadata, close."""

from __future__ import annotations

import ast
import math
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import lumenize_trio
from lumenize_trio import storage as storage_module, testing as testing_module
from lumenize_trio.clone import DataCloneError
from lumenize_trio.storage import (
    ActorStorage,
    KvStorage,
    SqlCursor,
    SqlStorage,
    StorageClosedError,
    StorageError,
    open_actor_storage,
)


def pragma(storage: ActorStorage, name: str) -> object:
    return storage._core.conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_open_file_uses_wal_and_the_durability_mode(db_path: Path) -> None:
    with open_actor_storage(db_path) as full:
        assert full.path == str(db_path)
        assert full.durability == "full"
        assert pragma(full, "journal_mode") == "wal"
        assert pragma(full, "synchronous") == 2  # FULL
        assert pragma(full, "foreign_keys") == 1
        assert pragma(full, "cache_size") == -128
        assert full._core.conn.isolation_level is None
    with open_actor_storage(str(db_path), durability="normal") as normal:
        assert normal.durability == "normal"
        assert pragma(normal, "synchronous") == 1  # NORMAL


def test_open_in_memory() -> None:
    with open_actor_storage(None) as memory:
        assert memory.path is None
        assert pragma(memory, "journal_mode") == "memory"
        assert "':memory:'" in repr(memory)
    with open_actor_storage(":memory:") as named:
        assert named.path is None


def test_open_creates_the_reserved_tables_once(db_path: Path) -> None:
    with open_actor_storage(db_path) as first:
        first.kv.put("k", 1)
        first.commit()
    with open_actor_storage(db_path) as second:
        assert second.kv.get("k") == 1
    reader = sqlite3.connect(db_path)
    try:
        tables = sorted(
            row[0] for row in reader.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        )
        assert tables == ["__lmz_alarm", "__lmz_kv", "__lmz_meta"]
        assert reader.execute("PRAGMA application_id").fetchone()[0] == 0x4C4D5A31
        assert reader.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        reader.close()


def test_open_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability must be 'full' or 'normal', not 'off'"):
        open_actor_storage(None, durability="off")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        open_actor_storage("")
    with pytest.raises(TypeError, match=r"os\.PathLike"):
        open_actor_storage(b"/tmp/x.db")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="before_commit must be callable"):
        open_actor_storage(None, before_commit=42)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="cannot open actor storage"):
        open_actor_storage(tmp_path / "missing-dir" / "actor.db")


def test_open_refuses_foreign_and_newer_databases(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("PRAGMA application_id = 7")
    conn.close()
    with pytest.raises(StorageError, match="not a lumenize_trio actor database"):
        open_actor_storage(foreign)
    newer = tmp_path / "newer.db"
    open_actor_storage(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StorageError, match="newer lumenize_trio"):
        open_actor_storage(newer)


def test_open_fails_fast_when_another_connection_holds_the_database(db_path: Path) -> None:
    """A second activation of the same actor gets an error at once, never a blocking wait."""
    with open_actor_storage(db_path) as first:
        first.kv.put("k", 1)  # holds the write lock until commit
        with pytest.raises(StorageError, match="locked"):
            open_actor_storage(db_path)


def test_not_a_database_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="actor storage"):
        open_actor_storage(junk)


def test_alarm_set_get_delete(storage: ActorStorage) -> None:
    assert storage.get_alarm() is None
    storage.set_alarm(1_000)
    alarm = storage.get_alarm()
    assert alarm == 1000.0
    assert isinstance(alarm, float)
    when = datetime(2031, 3, 4, 5, 6, 7, 890000, tzinfo=timezone(timedelta(hours=-5)))
    storage.set_alarm(when)
    assert storage.get_alarm() == when.timestamp()
    storage.set_alarm(datetime(1969, 12, 31, tzinfo=UTC))  # the past means "as soon as possible"
    assert storage.get_alarm() == -86400.0
    storage.delete_alarm()
    assert storage.get_alarm() is None
    storage.commit()
    storage.delete_alarm()  # no alarm: nothing to commit
    assert not storage.has_uncommitted_writes


@pytest.mark.parametrize(
    ("when", "error", "message"),
    [
        (datetime(2030, 1, 1), ValueError, "aware datetime"),
        (math.nan, ValueError, "finite"),
        (math.inf, ValueError, "finite"),
        (10**400, ValueError, "representable"),
        (True, TypeError, "epoch seconds"),
        ("2030-01-01", TypeError, "epoch seconds"),
        (None, TypeError, "epoch seconds"),
    ],
    ids=repr,
)
def test_alarm_bad_times(storage: ActorStorage, when: object, error: type[Exception], message: str) -> None:
    storage.set_alarm(5.0)
    storage.commit()
    with pytest.raises(error, match=message):
        storage.set_alarm(when)  # type: ignore[arg-type]
    assert storage.get_alarm() == 5.0
    assert not storage.has_uncommitted_writes


def test_meta_is_outside_the_kv_namespace(storage: ActorStorage) -> None:
    assert storage.get_meta("__lmz_binding") is None
    storage.put_meta("__lmz_binding", "MY_DO")
    storage.put_meta("identity", {"instance": "alice", "ids": [1, 2]})
    assert storage.get_meta("__lmz_binding") == "MY_DO"
    assert storage.get_meta("identity") == {"instance": "alice", "ids": [1, 2]}
    assert storage.kv.list() == {}
    storage.kv.put("k", 1)
    storage.delete_all()
    assert storage.get_meta("__lmz_binding") == "MY_DO"
    assert storage.delete_meta("__lmz_binding") is True
    assert storage.delete_meta("__lmz_binding") is False
    assert storage.get_meta("__lmz_binding") is None


def test_meta_errors(storage: ActorStorage) -> None:
    with pytest.raises(TypeError, match="metadata key must be a str"):
        storage.get_meta(1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        storage.put_meta("", 1)
    with pytest.raises(ValueError, match="at most 2048"):
        storage.put_meta("m" * 2049, 1)
    with pytest.raises(ValueError, match="lone surrogate"):
        storage.delete_meta("\ud800")
    with pytest.raises(DataCloneError):
        storage.put_meta("m", object())
    assert not storage.has_uncommitted_writes


def test_delete_all_removes_data_schema_and_alarm(storage: ActorStorage) -> None:
    sql = storage.sql
    storage.kv.put("k", 1)
    storage.set_alarm(1.0)
    sql.exec("CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT)")
    sql.exec("CREATE TABLE child (p INTEGER REFERENCES parent (id))")
    sql.exec('CREATE TABLE "we""ird name" (x)')
    sql.exec("CREATE INDEX child_p ON child (p)")
    sql.exec("CREATE VIEW v AS SELECT * FROM child")
    sql.exec("CREATE TRIGGER tr AFTER INSERT ON parent BEGIN INSERT INTO child VALUES (new.id); END")
    sql.exec("CREATE VIRTUAL TABLE docs USING fts5(body)")
    sql.exec("CREATE TEMP TABLE scratch (x)")
    sql.exec("INSERT INTO parent DEFAULT VALUES; INSERT INTO docs VALUES ('text'); ANALYZE")
    storage.commit()
    storage.delete_all()
    assert storage.has_uncommitted_writes
    assert storage.kv.list() == {}
    assert storage.get_alarm() is None
    left = sql.exec(
        "SELECT name FROM sqlite_schema WHERE name NOT LIKE '\\_\\_lmz%' ESCAPE '\\' "
        "UNION ALL SELECT name FROM sqlite_temp_schema"
    ).to_list()
    assert left in ([], [{"name": "sqlite_sequence"}])
    assert sql.exec("PRAGMA defer_foreign_keys").one() == {"defer_foreign_keys": 0}
    storage.commit()  # no foreign key is left violated
    sql.exec("CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT)")  # the names are free again


def test_delete_all_is_rolled_back_with_its_turn(storage: ActorStorage) -> None:
    storage.kv.put("k", 1)
    storage.sql.exec("CREATE TABLE t (x)")
    storage.commit()
    storage.begin_turn()
    storage.delete_all()
    storage.end_turn(False)
    assert storage.kv.list() == {"k": 1}
    assert storage.sql.exec("SELECT count(*) AS n FROM t").one() == {"n": 0}


def test_close_is_idempotent_and_final(storage: ActorStorage) -> None:
    storage.close()
    storage.close()
    assert storage.closed
    assert "closed" in repr(storage)
    operations = [
        lambda: storage.kv.get("k"),
        lambda: storage.kv.put("k", 1),
        lambda: storage.kv.delete("k"),
        lambda: storage.kv.list(),
        lambda: storage.kv.get_many(["k"]),
        lambda: storage.kv.put_many({"k": 1}),
        lambda: storage.kv.delete_many(["k"]),
        lambda: storage.sql.exec("SELECT 1"),
        lambda: storage.sql.database_size,
        lambda: storage.transaction_sync(lambda: None),
        storage.delete_all,
        storage.get_alarm,
        lambda: storage.set_alarm(1.0),
        storage.delete_alarm,
        lambda: storage.get_meta("m"),
        lambda: storage.put_meta("m", 1),
        lambda: storage.delete_meta("m"),
        storage.begin_turn,
        lambda: storage.end_turn(True),
        storage.commit,
        storage.rollback,
    ]
    for operation in operations:
        with pytest.raises(StorageClosedError, match="closed"):
            operation()


def test_no_public_constructors(storage: ActorStorage) -> None:
    for cls in (ActorStorage, KvStorage, SqlStorage, SqlCursor):
        with pytest.raises(TypeError, match="no public constructor"):
            cls(storage._core)  # type: ignore[arg-type, call-arg]


def test_repr_shows_state(storage: ActorStorage) -> None:
    assert "clean" in repr(storage)
    storage.kv.put("k", 1)
    assert "uncommitted writes" in repr(storage)
    assert "durability='full'" in repr(storage)


def test_exports_are_sorted_documented_and_public() -> None:
    for module in (storage_module, testing_module):
        assert module.__all__ == sorted(module.__all__)  # plain sorted(), as tests/test_exports.py pins
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) or callable(obj):
                assert obj.__doc__, f"{module.__name__}.{name} has no docstring"
    for name in ("ActorStorage", "KvStorage", "SqlCursor", "SqlStorage", "open_actor_storage"):
        assert getattr(storage_module, name).__module__ == "lumenize_trio.storage"
    assert issubclass(storage_module.StorageError, lumenize_trio.LumenizeError)
    assert issubclass(storage_module.StorageLimitError, ValueError)
    assert issubclass(storage_module.ReservedNameError, ValueError)
    assert issubclass(storage_module.SqlNotAllowedError, storage_module.SqlError)
    assert issubclass(storage_module.StorageCommitError, storage_module.StorageError)


def test_storage_and_testing_never_import_trio() -> None:
    """The storage layer is synchronous; Trio belongs to the runtime above it (DESIGN §3)."""
    root = Path(lumenize_trio.__file__).parent
    for package in ("storage", "testing"):
        for source in sorted((root / package).glob("*.py")):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    imported = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    imported = [node.module or ""]
                else:
                    continue
                assert not any(name.split(".")[0] == "trio" for name in imported), f"{source} imports trio"


def test_an_open_database_is_exclusive_to_its_storage(db_path: Path) -> None:
    """Another connection cannot touch an open actor database: it fails at once, and the
    actor's storage is unaffected (an actor has one activation; a second process must not share it)."""
    with open_actor_storage(db_path) as storage:
        storage.kv.put("k", 1)
        storage.commit()
        intruder = sqlite3.connect(db_path, isolation_level=None, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                intruder.execute("BEGIN IMMEDIATE")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                intruder.execute("SELECT * FROM sqlite_master").fetchall()
        finally:
            intruder.close()
        storage.kv.put("k", 3)
        storage.commit()
        assert storage.kv.get("k") == 3
    with open_actor_storage(db_path) as again:  # closed: the lock is gone
        assert again.kv.get("k") == 3


def test_a_corrupt_database_surfaces_as_storage_error(db_path: Path) -> None:
    with open_actor_storage(db_path) as storage:
        storage.kv.put_many({f"key{i}": "x" * 500 for i in range(40)})
        storage.commit()
    data = bytearray(db_path.read_bytes())
    page_size = 4096
    data[page_size : 4 * page_size] = b"\xa5" * (3 * page_size)  # trash pages 2-4, keep the header
    db_path.write_bytes(bytes(data))
    with open_actor_storage(db_path) as storage, pytest.raises(StorageError, match="malformed"):
        storage.kv.list()
