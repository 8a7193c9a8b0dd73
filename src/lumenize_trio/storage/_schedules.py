"""The reserved table ``__lmz_alarms``: the rows behind ``self.svc.alarms``, created on first use.

Theory of operation
-------------------
Most actors never schedule anything, so the table is not created when a database is opened (that
would cost every cold activation a schema lookup or a write): the first :meth:`ScheduleTable.put`
creates it, in the caller's transaction. Whether it exists is remembered in
:attr:`StorageCore.schedules_table`; every rollback forgets it (a rolled-back ``CREATE`` leaves no
table), and the next use asks ``sqlite_schema`` again.

Rows are ordered by ``(time, seq)``. ``seq`` is the row's scheduling order, chosen by the caller
(the service keeps it increasing, so ties fire in scheduling order); it is the row id, so a row
is found and removed by it in one B-tree step, and the ``(time, seq)`` index makes "the earliest
rows" one ordered range scan. ``id`` is the caller's name for the row; putting an existing id
replaces that row.

Everything here is synchronous and never yields; the rows change in the caller's transaction (and
turn savepoint), so they commit together with whatever else the turn wrote, the actor's native
alarm included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple, cast, final

from ._construct import NoPublicConstructor

if TYPE_CHECKING:
    from collections.abc import Collection

    from ._core import StorageCore

#: The table and its index (both reserved: user SQL cannot touch ``__lmz`` names).
SCHEDULES_TABLE: Final = "__lmz_alarms"
SCHEDULES_INDEX: Final = "__lmz_alarms_time"

_CREATE: Final = (
    "CREATE TABLE IF NOT EXISTS main.__lmz_alarms ("
    "seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time REAL NOT NULL, "
    "type TEXT NOT NULL CHECK (type IN ('delayed', 'scheduled', 'cron')), "
    "chain BLOB NOT NULL, cron TEXT, delay REAL)",
    "CREATE INDEX IF NOT EXISTS main.__lmz_alarms_time ON __lmz_alarms (time, seq)",
)
_EXISTS: Final = "SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = '__lmz_alarms'"
_COLUMNS: Final = "seq, id, time, type, chain, cron, delay"
_PUT: Final = f"INSERT OR REPLACE INTO main.__lmz_alarms ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_GET: Final = f"SELECT {_COLUMNS} FROM main.__lmz_alarms WHERE id = ?"
_FIRST: Final = (
    f"SELECT {_COLUMNS} FROM main.__lmz_alarms WHERE seq <= ? AND time <= ? ORDER BY time, seq LIMIT ?"
)
_EARLIEST: Final = "SELECT seq, time FROM main.__lmz_alarms ORDER BY time, seq LIMIT ?"


class ScheduleRow(NamedTuple):
    """One row of ``__lmz_alarms``."""

    seq: int
    """Scheduling order (unique; ties in ``time`` are broken by it)."""
    id: str
    time: float
    """When it is due, in epoch seconds."""
    type: str
    """``"delayed"``, ``"scheduled"`` or ``"cron"``."""
    chain: bytes
    """The continuation to run, as the service encoded it."""
    cron: str | None
    delay: float | None


def _row(values: tuple[object, ...]) -> ScheduleRow:
    seq, id_, time, kind, chain, cron, delay = values
    return ScheduleRow(
        cast("int", seq),
        cast("str", id_),
        float(cast("float", time)),
        cast("str", kind),
        cast("bytes", chain),
        cast("str | None", cron),
        None if delay is None else float(cast("float", delay)),
    )


@final
class ScheduleTable(metaclass=NoPublicConstructor):
    """The rows of ``svc.alarms`` in one actor's database: ``storage.schedules``.

    For the runtime's alarms service, not for user code (which uses ``self.svc.alarms``). No
    method is a Trio checkpoint; every write joins the open transaction and turn savepoint.
    Reads of a table that was never created see no rows and write nothing.
    """

    __slots__ = ("_core",)

    def __init__(self, core: StorageCore) -> None:
        self._core = core

    def exists(self) -> bool:
        """Whether the table exists (in this transaction's view). A read; remembered until a rollback."""
        core = self._core
        known = core.schedules_table
        if known is None:
            known = core.schedules_table = bool(core.query(_EXISTS))
        return known

    def put(self, row: ScheduleRow) -> None:
        """Insert *row*, replacing any row with the same ``id`` (or ``seq``); create the table first if needed.

        Raises:
            StorageError: SQLite failed (the caller's savepoint decides what is kept).
        """
        core = self._core
        core.usable()
        if not self.exists():
            for statement in _CREATE:
                core.write(statement)
            core.dirty = True
            core.schedules_table = True
        core.write(_PUT, row)
        core.dirty = True

    def get(self, id: str) -> ScheduleRow | None:  # noqa: A002 - the row's column is called id
        """The row named *id*, or ``None``."""
        if not self.exists():
            return None
        rows = self._core.query(_GET, (id,))
        return _row(rows[0]) if rows else None

    def select(
        self, *, kind: str | None = None, start: float | None = None, end: float | None = None
    ) -> list[ScheduleRow]:
        """Every row of type *kind* (any if ``None``) due in ``[start, end]`` (inclusive), by ``(time, seq)``."""
        if not self.exists():
            return []
        conditions: list[str] = []
        params: list[object] = []
        if kind is not None:
            conditions.append("type = ?")
            params.append(kind)
        if start is not None:
            conditions.append("time >= ?")
            params.append(start)
        if end is not None:
            conditions.append("time <= ?")
            params.append(end)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT {_COLUMNS} FROM main.__lmz_alarms{where} ORDER BY time, seq"
        return [_row(values) for values in self._core.query(sql, params)]

    def first(self, limit: int, *, max_seq: int, due_by: float) -> list[ScheduleRow]:
        """Up to *limit* earliest rows by ``(time, seq)`` with ``seq <= max_seq`` and ``time <= due_by``."""
        if not self.exists():
            return []
        return [_row(values) for values in self._core.query(_FIRST, (max_seq, due_by, limit))]

    def earliest_time(self, *, skip: Collection[int] = ()) -> float | None:
        """The time of the earliest row whose ``seq`` is not in *skip*, or ``None`` if there is none."""
        if not self.exists():
            return None
        for seq, time in self._core.query(_EARLIEST, (len(skip) + 1,)):
            if seq not in skip:
                return float(cast("float", time))
        return None

    def max_seq(self) -> int:
        """The highest ``seq`` in the table (0 if it is empty or missing)."""
        if not self.exists():
            return 0
        # A bare MAX() of the row id is one B-tree step (SQLite's min/max optimisation).
        found = self._core.query("SELECT MAX(seq) FROM main.__lmz_alarms")[0][0]
        return 0 if found is None else cast("int", found)

    def delete(self, seq: int) -> bool:
        """Remove the row *seq*; return whether it was there."""
        return self._change("DELETE FROM main.__lmz_alarms WHERE seq = ?", (seq,))

    def set_time(self, seq: int, time: float) -> bool:
        """Move the row *seq* to *time* (a cron row's next run); return whether it was there."""
        return self._change("UPDATE main.__lmz_alarms SET time = ? WHERE seq = ?", (time, seq))

    def clear(self) -> None:
        """Remove every row (``delete_all``); the table itself stays."""
        self._change("DELETE FROM main.__lmz_alarms", ())

    def _change(self, sql: str, params: tuple[object, ...]) -> bool:
        core = self._core
        if not self.exists():
            return False
        if core.write(sql, params):
            core.dirty = True
            return True
        core.settle()
        return False

    def __repr__(self) -> str:
        return "<lumenize_trio.storage.ScheduleTable>"
