"""Actors served over RPC in the tests."""

from __future__ import annotations

from lumenize_trio import LumenizeDO, clone, mesh
from lumenize_trio.rpc import send_downstream


@clone.register(name="tests.rpc.Refused")
class Refused(Exception):
    """A registered error with an attribute."""

    def __init__(self, message: str, why: str = "") -> None:
        super().__init__(message)
        self.why = why


class Calc(LumenizeDO):
    @mesh
    def add(self, a: int, b: int) -> int:
        return a + b

    @mesh
    def make(self) -> dict[str, int]:
        return {"n": 7}

    @mesh
    def use(self, value: dict[str, int]) -> int:
        return value["n"] * 2

    @mesh
    def chained(self) -> Calc:
        return self

    @mesh
    def fail(self) -> None:
        try:
            raise KeyError("inner")
        except KeyError as exc:
            raise Refused("nope", why="because") from exc

    @mesh
    def unknown(self) -> None:
        raise ValueError("plain")

    @mesh
    def put(self, value: object) -> None:
        self.ctx.storage.kv.put("value", value)

    @mesh
    def push(self, ids: list[str] | None, payload: object, seq: int | None = None) -> None:
        send_downstream(ids, self, payload, seq=seq)

    @mesh
    def write_and_push(self, payload: object) -> None:
        self.ctx.storage.kv.put("pushed", payload)
        send_downstream(None, self, payload)

    @mesh
    async def slow(self, seconds: float) -> str:
        import trio

        await trio.sleep(seconds)
        return "late"

    def secret(self) -> str:
        return "internal"
