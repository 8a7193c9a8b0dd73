"""Tests for `lumenize_trio.testing._storage_conformance` (``check_storage_backend``)."""

from __future__ import annotations

import functools
import itertools
from typing import TYPE_CHECKING

import pytest

from lumenize_trio.storage import ActorStorage, open_actor_storage
from lumenize_trio.testing import check_storage_backend

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def test_conformance_in_memory() -> None:
    check_storage_backend(functools.partial(open_actor_storage, None))


@pytest.mark.parametrize("durability", ["full", "normal"])
def test_conformance_with_real_files(tmp_path: Path, durability: str) -> None:
    counter = itertools.count()

    def factory(*, before_commit: Callable[[], None] | None = None) -> ActorStorage:
        return open_actor_storage(
            tmp_path / f"actor-{next(counter)}.db",
            durability=durability,  # type: ignore[arg-type]
            before_commit=before_commit,
        )

    check_storage_backend(factory)
    assert next(counter) > 5  # every check got its own database file


def test_conformance_catches_a_backend_that_ignores_before_commit() -> None:
    def factory(*, before_commit: Callable[[], None] | None = None) -> ActorStorage:
        return open_actor_storage(None)  # drops the hook: commit failures go unnoticed

    with pytest.raises(AssertionError, match="expected StorageCommitError, nothing was raised"):
        check_storage_backend(factory)


def test_conformance_catches_a_backend_that_is_not_empty() -> None:
    def factory(*, before_commit: Callable[[], None] | None = None) -> ActorStorage:
        storage = open_actor_storage(None, before_commit=before_commit)
        storage.kv.put("leftover", 1)
        return storage

    with pytest.raises(AssertionError, match="UTF-8 byte order"):
        check_storage_backend(factory)
