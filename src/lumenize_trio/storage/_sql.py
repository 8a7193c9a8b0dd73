"""User SQL (``storage.sql``): ``exec`` with parameters, and the cursor it returns."""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, TypeAlias, cast, final

from .._exceptions import SqlError, SqlNotAllowedError, StorageLimitError
from ._authorizer import USER_SQL_TAG, is_reserved_name
from ._construct import NoPublicConstructor
from ._limits import MAX_SQL_BYTES, MAX_SQL_PARAMS
from ._schema import RESERVED_TABLES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._core import StorageCore

#: A value SQLite hands back: ``INTEGER``, ``REAL``, ``TEXT``, ``BLOB`` or ``NULL``.
SqlValue: TypeAlias = int | float | str | bytes | None
#: A value ``exec`` binds to a ``?`` parameter (``bool`` binds as 1/0; bytes-likes as a BLOB).
SqlParam: TypeAlias = int | float | str | bytes | bytearray | memoryview | None

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_RESERVED_OBJECTS_QUERY = (
    "SELECT name FROM main.sqlite_schema WHERE name LIKE '\\_\\_lmz%' ESCAPE '\\' "
    "UNION ALL SELECT name FROM temp.sqlite_schema WHERE name LIKE '\\_\\_lmz%' ESCAPE '\\'"
)


# Quoted text, comments, and the semicolons between them. Unterminated quotes and comments run to
# the end, as SQLite's tokenizer reads them. A block comment ends at its first "*/". Every
# repetition is possessive (*+), so no input can make the matching backtrack: a 100 KB text of
# semicolons inside a comment is still one linear pass.
_BLOCK_COMMENT = r"/\*(?:[^*]|\*(?!/))*+(?:\*/|\Z)"
_LINE_COMMENT = r"--[^\n]*+"
_TOKENS = re.compile(
    r"""'[^']*+(?:'|\Z)|"[^"]*+(?:"|\Z)|`[^`]*+(?:`|\Z)|\[[^\]]*+(?:\]|\Z)|"""
    + _LINE_COMMENT
    + "|"
    + _BLOCK_COMMENT
    + "|;"
)
_BLANK = re.compile(r"(?:\s|;|" + _LINE_COMMENT + "|" + _BLOCK_COMMENT + ")*+")
# Inside a trigger body only "END;" can end the statement; this finds it (allowing space and
# comments in between) in the last few hundred characters before a semicolon.
_END_BEFORE_SEMICOLON = re.compile(r"(?i)\bend(?:\s|" + _LINE_COMMENT + r"\n|/\*(?:[^*]|\*(?!/))*+\*/)*+;\Z")
_END_LOOKBACK = 512


def _is_blank(sql: str) -> bool:
    """Whether ``sql`` holds nothing but space, comments and semicolons."""
    return _BLANK.fullmatch(sql) is not None


def split_statements(sql: str) -> list[str]:
    """Split ``sql`` into statements at the semicolons that end one; drop empty ones.

    A regular expression skips quoted text and comments to find candidate semicolons, and
    :func:`sqlite3.complete_statement` (SQLite's own tokenizer) decides whether the text up to a
    candidate is a whole statement, which keeps ``CREATE TRIGGER ... BEGIN ...; END;`` together.
    """
    if ";" not in sql:
        return [] if _is_blank(sql) else [sql]
    statements: list[str] = []
    start = 0
    in_trigger = False
    for token in _TOKENS.finditer(sql):
        if token.group() != ";":
            continue
        end = token.end()
        # Asking SQLite about the whole chunk at every semicolon of a long trigger body would be
        # quadratic; once inside one, ask only where an END precedes the semicolon.
        if in_trigger and not _END_BEFORE_SEMICOLON.search(sql, max(start, end - _END_LOOKBACK), end):
            continue
        chunk = sql[start:end]
        if sqlite3.complete_statement(chunk):
            if not _is_blank(chunk):
                statements.append(chunk)
            start = end
            in_trigger = False
        else:
            in_trigger = True
    tail = sql[start:]
    if not _is_blank(tail):
        statements.append(tail)
    return statements


def check_param(index: int, value: object) -> SqlValue:
    """Validate one bound parameter and return the value SQLite should see.

    Raises:
        TypeError: a type SQLite cannot store.
        ValueError: an int outside 64 bits, or a str with a lone surrogate.
    """
    if value is None:
        return None
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"SQL parameter {index} ({value}) does not fit SQLite's 64-bit INTEGER")
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"SQL parameter {index} holds a lone surrogate at index {exc.start}") from None
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(
        f"SQL parameter {index} has type {type(value).__name__}; use None, int, float, str or bytes"
    )


