"""Tests for `lumenize_trio.storage._sql` and `._authorizer` (``storage.sql``)."""

from __future__ import annotations

import sqlite3

import pytest

from lumenize_trio.storage import (
    ALLOWED_PRAGMAS,
    MAX_SQL_BYTES,
    MAX_SQL_PARAMS,
    ActorStorage,
    SqlError,
    SqlNotAllowedError,
    StorageCommitError,
    StorageError,
    StorageLimitError,
)
from lumenize_trio.storage._authorizer import UserSqlAuthorizer
from lumenize_trio.storage._sql import split_statements


def make_table(storage: ActorStorage) -> None:
    storage.sql.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, data BLOB)")


def names(storage: ActorStorage) -> list[object]:
    return [row["name"] for row in storage.sql.exec("SELECT name FROM t ORDER BY id")]


def test_sql_insert_select_with_parameters(storage: ActorStorage) -> None:
    make_table(storage)
    cursor = storage.sql.exec("INSERT INTO t (name, data) VALUES (?, ?), (?, ?)", "a", b"\x00\x01", "b", None)
    assert cursor.rows_written == 2
    assert cursor.column_names == []
    assert cursor.to_list() == []
    rows = storage.sql.exec("SELECT id, name, data FROM t WHERE id >= ? ORDER BY id", 1).to_list()
    assert rows == [{"id": 1, "name": "a", "data": b"\x00\x01"}, {"id": 2, "name": "b", "data": None}]


@pytest.mark.parametrize(
    ("param", "stored"),
    [
        (None, None),
        (7, 7),
        (True, 1),
        (-(2**63), -(2**63)),
        (2**63 - 1, 2**63 - 1),
        (1.5, 1.5),
        ("é\U0001f600", "é\U0001f600"),
        (b"\xff", b"\xff"),
        (bytearray(b"ab"), b"ab"),
        (memoryview(b"cd"), b"cd"),
    ],
    ids=repr,
)
def test_sql_parameter_types(storage: ActorStorage, param: object, stored: object) -> None:
    row = storage.sql.exec("SELECT ? AS v", param).one()  # type: ignore[arg-type]
    assert row == {"v": stored}
    assert type(row["v"]) is type(stored)


