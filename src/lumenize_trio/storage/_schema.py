"""Opening an actor database: connection settings, limits and the runtime's reserved tables."""

from __future__ import annotations

import sqlite3
from typing import Final

from .._exceptions import StorageError
from ._limits import (
    MAX_SQL_PARAMS,
    SQLITE_MAX_COLUMNS,
    SQLITE_MAX_FUNCTION_ARGS,
    SQLITE_MAX_LENGTH,
    SQLITE_MAX_LIKE_PATTERN,
)

#: Schema objects the runtime owns. Keys are TEXT with SQLite's default BINARY collation, which
#: compares the stored UTF-8 bytes with memcmp: exactly the platform's UTF-8 key order. WITHOUT
#: ROWID clusters rows by key, so a ``list()`` is one ordered range scan. The first three are made
#: when a database is opened; ``__lmz_alarms`` and its index only when ``svc.alarms`` is first used
#: (``_schedules.py``), so that cold activations of the many actors without schedules pay nothing.
RESERVED_TABLES: Final = ("__lmz_kv", "__lmz_meta", "__lmz_alarm", "__lmz_alarms", "__lmz_alarms_time")

_CREATE_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS main.__lmz_kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS main.__lmz_meta (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID",
    # One row at most (id = 0): the actor's single alarm, as epoch seconds.
    "CREATE TABLE IF NOT EXISTS main.__lmz_alarm (id INTEGER PRIMARY KEY CHECK (id = 0), time REAL NOT NULL)",
)

#: ``PRAGMA application_id`` of an actor database ("LMZ1"), so a wrong file is refused early.
APPLICATION_ID: Final = 0x4C4D5A31

#: ``PRAGMA user_version``: the layout of the reserved tables. Bump it with a migration.
FORMAT_VERSION: Final = 1

# Per-connection page cache, in KiB (negative cache_size means KiB). SQLite's default is 2,000 KiB
# per connection, and the runtime keeps one connection per open actor with a target of at most
# about 200 KiB each (a bare WAL connection already costs ~138 KiB, reference/machine-limits.md
# §7). The cache fills lazily, so idle actors pay only for pages they touched; a busy actor that
# misses the cache re-reads from the OS page cache (a memcpy, not disk I/O).
_CACHE_KIB: Final = 128

# Prepared statements kept per connection. Each costs a few KiB; the internal statements are about
# twenty, and user SQL should use parameters rather than new texts.
CACHED_STATEMENTS: Final = 64


def connect(
    target: str, *, is_file: bool, durability: str, exclusive: bool = True
) -> tuple[sqlite3.Connection, bool]:
    """Open and configure one actor database, creating the reserved tables if missing.

    Raises:
        StorageError: the file cannot be opened, is not an actor database, was written by a newer
            version, or does not support WAL.
    """
    try:
        # isolation_level=None: the core issues every BEGIN/COMMIT itself. timeout=0: a database
        # another process holds is an error at once rather than a wait that would block the event
        # loop (an actor has exactly one activation). check_same_thread=False: the runtime may open
        # a database in a worker thread and use it on the event-loop thread; it is never used from
        # two threads at once.
        conn = sqlite3.connect(
            target,
            isolation_level=None,
            timeout=0,
            check_same_thread=False,
            cached_statements=CACHED_STATEMENTS,
        )
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open actor storage at {target!r}: {exc}") from exc
    try:
        _configure(conn, target, is_file=is_file, durability=durability, exclusive=exclusive)
        created = _create_tables(conn, target)
    except BaseException:
        conn.close()
        raise
    return conn, created


def _configure(
    conn: sqlite3.Connection, target: str, *, is_file: bool, durability: str, exclusive: bool
) -> None:
    try:
        if is_file:
            # EXCLUSIVE: this connection is the only one that will ever use the file (an actor has
            # one activation), so SQLite keeps the WAL index in heap memory instead of a -shm
            # file: one file descriptor and one mmap fewer per open actor, opening is about twice
            # as fast, and a second process opening the same database fails at once instead of
            # sharing it. Must be set before WAL is turned on.
            if exclusive:
                conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            # WAL: a commit appends to one file (one fsync with synchronous=FULL) and readers never
            # block the writer. "normal" syncs the WAL only at checkpoints: a commit survives a
            # process crash but may be lost on power failure.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - only on file systems without WAL support
                raise StorageError(
                    f"cannot use write-ahead logging for actor storage at {target!r} (journal mode stayed {mode!r})"
                )
        conn.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
        conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        # As on the platform: foreign keys are enforced; migrations use PRAGMA defer_foreign_keys.
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot configure actor storage at {target!r}: {exc}") from exc
    # The platform's limits for SQL (reference/platform-and-peers.md §1.7). ATTACH is refused by
    # the authorizer as well; a zero limit makes sure.
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_LENGTH)
    conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, SQLITE_MAX_COLUMNS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, MAX_SQL_PARAMS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_FUNCTION_ARG, SQLITE_MAX_FUNCTION_ARGS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, SQLITE_MAX_LIKE_PATTERN)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)


def _create_tables(conn: sqlite3.Connection, target: str) -> bool:
    """Create the runtime's tables if needed; whether the database was new."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if app_id not in (0, APPLICATION_ID):
                raise StorageError(
                    f"{target!r} is not a lumenize_trio actor database (application_id {app_id:#x})"
                )
            if version > FORMAT_VERSION:
                raise StorageError(
                    f"{target!r} was written by a newer lumenize_trio (storage format {version}; this version reads up to {FORMAT_VERSION})"
                )
            for statement in _CREATE_TABLES:
                conn.execute(statement)
            if app_id == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            conn.execute("COMMIT")
            return bool(app_id == 0)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StorageError(f"cannot prepare actor storage at {target!r}: {exc}") from exc
