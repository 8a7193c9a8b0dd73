"""Model-based test of `lumenize_trio.storage`: random turns, commits and reopens against a dict.

The state machine drives one file-backed actor database through random sequences of KV writes,
turns that succeed or fail, ``transaction_sync`` blocks that raise, commits that succeed or fail
(through ``before_commit``), rollbacks, and close-and-reopen. After every step the visible state
must equal the model, ``has_uncommitted_writes`` must say whether anything was written since the
last commit, and what another connection reads from the file must be exactly the committed state.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lumenize_trio import clone
from lumenize_trio.storage import ActorStorage, StorageCommitError, open_actor_storage

# Few keys, so writes collide; non-ASCII ones whose UTF-8 and UTF-16 orders differ.
KEYS = st.sampled_from(["a", "b", "a\x00", "é", "\uff61", "\U0001f600", "\ue000"])
# Values the KV read cache keeps (small scalars) and ones it does not (lists, a long str, an int
# past 64 bits).
VALUES = (
    st.integers(-2, 2)
    | st.text(max_size=2)
    | st.lists(st.integers(0, 3), max_size=2)
    | st.none()
    | st.binary(max_size=2)
    | st.floats(allow_nan=False)
    | st.just("x" * 300)
    | st.just(2**70)
)


class InjectedCommitFailure(Exception):
    pass


def utf8_ordered(entries: dict[str, object]) -> list[tuple[str, object]]:
    return sorted(entries.items(), key=lambda item: item[0].encode("utf-8"))


class StorageMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="lmz-storage-model-"))
        self.path = self.directory / "actor.db"
        self.fail_next_commit = False
        self.storage = self._open()
        self.committed: dict[str, object] = {}
        self.visible: dict[str, object] = {}
        self.dirty = False
        self.turn: tuple[dict[str, object], bool] | None = None

    def _open(self) -> ActorStorage:
        return open_actor_storage(self.path, exclusive=False, before_commit=self._before_commit)

    def _before_commit(self) -> None:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise InjectedCommitFailure

    def _discard_uncommitted(self) -> None:
        self.visible = dict(self.committed)
        self.dirty = False
        self.turn = None

    # -- writes -------------------------------------------------------------------------------

    @rule(key=KEYS, value=VALUES)
    def put(self, key: str, value: object) -> None:
        self.storage.kv.put(key, value)
        self.visible[key] = value
        self.dirty = True

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        existed = self.storage.kv.delete(key)
        assert existed == (key in self.visible)
        if existed:
            del self.visible[key]
            self.dirty = True

    @rule(entries=st.dictionaries(KEYS, VALUES, min_size=1, max_size=3))
    def put_many(self, entries: dict[str, object]) -> None:
        self.storage.kv.put_many(entries)
        self.visible.update(entries)
        self.dirty = True

    @rule(keys=st.lists(KEYS, max_size=3))
    def delete_many(self, keys: list[str]) -> None:
        removed = self.storage.kv.delete_many(keys)
        present = set(keys) & set(self.visible)
        assert removed == len(present)
        for key in present:
            del self.visible[key]
        self.dirty = self.dirty or bool(present)

    @rule()
    def delete_all(self) -> None:
        self.storage.delete_all()
        self.visible.clear()
        self.dirty = True

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        # Twice: the second read is served by the read cache when the value is one it keeps.
        expected = self.visible.get(key, "absent")
        assert self.storage.kv.get(key, "absent") == expected
        assert self.storage.kv.get(key, "absent") == expected

    @rule(key=KEYS, value=VALUES)
    def failing_transaction_sync(self, key: str, value: object) -> None:
        def block() -> None:
            self.storage.kv.put(key, value)
            raise LookupError("block fails")

        with pytest.raises(LookupError):
            self.storage.transaction_sync(block)

    # -- the runtime's protocol -----------------------------------------------------------------

    @precondition(lambda self: self.turn is None)
    @rule()
    def begin_turn(self) -> None:
        self.storage.begin_turn()
        self.turn = (dict(self.visible), self.dirty)

    @precondition(lambda self: self.turn is not None)
    @rule(ok=st.booleans())
    def end_turn(self, ok: bool) -> None:
        self.storage.end_turn(ok)
        assert self.turn is not None
        if not ok:
            self.visible, self.dirty = self.turn
        self.turn = None

    @precondition(lambda self: self.turn is None)
    @rule(fail=st.booleans())
    def commit(self, fail: bool) -> None:
        if fail and self.dirty:
            self.fail_next_commit = True
            with pytest.raises(StorageCommitError) as failure:
                self.storage.commit()
            assert isinstance(failure.value.__cause__, InjectedCommitFailure)
            self._discard_uncommitted()
        else:
            self.storage.commit()
            self.committed = dict(self.visible)
            self.dirty = False

    @rule()
    def rollback(self) -> None:
        self.storage.rollback()
        self._discard_uncommitted()

    @rule()
    def close_and_reopen(self) -> None:
        self.storage.close()
        self.storage = self._open()
        self._discard_uncommitted()

    # -- checks ---------------------------------------------------------------------------------

    @invariant()
    def visible_state_matches_the_model(self) -> None:
        assert list(self.storage.kv.list().items()) == utf8_ordered(self.visible)
        for key, value in self.storage.kv.list().items():
            assert self.storage.kv.get(key) == value
        assert self.storage.has_uncommitted_writes == self.dirty

    @invariant()
    def the_file_holds_exactly_the_committed_state(self) -> None:
        reader = sqlite3.connect(self.path)
        try:
            rows = reader.execute("SELECT key, value FROM __lmz_kv ORDER BY key").fetchall()
        finally:
            reader.close()
        assert [(key, clone.loads(value)) for key, value in rows] == utf8_ordered(self.committed)

    def teardown(self) -> None:
        self.storage.close()
        shutil.rmtree(self.directory, ignore_errors=True)


TestStorageMachine = StorageMachine.TestCase
TestStorageMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
