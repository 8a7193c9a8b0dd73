"""Edges of the node layer: handlers that cannot take their outcome, @mesh on odd callables."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from lumenize_trio import RESULT, LumenizeDO, LumenizeWorker, mesh, open_mesh
from lumenize_trio.ocan import MAX_ARGUMENTS

from .nodes import BINDINGS, Room, settle


class Full(LumenizeDO):
    """Its handler already takes MAX_ARGUMENTS arguments: the outcome cannot be appended."""

    @mesh
    def start(self) -> None:
        self.lmz.call("ROOM", "r", self.ctn(Room).post("x"), self.ctn().done(*range(MAX_ARGUMENTS)))

    def done(self, *args: object) -> None:  # pragma: no cover - never reached
        raise AssertionError("ran")


class FullWorker(LumenizeWorker):
    @mesh
    def start(self) -> None:
        self.lmz.call("ROOM", "r", self.ctn(Room).post("x"), self.ctn().done(*range(MAX_ARGUMENTS)))

    @mesh
    def start_raising(self) -> None:
        self.lmz.call("ROOM", "r", self.ctn(Room).post("x"), self.ctn().explode(RESULT))

    def done(self, *args: object) -> None:  # pragma: no cover - never reached
        raise AssertionError("ran")

    def explode(self, result: object) -> None:
        raise RuntimeError(f"worker handler failed with {result}")


async def test_an_outcome_that_cannot_reach_its_handler_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with open_mesh({**BINDINGS, "FULL": Full, "FW": FullWorker}) as m:
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            await m.get("FULL", "f").start()
            await m.get("FW").start()
            await m.get("FW").start_raising()
            await settle()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("could not be given to its handler" in message for message in messages) == 2
    [raised] = [r for r in caplog.records if "reply handler" in r.getMessage() and r.exc_info]
    assert "worker handler failed with" in str(raised.exc_info[1])  # type: ignore[index]


def test_mesh_marks_static_and_class_methods_and_refuses_non_callables() -> None:
    class Odd(LumenizeDO):
        @mesh
        @staticmethod
        def static() -> str:
            return "static"

        @mesh
        @classmethod
        def klass(cls) -> str:
            return cls.__name__

    async def main() -> tuple[object, object]:
        async with open_mesh({"ODD": Odd}) as m:
            return await m.get("ODD", "o").static(), await m.get("ODD", "o").klass()

    assert trio.run(main) == ("static", "Odd")
    with pytest.raises(TypeError, match="marks methods, not int"):
        mesh(3)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="needs a callable, got int"):
        mesh(guard=3)  # type: ignore[arg-type]
