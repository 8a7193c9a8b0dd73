"""Shared fixtures of the mesh-layer tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .nodes import EVENTS, SEEN

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _clear_records() -> Iterator[None]:
    """Every test starts and ends with no records and no events left by another."""
    SEEN.clear()
    EVENTS.clear()
    yield
    SEEN.clear()
    EVENTS.clear()
