"""``self.lmz.call`` and ``call_raw``: call-site checks, handlers, error delivery, output gate."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from lumenize_trio import (
    RESULT,
    ActorResetError,
    ChainError,
    DataCloneError,
    InvalidActorIdError,
    MeshCallError,
    NotMeshCallableError,
    UnknownBindingError,
    WorkerContext,
    open_mesh,
)

from .nodes import BINDINGS, Bot, Echo, Refused, Room, seen, settle


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("remote", TypeError, "remote must be a continuation"),
        ("handler", TypeError, "handler must be a continuation"),
        ("binding", UnknownBindingError, "unknown binding 'NOPE'"),
        ("worker_instance", MeshCallError, "'ECHO' is a worker binding"),
        ("actor_no_instance", MeshCallError, "'ROOM' is an actor binding"),
        ("empty", ChainError, "records nothing"),
        ("handler_not_call", ChainError, "must end with a call"),
        ("unclonable", DataCloneError, "Event"),
        ("state", TypeError, "state must be a dict"),
        ("bad_name", InvalidActorIdError, "non-empty str"),
    ],
)
async def test_misuse_raises_at_the_call_site(case: str, error: type[Exception], message: str) -> None:
    async with open_mesh(BINDINGS) as m:
        with pytest.raises(error, match=message):
            await m.get("BOT", "b").misuse(case)
        await settle()
        # Nothing was sent.
        assert await m.get("ROOM", "r").posts() == 0


async def test_a_node_made_outside_the_mesh_cannot_call() -> None:
    async with open_mesh(BINDINGS) as m:
        lost = Echo(WorkerContext(None), m)
        assert lost.lmz.binding_name is None
        with pytest.raises(MeshCallError, match="doesn't know its own binding"):
            lost.lmz.call("ROOM", "r", lost.ctn(Room).post("x"))
        with pytest.raises(MeshCallError, match="doesn't know its own binding"):
            await lost.lmz.call_raw("ROOM", "r", lost.ctn(Room).post("x"))
        stray = Echo(WorkerContext("ECHO"), None)  # type: ignore[arg-type]
        with pytest.raises(MeshCallError, match="not part of a mesh"):
            stray.lmz.call("ROOM", "r", stray.ctn(Room).post("x"))


async def test_handler_gets_the_result_as_a_new_turn_of_the_caller() -> None:
    async with open_mesh(BINDINGS) as m:
        bot = m.get("BOT", "b")
        call_id = await bot.greet("r1", "hello")
        assert isinstance(call_id, str)
        assert len(call_id) == 32
        await settle()
        assert seen("post") == [("hello", ["BOT/b"], {})]
        # The handler ran with the result in RESULT's place, inside the context greet had when
        # it made the call: none, since greet was a stub call from outside the mesh.
        assert seen("handler") == [(1, "r1", None, None)]
        assert await bot.handled() == 1  # its writes committed


async def test_remote_failure_goes_to_the_handler_as_a_value() -> None:
    async with open_mesh(BINDINGS) as m:
        bot = m.get("BOT", "b")
        await bot.greet_failing("r1")
        await settle()
        [(error, room, _chain, _state)] = seen("handler")
        assert room == "r1"
        assert isinstance(error, Refused)
        assert error.code == 7
        assert str(error) == "no way"
        assert isinstance(error.__cause__, KeyError)


async def test_on_error_only_skips_successes() -> None:
    async with open_mesh(BINDINGS) as m:
        bot = m.get("BOT", "b")
        await bot.greet_only_errors("r1")
        await bot.greet_failing("r1", on_error_only=True)
        await settle()
        assert await m.get("ROOM", "r1").posts() == 1  # the call itself ran
        [(error, *_)] = seen("handler")  # but only the failure reached the handler
        assert isinstance(error, Refused)


async def test_failure_without_a_handler_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with open_mesh(BINDINGS) as m:
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            await m.get("BOT", "b").fire_and_forget("r1", "fail")
            await settle()
    [record] = [r for r in caplog.records if "has no handler" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "ROOM/r1" in record.getMessage()
    assert "no way" in record.getMessage()


async def test_success_without_a_handler_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    async with open_mesh(BINDINGS) as m:
        with caplog.at_level(logging.DEBUG, logger="lumenize_trio"):
            await m.get("BOT", "b").fire_and_forget("r1", "post")
            await settle()
        assert await m.get("ROOM", "r1").posts() == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_handler_that_raises_is_logged_and_rolled_back(caplog: pytest.LogCaptureFixture) -> None:
    async with open_mesh(BINDINGS) as m:
        bot = m.get("BOT", "b")
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            await bot.greet_with_bad_handler("r1")
            await settle()
        assert await bot.kv("exploded") is None
        assert await bot.handled() == 0
    [record] = [r for r in caplog.records if "reply handler" in r.getMessage()]
    assert record.exc_info is not None
    assert "handler went wrong" in str(record.exc_info[1])


class Writer(Bot):
    """Writes, then calls: the call is an output held until the write is durable."""

    from lumenize_trio import mesh as _mesh

    @_mesh
    def write_then_greet(self, room: str) -> None:
        self.ctx.storage.kv.put("wrote", True)
        self.greet(room)


async def test_a_failed_commit_drops_the_held_call_and_tells_the_handler() -> None:
    async with open_mesh({**BINDINGS, "BOT": Writer}) as m:
        bot = m.get("BOT", "w")
        m.fail_next_commit(bot, OSError("disk on fire"))
        with pytest.raises(ActorResetError):
            await bot.write_then_greet("r1")
        await settle()
        # The call never left; its handler heard why.
        assert await m.get("ROOM", "r1").posts() == 0
        [(error, room, *_)] = seen("handler")
        assert isinstance(error, ActorResetError)
        assert room == "r1"
        assert await bot.kv("wrote") is None


async def test_call_raw_returns_the_result_or_raises_the_remote_error() -> None:
    async with open_mesh(BINDINGS) as m:
        bot = m.get("BOT", "b")
        assert await bot.ask_worker(21) == 42
        context = await bot.ask_raw("r1")
        assert [n.binding_name for n in context.call_chain] == ["BOT"]


class Asker(Bot):
    from lumenize_trio import mesh as _mesh

    @_mesh
    async def ask_failing(self, room: str) -> str:
        try:
            await self.lmz.call_raw("ROOM", room, self.ctn(Room).fail(9))
        except Refused as exc:
            return f"{exc} {exc.code} {type(exc.__cause__).__name__}"
        return "no error"

    @_mesh
    async def ask_raw_chain(self, room: str) -> object:
        from lumenize_trio.ocan import chain_of

        return await self.lmz.call_raw("ROOM", room, chain_of(self.ctn(Room).post("raw")))

    @_mesh
    async def ask_non_mesh(self, room: str) -> str:
        try:
            await self.lmz.call_raw("ROOM", room, self.ctn(Room).ctx.storage)
        except NotMeshCallableError as exc:
            return str(exc)
        return "reached"


async def test_call_raw_errors_and_raw_chains() -> None:
    async with open_mesh({**BINDINGS, "BOT": Asker}) as m:
        bot = m.get("BOT", "a")
        assert await bot.ask_failing("r1") == "no way 9 KeyError"
        assert await bot.ask_raw_chain("r1") == 1
        assert "not callable through the mesh" in await bot.ask_non_mesh("r1")


class Waiter(Bot):
    from lumenize_trio import mesh as _mesh

    @_mesh
    async def wait_on_worker(self, event_name: str) -> object:
        return await self.lmz.call_raw("ECHO", None, self.ctn(Echo).wait_for(event_name))

    @_mesh
    def ping(self) -> str:
        return "pong"


async def test_call_raw_opens_the_gate_while_it_waits() -> None:
    from .nodes import EVENTS

    EVENTS["gate"] = trio.Event()
    async with open_mesh({**BINDINGS, "BOT": Waiter}) as m, trio.open_nursery() as nursery:
        bot = m.get("BOT", "w")
        results: list[object] = []

        async def wait() -> None:
            results.append(await bot.wait_on_worker("gate"))

        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert await bot.ping() == "pong"  # another turn ran while wait_on_worker awaited
        EVENTS["gate"].set()
        await trio.testing.wait_all_tasks_blocked()
    assert results == ["gate"]
    del EVENTS["gate"]


class Patient(Bot):
    from lumenize_trio import mesh as _mesh

    @_mesh
    def call_slow_worker(self, event_name: str) -> None:
        self.lmz.call("ECHO", None, self.ctn(Echo).wait_for(event_name), self.ctn().posted(RESULT, "slow"))


async def test_the_handler_of_an_evicted_caller_still_runs(autojump_clock: object) -> None:
    from .nodes import EVENTS

    EVENTS["slow"] = trio.Event()
    async with open_mesh({**BINDINGS, "BOT": Patient}, idle_timeout=10) as m:
        bot = m.get("BOT", "p")
        await bot.call_slow_worker("slow")
        await trio.sleep(11)  # mock time: the caller is idle, so it is evicted
        assert m.statistics().evictions == 1
        EVENTS["slow"].set()
        await settle()
        # The reply re-activated the caller, and the handler ran in the new instance.
        assert seen("handler") == [("slow", "slow", None, None)]
        assert await bot.handled() == 1
    del EVENTS["slow"]


class Busy(Bot):
    from lumenize_trio import mesh as _mesh

    @_mesh
    def call_two_slow(self) -> None:
        for name in ("one", "two"):
            self.lmz.call("ECHO", None, self.ctn(Echo).wait_for(name), self.ctn().posted(RESULT, name))

    @_mesh
    async def hold(self, name: str) -> None:
        from .nodes import EVENTS

        await EVENTS[name].wait()  # not a mesh await: the gate stays shut


async def test_a_handler_refused_by_an_overloaded_caller_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    from .nodes import EVENTS

    for name in ("one", "two", "hold"):
        EVENTS[name] = trio.Event()
    async with open_mesh({**BINDINGS, "BOT": Busy}, max_queue=1) as m, trio.open_nursery() as nursery:
        bot = m.get("BOT", "busy")
        await bot.call_two_slow()

        async def hold() -> None:
            await bot.hold("hold")

        nursery.start_soon(hold)
        await trio.testing.wait_all_tasks_blocked()
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            EVENTS["one"].set()
            EVENTS["two"].set()
            await trio.testing.wait_all_tasks_blocked()
        EVENTS["hold"].set()
        await settle()
        assert len(seen("handler")) == 1  # one handler took the one queue slot
    [record] = [r for r in caplog.records if "could not run" in r.getMessage()]
    assert "OverloadedError" in record.getMessage()
    for name in ("one", "two", "hold"):
        del EVENTS[name]


async def test_reprs() -> None:
    async with open_mesh(BINDINGS) as m:
        node = Echo(WorkerContext("ECHO"), m)
        assert repr(node.lmz) == "<lmz LumenizeWorker ECHO>"
        assert repr(node.svc).startswith("<svc [")
