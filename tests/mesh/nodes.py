"""Node classes shared by the mesh-layer tests. ``SEEN`` records what handlers and methods saw."""

from __future__ import annotations

from typing import Any

import trio
import trio.lowlevel
import trio.testing

from lumenize_trio import RESULT, CallContext, LumenizeDO, LumenizeWorker, NoCallContextError, clone, mesh

#: (tag, value) pairs appended by nodes, read by tests (cleared before each test).
SEEN: list[tuple[str, Any]] = []


@clone.register(name="tests.mesh.Refused")
class Refused(Exception):
    """A registered error with an attribute."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def seen(tag: str) -> list[Any]:
    """What nodes recorded under *tag*, in order."""
    return [value for t, value in SEEN if t == tag]


async def settle() -> None:
    """Let fire-and-forget calls, their handlers and the calls those make run to completion."""
    for _ in range(4):
        await trio.testing.wait_all_tasks_blocked()


def chain_names(context: CallContext) -> list[str]:
    return [
        f"{n.binding_name}/{n.instance_name}" if n.instance_name else n.binding_name
        for n in context.call_chain
    ]


class Room(LumenizeDO):
    """The callee: counts posts in storage and reports the context it saw."""

    @mesh
    def post(self, text: str) -> int:
        n = self.ctx.storage.kv.get("posts", 0) + 1
        self.ctx.storage.kv.put("posts", n)
        SEEN.append(("post", (text, chain_names(self.lmz.call_context), dict(self.lmz.call_context.state))))
        return n

    @mesh
    def posts(self) -> int:
        return self.ctx.storage.kv.get("posts", 0)

    @mesh
    def fail(self, code: int) -> None:
        try:
            raise KeyError("inner")
        except KeyError as exc:
            raise Refused("no way", code) from exc

    @mesh
    def mutate_state(self) -> dict[str, object]:
        state = self.lmz.call_context.state
        state["touched_by_room"] = True
        return dict(state)

    @mesh
    def relay(self, target: str) -> None:
        """Calls on: the chain grows by this room."""
        state = self.lmz.call_context.state
        state["relayed"] = True
        self.lmz.call("ROOM", target, self.ctn(Room).post("relayed"))

    @mesh
    def call_back(self, bot: str) -> None:
        """Two one-way calls: call the caller back instead of it awaiting."""
        self.lmz.call("BOT", bot, self.ctn(Bot).called_back(self.lmz.instance_name))

    @mesh
    def context(self) -> CallContext:
        return self.lmz.call_context


class Bot(LumenizeDO):
    """The caller: makes calls with handlers and records what the handlers get."""

    @mesh
    def greet(self, room: str, text: str = "hi", state: dict[str, object] | None = None) -> str:
        return self.lmz.call(
            "ROOM", room, self.ctn(Room).post(text), self.ctn().posted(RESULT, room), state=state
        )

    @mesh
    def greet_failing(self, room: str, *, on_error_only: bool = False) -> str:
        return self.lmz.call(
            "ROOM", room, self.ctn(Room).fail(7), self.ctn().posted(RESULT, room), on_error_only=on_error_only
        )

    @mesh
    def greet_only_errors(self, room: str) -> str:
        return self.lmz.call(
            "ROOM", room, self.ctn(Room).post("x"), self.ctn().posted(RESULT, room), on_error_only=True
        )

    @mesh
    def fire_and_forget(self, room: str, method: str) -> str:
        remote = (
            getattr(self.ctn(Room), method)(3) if method == "fail" else getattr(self.ctn(Room), method)("f")
        )
        return self.lmz.call("ROOM", room, remote)

    @mesh
    def greet_with_bad_handler(self, room: str) -> str:
        return self.lmz.call("ROOM", room, self.ctn(Room).post("x"), self.ctn().explode(RESULT))

    def posted(self, result: object, room: str) -> None:
        # A local handler: not @mesh. Its writes commit like any turn's.
        self.ctx.storage.kv.put("handled", self.ctx.storage.kv.get("handled", 0) + 1)
        try:
            context = self.lmz.call_context
        except NoCallContextError:
            SEEN.append(("handler", (result, room, None, None)))
        else:
            SEEN.append(("handler", (result, room, chain_names(context), dict(context.state))))

    def explode(self, result: object) -> None:
        self.ctx.storage.kv.put("exploded", True)  # rolled back: the handler raises
        raise RuntimeError("handler went wrong")

    @mesh
    def handled(self) -> int:
        return self.ctx.storage.kv.get("handled", 0)

    @mesh
    def kv(self, key: str) -> object:
        return self.ctx.storage.kv.get(key)

    @mesh
    def called_back(self, room: str) -> None:
        SEEN.append(("called_back", (room, chain_names(self.lmz.call_context))))

    @mesh
    def ask_back(self, room: str) -> None:
        self.lmz.call("ROOM", room, self.ctn(Room).call_back(self.lmz.instance_name))

    @mesh
    async def ask_raw(
        self, room: str, *, new_chain: bool = False, state: dict[str, object] | None = None
    ) -> object:
        return await self.lmz.call_raw(
            "ROOM", room, self.ctn(Room).context(), new_chain=new_chain, state=state
        )

    @mesh
    async def ask_worker(self, value: int) -> object:
        return await self.lmz.call_raw("ECHO", None, self.ctn(Echo).double(value))

    @mesh
    def state_round_trip(self, room: str) -> dict[str, object]:
        return {}

    @mesh
    async def mutate_remote_state(self, room: str) -> tuple[dict[str, object], dict[str, object]]:
        state = {"mine": 1}
        seen_by_room = await self.lmz.call_raw("ROOM", room, self.ctn(Room).mutate_state(), state=state)
        assert isinstance(seen_by_room, dict)
        return seen_by_room, state

    @mesh
    def relay_via(self, room: str, target: str) -> None:
        self.lmz.call("ROOM", room, self.ctn(Room).relay(target), state={"from_bot": 1})

    @mesh
    def misuse(self, case: str) -> None:
        """Each call-site misuse, raised here (inside a turn) so the test sees it as the result."""
        room = self.ctn(Room).post("x")
        if case == "remote":
            self.lmz.call("ROOM", "r", "post")
        elif case == "handler":
            self.lmz.call("ROOM", "r", room, lambda result: None)
        elif case == "binding":
            self.lmz.call("NOPE", "r", room)
        elif case == "worker_instance":
            self.lmz.call("ECHO", "e", self.ctn(Echo).double(1))
        elif case == "actor_no_instance":
            self.lmz.call("ROOM", None, room)
        elif case == "empty":
            self.lmz.call("ROOM", "r", self.ctn())
        elif case == "handler_not_call":
            self.lmz.call("ROOM", "r", room, self.ctn().posted)
        elif case == "unclonable":
            self.lmz.call("ROOM", "r", self.ctn(Room).post(trio.Event()))
        elif case == "state":
            self.lmz.call("ROOM", "r", room, state=["not", "a", "dict"])  # type: ignore[arg-type]
        elif case == "bad_name":
            self.lmz.call("ROOM", "", room)


class Echo(LumenizeWorker):
    """A stateless worker."""

    instances = 0

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        type(self).instances += 1

    @mesh
    async def double(self, value: int) -> int:
        await trio.lowlevel.checkpoint()  # workers may await freely
        return value * 2

    @mesh
    def whoami(self) -> tuple[str, str | None, str | None, list[str]]:
        return (
            self.lmz.type,
            self.lmz.binding_name,
            self.lmz.instance_name,
            chain_names(self.lmz.call_context),
        )

    @mesh
    async def wait_for(self, event_name: str) -> str:
        await EVENTS[event_name].wait()
        return event_name

    @mesh
    def call_room(self, room: str) -> str:
        return self.lmz.call("ROOM", room, self.ctn(Room).post("from worker"), self.ctn().done(RESULT))

    def done(self, result: object) -> None:
        try:
            chain: list[str] | None = chain_names(self.lmz.call_context)
        except NoCallContextError:
            chain = None
        SEEN.append(("worker_handler", (result, chain)))


#: Events worker tests use to hold calls open.
EVENTS: dict[str, trio.Event] = {}

BINDINGS = {"ROOM": Room, "BOT": Bot, "ECHO": Echo}
