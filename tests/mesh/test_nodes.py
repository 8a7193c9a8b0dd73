"""Workers, node identity (stored on first contact), and the ``self.svc`` registry."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from lumenize_trio import (
    RESULT,
    InvalidActorIdError,
    LumenizeDO,
    LumenizeWorker,
    MeshCallError,
    Service,
    ServiceError,
    UnknownServiceError,
    WorkerStub,
    mesh,
    open_mesh,
)
from lumenize_trio.runtime._identity import BINDING_KEY, INSTANCE_KEY

from .nodes import BINDINGS, EVENTS, SEEN, Echo, Room, settle

# -- workers -------------------------------------------------------------------------------------


async def test_workers_get_a_fresh_instance_per_call_and_run_concurrently() -> None:
    EVENTS["a"], EVENTS["b"] = trio.Event(), trio.Event()
    async with open_mesh(BINDINGS) as m:
        echo = m.get("ECHO")
        assert isinstance(echo, WorkerStub)
        assert repr(echo) == "<WorkerStub ECHO>"
        before = Echo.instances
        results: list[str] = []
        async with trio.open_nursery() as nursery:
            for name in ("a", "b"):

                async def wait(name: str = name) -> None:
                    results.append(await echo.wait_for(name))

                nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            # Both calls are in flight at once (no input gate); release them in reverse order.
            EVENTS["b"].set()
            await trio.testing.wait_all_tasks_blocked()
            EVENTS["a"].set()
        assert results == ["b", "a"]
        assert Echo.instances - before == 2
        assert await echo.double(4) == 8
    del EVENTS["a"], EVENTS["b"]


async def test_a_worker_handler_runs_on_the_worker_in_its_context() -> None:
    async with open_mesh(BINDINGS) as m:
        assert len(await m.get("ECHO").call_room("r1")) == 32
        await settle()
        [(result, chain)] = [v for t, v in SEEN if t == "worker_handler"]
        assert result == 1
        assert chain is None


async def test_workers_refuse_non_mesh_names_and_report_errors() -> None:
    async with open_mesh(BINDINGS) as m:
        with pytest.raises(AttributeError, match="not callable through the mesh"):
            await m.get("ECHO").done(1)
        with pytest.raises(TypeError):
            await m.get("ECHO").double("x", "y")


async def test_stubs_check_the_target_kind() -> None:
    async with open_mesh(BINDINGS) as m:
        with pytest.raises(MeshCallError, match="worker binding"):
            m.get("ECHO", "e")
        with pytest.raises(MeshCallError, match="actor binding"):
            m.get("ROOM")


def test_reserved_binding_names_are_refused() -> None:
    async def main() -> None:
        async with open_mesh({"LMZ_MINE": Echo}):
            pass  # pragma: no cover

    with pytest.raises(ValueError, match="runtime's own"):
        trio.run(main)


async def test_internal_worker_bindings() -> None:
    class Hop(LumenizeWorker):
        @mesh
        def hop(self) -> str:
            return "hopped"

    async with open_mesh(BINDINGS) as m:
        m.add_worker_binding("LMZ_HOP", Hop)
        m.add_worker_binding("LMZ_HOP", Hop)  # idempotent
        assert await m.get("LMZ_HOP").hop() == "hopped"
        with pytest.raises(ValueError, match="already"):
            m.add_worker_binding("LMZ_HOP", Echo)
        with pytest.raises(ValueError, match="start with 'LMZ_'"):
            m.add_worker_binding("HOP", Hop)
        with pytest.raises(TypeError, match="not a worker class"):
            m.add_worker_binding("LMZ_ROOM", LumenizeDO)


# -- identity ------------------------------------------------------------------------------------


class Named(LumenizeDO):
    @mesh
    def names(self) -> tuple[str, str | None, str | None, object, object]:
        storage = self.ctx._activation.storage
        return (
            self.lmz.type,
            self.lmz.binding_name,
            self.lmz.instance_name,
            storage.get_meta(BINDING_KEY),
            storage.get_meta(INSTANCE_KEY),
        )

    @mesh
    def touch(self) -> None:
        self.ctx.storage.kv.put("touched", True)

    @mesh
    def spoil(self, key: str, value: str) -> None:
        self.ctx._activation.storage.put_meta(key, value)


async def test_identity_is_stored_with_the_first_write(tmp_path: Any) -> None:
    async with open_mesh({"NAMED": Named}, data_dir=tmp_path) as m:
        alice = m.get("NAMED", "alice")
        # Known from how it was reached; nothing stored while the actor writes nothing.
        assert await alice.names() == ("LumenizeDO", "NAMED", "alice", None, None)
        await alice.touch()
        assert await alice.names() == ("LumenizeDO", "NAMED", "alice", "NAMED", "alice")
        # Reached by id only: the name is unknown until someone uses it.
        fresh = m.namespace("NAMED").new_unique_id()
        await m.get("NAMED", fresh).touch()
        assert await m.get("NAMED", fresh).names() == ("LumenizeDO", "NAMED", None, "NAMED", None)
        alice_id = m.namespace("NAMED").id_from_name("alice")
        by_id = m.namespace("NAMED").id_from_string(alice_id.hex)
        assert by_id.name is None
    async with open_mesh({"NAMED": Named}, data_dir=tmp_path) as m:
        # By id in a new process: the stored name is known.
        assert (await m.get("NAMED", by_id).names())[2] == "alice"
        # An actor first reached by id learns its name when first reached by name (and writes).
        named_later = m.namespace("NAMED").id_from_name("later")
        await m.get("NAMED", m.namespace("NAMED").id_from_string(named_later.hex)).touch()
    async with open_mesh({"NAMED": Named}, data_dir=tmp_path) as m:
        later = m.namespace("NAMED").id_from_string(named_later.hex)
        assert (await m.get("NAMED", later).names())[2:] == (None, "NAMED", None)
        await m.get("NAMED", "later").touch()
    async with open_mesh({"NAMED": Named}, data_dir=tmp_path) as m:
        assert (await m.get("NAMED", later).names())[2:] == ("later", "NAMED", "later")


async def test_an_identity_mismatch_refuses_the_actor(tmp_path: Any) -> None:
    async with open_mesh({"NAMED": Named}, data_dir=tmp_path, idle_timeout=0.01) as m:
        await m.get("NAMED", "bob").spoil(INSTANCE_KEY, "mallory")
    async with open_mesh({"NAMED": Named}, data_dir=tmp_path) as m:
        with pytest.raises(InvalidActorIdError, match=r"instance name mismatch.*'mallory'.*'bob'"):
            await m.get("NAMED", "bob").names()


# -- services ------------------------------------------------------------------------------------


class Greeter:
    def __init__(self, node: Any, prefix: str = "hello") -> None:
        self.node = node
        self.prefix = prefix

    def greet(self) -> str:
        return f"{self.prefix} from {self.node.lmz.binding_name}"


class UsesServices(LumenizeDO):
    @mesh
    def greet(self) -> str:
        greeter = self.svc.greeter
        assert self.svc.greeter is greeter  # built once per instance
        return str(greeter.greet())

    @mesh
    def get(self, name: str) -> str:
        return type(self.svc.get(name)).__name__

    @mesh
    def listing(self) -> list[str]:
        return dir(self.svc)

    @mesh
    def private(self) -> object:
        return self.svc._secret


class ServiceWorker(LumenizeWorker):
    @mesh
    def use(self, name: str) -> str:
        return type(self.svc.get(name)).__name__


BUILT: list[str] = []


def recording(name: str, requires: tuple[str, ...] = ()) -> Service:
    def factory(node: Any) -> Greeter:
        BUILT.append(name)
        return Greeter(node, name)

    return Service(factory, requires=requires)


async def test_services_are_built_on_first_use_with_their_requirements() -> None:
    BUILT.clear()
    services = {
        "greeter": Service(lambda node: Greeter(node), requires=("db",)),
        "db": recording("db", requires="cache"),
        "cache": recording("cache"),
        "actors_only": Service(Greeter, node_types="LumenizeDO"),
        "plain": Greeter,
    }
    async with open_mesh({"U": UsesServices, "W": ServiceWorker}, services=services) as m:
        actor = m.get("U", "u")
        assert await actor.greet() == "hello from U"
        assert BUILT == ["cache", "db"]
        await actor.greet()
        assert BUILT == ["cache", "db"]  # cached per instance
        assert await actor.get("plain") == "Greeter"
        assert "greeter" in await actor.listing()
        with pytest.raises(UnknownServiceError, match=r"no service named 'nope'; this mesh has: .*greeter"):
            await actor.get("nope")
        with pytest.raises(AttributeError):
            await actor.private()
        worker = m.get("W")
        assert await worker.use("greeter") == "Greeter"
        with pytest.raises(ServiceError, match="'actors_only' service is not available to a LumenizeWorker"):
            await worker.use("actors_only")


async def test_missing_and_circular_requirements_are_reported_when_built() -> None:
    services = {
        "a": Service(Greeter, requires="b"),
        "b": Service(Greeter, requires="a"),
        "lonely": Service(Greeter, requires="ghost"),
    }
    async with open_mesh({"U": UsesServices}, services=services) as m:
        actor = m.get("U", "u")
        with pytest.raises(ServiceError, match="in a circle: a -> b -> a"):
            await actor.get("a")
        with pytest.raises(ServiceError, match="requires 'ghost'"):
            await actor.get("lonely")


@pytest.mark.parametrize(
    ("services", "error", "message"),
    [
        (["x"], TypeError, "mapping of name to Service"),
        ({"_x": Greeter}, ValueError, "public identifiers"),
        ({"x y": Greeter}, ValueError, "public identifiers"),
        ({"x": 3}, TypeError, "Service or a factory"),
    ],
)
def test_open_mesh_checks_services(services: object, error: type[Exception], message: str) -> None:
    async def main() -> None:
        async with open_mesh({"U": UsesServices}, services=services):  # type: ignore[arg-type]
            pass  # pragma: no cover

    with pytest.raises(error, match=message):
        trio.run(main)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factory": 3}, "callable"),
        ({"factory": Greeter, "requires": ("a b",)}, "service names"),
        ({"factory": Greeter, "node_types": "Robot"}, "LumenizeDO"),
        ({"factory": Greeter, "node_types": ()}, "LumenizeDO"),
    ],
)
def test_service_specs_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        Service(**kwargs)


class Probe(LumenizeWorker):
    """Records which turn (if any) its reply handler believes it is in."""

    @mesh
    def start(self) -> None:
        self.lmz.call("ROOM", "r", self.ctn(Room).post("probe"), self.ctn().done(RESULT))

    def done(self, result: object) -> None:
        from lumenize_trio.runtime._turns import current_turn

        SEEN.append(("probe_turn", current_turn.get()))


class Waker(LumenizeDO):
    @mesh
    async def wake_room(self) -> None:
        await self.env.get("ROOM", "r").posts()  # the room's runner is spawned from this turn


async def test_tasks_spawned_from_a_turn_do_not_inherit_it() -> None:
    async with open_mesh({**BINDINGS, "PROBE": Probe, "WAKER": Waker}) as m:
        await m.get("WAKER", "w").wake_room()
        await m.get("PROBE").start()
        await settle()
        assert SEEN == [("post", ("probe", ["PROBE"], {})), ("probe_turn", None)]
