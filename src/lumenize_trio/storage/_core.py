"""One actor's SQLite connection and its transaction state machine (shared by every storage view).

Theory of operation
-------------------
Rule 1: nothing commits except :meth:`StorageCore.commit`. The first write opens the outer
transaction with ``BEGIN``; it stays open across turns, so several turns share one ``COMMIT``
(group commit). A turn's savepoint is opened by the turn's first write, so a turn that only reads
costs no statement at all.

Rule 2: everything that must be all-or-nothing runs in a ``SAVEPOINT`` nested in that
transaction: a turn (``__lmz_turn``), a ``transaction_sync`` block, one ``sql.exec`` call (unless
it is a single statement already known to only read), one KV batch (``__lmz_sp<depth>``). Leaving
it with an exception rolls back exactly its writes.

Rule 3: :attr:`StorageCore.dirty` is true iff something was written since the last commit, as far
as storage can tell (user SQL is classified conservatively). A savepoint that rolls back restores
the flag it started with. A transaction with nothing written is closed as soon as no turn or
savepoint needs it, so "no uncommitted writes" also means "no transaction open".

Rule 4: some statement failures make SQLite roll back the *whole* transaction (``ON CONFLICT
ROLLBACK``, ``RAISE(ROLLBACK)``, a full disk, an I/O error). Then uncommitted writes of other turns
are gone, and the runtime may already hold their outputs. The core notices (``in_transaction``
turned false under it), records why in :attr:`StorageCore.lost`, and refuses every operation
until ``commit()`` (which raises :class:`StorageCommitError`, so the runtime drops those outputs
and resets the actor) or ``rollback()``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Final, final

import attrs

from .._exceptions import StorageClosedError, StorageCommitError, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from ._authorizer import UserSqlAuthorizer

_TURN_SAVEPOINT: Final = "__lmz_turn"
_OPEN_TURN: Final = f"SAVEPOINT {_TURN_SAVEPOINT}"
_UNDO_TURN: Final = f"ROLLBACK TO {_TURN_SAVEPOINT}"
_CLOSE_TURN: Final = f"RELEASE {_TURN_SAVEPOINT}"


@final
@attrs.define(eq=False)
class StorageCore:
    """The connection, the transaction state and the operations every storage view builds on."""

    conn: sqlite3.Connection
    authorizer: UserSqlAuthorizer
    path: str | None
    durability: str
    before_commit: Callable[[], None] | None
    #: Created by this open, and no commit with writes since.
    fresh: bool = False
    closed: bool = False
    #: An outer ``BEGIN`` is open (as far as we know; Rule 4 checks SQLite's view).
    tx_open: bool = False
    #: Rule 3.
    dirty: bool = False
    turn_open: bool = False
    #: The open turn has written, so its ``__lmz_turn`` savepoint is open.
    turn_savepoint: bool = False
    #: ``dirty`` when the open turn began, restored if the turn rolls back.
    dirty_before_turn: bool = False
    #: How many ``__lmz_sp<n>`` savepoints are open.
    depth: int = 0
    #: ``before_commit`` or ``COMMIT`` is running.
    committing: bool = False
    #: Why the open transaction was lost (Rule 4), or ``None``.
    lost: str | None = None
    #: Whether the lazily created table ``__lmz_alarms`` exists, or ``None`` if unknown. Every
    #: rollback forgets it (a rolled-back CREATE leaves no table); see ``_schedules.py``.
    schedules_table: bool | None = None
    #: Bumped by every write to ``__lmz_alarms`` and every rollback, so a reader can tell that
    #: rows it read earlier may have changed.
    schedules_version: int = 0
    #: The KV read cache (see ``_kv.py``): key -> its small immutable value, or ``ABSENT``. It
    #: mirrors what this connection sees, uncommitted writes included, so every rollback clears it.
    kv_cache: dict[str, object] = attrs.field(init=False, factory=dict)
    #: Runs every internal statement (one cursor reused: each is read to the end at once).
    cursor: sqlite3.Cursor = attrs.field(
        init=False, default=attrs.Factory(lambda self: self.conn.cursor(), takes_self=True)
    )

    # -- guards -----------------------------------------------------------------------------

    def check_open(self) -> sqlite3.Connection:
        """The connection, or :class:`StorageClosedError` if the storage was closed."""
        if self.closed:
            raise StorageClosedError("this actor storage is closed")
        return self.conn

    def usable(self) -> sqlite3.Connection:
        """The connection, if it is open and the transaction was not lost (Rule 4)."""
        if self.closed or self.lost is not None:
            self.check_open()
            raise StorageError(
                f"uncommitted writes were lost ({self.lost}); call commit() or rollback() before using storage again"
            )
        return self.conn

    def _check_no_block(self, operation: str) -> None:
        if self.depth:
            raise StorageError(
                f"{operation} cannot be called inside transaction_sync() or a storage operation"
            )
        if self.committing:
            raise StorageError(f"{operation} cannot be called from the before_commit hook")

    # -- statements -------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run an internal read and return all rows."""
        self.usable()
        return self._execute(sql, params).fetchall()

    def read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        """:meth:`query`, for a caller that has just called :meth:`usable`."""
        return self._execute(sql, params).fetchall()

    def written(self, sql: str, params: Sequence[object]) -> None:
        """Run one internal write that certainly changes data (after :meth:`usable`); mark it dirty."""
        if not self.tx_open or (self.turn_open and not self.turn_savepoint):
            self.ensure_transaction()
        self._execute(sql, params)
        self.dirty = True

    def write(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run an internal write inside the outer transaction; return the number of rows changed."""
        self.usable()
        self.ensure_transaction()
        return self._execute(sql, params).rowcount

    def write_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one internal write per row inside the outer transaction."""
        self.usable()
        self.ensure_transaction()
        self._execute(sql, rows, many=True)

    def _control(self, sql: str) -> None:
        """Run a transaction-control statement (BEGIN, SAVEPOINT, ...)."""
        self._execute(sql, ())

    def _execute(self, sql: str, params: Sequence[object], *, many: bool = False) -> sqlite3.Cursor:
        """Run one internal statement; map a failure to :class:`StorageError` after applying Rule 4."""
        try:
            if many:
                return self.conn.executemany(sql, params)  # type: ignore[arg-type]
            return self.cursor.execute(sql, params)
        except sqlite3.Error as exc:
            self.notice_lost_transaction(f"SQLite failed: {exc}")
            name = getattr(exc, "sqlite_errorname", None)
            raise StorageError(f"SQLite failed: {exc}" + (f" [{name}]" if name else "")) from exc

    def notice_lost_transaction(self, reason: str) -> bool:
        """Apply Rule 4: if SQLite dropped our open transaction, record why. Returns whether it did."""
        if self.tx_open and not self.conn.in_transaction:
            self.tx_open = False
            self.lost = reason
            self.kv_cache.clear()
            return True
        return False

    # -- transactions -----------------------------------------------------------------------

    def ensure_transaction(self) -> None:
        """Before a write: open the outer transaction and the turn's savepoint if needed (Rule 1)."""
        if not self.tx_open:
            self._control("BEGIN")
            self.tx_open = True
        if self.turn_open and not self.turn_savepoint:
            self._control(_OPEN_TURN)
            self.turn_savepoint = True

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested all-or-nothing block (Rule 2); an exception rolls back its writes and propagates."""
        self.usable()
        self.ensure_transaction()
        name = f"__lmz_sp{self.depth}"
        self._control(f"SAVEPOINT {name}")
        self.depth += 1
        dirty_before = self.dirty
        try:
            yield
        except BaseException:
            self.depth -= 1
            if not self.closed and self.lost is None:
                self._control(f"ROLLBACK TO {name}")
                self._control(f"RELEASE {name}")
                self.dirty = dirty_before
                self.forget_after_rollback()
            raise
        self.depth -= 1
        if not self.closed and self.lost is None:
            self._control(f"RELEASE {name}")

    def settle(self) -> None:
        """Close the outer transaction if nothing was written and nothing needs it (Rule 3)."""
        if (
            self.tx_open
            and not self.dirty
            and not self.turn_open
            and not self.depth
            and not self.committing
            and not self.closed
        ):
            # A transaction without writes has nothing to make durable: this COMMIT only ends the
            # read snapshot, so before_commit is not involved.
            self._control("COMMIT")
            self.tx_open = False

    def begin_turn(self) -> None:
        """See :meth:`ActorStorage.begin_turn`."""
        self.usable()
        if self.depth or self.committing:
            self._check_no_block("begin_turn()")
        if self.turn_open:
            raise StorageError("begin_turn() called while a turn is open; call end_turn() first")
        self.turn_open = True  # the savepoint itself waits for the turn's first write
        self.turn_savepoint = False
        self.dirty_before_turn = self.dirty

    def end_turn(self, ok: bool) -> None:
        """See :meth:`ActorStorage.end_turn`."""
        if self.closed:
            self.check_open()
        if not self.turn_open:
            raise StorageError("end_turn() called without an open turn (call begin_turn() first)")
        if self.depth or self.committing:
            self._check_no_block("end_turn()")
        self.turn_open = False
        opened, self.turn_savepoint = self.turn_savepoint, False
        if self.lost is not None or not opened:
            return  # nothing written (or lost with the transaction; commit() reports the loss)
        if not ok:
            self._control(_UNDO_TURN)
            self.dirty = self.dirty_before_turn
            self.forget_after_rollback()
        self._control(_CLOSE_TURN)
        if not self.dirty:
            self.settle()

    def commit(self) -> None:
        """See :meth:`ActorStorage.commit`."""
        self.check_open()
        if self.turn_open:
            raise StorageError("commit() called while a turn is open; call end_turn() first")
        self._check_no_block("commit()")
        if self.lost is not None:
            reason, self.lost = self.lost, None
            self._reset_state()
            self.forget_after_rollback()
            raise StorageCommitError(
                f"nothing was committed: uncommitted writes had already been lost ({reason})"
            )
        if not self.tx_open:
            return
        if not self.dirty:
            self.settle()
            return
        self.committing = True
        try:
            if self.before_commit is not None:
                self.before_commit()
            self.conn.execute("COMMIT")
        except BaseException as exc:
            self.committing = False
            self._discard()
            if isinstance(exc, Exception):
                raise StorageCommitError(
                    f"commit failed, so every write since the last commit was rolled back: {exc!r}"
                ) from exc
            raise
        self.committing = False
        self.fresh = False
        self._reset_state()

    def rollback(self) -> None:
        """See :meth:`ActorStorage.rollback`."""
        self.check_open()
        self._check_no_block("rollback()")
        self._discard()

    def _discard(self) -> None:
        """Roll back everything uncommitted and forget every turn and savepoint."""
        if not self.closed and self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:  # pragma: no cover - ROLLBACK only fails if the file system does
                # The connection's state is unknown; closing it is the only safe way out (SQLite
                # rolls back on close, and recovers a hot journal on the next open).
                self.close()
                raise
        self._reset_state()
        self.forget_after_rollback()

    def forget_after_rollback(self) -> None:
        """After a rollback: the schedules table may be gone, its rows and the KV entries may differ."""
        self.schedules_table = None
        self.schedules_version += 1
        self.kv_cache.clear()

    def _reset_state(self) -> None:
        self.tx_open = False
        self.dirty = False
        self.turn_open = False
        self.turn_savepoint = False
        self.depth = 0
        self.lost = None

    def close(self) -> None:
        """See :meth:`ActorStorage.close`."""
        if self.closed:
            return
        self.closed = True
        self._reset_state()
        self.committing = False
        self.kv_cache.clear()
        # sqlite3.Connection.close() does not commit: an open transaction is rolled back.
        self.conn.close()
