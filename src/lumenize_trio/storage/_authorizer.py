"""The SQLite authorizer that fences user SQL off the runtime's tables and transactions.

Theory of operation
-------------------
SQLite calls the authorizer once per action (read column, insert into table, begin transaction,
run pragma, ...) while it *prepares* a statement, and again only if it re-prepares one (after a
schema change). The callback stays installed for the life of the connection, because installing
one expires every prepared statement; it is a no-op unless :attr:`UserSqlAuthorizer.user_mode` is
on, which ``sql.exec`` sets around each user statement.

Two consequences shape the rest of the storage layer:

1. A prepared statement that Python's statement cache hands back is not re-authorized. User SQL is
   therefore always run with a prefix (:data:`USER_SQL_TAG`) that no internal statement starts
   with, so the cache can never give user code a statement that was authorized as internal.
2. Because a cached statement skips the callback, what the callback learned about a statement
   (does it write? does it change the schema?) is remembered per statement text
   (:meth:`UserSqlAuthorizer.classify`); a text it has forgotten counts as writing and changing
   the schema, which is the safe answer.

``ALTER TABLE ... RENAME TO`` reports only the old name to the authorizer, so statements that may
change the schema are followed by a check for new reserved names (``_sql.py``).
"""

from __future__ import annotations

import sqlite3
from typing import Final, final

import attrs

from ._limits import RESERVED_PREFIX

#: Prefix of every user statement text (see the module docstring, rule 1). SQLite does not keep it
#: in ``sqlite_schema.sql``, which starts at the ``CREATE`` keyword.
USER_SQL_TAG: Final = "/*lmz:user*/ "

# Action codes whose arguments 1 and/or 2 name schema objects (tables, indexes, views, triggers).
# Argument 2 of READ and UPDATE is a column, and of FUNCTION a function: never checked.
_NAME_ARGS: Final[dict[int, tuple[int, ...]]] = {
    sqlite3.SQLITE_CREATE_INDEX: (1, 2),
    sqlite3.SQLITE_CREATE_TABLE: (1,),
    sqlite3.SQLITE_CREATE_TEMP_INDEX: (1, 2),
    sqlite3.SQLITE_CREATE_TEMP_TABLE: (1,),
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: (1, 2),
    sqlite3.SQLITE_CREATE_TEMP_VIEW: (1,),
    sqlite3.SQLITE_CREATE_TRIGGER: (1, 2),
    sqlite3.SQLITE_CREATE_VIEW: (1,),
    sqlite3.SQLITE_CREATE_VTABLE: (1,),
    sqlite3.SQLITE_DELETE: (1,),
    sqlite3.SQLITE_DROP_INDEX: (1, 2),
    sqlite3.SQLITE_DROP_TABLE: (1,),
    sqlite3.SQLITE_DROP_TEMP_INDEX: (1, 2),
    sqlite3.SQLITE_DROP_TEMP_TABLE: (1,),
    sqlite3.SQLITE_DROP_TEMP_TRIGGER: (1, 2),
    sqlite3.SQLITE_DROP_TEMP_VIEW: (1,),
    sqlite3.SQLITE_DROP_TRIGGER: (1, 2),
    sqlite3.SQLITE_DROP_VIEW: (1,),
    sqlite3.SQLITE_DROP_VTABLE: (1,),
    sqlite3.SQLITE_INSERT: (1,),
    sqlite3.SQLITE_READ: (1,),
    sqlite3.SQLITE_UPDATE: (1,),
    sqlite3.SQLITE_ALTER_TABLE: (2,),  # argument 1 is the database name
}

# Actions that change the schema: after one, the statement is checked for new reserved names.
_SCHEMA_ACTIONS: Final = frozenset(
    {
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_CREATE_TEMP_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
        sqlite3.SQLITE_CREATE_TEMP_VIEW,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_CREATE_VTABLE,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_INDEX,
        sqlite3.SQLITE_DROP_TEMP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_TRIGGER,
        sqlite3.SQLITE_DROP_TEMP_VIEW,
        sqlite3.SQLITE_DROP_TRIGGER,
        sqlite3.SQLITE_DROP_VIEW,
        sqlite3.SQLITE_DROP_VTABLE,
        sqlite3.SQLITE_ALTER_TABLE,
    }
)

# Actions that change nothing. Every other allowed action counts as a write (so the runtime holds
# the turn's outputs until a commit), including ANALYZE and REINDEX, which rewrite pages.
_READ_ACTIONS: Final = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)

# PRAGMAs user SQL may query (never set). Those marked with a table argument get it checked.
_QUERY_PRAGMAS: Final = frozenset(
    {
        "collation_list",
        "compile_options",
        "data_version",  # FTS5 queries this one internally
        "encoding",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
    }
)
_TABLE_ARG_PRAGMAS: Final = frozenset(
    {
        "foreign_key_check",
        "foreign_key_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "integrity_check",
        "quick_check",
        "table_info",
        "table_list",
        "table_xinfo",
    }
)
# PRAGMAs user SQL may also set. defer_foreign_keys is how the platform lets migrations break
# foreign keys until the end of the transaction (PRAGMA foreign_keys is a no-op inside one).
# Both count as writes (see _pragma_refusal).
_SETTABLE_PRAGMAS: Final = frozenset({"defer_foreign_keys", "optimize"})