@final
class SqlCursor(metaclass=NoPublicConstructor):
    """The result of :meth:`SqlStorage.exec`: the rows of its last statement.

    The rows are read in full before ``exec`` returns, so a cursor is a snapshot: later writes do
    not show up in it, and keeping it across turns is safe. (The platform's cursor is lazy and has
    no such snapshot; code that consumes its cursor at once behaves the same on both.)

    Iterating, :meth:`to_list`, :meth:`one` and :meth:`raw` share one position: each row is
    handed out once.

    .. versionadded:: 0.1
    """

    __slots__ = ("_columns", "_position", "_rows", "_rows_read", "_rows_written")

    def __init__(
        self, columns: list[str], rows: list[tuple[SqlValue, ...]], rows_read: int, rows_written: int
    ) -> None:
        self._columns = columns
        self._rows = rows
        self._position = 0
        self._rows_read = rows_read
        self._rows_written = rows_written

    @property
    def column_names(self) -> list[str]:
        """Names of the result columns of the last statement (empty if it returns no rows)."""
        return list(self._columns)

    @property
    def rows_read(self) -> int:
        """Rows returned by the call's statements, all of them together.

        SQLite does not report how many rows a statement scanned through Python's ``sqlite3``, so
        this counts result rows; the platform's figure (rows scanned, for billing) can be larger.
        """
        return self._rows_read

    @property
    def rows_written(self) -> int:
        """Rows inserted, updated or deleted by the call (SQLite's ``total_changes`` difference)."""
        return self._rows_written

    def __iter__(self) -> SqlCursor:
        return self

    def __next__(self) -> dict[str, SqlValue]:
        return dict(zip(self._columns, self._next_raw(), strict=True))

    def _next_raw(self) -> tuple[SqlValue, ...]:
        if self._position >= len(self._rows):
            raise StopIteration
        row = self._rows[self._position]
        self._position += 1
        return row

    def raw(self) -> Iterator[tuple[SqlValue, ...]]:
        """The remaining rows as tuples, in column order (keeps duplicate column names apart)."""
        while self._position < len(self._rows):
            yield self._next_raw()

    def to_list(self) -> list[dict[str, SqlValue]]:
        """The remaining rows as dicts of column name to value."""
        return list(self)

    def one(self) -> dict[str, SqlValue]:
        """The only remaining row.

        Raises:
            SqlError: there is not exactly one row left (the message says how many there are).
        """
        rows = self.to_list()
        if len(rows) != 1:
            raise SqlError(f"expected exactly one row, got {len(rows)}")
        return rows[0]

    def __repr__(self) -> str:
        return (
            f"<lumenize_trio.storage.SqlCursor columns={self._columns!r} "
            f"rows_left={len(self._rows) - self._position} rows_written={self._rows_written}>"
        )


