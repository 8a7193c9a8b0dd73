"""Fixtures for the storage tests: every behaviour runs against memory and a real file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from lumenize_trio.storage import ActorStorage, open_actor_storage

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(params=["memory", "file"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ActorStorage]:
    """Fresh actor storage, in memory or in a WAL file under ``tmp_path``; closed afterwards."""
    path = None if request.param == "memory" else tmp_path / "actor.db"
    opened = open_actor_storage(path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a file-backed test keeps its actor database."""
    return tmp_path / "actor.db"