#: Every PRAGMA user SQL may run (for the docs and error messages).
ALLOWED_PRAGMAS: Final = _QUERY_PRAGMAS | _TABLE_ARG_PRAGMAS | _SETTABLE_PRAGMAS

# How many statement texts' classifications to remember; when full, the memory starts over (a
# forgotten text is classified conservatively, so this bounds memory without risking correctness).
_MEMO_SIZE: Final = 256


def is_reserved_name(name: str | None) -> bool:
    """Whether a schema object name is reserved for the runtime (``__lmz`` prefix, any case)."""
    return name is not None and name[: len(RESERVED_PREFIX)].lower() == RESERVED_PREFIX


@final
@attrs.define(eq=False)
class UserSqlAuthorizer:
    """The authorizer callback, plus what it learned about the statement being prepared.

    Install it once with ``connection.set_authorizer(authorizer)``. Around each user statement
    call :meth:`start`, run the statement, then :meth:`stop` and :meth:`classify`.
    """

    user_mode: bool = False
    #: Callback invocations since :meth:`start` (0 means the statement came from the cache).
    calls: int = 0
    writes: bool = False
    changes_schema: bool = False
    #: Why the first refused action was refused, for the error message.
    denial: str | None = None
    _memo: dict[str, tuple[bool, bool]] = attrs.field(factory=dict)

    def start(self) -> None:
        """Begin checking a user statement."""
        self.user_mode = True
        self.calls = 0
        self.writes = False
        self.changes_schema = False
        self.denial = None

    def stop(self) -> None:
        """Stop checking; internal statements are allowed everything again."""
        self.user_mode = False

    def classify(self, text: str) -> tuple[bool, bool]:
        """``(writes, changes_schema)`` for the statement just run with the text ``text``.

        What the callback saw if the statement was prepared now; otherwise what it saw when the
        statement was last prepared; ``(True, True)`` if that has been forgotten.
        """
        if self.calls:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            result = (self.writes, self.changes_schema)
            self._memo[text] = result
            return result
        return self._memo.get(text, (True, True))

    def is_read_only(self, text: str) -> bool:
        """Whether the statement text ``text`` was seen before and neither writes nor changes the schema."""
        return self._memo.get(text) == (False, False)

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None
    ) -> int:
        if not self.user_mode:
            return sqlite3.SQLITE_OK
        self.calls += 1
        reason = self._refusal(action, arg1, arg2)
        if reason is None:
            return sqlite3.SQLITE_OK
        if self.denial is None:
            self.denial = reason
        return sqlite3.SQLITE_DENY

    def _refusal(self, action: int, arg1: str | None, arg2: str | None) -> str | None:
        """Why ``action`` is refused, or ``None`` if it is allowed (noting writes as it goes)."""
        if action in _READ_ACTIONS or action == sqlite3.SQLITE_PRAGMA:
            pass
        else:
            self.writes = True
        if action in _SCHEMA_ACTIONS:
            self.changes_schema = True
        name_args = _NAME_ARGS.get(action)
        if name_args is not None:
            for index in name_args:
                name = arg1 if index == 1 else arg2
                if is_reserved_name(name):
                    return f"{name!r} is reserved for the runtime (names starting with {RESERVED_PREFIX!r} cannot be used from sql.exec())"
            return None
        if action in _READ_ACTIONS:
            return None
        if action in (sqlite3.SQLITE_ANALYZE, sqlite3.SQLITE_REINDEX):
            # Statistics and index rebuilds change no data, so they may cover the runtime's tables
            # too (a bare ANALYZE or REINDEX does).
            return None
        if action == sqlite3.SQLITE_PRAGMA:
            return self._pragma_refusal((arg1 or "").lower(), arg2)
        if action == sqlite3.SQLITE_TRANSACTION:
            return f"{arg1} is not allowed in sql.exec(): the runtime manages transactions; use transaction_sync() for an atomic block"
        if action == sqlite3.SQLITE_SAVEPOINT:
            verb = "SAVEPOINT" if arg1 == "BEGIN" else f"{arg1} (savepoint)"
            return f"{verb} is not allowed in sql.exec(): use transaction_sync() for a nested atomic block"
        if action == sqlite3.SQLITE_ATTACH:
            return "ATTACH (and VACUUM, which attaches) is not allowed in sql.exec(): an actor has exactly one database"
        if action == sqlite3.SQLITE_DETACH:
            return "DETACH is not allowed in sql.exec()"
        return f"this statement kind (SQLite authorizer action {action}) is not allowed in sql.exec()"

    def _pragma_refusal(self, pragma: str, value: str | None) -> str | None:
        if pragma in _SETTABLE_PRAGMAS:
            # optimize may run ANALYZE; defer_foreign_keys changes what the next COMMIT checks, so
            # the transaction that carries it must stay open until then.
            self.writes = True
            return None
        if pragma in _TABLE_ARG_PRAGMAS:
            if is_reserved_name(value):
                return f"{value!r} is reserved for the runtime (PRAGMA {pragma} cannot look at it)"
            return None
        if pragma in _QUERY_PRAGMAS and value is None:
            return None
        if pragma in _QUERY_PRAGMAS:
            return f"PRAGMA {pragma} may be read but not set in sql.exec()"
        return f"PRAGMA {pragma} is not allowed in sql.exec() (allowed: {', '.join(sorted(ALLOWED_PRAGMAS))})"