@final
class SqlStorage(metaclass=NoPublicConstructor):
    """An actor's SQL database: ``storage.sql``. Synchronous; never yields.

    Tables, indexes, views and triggers named ``__lmz...`` belong to the runtime, and transactions
    belong to the runtime too: see :meth:`exec` for what user SQL may not do.

    Every method raises :class:`~lumenize_trio.StorageClosedError` after the storage is closed.

    .. versionadded:: 0.1
    """

    __slots__ = ("_core",)

    def __init__(self, core: StorageCore) -> None:
        self._core = core

    @property
    def database_size(self) -> int:
        """Size of the database in bytes (pages in use times page size, the runtime's tables included)."""
        pages = cast("int", self._core.query("PRAGMA page_count")[0][0])
        page_size = cast("int", self._core.query("PRAGMA page_size")[0][0])
        return pages * page_size

    def exec(self, query: str, /, *params: SqlParam) -> SqlCursor:
        """Run one or more ``;``-separated SQL statements; return the cursor of the last one.

        ``params`` bind to the ``?`` placeholders of the last statement (as on the platform); the
        others take none. The statements run in the actor's open transaction, inside a savepoint:
        if one fails, the whole call changes nothing, and earlier writes of the turn are kept.

        User SQL may not use ``BEGIN``/``COMMIT``/``ROLLBACK``/``SAVEPOINT``/``RELEASE`` (use
        :meth:`ActorStorage.transaction_sync`), ``ATTACH``/``DETACH``/``VACUUM``, ``PRAGMA``\\s
        outside a short allowed list (``docs/storage.md#user-sql``), or any table, index, view or
        trigger whose name starts with ``__lmz``.

        Raises:
            TypeError: ``query`` is not a ``str``, or a parameter has an unsupported type.
            ValueError: a parameter is an int outside 64 bits or holds a lone surrogate.
            StorageLimitError: ``query`` is over 100,000 UTF-8 bytes, or more than 100 parameters.
            SqlNotAllowedError: a statement does something user SQL may not do (nothing runs).
            SqlError: a statement failed (SQLite's message and error name are in the message), or
                ``query`` holds no statement.
        """
        core = self._core
        conn = core.usable()
        if not isinstance(query, str):
            raise TypeError(f"sql.exec() takes the SQL text as a str, not {type(query).__name__}")
        try:
            size = len(query.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(f"the SQL text holds a lone surrogate at index {exc.start}") from None
        if size > MAX_SQL_BYTES:
            raise StorageLimitError(
                f"an SQL text may be at most {MAX_SQL_BYTES} UTF-8 bytes; this one is {size}"
            )
        if len(params) > MAX_SQL_PARAMS:
            raise StorageLimitError(
                f"sql.exec() takes at most {MAX_SQL_PARAMS} parameters; got {len(params)}"
            )
        bound = tuple(check_param(index, value) for index, value in enumerate(params, 1))
        statements = split_statements(query)
        if not statements:
            raise SqlError("sql.exec() was given no SQL statement")
        changes_before = conn.total_changes
        columns: list[str] = []
        rows: list[tuple[SqlValue, ...]] = []
        if len(statements) == 1 and core.authorizer.is_read_only(USER_SQL_TAG + statements[0]):
            # A statement seen before that only reads cannot leave anything half-done, so it needs
            # neither a savepoint nor a transaction: the common repeated SELECT stays cheap.
            columns, rows = self._run(conn, statements[0], bound)
            return SqlCursor._create(columns, rows, len(rows), conn.total_changes - changes_before)
        rows_read = 0
        with core.savepoint():
            for number, statement in enumerate(statements, 1):
                last = number == len(statements)
                columns, rows = self._run(conn, statement, bound if last else ())
                rows_read += len(rows)
            rows_written = conn.total_changes - changes_before
            if rows_written:
                core.dirty = True
        core.settle()
        return SqlCursor._create(columns, rows, rows_read, rows_written)

    def _run(
        self, conn: sqlite3.Connection, statement: str, params: tuple[SqlValue, ...]
    ) -> tuple[list[str], list[tuple[SqlValue, ...]]]:
        core = self._core
        authorizer = core.authorizer
        text = USER_SQL_TAG + statement
        authorizer.start()
        try:
            cursor = conn.execute(text, params)
            rows: list[tuple[SqlValue, ...]] = cursor.fetchall()
        except sqlite3.Error as exc:
            raise self._statement_error(exc, statement) from exc
        finally:
            authorizer.stop()
        writes, changes_schema = authorizer.classify(text)
        if writes:
            core.dirty = True
        if changes_schema:
            self._refuse_new_reserved_names(statement)
        columns = [column[0] for column in cursor.description or ()]
        return columns, rows

    def _statement_error(self, exc: sqlite3.Error, statement: str) -> SqlError:
        core = self._core
        denial = core.authorizer.denial
        shown = statement.strip()
        if len(shown) > 200:
            shown = shown[:200] + "..."
        if denial is not None:
            return SqlNotAllowedError(f"{denial} (in {shown!r})")
        # Only errors that come from SQLite itself carry a name (not, say, a binding-count error).
        name: str | None = getattr(exc, "sqlite_errorname", None)
        message = f"{exc}" + (f" [{name}]" if name else "") + f" (in {shown!r})"
        if core.notice_lost_transaction(f"the statement {shown!r} failed with {exc!r}"):
            message += (
                "; SQLite rolled back the whole transaction (ON CONFLICT ROLLBACK or RAISE(ROLLBACK)),"
                " so every uncommitted write is lost and the next commit() will fail"
            )
        error = SqlError(message)
        error.sqlite_errorname = name
        return error

    def _refuse_new_reserved_names(self, statement: str) -> None:
        """Refuse a statement that gave an object a reserved name (ALTER ... RENAME TO __lmz...).

        The authorizer sees only the old name of a rename, so the schema is checked afterwards;
        the raised error rolls the call's savepoint back.
        """
        rows = self._core.query(_RESERVED_OBJECTS_QUERY)
        names = sorted(str(name) for (name,) in rows if name not in RESERVED_TABLES)
        new = [name for name in names if is_reserved_name(name)]
        if new:
            raise SqlNotAllowedError(
                f"{new[0]!r} is reserved for the runtime (names starting with '__lmz' cannot be used from sql.exec()) (in {statement.strip()[:200]!r})"
            )

    def __repr__(self) -> str:
        return "<lumenize_trio.storage.SqlStorage>"
