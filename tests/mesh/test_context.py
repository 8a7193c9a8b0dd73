"""Call context: the chain, new_chain, state flowing downstream only, origin_auth, snapshots."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from lumenize_trio import (
    CallContext,
    LumenizeDO,
    LumenizeWorker,
    NoCallContextError,
    NodeIdentity,
    WorkerContext,
    clone,
    mesh,
    open_mesh,
)
from lumenize_trio.runtime._call_context import (
    MAX_CALL_CHAIN,
    current_call_context,
    from_wire,
    outgoing_context,
    to_wire,
)

from .nodes import BINDINGS, SEEN, Bot, Echo, Room, seen, settle


class Origin(LumenizeWorker):
    """Starts chains: a worker that calls Bot with a state marker."""

    @mesh
    def start(self, bot: str, marker: int) -> None:
        self.lmz.call("BOT", bot, self.ctn(Bot).greet("r", f"m{marker}"), state={"marker": marker})

    @mesh
    async def ask_bot_raw(self, bot: str, *, new_chain: bool) -> object:
        return await self.lmz.call_raw("BOT", bot, self.ctn(Bot).ask_raw("r", new_chain=new_chain))

    @mesh
    async def ask_echo_whoami(self) -> object:
        return await self.lmz.call_raw("ECHO", None, self.ctn(Echo).whoami())


MESH = {**BINDINGS, "ORIGIN": Origin}


async def test_the_chain_is_origin_first_caller_last_never_the_callee() -> None:
    async with open_mesh(MESH) as m:
        await m.get("BOT", "b").relay_via("r1", "r2")
        await settle()
        # BOT/b -> ROOM/r1 -> ROOM/r2: r2 sees the two before it, not itself.
        assert seen("post") == [("relayed", ["BOT/b", "ROOM/r1"], {"from_bot": 1, "relayed": True})]


async def test_context_properties_and_the_callee_view() -> None:
    async with open_mesh(MESH) as m:
        context = await m.get("BOT", "b").ask_raw("r1")
        assert context == CallContext((NodeIdentity("LumenizeDO", "BOT", "b"),), None, {})
        assert context.origin == context.caller == NodeIdentity("LumenizeDO", "BOT", "b")


async def test_new_chain_restarts_with_the_caller_as_origin() -> None:
    async with open_mesh(MESH) as m:
        worker = m.get("ORIGIN")
        extended = await worker.ask_bot_raw("b", new_chain=False)
        restarted = await worker.ask_bot_raw("b", new_chain=True)
        assert [n.binding_name for n in extended.call_chain] == ["ORIGIN", "BOT"]
        assert [n.binding_name for n in restarted.call_chain] == ["BOT"]
        assert restarted.origin_auth is None


async def test_state_flows_downstream_only() -> None:
    async with open_mesh(MESH) as m:
        seen_by_room, callers_state = await m.get("BOT", "b").mutate_remote_state("r1")
        assert seen_by_room == {"mine": 1, "touched_by_room": True}
        assert callers_state == {"mine": 1}  # the callee changed its copy only


async def test_state_option_merges_over_the_inherited_state() -> None:
    async with open_mesh(MESH) as m:
        origin = Origin(WorkerContext("ORIGIN"), m)
        token = current_call_context.set(
            CallContext((NodeIdentity("LumenizeWorker", "EDGE"),), None, {"a": 1, "b": 1})
        )
        try:
            context = await origin.lmz.call_raw(
                "ROOM", "r1", origin.ctn(Room).context(), state={"b": 2, "c": 3}
            )
        finally:
            current_call_context.reset(token)
        assert context.state == {"a": 1, "b": 2, "c": 3}
        assert [n.binding_name for n in context.call_chain] == ["EDGE", "ORIGIN"]


async def test_origin_auth_flows_along_and_is_never_taken_from_caller_data() -> None:
    async with open_mesh(MESH) as m:
        origin = Origin(WorkerContext("ORIGIN"), m)
        # What the gateway does for an authenticated client (a later layer): the runtime only
        # ever copies origin_auth from the context it is handling.
        client = NodeIdentity("LumenizeClient", "GATEWAY", "alice.tab1")
        token = current_call_context.set(CallContext((client,), {"sub": "alice"}, {}))
        try:
            context = await origin.lmz.call_raw("ROOM", "r1", origin.ctn(Room).context())
            forged = await origin.lmz.call_raw(
                "ROOM",
                "r1",
                origin.ctn(Room).context(),
                new_chain=True,
                state={"origin_auth": {"sub": "root"}},
            )
        finally:
            current_call_context.reset(token)
        assert context.origin_auth == {"sub": "alice"}
        assert context.origin == client
        assert forged.origin_auth is None  # state is only state
        assert forged.state == {"origin_auth": {"sub": "root"}}


async def test_each_concurrent_call_keeps_its_own_handler_context() -> None:
    async with open_mesh(MESH) as m:
        worker = m.get("ORIGIN")
        async with trio.open_nursery() as nursery:
            for marker in range(4):

                async def start(marker: int = marker) -> None:
                    await worker.start("b", marker)

                nursery.start_soon(start)
        await settle()
        handlers = seen("handler")
        assert sorted(state["marker"] for *_, state in handlers) == [0, 1, 2, 3]
        for result, room, chain, _state in handlers:
            assert room == "r"
            assert chain == ["ORIGIN"]  # the handler runs in the context of Bot's incoming call
            assert isinstance(result, int)
        # Each post saw the marker of the chain it belonged to.
        assert sorted(text for text, _, _ in seen("post")) == ["m0", "m1", "m2", "m3"]
        assert all(state == {"marker": int(text[1:])} for text, _, state in seen("post"))


async def test_two_one_way_calls_extend_the_chain() -> None:
    async with open_mesh(MESH) as m:
        await m.get("BOT", "b").ask_back("r1")
        await settle()
        assert seen("called_back") == [("r1", ["BOT/b", "ROOM/r1"])]


class Quiet(LumenizeDO):
    """Reads call_context where there is none."""

    def on_start(self) -> None:
        try:
            self.lmz.call_context  # noqa: B018 - the read is the test
        except NoCallContextError as exc:
            SEEN.append(("on_start", str(exc)))

    def on_alarm(self, info: object) -> None:
        try:
            self.lmz.call_context  # noqa: B018
        except NoCallContextError:
            SEEN.append(("on_alarm", "no context"))

    @mesh
    def arm(self) -> None:
        self.ctx.storage.set_alarm(self.env.clock.now() + 1)

    @mesh
    def context(self) -> CallContext:
        return self.lmz.call_context


async def test_no_context_in_alarms_on_start_and_stub_calls(autojump_clock: object) -> None:
    async with open_mesh({"QUIET": Quiet}) as m:
        quiet = m.get("QUIET", "q")
        with pytest.raises(NoCallContextError, match="only available while handling a mesh call"):
            await quiet.context()
        await quiet.arm()
        await trio.sleep(2)
        assert seen("on_alarm") == ["no context"]
        assert len(seen("on_start")) == 1


async def test_worker_context_and_identity() -> None:
    async with open_mesh(MESH) as m:
        assert await m.get("ORIGIN").ask_echo_whoami() == ("LumenizeWorker", "ECHO", None, ["ORIGIN"])
        with pytest.raises(NoCallContextError):
            await m.get("ECHO").whoami()  # a stub call from outside carries no context


def test_outgoing_context_refuses_runaway_chains_and_bad_state() -> None:
    me = NodeIdentity("LumenizeDO", "A", "a")
    long = CallContext(tuple([me] * MAX_CALL_CHAIN), None, {})
    token = current_call_context.set(long)
    try:
        with pytest.raises(ValueError, match="cycle of calls"):
            outgoing_context(me, new_chain=False, state=None)
        assert outgoing_context(me, new_chain=True, state=None).call_chain == (me,)
    finally:
        current_call_context.reset(token)
    with pytest.raises(TypeError, match="state must be a dict with str keys"):
        outgoing_context(me, new_chain=False, state={1: 2})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "data",
    [
        "x",
        [],
        [[], None, {}],
        [[["LumenizeDO", "A"]], None, {}],
        [[["Nope", "A", None]], None, {}],
        [[["LumenizeDO", 1, None]], None, {}],
        [[["LumenizeDO", "A", 5]], None, {}],
        [[["LumenizeDO", "A", None]], None, {1: 2}],
        [[["LumenizeDO", "A", None]] * (MAX_CALL_CHAIN + 1), None, {}],
        [[["LumenizeDO", "A", None]], None, []],
    ],
)
def test_malformed_contexts_on_the_wire_are_refused(data: object) -> None:
    with pytest.raises(ValueError, match=r"call chain|call context|state keys"):
        from_wire(data)


def test_contexts_round_trip_on_the_wire_and_through_clone() -> None:
    context = CallContext(
        (NodeIdentity("LumenizeClient", "GW", "u.t"), NodeIdentity("LumenizeWorker", "W")),
        {"sub": "u", "claims": {"admin": False}},
        {"k": [1, 2]},
    )
    assert from_wire(to_wire(context)) == context
    assert from_wire(None) is None
    assert clone.loads(clone.dumps(context)) == context
