"""Actor classes shared by the runtime tests."""

from __future__ import annotations

from typing import Any

import trio

from lumenize_trio import LumenizeDO, clone, mesh


@clone.register(name="tests.runtime.Refused")
class Refused(Exception):
    """A registered error with an attribute, for checking that errors cross intact."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def deny_bob(actor: Any) -> None:
    if actor.ctx.id.name == "bob":
        raise PermissionError("bob may not")


class Counter(LumenizeDO):
    """Counts, in storage. Its instance counter shows when it was re-created."""

    instances = 0

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        type(self).instances += 1
        self.memory: list[object] = []

    @mesh
    def increment(self, by: int = 1) -> int:
        n = self.ctx.storage.kv.get("count", 0) + by
        self.ctx.storage.kv.put("count", n)
        return n

    @mesh
    async def slow_increment(self, delay: float) -> int:
        n = self.ctx.storage.kv.get("count", 0) + 1
        await trio.sleep(delay)  # not a mesh await: the gate stays shut
        self.ctx.storage.kv.put("count", n)
        return n

    @mesh
    def count(self) -> int:
        return self.ctx.storage.kv.get("count", 0)

    @mesh
    def remember(self, value: object) -> int:
        self.memory.append(value)
        return len(self.memory)

    @mesh
    def recall(self) -> list[object]:
        return self.memory

    @mesh
    def mutate(self, items: list[object]) -> list[object]:
        items.append("callee")
        return items

    @mesh
    def pop_option(self, **options: object) -> object:
        return options.pop("key", None)

    @mesh
    def fail(self, message: str) -> None:
        self.ctx.storage.kv.put("written-before-failure", True)
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise Refused(message, 42) from inner

    @mesh
    def written(self) -> bool:
        return self.ctx.storage.kv.get("written-before-failure", False)

    @mesh
    def builder(self) -> Builder:
        return Builder(self)

    @mesh(guard=deny_bob)
    def guarded(self) -> str:
        return "ok"

    def not_exposed(self) -> str:
        return "secret"

    def _private(self) -> str:
        return "private"


class Builder:
    """Returned by a @mesh method: pipelined calls continue on it."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.parts: list[str] = []

    def add(self, part: str) -> Builder:
        self.parts.append(part)
        return self

    def build(self) -> str:
        return "-".join(self.parts)
