"""Property: along any path of calls, every node sees exactly the context the rules predict.

Hypothesis draws a path of hops through actors and workers, each hop with or without
``new_chain`` and with its own ``state`` option; every node also writes into its own
``call_context.state`` before calling on. A small model computes what each node must see; the
nodes report what they saw, and what their own state looked like after the downstream call
returned (it must not have picked up anything from downstream).
"""

from __future__ import annotations

from typing import Any

import trio
from hypothesis import given, settings, strategies as st

from lumenize_trio import LumenizeDO, LumenizeWorker, NoCallContextError, mesh, open_mesh

Plan = list[tuple[str, bool, dict[str, int]]]  # (binding, new_chain, state option) per hop


def _seen(node: Any) -> tuple[list[str], dict[str, object]] | None:
    try:
        context = node.lmz.call_context
    except NoCallContextError:
        return None
    chain = [
        n.binding_name if n.instance_name is None else f"{n.binding_name}/{n.instance_name}"
        for n in context.call_chain
    ]
    return chain, dict(context.state)


async def _hop(node: Any, plan: Plan, index: int) -> list[object]:
    before = _seen(node)
    if before is not None:
        node.lmz.call_context.state[f"own{index}"] = index
    if index == len(plan):
        return [before]
    binding, new_chain, state = plan[index]
    instance = None if binding == "W" else f"a{index}"
    rest = await node.lmz.call_raw(
        binding, instance, node.ctn().hop(plan, index + 1), new_chain=new_chain, state=state or None
    )
    assert isinstance(rest, list)
    return [before, _seen(node), *rest]


class HopActor(LumenizeDO):
    @mesh
    async def hop(self, plan: Plan, index: int) -> list[object]:
        return await _hop(self, plan, index)


class HopWorker(LumenizeWorker):
    @mesh
    async def hop(self, plan: Plan, index: int) -> list[object]:
        return await _hop(self, plan, index)


def _model(first: str, plan: Plan) -> list[object]:
    """What each node sees before its call, and after it (the same plus its own mark)."""
    names = [first, *(("W" if b == "W" else f"A/a{i}") for i, (b, _, _) in enumerate(plan))]
    seen: list[object] = []
    context: tuple[list[str], dict[str, object]] | None = None  # the first node is called from outside
    for index, name in enumerate(names):
        seen.append(None if context is None else (list(context[0]), dict(context[1])))
        if context is not None:
            context[1][f"own{index}"] = index
        if index == len(plan):
            break
        seen.append(None if context is None else (list(context[0]), dict(context[1])))
        _, new_chain, option = plan[index]
        if new_chain or context is None:
            context = ([name], dict(option))
        else:
            context = ([*context[0], name], {**context[1], **option})
    # Reorder to the nodes' report order: before, after, then the rest of the path.
    return seen


hops = st.lists(
    st.tuples(
        st.sampled_from(["A", "W"]),
        st.booleans(),
        st.dictionaries(st.sampled_from(["k", "own0", "own1", "x"]), st.integers(0, 9), max_size=2),
    ),
    max_size=6,
)


@settings(deadline=None, max_examples=60)
@given(first=st.sampled_from(["A", "W"]), plan=hops)
def test_every_node_sees_the_predicted_context(first: str, plan: Plan) -> None:
    async def main() -> list[object]:
        async with open_mesh({"A": HopActor, "W": HopWorker}) as m:
            stub = m.get("W") if first == "W" else m.get("A", "start")
            result = await stub.hop(plan, 0)
            assert isinstance(result, list)
            return result

    observed = trio.run(main)
    first_name = "W" if first == "W" else "A/start"
    assert observed == _model(first_name, plan)
