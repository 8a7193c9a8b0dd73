"""The turn a task is running, so that mesh awaits know which actor's gate to open."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from ._activation import Activation

#: Deepest nesting of ``block_concurrency_while`` (the platform's limit).
MAX_BLOCK_DEPTH = 64


@final
class Turn:
    """One event being handled by one actor: a task holding (or waiting for) the actor's gate."""

    __slots__ = ("activation", "block_depth", "generation", "in_segment", "reset_after")

    def __init__(self, activation: Activation) -> None:
        self.activation = activation
        self.generation = activation.generation
        self.block_depth = 0  # block_concurrency_while nesting: while > 0, mesh awaits keep the gate
        self.in_segment = False  # a storage savepoint is open for this turn
        self.reset_after = False  # reset the actor once this turn ends


current_turn: ContextVar[Turn | None] = ContextVar("lumenize_trio_turn", default=None)