def test_sql_parameter_errors(storage: ActorStorage) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        storage.sql.exec("SELECT ?", 2**63)
    with pytest.raises(TypeError, match="parameter 2 has type list"):
        storage.sql.exec("SELECT ?, ?", 1, [1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lone surrogate"):
        storage.sql.exec("SELECT ?", "\udfff")
    with pytest.raises(TypeError, match="str"):
        storage.sql.exec(b"SELECT 1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lone surrogate"):
        storage.sql.exec("SELECT '\ud800'")
    with pytest.raises(SqlError, match="bindings"):
        storage.sql.exec("SELECT ?")


def test_sql_cursor_api(storage: ActorStorage) -> None:
    make_table(storage)
    storage.sql.exec("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')")
    cursor = storage.sql.exec("SELECT id, name AS n, name AS n FROM t ORDER BY id")
    assert cursor.column_names == ["id", "n", "n"]
    assert cursor.rows_read == 3
    assert cursor.rows_written == 0
    assert next(cursor) == {"id": 1, "n": "a"}
    assert next(cursor.raw()) == (2, "b", "b")  # raw() shares the position
    assert "rows_left=1" in repr(cursor)
    assert cursor.to_list() == [{"id": 3, "n": "c"}]
    assert list(cursor) == []
    assert list(cursor.raw()) == []
    with pytest.raises(SqlError, match="exactly one row, got 0"):
        cursor.one()
    with pytest.raises(SqlError, match="exactly one row, got 3"):
        storage.sql.exec("SELECT * FROM t").one()
    assert storage.sql.exec("SELECT count(*) AS c FROM t").one() == {"c": 3}
    assert [row["id"] for row in storage.sql.exec("SELECT id FROM t")] == [1, 2, 3]


def test_sql_rows_written_counts_changes(storage: ActorStorage) -> None:
    make_table(storage)
    assert storage.sql.exec("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')").rows_written == 3
    assert storage.sql.exec("UPDATE t SET data = x'00' WHERE id > 1").rows_written == 2
    assert storage.sql.exec("DELETE FROM t").rows_written == 3
    assert storage.sql.exec("DELETE FROM t").rows_written == 0


def test_sql_cursor_is_a_snapshot(storage: ActorStorage) -> None:
    make_table(storage)
    storage.sql.exec("INSERT INTO t (name) VALUES ('a'), ('b')")
    cursor = storage.sql.exec("SELECT name FROM t ORDER BY id")
    storage.sql.exec("DELETE FROM t")
    storage.rollback()
    assert [row["name"] for row in cursor] == ["a", "b"]


def test_sql_several_statements_return_the_last_cursor(storage: ActorStorage) -> None:
    cursor = storage.sql.exec(
        """
        CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);  -- a comment; with a semicolon
        INSERT INTO t (name) VALUES ('x;y');
        /* another; comment */
        INSERT INTO t (name) VALUES (?) RETURNING id, name;
        """,
        "z",
    )
    assert cursor.column_names == ["id", "name"]
    assert cursor.to_list() == [{"id": 2, "name": "z"}]
    assert cursor.rows_written == 2
    assert cursor.rows_read == 1
    assert names(storage) == ["x;y", "z"]


def test_sql_parameters_bind_to_the_last_statement_only(storage: ActorStorage) -> None:
    with pytest.raises(SqlError, match="bindings"):
        storage.sql.exec("SELECT ?; SELECT ?", 1)


def test_sql_vacuum_cannot_run(storage: ActorStorage) -> None:
    """VACUUM cannot run inside the actor's transaction (and would attach a database besides)."""
    with pytest.raises(SqlError, match="VACUUM"):
        storage.sql.exec("VACUUM")


def test_sql_trigger_bodies_stay_one_statement(storage: ActorStorage) -> None:
    make_table(storage)
    storage.sql.exec(
        "CREATE TABLE log (msg TEXT);"
        "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.name); INSERT INTO log VALUES ('again'); END;"
        "INSERT INTO t (name) VALUES ('a')"
    )
    assert [row["msg"] for row in storage.sql.exec("SELECT msg FROM log")] == ["a", "again"]


def test_sql_split_statements() -> None:
    assert split_statements("SELECT 1") == ["SELECT 1"]
    assert split_statements("SELECT 1;") == ["SELECT 1;"]
    assert split_statements(" ; ;SELECT 1;; -- tail") == ["SELECT 1;"]
    assert split_statements("SELECT ';'; SELECT \"a;b\"; SELECT [c;d]; SELECT `e;f`") == [
        "SELECT ';';",
        ' SELECT "a;b";',
        " SELECT [c;d];",
        " SELECT `e;f`",
    ]
    assert split_statements("SELECT 1 /* ; */; SELECT 2 -- ;") == ["SELECT 1 /* ; */;", " SELECT 2 -- ;"]
    assert split_statements("-- only a comment\n/* and another */") == []
    assert split_statements("SELECT 'unterminated; x") == ["SELECT 'unterminated; x"]
    assert split_statements("SELECT 1 /* unterminated ;") == ["SELECT 1 /* unterminated ;"]
    assert split_statements("-- c") == []
    assert split_statements("/* c") == []


def test_sql_split_statements_with_triggers() -> None:
    body = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 'end;'; SELECT 2; END"
    assert split_statements(f"{body}; SELECT 3") == [f"{body};", " SELECT 3"]
    for gap in (" /* c */ ", " -- c\n ", "\n"):
        assert split_statements(f"{body}{gap}; SELECT 3;") == [f"{body}{gap};", " SELECT 3;"]
    assert split_statements(f"{body.replace('END', 'end')};SELECT 3") == [
        f"{body.replace('END', 'end')};",
        "SELECT 3",
    ]
    # A column named "end" in the body does not end the trigger early.
    tricky = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = 1 WHERE t.end; END"
    assert split_statements(f"{tricky};SELECT 1") == [f"{tricky};", "SELECT 1"]


def test_sql_split_statements_is_linear_on_long_trigger_bodies() -> None:
    """A 100 KB trigger body is split without asking SQLite at every one of its semicolons."""
    body = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN " + "SELECT 1;" * 11_000 + " END;"
    assert split_statements(body + "SELECT 2") == [body, "SELECT 2"]


@pytest.mark.parametrize("query", ["", "   ", "-- nothing", ";;"])
def test_sql_empty_query_is_an_error(storage: ActorStorage, query: str) -> None:
    with pytest.raises(SqlError, match="no SQL statement"):
        storage.sql.exec(query)


def test_sql_errors_name_the_sqlite_error(storage: ActorStorage) -> None:
    make_table(storage)
    with pytest.raises(SqlError, match="syntax error") as syntax:
        storage.sql.exec("SELEC 1")
    assert syntax.value.sqlite_errorname == "SQLITE_ERROR"
    assert isinstance(syntax.value.__cause__, Exception)
    storage.sql.exec("INSERT INTO t (name) VALUES ('a')")
    with pytest.raises(
        SqlError, match=r"UNIQUE constraint failed: t\.name \[SQLITE_CONSTRAINT_UNIQUE\]"
    ) as dup:
        storage.sql.exec("INSERT INTO t (name) VALUES ('a')")
    assert dup.value.sqlite_errorname == "SQLITE_CONSTRAINT_UNIQUE"
    with pytest.raises(SqlError, match="no such table"):
        storage.sql.exec("SELECT * FROM nowhere")
    with pytest.raises(SqlError, match="decode"):
        storage.sql.exec("SELECT CAST(x'ff' AS TEXT)")


def test_sql_failed_statement_keeps_earlier_writes_of_the_turn(storage: ActorStorage) -> None:
    """A failing statement in a turn undoes only itself; the turn's earlier writes stay."""
    make_table(storage)
    storage.commit()
    storage.begin_turn()
    storage.sql.exec("INSERT INTO t (name) VALUES ('kept')")
    storage.kv.put("kv", 1)
    with pytest.raises(SqlError, match="UNIQUE"):
        # A multi-row insert whose second row fails: the first row must not stay behind either.
        storage.sql.exec("INSERT INTO t (name) VALUES ('new'), ('kept')")
    storage.end_turn(True)
    assert names(storage) == ["kept"]
    assert storage.kv.get("kv") == 1
    assert storage.has_uncommitted_writes


def test_sql_exec_with_several_statements_is_all_or_nothing(storage: ActorStorage) -> None:
    make_table(storage)
    storage.sql.exec("INSERT INTO t (name) VALUES ('first')")
    with pytest.raises(SqlError, match="UNIQUE"):
        storage.sql.exec(
            "INSERT INTO t (name) VALUES ('second'); CREATE TABLE other (x); INSERT INTO t (name) VALUES ('first')"
        )
    assert names(storage) == ["first"]
    assert storage.sql.exec("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'other'").one() == {"n": 0}


def test_sql_or_fail_is_undone_too(storage: ActorStorage) -> None:
    """``INSERT OR FAIL`` keeps its earlier rows in SQLite; the exec savepoint still undoes the call."""
    make_table(storage)
    storage.sql.exec("INSERT INTO t (name) VALUES ('b')")
    with pytest.raises(SqlError, match="UNIQUE"):
        storage.sql.exec("INSERT OR FAIL INTO t (name) VALUES ('a'), ('b')")
    assert names(storage) == ["b"]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("BEGIN", "BEGIN is not allowed"),
        ("BEGIN IMMEDIATE", "BEGIN is not allowed"),
        ("COMMIT", "COMMIT is not allowed"),
        ("END", "COMMIT is not allowed"),
        ("ROLLBACK", "ROLLBACK is not allowed"),
        ("SAVEPOINT sp", "SAVEPOINT is not allowed"),
        ("RELEASE sp", "RELEASE \\(savepoint\\) is not allowed"),
        ("ROLLBACK TO sp", "ROLLBACK \\(savepoint\\) is not allowed"),
        ("ATTACH ':memory:' AS other", "ATTACH"),
        ("DETACH other", "DETACH is not allowed"),
        ("PRAGMA journal_mode = DELETE", "PRAGMA journal_mode is not allowed"),
        ("PRAGMA synchronous = OFF", "PRAGMA synchronous is not allowed"),
        ("PRAGMA writable_schema = ON", "PRAGMA writable_schema is not allowed"),
        ("PRAGMA user_version", "PRAGMA user_version is not allowed"),
        ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys may be read but not set"),
        ("PRAGMA table_info(__lmz_kv)", "'__lmz_kv' is reserved"),
        ("SELECT * FROM pragma_table_info('__lmz_meta')", "'__lmz_meta' is reserved"),
        ("SELECT * FROM __lmz_kv", "'__lmz_kv' is reserved"),
        ("SELECT * FROM main.__LMZ_KV", "'__lmz_kv' is reserved"),
        ("SELECT time FROM __lmz_alarm", "'__lmz_alarm' is reserved"),
        ("INSERT INTO __lmz_kv VALUES ('k', x'00')", "'__lmz_kv' is reserved"),
        ("UPDATE __lmz_meta SET value = x''", "'__lmz_meta' is reserved"),
        ("DELETE FROM __lmz_kv", "'__lmz_kv' is reserved"),
        ("DROP TABLE __lmz_kv", "'__lmz_kv' is reserved"),
        ("CREATE TABLE __lmz_mine (x)", "'__lmz_mine' is reserved"),
        ("CREATE TEMP TABLE __Lmz_temp (x)", "'__Lmz_temp' is reserved"),
        ("CREATE INDEX i ON __lmz_kv (value)", "'__lmz_kv' is reserved"),
        ("CREATE TRIGGER tr AFTER INSERT ON __lmz_kv BEGIN SELECT 1; END", "'__lmz_kv' is reserved"),
        ("CREATE VIEW __lmz_view AS SELECT 1", "'__lmz_view' is reserved"),
        ("ALTER TABLE __lmz_kv ADD COLUMN extra", "'__lmz_kv' is reserved"),
        ("CREATE VIRTUAL TABLE __lmz_fts USING fts5(body)", "'__lmz_fts' is reserved"),
    ],
)
def test_sql_refuses_what_user_sql_may_not_do(storage: ActorStorage, statement: str, message: str) -> None:
    storage.kv.put("k", 1)
    storage.commit()
    with pytest.raises(SqlNotAllowedError, match=message):
        storage.sql.exec(statement)
    assert storage.kv.list() == {"k": 1}
    assert not storage.has_uncommitted_writes


