"""``ActorStorage``: one actor's storage (KV, SQL, alarm, runtime metadata) and its turn/commit protocol."""

from __future__ import annotations

import inspect
import math
import os
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Self, TypeVar, cast, final

from .. import clone
from ._authorizer import UserSqlAuthorizer
from ._construct import NoPublicConstructor
from ._core import StorageCore
from ._kv import KvStorage, encode_value, utf8
from ._limits import MAX_KEY_BYTES
from ._schedules import ScheduleTable
from ._schema import connect
from ._sql import SqlStorage

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

T = TypeVar("T")

_DURABILITY = ("full", "normal")

# Object kinds dropped by delete_all, in an order that never drops something another still needs:
# triggers and views first, then virtual tables (which drop their shadow tables), then the rest.
_DROP_PHASES: tuple[tuple[str, ...], ...] = (("trigger", "view"), ("virtual",), ("table", "index"))
_USER_OBJECTS = (
    "SELECT type, name, sql FROM {schema}.sqlite_schema "
    "WHERE name NOT LIKE '\\_\\_lmz%' ESCAPE '\\' "
    "AND (name NOT LIKE 'sqlite\\_%' ESCAPE '\\' OR name LIKE 'sqlite\\_stat%' ESCAPE '\\')"
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_meta_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a metadata key must be a str, not {type(key).__name__}")
    if not key:
        raise ValueError("a metadata key must not be empty")
    if len(utf8(key, "the metadata key")) > MAX_KEY_BYTES:
        raise ValueError(f"a metadata key may be at most {MAX_KEY_BYTES} UTF-8 bytes")
    return key


def alarm_time(when: object) -> float:
    """``when`` as epoch seconds.

    Raises:
        TypeError: not a number or a datetime.
        ValueError: a naive datetime, or not finite.
    """
    if isinstance(when, datetime):
        if when.utcoffset() is None:
            raise ValueError(
                f"set_alarm() needs an aware datetime (with tzinfo), got the naive {when!r}; "
                "for example datetime.now(timezone.utc) + timedelta(seconds=10)"
            )
        seconds = when.timestamp()
    elif isinstance(when, bool) or not isinstance(when, (int, float)):
        raise TypeError(
            f"set_alarm() takes epoch seconds (a float) or an aware datetime, not {type(when).__name__}"
        )
    else:
        try:
            seconds = float(when)
        except OverflowError:
            raise ValueError(f"set_alarm(): {when} is not a representable time") from None
    if not math.isfinite(seconds):
        raise ValueError(f"set_alarm() needs a finite time, not {seconds}")
    return seconds


@final
class ActorStorage(metaclass=NoPublicConstructor):
    """One actor's durable storage: :attr:`kv`, :attr:`sql`, the alarm, and the runtime's hooks.

    Made by :func:`open_actor_storage`. Everything is synchronous and runs on the calling thread:
    no method is a Trio checkpoint, none can be cancelled, and none yields to other tasks, so a
    read-modify-write inside one turn is atomic. (:meth:`commit` with ``durability="full"`` waits
    for an fsync.) Not thread-safe: use it from one thread at a time.

    **Writes and durability.** A write is visible to every later read at once. It becomes durable
    only at :meth:`commit`, which the runtime calls (not user code); :meth:`close` and
    :meth:`rollback` discard what was not committed.

    **Turns.** The runtime wraps each turn in :meth:`begin_turn` / :meth:`end_turn`; a turn that
    raised is rolled back on its own, and several turns may share one commit (group commit).

    Every method raises :class:`~lumenize_trio.StorageClosedError` after :meth:`close`, except
    :meth:`close` itself and the read-only properties.

    .. versionadded:: 0.1
    """

    __slots__ = ("_core", "_kv", "_schedules", "_sql")

    def __init__(self, core: StorageCore) -> None:
        self._core = core
        self._kv = KvStorage._create(core)
        self._sql = SqlStorage._create(core)
        self._schedules = ScheduleTable._create(core)

    # -- views and state ----------------------------------------------------------------------

    @property
    def kv(self) -> KvStorage:
        """The key-value API."""
        return self._kv

    @property
    def sql(self) -> SqlStorage:
        """The SQL API."""
        return self._sql

    @property
    def schedules(self) -> ScheduleTable:
        """The rows of ``self.svc.alarms`` (the reserved table ``__lmz_alarms``, made on first use).

        For the runtime's alarms service, not user code: the service keeps the actor's alarm
        armed for the earliest row, which writing rows directly would not.
        """
        return self._schedules

    @property
    def path(self) -> str | None:
        """The database file, or ``None`` for an in-memory database."""
        return self._core.path

    @property
    def durability(self) -> Literal["full", "normal"]:
        """The durability mode the storage was opened with."""
        return cast('Literal["full", "normal"]', self._core.durability)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._core.closed

    @property
    def has_uncommitted_writes(self) -> bool:
        """Whether something was written since the last commit (or rollback).

        Reads never set it. User SQL that might have written sets it (storage classifies
        statements conservatively), and so does a lost transaction, whose :meth:`commit` then
        raises. When false, no transaction is open and there is nothing to wait for.
        """
        core = self._core
        return core.dirty or core.lost is not None

    @property
    def fresh(self) -> bool:
        """Whether nothing was ever committed to this database: it was created by this open and
        has had no commit with writes since. (Then there is nothing stored to read.)"""
        return self._core.fresh

    @property
    def turn_open(self) -> bool:
        """Whether :meth:`begin_turn` was called and :meth:`end_turn` not yet."""
        return self._core.turn_open

    @property
    def turn_has_writes(self) -> bool:
        """Whether the open turn has written (its savepoint is open)."""
        core = self._core
        return core.turn_open and core.turn_savepoint

    # -- user-facing operations ---------------------------------------------------------------

    def transaction_sync(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` atomically: if it raises, its writes are rolled back and the error propagates.

        The block is a savepoint inside the actor's open transaction, so blocks nest, and a block
        that returns normally is committed with the rest of the turn, not on its own.

        Returns:
            What ``fn`` returned.

        Raises:
            TypeError: ``fn`` returned a coroutine (it must be synchronous; nothing is kept).
            StorageError: ``fn`` called :meth:`commit`, :meth:`rollback`, :meth:`begin_turn` or
                :meth:`end_turn`, which belong to the runtime.
            Whatever ``fn`` raised.
        """
        core = self._core
        with core.savepoint():
            result = fn()
            if inspect.iscoroutine(result):
                result.close()
                raise TypeError(
                    "transaction_sync() takes a synchronous function; this one returned a coroutine"
                )
        core.settle()
        return result

    def delete_all(self) -> None:
        """Delete every KV entry, every user table, index, view and trigger, the alarm, and every
        schedule of ``self.svc.alarms`` (they are the actor's data, and would have no alarm left
        to fire them).

        Atomic, like any other write: it joins the open transaction and is undone if the turn
        fails. The runtime's metadata (:meth:`put_meta`) is kept: it describes the actor itself
        (its identity), not its data.

        Raises:
            StorageError: SQLite failed.
        """
        core = self._core
        with core.savepoint():
            core.write("DELETE FROM main.__lmz_kv")
            core.kv_cache.clear()
            core.write("DELETE FROM main.__lmz_alarm")
            self._schedules.clear()
            deferred = core.query("PRAGMA defer_foreign_keys")[0][0]
            # With foreign keys enforced, dropping a parent table before its child would fail;
            # deferring the check to commit lets every table go, after which nothing is violated.
            core.write("PRAGMA defer_foreign_keys = ON")
            for kinds in _DROP_PHASES:
                for schema in ("temp", "main"):
                    for kind, name, sql in core.query(_USER_OBJECTS.format(schema=schema)):
                        is_virtual = kind == "table" and str(sql or "").upper().startswith("CREATE VIRTUAL")
                        if ("virtual" if is_virtual else kind) in kinds:
                            core.write(f"DROP {str(kind).upper()} IF EXISTS {schema}.{_quote(str(name))}")
            core.write(f"PRAGMA defer_foreign_keys = {int(cast('int', deferred))}")
            core.dirty = True

    def get_alarm(self) -> float | None:
        """The time of the actor's alarm in epoch seconds, or ``None`` if none is set."""
        rows = self._core.query("SELECT time FROM main.__lmz_alarm WHERE id = 0")
        return float(cast("float", rows[0][0])) if rows else None

    def set_alarm(self, when: float | datetime) -> None:
        """Set the actor's one alarm (replacing any) to ``when``: epoch seconds or an aware datetime.

        Storage only records the time; the runtime schedules it after the next commit. A time in
        the past means "as soon as possible".

        Raises:
            TypeError: ``when`` is neither a number nor a datetime.
            ValueError: a naive datetime (its time zone would be a guess), NaN or infinity.
        """
        self._core.usable()
        seconds = alarm_time(when)
        self._core.write("INSERT OR REPLACE INTO main.__lmz_alarm (id, time) VALUES (0, ?)", (seconds,))
        self._core.dirty = True

    def delete_alarm(self) -> None:
        """Remove the actor's alarm, if one is set."""
        core = self._core
        if core.write("DELETE FROM main.__lmz_alarm"):
            core.dirty = True
        else:
            core.settle()

    # -- runtime metadata ------------------------------------------------------------------------

    def get_meta(self, key: str) -> object | None:
        """The runtime's metadata value under ``key`` (a fresh copy), or ``None``.

        Metadata lives in its own reserved table, outside the KV key space, so the ``__lmz``
        prefix rule does not apply; :meth:`delete_all` keeps it. For the runtime, not user code.

        Raises:
            TypeError, ValueError: ``key`` is not a non-empty str of valid Unicode (at most 2,048 bytes).
        """
        self._core.usable()
        rows = self._core.query("SELECT value FROM main.__lmz_meta WHERE key = ?", (_check_meta_key(key),))
        return clone.loads(cast("bytes", rows[0][0])) if rows else None

    def put_meta(self, key: str, value: object) -> None:
        """Store a runtime metadata value (cloned) under ``key``; it commits like any write.

        Raises:
            TypeError, ValueError: ``key`` is not valid.
            DataCloneError: ``value`` cannot be cloned.
            StorageLimitError: key plus encoded value exceed 2 MiB.
        """
        self._core.usable()
        key = _check_meta_key(key)
        data = encode_value(len(key.encode("utf-8")), value, key, "the metadata value")
        self._core.write("INSERT OR REPLACE INTO main.__lmz_meta (key, value) VALUES (?, ?)", (key, data))
        self._core.dirty = True

    def list_meta(self, prefix: str) -> dict[str, object]:
        """The runtime metadata values whose keys start with ``prefix`` (fresh copies), in key order.

        Raises:
            TypeError, ValueError: ``prefix`` is not a non-empty str of valid Unicode.
        """
        self._core.usable()
        prefix = _check_meta_key(prefix)
        # Keys are compared as UTF-8 bytes by SQLite's BINARY collation: [prefix, prefix + U+10FFFF).
        rows = self._core.query(
            "SELECT key, value FROM main.__lmz_meta WHERE key >= ? AND key < ? ORDER BY key",
            (prefix, prefix + "\U0010ffff"),
        )
        return {cast("str", key): clone.loads(cast("bytes", value)) for key, value in rows}

    def delete_meta(self, key: str) -> bool:
        """Remove the runtime metadata value under ``key``; return whether it was there."""
        self._core.usable()
        core = self._core
        if core.write("DELETE FROM main.__lmz_meta WHERE key = ?", (_check_meta_key(key),)):
            core.dirty = True
            return True
        core.settle()
        return False

    # -- the runtime's turn and commit protocol ------------------------------------------------

    def begin_turn(self) -> None:
        """Start a turn: open the outer transaction if needed and a savepoint for this turn.

        Turns do not nest; end one before beginning the next.

        Raises:
            StorageError: a turn is already open, it is called inside :meth:`transaction_sync` or
                from ``before_commit``, or the transaction was lost (call :meth:`commit` or
                :meth:`rollback` first).
        """
        self._core.begin_turn()

    def end_turn(self, ok: bool) -> None:
        """End the open turn: keep its writes (``ok=True``) or roll back exactly them (``ok=False``).

        Either way nothing is committed yet. If the transaction has no writes left, it is closed.

        Raises:
            StorageError: no turn is open, or it is called inside :meth:`transaction_sync`.
        """
        self._core.end_turn(ok)

    def commit(self) -> None:
        """Make every write since the last commit durable, in one SQLite ``COMMIT``.

        A no-op when :attr:`has_uncommitted_writes` is false. Otherwise calls ``before_commit``
        (if one was given to :func:`open_actor_storage`), then commits. With
        ``durability="full"`` this waits for an fsync of the write-ahead log.

        Raises:
            StorageCommitError: ``before_commit`` raised, ``COMMIT`` failed, or the transaction had
                been lost. Everything since the last commit has been rolled back, the original
                error is the ``__cause__``, and the storage is usable again.
            StorageError: a turn is open, or it is called inside :meth:`transaction_sync` or from
                ``before_commit``.

        Cancellation:
            Not a checkpoint; blocks the calling thread until SQLite returns.
        """
        self._core.commit()

    def rollback(self) -> None:
        """Discard every write since the last commit, and any open turn (when the actor is reset).

        Raises:
            StorageError: it is called inside :meth:`transaction_sync` or from ``before_commit``.
        """
        self._core.rollback()

    def close(self) -> None:
        """Close the database. Uncommitted writes are discarded (call :meth:`commit` first to keep
        them). Calling it again does nothing."""
        self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        core = self._core
        state = (
            "closed" if core.closed else ("uncommitted writes" if self.has_uncommitted_writes else "clean")
        )
        where = core.path if core.path is not None else ":memory:"
        return f"<lumenize_trio.storage.ActorStorage {where!r} durability={core.durability!r} {state}>"


def open_actor_storage(
    path: str | os.PathLike[str] | None,
    *,
    durability: Literal["full", "normal"] = "full",
    before_commit: Callable[[], None] | None = None,
    exclusive: bool = True,
) -> ActorStorage:
    """Open (creating if needed) one actor's SQLite database.

    Args:
        path: the database file, or ``None`` for a private in-memory database. Files use
            write-ahead logging; the directory must exist.
        durability: ``"full"`` (default) fsyncs on every commit, so a commit survives power loss;
            ``"normal"`` survives a process crash but may lose the last commits on power loss, and
            commits are several times cheaper.
        before_commit: called by :meth:`ActorStorage.commit` just before ``COMMIT`` when there is
            something to commit. It may read and write storage (its writes are part of the
            commit); if it raises, the commit fails with :class:`StorageCommitError`.
        exclusive: hold the file's lock for as long as the storage is open (the default, what
            the runtime uses: one fewer file and mmap per actor, faster opening, and any other
            connection to the file fails at once). ``False`` lets other connections read the
            file meanwhile (tests and tools that inspect a live database); they must not write
            to it, since this storage takes its own writes for the only ones.

    Returns:
        The open storage, with the runtime's tables created. Close it with
        :meth:`ActorStorage.close` (or use it as a context manager).

    Raises:
        ValueError: ``durability`` is not ``"full"`` or ``"normal"``, or ``path`` is empty.
        TypeError: ``path`` is not a str, ``os.PathLike[str]`` or ``None``.
        StorageError: the file cannot be opened or configured, is not an actor database, or was
            written by a newer version.

    Cancellation:
        Not a checkpoint; blocks the calling thread while SQLite opens the file (well under a
        millisecond for an existing file, a few milliseconds to create one).
    """
    if durability not in _DURABILITY:
        raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
    if before_commit is not None and not callable(before_commit):
        raise TypeError(f"before_commit must be callable or None, not {type(before_commit).__name__}")
    if path is None:
        target = ":memory:"
    else:
        target = os.fspath(path)
        if not isinstance(target, str):
            raise TypeError(f"path must be a str or os.PathLike[str], not {type(target).__name__}")
        if not target:
            raise ValueError("path must not be empty; pass None for an in-memory database")
    in_memory = target == ":memory:"
    conn, created = connect(target, is_file=not in_memory, durability=durability, exclusive=exclusive)
    authorizer = UserSqlAuthorizer()
    # Installed once for the connection's lifetime: installing an authorizer expires every
    # prepared statement, so toggling it per call would defeat the statement cache.
    conn.set_authorizer(authorizer)
    core = StorageCore(
        conn=conn,
        authorizer=authorizer,
        path=None if in_memory else target,
        durability=durability,
        before_commit=before_commit,
        fresh=created,
    )
    return ActorStorage._create(core)
