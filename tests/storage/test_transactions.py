"""Tests for `lumenize_trio.storage._core`: turns, savepoints, group commit, commit failure."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from lumenize_trio import clone
from lumenize_trio.storage import (
    ActorStorage,
    StorageCommitError,
    StorageError,
    open_actor_storage,
)

if TYPE_CHECKING:
    from pathlib import Path


def committed_kv(path: Path) -> dict[str, object]:
    """What another connection sees in the KV table: exactly what was committed."""
    reader = sqlite3.connect(path)
    try:
        rows = reader.execute("SELECT key, value FROM __lmz_kv ORDER BY key").fetchall()
    finally:
        reader.close()
    return {key: clone.loads(value) for key, value in rows}


def test_turn_rollback_undoes_only_that_turn(storage: ActorStorage) -> None:
    storage.kv.put("before", 0)
    storage.begin_turn()
    storage.kv.put("a", 1)
    storage.end_turn(True)
    storage.begin_turn()
    storage.kv.put("a", "changed")
    storage.kv.put("b", 2)
    storage.kv.delete("before")
    storage.sql.exec("CREATE TABLE t (x)")
    storage.set_alarm(5.0)
    storage.end_turn(False)
    assert storage.kv.list() == {"a": 1, "before": 0}
    assert storage.get_alarm() is None
    assert storage.sql.exec("SELECT count(*) AS n FROM sqlite_schema WHERE name = 't'").one() == {"n": 0}


def test_turn_protocol_misuse(storage: ActorStorage) -> None:
    with pytest.raises(StorageError, match="without an open turn"):
        storage.end_turn(True)
    storage.begin_turn()
    with pytest.raises(StorageError, match="while a turn is open"):
        storage.begin_turn()
    with pytest.raises(StorageError, match="commit\\(\\) called while a turn is open"):
        storage.commit()
    storage.end_turn(True)


def test_read_only_turns_leave_nothing_open(storage: ActorStorage) -> None:
    storage.kv.put("k", 1)
    storage.commit()
    storage.begin_turn()
    assert storage.kv.get("k") == 1
    storage.sql.exec("SELECT 1")
    storage.end_turn(True)
    assert not storage.has_uncommitted_writes
    assert not storage._core.conn.in_transaction


def test_failed_turn_restores_the_uncommitted_flag(storage: ActorStorage) -> None:
    storage.begin_turn()
    storage.kv.put("k", 1)
    storage.end_turn(False)
    assert not storage.has_uncommitted_writes
    storage.kv.put("k", 1)
    storage.begin_turn()
    storage.kv.put("j", 1)
    storage.end_turn(False)
    assert storage.has_uncommitted_writes


def test_group_commit_makes_several_turns_durable_at_once(db_path: Path) -> None:
    with open_actor_storage(db_path, exclusive=False) as storage:
        for turn in range(3):
            storage.begin_turn()
            storage.kv.put(f"turn{turn}", turn)
            storage.end_turn(True)
        assert committed_kv(db_path) == {}  # nothing is durable before commit()
        assert storage.has_uncommitted_writes
        storage.commit()
        assert not storage.has_uncommitted_writes
        assert committed_kv(db_path) == {"turn0": 0, "turn1": 1, "turn2": 2}
        storage.kv.put("uncommitted", 1)
    with open_actor_storage(db_path, exclusive=False) as reopened:
        assert reopened.kv.list() == {"turn0": 0, "turn1": 1, "turn2": 2}


def test_writes_outside_turns_join_the_group(db_path: Path) -> None:
    with open_actor_storage(db_path, exclusive=False) as storage:
        storage.kv.put("outside", 1)
        storage.begin_turn()
        storage.kv.put("inside", 2)
        storage.end_turn(True)
        storage.put_meta("meta", 3)
        assert committed_kv(db_path) == {}
        storage.commit()
        assert committed_kv(db_path) == {"inside": 2, "outside": 1}


def test_commit_without_writes_is_a_noop(storage: ActorStorage) -> None:
    calls: list[str] = []
    storage.commit()
    assert not storage.has_uncommitted_writes
    with open_actor_storage(None, before_commit=lambda: calls.append("hook")) as hooked:
        hooked.commit()
        hooked.begin_turn()
        hooked.end_turn(True)
        hooked.commit()
        assert calls == []  # before_commit runs only when there is something to commit
        hooked.kv.put("k", 1)
        hooked.commit()
        assert calls == ["hook"]


def test_rollback_discards_everything_uncommitted(storage: ActorStorage) -> None:
    storage.kv.put("kept", 1)
    storage.commit()
    storage.kv.put("outside", 1)
    storage.begin_turn()
    storage.kv.put("open turn", 1)
    storage.rollback()
    assert storage.kv.list() == {"kept": 1}
    assert not storage.has_uncommitted_writes
    with pytest.raises(StorageError, match="without an open turn"):
        storage.end_turn(True)
    storage.rollback()  # nothing to discard


def test_close_discards_uncommitted_writes(db_path: Path) -> None:
    storage = open_actor_storage(db_path, exclusive=False)
    storage.kv.put("committed", 1)
    storage.commit()
    storage.begin_turn()
    storage.kv.put("uncommitted", 2)
    storage.close()
    with open_actor_storage(db_path, exclusive=False) as reopened:
        assert reopened.kv.list() == {"committed": 1}


class InjectedError(Exception):
    pass


def test_commit_failure_in_before_commit_rolls_back_everything(db_path: Path) -> None:
    failing = False

    def before_commit() -> None:
        if failing:
            raise InjectedError("disk on fire")

    with open_actor_storage(db_path, exclusive=False, before_commit=before_commit) as storage:
        storage.kv.put("a", 1)
        storage.sql.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
        storage.commit()
        for turn in range(2):
            storage.begin_turn()
            storage.kv.put(f"turn{turn}", turn)
            storage.sql.exec("INSERT INTO t VALUES (?)", turn)
            storage.end_turn(True)
        storage.set_alarm(10.0)
        failing = True
        with pytest.raises(StorageCommitError, match="rolled back") as failure:
            storage.commit()
        assert isinstance(failure.value.__cause__, InjectedError)
        assert not storage.has_uncommitted_writes
        assert storage.kv.list() == {"a": 1}
        assert storage.get_alarm() is None
        assert storage.sql.exec("SELECT count(*) AS n FROM t").one() == {"n": 1}
        # Usable afterwards: a new turn and commit work.
        failing = False
        storage.begin_turn()
        storage.kv.put("b", 2)
        storage.end_turn(True)
        storage.commit()
        assert committed_kv(db_path) == {"a": 1, "b": 2}


def test_before_commit_writes_are_part_of_the_commit(db_path: Path) -> None:
    holder: list[ActorStorage] = []

    def before_commit() -> None:
        holder[0].put_meta("commits", (holder[0].get_meta("commits") or 0) + 1)  # type: ignore[operator]

    with open_actor_storage(db_path, exclusive=False, before_commit=before_commit) as storage:
        holder.append(storage)
        storage.kv.put("k", 1)
        storage.commit()
        assert not storage.has_uncommitted_writes
    with open_actor_storage(db_path, exclusive=False) as reopened:
        assert reopened.get_meta("commits") == 1


def test_runtime_calls_are_refused_inside_before_commit(storage: ActorStorage) -> None:
    with open_actor_storage(None, before_commit=lambda: holder[0].commit()) as hooked:
        holder = [hooked]
        hooked.kv.put("k", 1)
        with pytest.raises(StorageCommitError) as failure:
            hooked.commit()
        assert isinstance(failure.value.__cause__, StorageError)
        assert "before_commit" in str(failure.value.__cause__)
        assert hooked.kv.get("k") is None


def test_base_exception_in_before_commit_rolls_back_and_propagates(storage: ActorStorage) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    with open_actor_storage(None, before_commit=interrupt) as hooked:
        hooked.kv.put("k", 1)
        with pytest.raises(KeyboardInterrupt):
            hooked.commit()
        assert hooked.kv.get("k") is None
        assert not hooked.has_uncommitted_writes


def test_transaction_sync_commits_with_the_turn_and_rolls_back_on_error(storage: ActorStorage) -> None:
    kv = storage.kv

    def level3() -> None:
        kv.put("l3", 3)
        raise ValueError("level 3 fails")

    def level2() -> int:
        kv.put("l2", 2)
        with pytest.raises(ValueError, match="level 3"):
            storage.transaction_sync(level3)
        return 2

    def level1() -> str:
        kv.put("l1", 1)
        assert storage.transaction_sync(level2) == 2
        return "done"

    storage.begin_turn()
    assert storage.transaction_sync(level1) == "done"
    storage.end_turn(True)
    assert kv.list() == {"l1": 1, "l2": 2}
    assert storage.has_uncommitted_writes


def test_transaction_sync_rolls_back_base_exceptions(storage: ActorStorage) -> None:
    def fn() -> None:
        storage.kv.put("k", 1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        storage.transaction_sync(fn)
    assert storage.kv.get("k") is None
    assert not storage.has_uncommitted_writes


def test_transaction_sync_refuses_async_functions(storage: ActorStorage) -> None:
    async def fn() -> None:
        storage.kv.put("k", 1)  # never runs: the coroutine is closed unawaited

    with pytest.raises(TypeError, match="synchronous"):
        storage.transaction_sync(fn)  # type: ignore[arg-type]
    assert storage.kv.get("k") is None


def test_transaction_sync_refuses_runtime_calls(storage: ActorStorage) -> None:
    for call, name in (
        (storage.commit, "commit"),
        (storage.rollback, "rollback"),
        (storage.begin_turn, "begin_turn"),
    ):

        def fn(call: object = call) -> None:
            storage.kv.put("k", 1)
            call()  # type: ignore[operator]

        with pytest.raises(StorageError, match=f"{name}\\(\\) cannot be called inside transaction_sync"):
            storage.transaction_sync(fn)
        assert storage.kv.get("k") is None
    storage.begin_turn()
    with pytest.raises(StorageError, match="end_turn"):
        storage.transaction_sync(lambda: storage.end_turn(True))
    storage.end_turn(True)


def test_transaction_sync_outside_a_turn_leaves_nothing_open_after_reads(storage: ActorStorage) -> None:
    assert storage.transaction_sync(lambda: storage.kv.get("k", 5)) == 5
    assert not storage.has_uncommitted_writes
    assert not storage._core.conn.in_transaction


def test_close_inside_transaction_sync(storage: ActorStorage) -> None:
    def fn() -> str:
        storage.kv.put("k", 1)
        storage.close()
        return "closed"

    assert storage.transaction_sync(fn) == "closed"
    assert storage.closed

    def failing() -> None:
        raise ValueError("after close")

    with open_actor_storage(None) as other:

        def close_then_fail() -> None:
            other.close()
            failing()

        with pytest.raises(ValueError, match="after close"):
            other.transaction_sync(close_then_fail)
        assert other.closed


@pytest.mark.parametrize("durability", ["full", "normal"])
def test_committed_writes_survive_reopen(db_path: Path, durability: str) -> None:
    with open_actor_storage(db_path, exclusive=False, durability=durability) as storage:  # type: ignore[arg-type]
        storage.kv.put("k", {"v": 1})
        storage.sql.exec("CREATE TABLE t (x); INSERT INTO t VALUES ('row')")
        storage.set_alarm(123.0)
        storage.commit()
    with open_actor_storage(db_path, exclusive=False, durability=durability) as reopened:  # type: ignore[arg-type]
        assert reopened.kv.get("k") == {"v": 1}
        assert reopened.sql.exec("SELECT x FROM t").one() == {"x": "row"}
        assert reopened.get_alarm() == 123.0
