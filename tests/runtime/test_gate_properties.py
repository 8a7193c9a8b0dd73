"""Property tests of the input gate over random scripts of handler steps and random concurrency.

Each turn runs a random script of steps: a storage write, a non-mesh await (``trio.sleep``), a
mesh await (a call to another actor), or a mesh await inside ``block_concurrency_while``. Every
step is recorded, in order, in one global trace. The invariant: the trace switches from one turn
to another only where the gate may open, i.e. right after a turn started a mesh await (not under
``block_concurrency_while``) or finished.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import trio
import trio.lowlevel
from hypothesis import given, settings, strategies as st

from lumenize_trio import LumenizeDO, mesh, open_mesh

Step = tuple[str, float]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.just(0.0)),
        st.tuples(st.just("sleep"), st.sampled_from([0.0, 0.0001])),
        st.tuples(st.just("call"), st.just(0.0)),
        st.tuples(st.just("blocked-call"), st.just(0.0)),
    ),
    max_size=5,
)


class Scripted(LumenizeDO):
    trace: ClassVar[list[tuple[int, str]]] = []

    @mesh
    async def run(self, turn: int, script: list[Step]) -> int:
        record = type(self).trace.append
        record((turn, "start"))
        for kind, value in script:
            if kind == "write":
                kv = self.ctx.storage.kv
                kv.put("n", kv.get("n", 0) + 1)
                record((turn, "write"))
            elif kind == "sleep":
                await trio.sleep(value)
                record((turn, "slept"))
            elif kind == "call":
                record((turn, "call-begin"))
                await self.env.get("ECHO", "echo").echo(turn)
                record((turn, "call-end"))
            else:
                record((turn, "blocked-call-begin"))
                await self.ctx.block_concurrency_while(lambda: self.env.get("ECHO", "echo").echo(turn))
                record((turn, "blocked-call-end"))
        record((turn, "end"))
        return turn

    @mesh
    def writes(self) -> int:
        return self.ctx.storage.kv.get("n", 0)


class Echo(LumenizeDO):
    @mesh
    async def echo(self, value: int) -> int:
        await trio.lowlevel.checkpoint()
        return value


@given(scripts=st.lists(steps, min_size=1, max_size=8))
@settings(deadline=None, max_examples=60)
async def test_turns_interleave_only_at_mesh_awaits(scripts: list[list[Step]]) -> None:
    Scripted.trace = []
    async with open_mesh({"S": Scripted, "ECHO": Echo}) as m:
        stub = m.get("S", "s")
        async with trio.open_nursery() as nursery:
            for turn, script in enumerate(scripts):
                nursery.start_soon(_run, stub, turn, script)
        assert await stub.writes() == sum(kind == "write" for script in scripts for kind, _ in script)
    trace = Scripted.trace
    for (turn, event), (next_turn, _) in itertools.pairwise(trace):
        if next_turn != turn:
            assert event in ("call-begin", "end"), (
                f"turn {next_turn} ran while turn {turn} was at {event!r}: {trace}"
            )
    # Every turn's own steps appear in its script's order.
    for turn, script in enumerate(scripts):
        own = [e for t, e in trace if t == turn]
        assert own[0] == "start"
        assert own[-1] == "end"
        assert len(own) == 2 + sum(2 if kind in ("call", "blocked-call") else 1 for kind, _ in script)


async def _run(stub: Any, turn: int, script: list[Step]) -> None:
    assert await stub.run(turn, script) == turn


@given(
    scripts=st.lists(steps, min_size=1, max_size=6), stop_after=st.sampled_from([0.0, 0.0001, 0.0005, 0.002])
)
@settings(deadline=None, max_examples=40)
async def test_leaving_the_mesh_at_any_moment_never_hangs(
    scripts: list[list[Step]], stop_after: float
) -> None:
    """Whatever the turns are doing (holding the gate, awaiting calls, waiting to resume), the
    mesh stops promptly when its block is left."""
    Scripted.trace = []
    with trio.fail_after(10):
        async with open_mesh({"S": Scripted, "ECHO": Echo}) as m:
            stub = m.get("S", "s")
            with trio.move_on_after(stop_after):
                async with trio.open_nursery() as nursery:
                    for turn, script in enumerate(scripts):
                        nursery.start_soon(_run, stub, turn, script)