def test_sql_cannot_reuse_a_cached_internal_statement(storage: ActorStorage) -> None:
    """User SQL with the exact text of an internal statement is still checked.

    SQLite authorizes a statement when it is prepared; Python's statement cache would hand user
    code an already-prepared internal statement if texts could collide.
    """
    storage.kv.put("k", 1)
    assert storage.kv.get("k") == 1  # prepares and caches the internal SELECT
    with pytest.raises(SqlNotAllowedError, match="__lmz_kv"):
        storage.sql.exec("SELECT value FROM main.__lmz_kv WHERE key = ?", "k")


def test_sql_rename_to_a_reserved_name_is_refused(storage: ActorStorage) -> None:
    make_table(storage)
    storage.sql.exec("INSERT INTO t (name) VALUES ('a')")
    for new_name in ("__lmz_t", "__LMZ_kv2"):
        with pytest.raises(SqlNotAllowedError, match=f"'{new_name}' is reserved"):
            storage.sql.exec(f"ALTER TABLE t RENAME TO {new_name}")
    assert names(storage) == ["a"]


def test_sql_views_and_triggers_cannot_reach_reserved_tables(storage: ActorStorage) -> None:
    make_table(storage)
    # Creating them is harmless; using them is refused when the statement is prepared.
    storage.sql.exec("CREATE VIEW peek AS SELECT * FROM __lmz_kv")
    with pytest.raises(SqlNotAllowedError, match="__lmz_kv"):
        storage.sql.exec("SELECT * FROM peek")
    storage.sql.exec("CREATE TRIGGER sneak AFTER INSERT ON t BEGIN DELETE FROM __lmz_kv; END")
    storage.kv.put("k", 1)
    with pytest.raises(SqlNotAllowedError, match="__lmz_kv"):
        storage.sql.exec("INSERT INTO t (name) VALUES ('x')")
    assert storage.kv.get("k") == 1
    assert names(storage) == []


