"""Mesh time: wall-clock seconds anchored to ``trio.current_time()``.

Every timer in the runtime (alarms, retries, eviction) reads this clock, so a test that runs the
mesh under ``trio.testing.MockClock(autojump_threshold=0)`` drives all of them: a year of alarms
runs in milliseconds.
"""

from __future__ import annotations

import time
from typing import final

import trio


@final
class MeshClock:
    """Wall time (epoch seconds) that advances exactly as Trio's clock does."""

    __slots__ = ("_offset",)

    def __init__(self) -> None:
        self._offset = time.time() - trio.current_time()

    def now(self) -> float:
        """The current mesh time, in epoch seconds."""
        return trio.current_time() + self._offset

    def to_trio(self, wall: float) -> float:
        """The Trio deadline at which mesh time reaches *wall*."""
        return wall - self._offset
