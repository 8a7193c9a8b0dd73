"""Timing helpers shared by the benchmarks: best-of-N rates, so noise only ever slows a figure down."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class Result:
    """One benchmark row: our rate, the baselines' rates, and the ratios between them."""

    name: str
    unit: str
    ours: float
    baselines: dict[str, float] = field(default_factory=dict)
    target: str = ""

    def ratios(self) -> dict[str, float]:
        return {name: self.ours / rate for name, rate in self.baselines.items() if rate}


def rate(fn: Callable[[], object], *, min_time: float = 0.2, repeats: int = 5) -> float:
    """Operations per second of *fn*, best of *repeats* batches of at least *min_time* seconds."""
    number = 1
    while True:  # calibrate a batch size
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time / 4:
            break
        number *= 2
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        best = max(best, number / elapsed)
    return best