def test_sql_schema_reading_and_allowed_pragmas(storage: ActorStorage) -> None:
    make_table(storage)
    assert "t" in [row["name"] for row in storage.sql.exec("SELECT name FROM sqlite_schema")]
    columns = [row["name"] for row in storage.sql.exec("PRAGMA table_info(t)")]
    assert columns == ["id", "name", "data"]
    assert storage.sql.exec("SELECT name FROM pragma_table_info('t') LIMIT 1").one() == {"name": "id"}
    assert storage.sql.exec("PRAGMA foreign_keys").one() == {"foreign_keys": 1}
    assert storage.sql.exec("PRAGMA integrity_check").one() == {"integrity_check": "ok"}
    storage.sql.exec("PRAGMA defer_foreign_keys = ON")
    storage.sql.exec("PRAGMA optimize")
    assert "defer_foreign_keys" in ALLOWED_PRAGMAS


def test_sql_foreign_keys_are_enforced_and_can_be_deferred(storage: ActorStorage) -> None:
    storage.sql.exec("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER REFERENCES p (id))")
    storage.commit()
    with pytest.raises(SqlError, match="FOREIGN KEY"):
        storage.sql.exec("INSERT INTO c VALUES (1)")
    # A migration may break a foreign key for a moment, as on the platform.
    storage.sql.exec("PRAGMA defer_foreign_keys = ON; INSERT INTO c VALUES (1); INSERT INTO p VALUES (1)")
    storage.commit()
    assert storage.sql.exec("SELECT count(*) AS n FROM c").one() == {"n": 1}


def test_sql_unresolved_deferred_foreign_key_fails_the_commit(storage: ActorStorage) -> None:
    storage.sql.exec("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER REFERENCES p (id))")
    storage.commit()
    storage.kv.put("k", 1)
    storage.sql.exec("PRAGMA defer_foreign_keys = ON; INSERT INTO c VALUES (7)")
    with pytest.raises(StorageCommitError, match="FOREIGN KEY") as failure:
        storage.commit()
    assert isinstance(failure.value.__cause__, Exception)
    assert storage.kv.get("k") is None
    assert storage.sql.exec("SELECT count(*) AS n FROM c").one() == {"n": 0}


def test_sql_transaction_loss_is_reported_at_commit(storage: ActorStorage) -> None:
    """``ON CONFLICT ROLLBACK`` makes SQLite drop the whole transaction, other turns' writes too.

    Storage notices, refuses further work, and fails the next commit so the runtime resets the
    actor instead of releasing outputs that depended on the lost writes.
    """
    storage.sql.exec("CREATE TABLE r (id INTEGER PRIMARY KEY ON CONFLICT ROLLBACK)")
    storage.kv.put("committed", 1)
    storage.commit()
    storage.begin_turn()
    storage.kv.put("other turn", 1)
    storage.end_turn(True)
    storage.begin_turn()
    storage.sql.exec("INSERT INTO r VALUES (1)")
    with pytest.raises(SqlError, match="rolled back the whole transaction"):
        storage.sql.exec("INSERT INTO r VALUES (1)")
    assert storage.has_uncommitted_writes
    with pytest.raises(StorageError, match="uncommitted writes were lost"):
        storage.kv.get("committed")
    with pytest.raises(StorageError, match="uncommitted writes were lost"):
        storage.begin_turn()
    storage.end_turn(True)
    with pytest.raises(StorageCommitError, match="already been lost"):
        storage.commit()
    assert not storage.has_uncommitted_writes
    assert storage.kv.list() == {"committed": 1}
    storage.kv.put("after", 2)
    storage.commit()
    assert storage.kv.list() == {"after": 2, "committed": 1}


def test_sql_transaction_loss_then_rollback(storage: ActorStorage) -> None:
    storage.sql.exec("CREATE TABLE r (id INTEGER PRIMARY KEY)")
    storage.commit()
    storage.sql.exec("INSERT INTO r VALUES (1)")
    with pytest.raises(SqlError, match="rolled back the whole transaction"):
        storage.sql.exec("INSERT OR ROLLBACK INTO r VALUES (1)")
    storage.rollback()
    assert storage.sql.exec("SELECT count(*) AS n FROM r").one() == {"n": 0}


def test_sql_limits(storage: ActorStorage) -> None:
    sql = storage.sql
    long_text = "SELECT 1 " + " " * (MAX_SQL_BYTES - 9)
    assert sql.exec(long_text).one() == {"1": 1}
    with pytest.raises(StorageLimitError, match="100000"):
        sql.exec(long_text + " ")
    placeholders = ", ".join("?" * MAX_SQL_PARAMS)
    assert list(sql.exec(f"SELECT {placeholders}", *range(MAX_SQL_PARAMS)).raw()) == [
        tuple(range(MAX_SQL_PARAMS))
    ]
    with pytest.raises(StorageLimitError, match="at most 100 parameters"):
        sql.exec(f"SELECT {placeholders}, ?", *range(MAX_SQL_PARAMS + 1))
    with pytest.raises(SqlError, match="variable number"):
        sql.exec("SELECT ?101", 1)
    with pytest.raises(SqlError, match="too many columns"):
        sql.exec("CREATE TABLE wide (" + ", ".join(f"c{i}" for i in range(101)) + ")")
    with pytest.raises(SqlError, match="LIKE or GLOB pattern too complex"):
        sql.exec("SELECT 'a' LIKE ?", "%" * 51)
    with pytest.raises(SqlError, match="too big"):
        sql.exec("SELECT zeroblob(?)", 3 * 1024 * 1024)


def test_sql_write_classification(storage: ActorStorage) -> None:
    """Reads leave nothing to commit; anything that may write does (conservatively)."""
    make_table(storage)
    storage.commit()
    for _ in range(2):  # the second run takes the statement from the cache
        storage.sql.exec("SELECT * FROM t")
        storage.sql.exec("PRAGMA table_info(t)")
        assert not storage.has_uncommitted_writes
    storage.sql.exec("DELETE FROM t WHERE id = 12345")  # a DELETE counts even when it hit nothing
    assert storage.has_uncommitted_writes
    storage.commit()
    storage.sql.exec("CREATE INDEX i ON t (data)")
    assert storage.has_uncommitted_writes
    storage.commit()
    storage.sql.exec("ANALYZE")
    assert storage.has_uncommitted_writes


def test_sql_classification_memory_is_bounded(storage: ActorStorage) -> None:
    """Past the remembered texts, a cached statement is classified as writing (the safe answer)."""
    make_table(storage)
    storage.commit()
    storage.sql.exec("SELECT name FROM t")
    for i in range(300):
        storage.sql.exec(f"SELECT {i}")
    storage.commit()
    storage.sql.exec("SELECT name FROM t")
    assert not storage.has_uncommitted_writes  # re-prepared: the statement cache is smaller still
    authorizer = storage._core.authorizer
    authorizer.start()
    authorizer.stop()
    assert authorizer.classify("a text never prepared") == (True, True)


def test_sql_fts5_and_temp_tables(storage: ActorStorage) -> None:
    storage.sql.exec("CREATE VIRTUAL TABLE docs USING fts5(body)")
    storage.sql.exec("INSERT INTO docs (body) VALUES (?), (?)", "hello world", "goodbye")
    assert storage.sql.exec("SELECT body FROM docs WHERE docs MATCH 'hello'").to_list() == [
        {"body": "hello world"}
    ]
    storage.sql.exec("CREATE TEMP TABLE scratch (x); INSERT INTO scratch VALUES (1)")
    assert storage.sql.exec("SELECT x FROM scratch").one() == {"x": 1}


def test_sql_database_size(storage: ActorStorage) -> None:
    before = storage.sql.database_size
    assert before > 0
    storage.sql.exec("CREATE TABLE big (b BLOB); INSERT INTO big VALUES (zeroblob(100000))")
    assert storage.sql.database_size > before + 90_000


def test_sql_repr(storage: ActorStorage) -> None:
    assert repr(storage.sql) == "<lumenize_trio.storage.SqlStorage>"


def test_authorizer_keeps_the_first_refusal_and_refuses_unknown_actions() -> None:
    authorizer = UserSqlAuthorizer()
    assert authorizer(sqlite3.SQLITE_TRANSACTION, "BEGIN", None, None, None) == sqlite3.SQLITE_OK  # internal
    authorizer.start()
    assert authorizer(sqlite3.SQLITE_TRANSACTION, "BEGIN", None, None, None) == sqlite3.SQLITE_DENY
    assert authorizer(sqlite3.SQLITE_DETACH, "other", None, None, None) == sqlite3.SQLITE_DENY
    assert authorizer.denial is not None
    assert authorizer.denial.startswith("BEGIN")
    authorizer.start()
    assert authorizer(999, None, None, None, None) == sqlite3.SQLITE_DENY
    assert (
        authorizer.denial == "this statement kind (SQLite authorizer action 999) is not allowed in sql.exec()"
    )
    authorizer.stop()
