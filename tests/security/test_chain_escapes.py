"""Attempts to escape the mesh access check through operation chains.

Every attack must be refused with a specific error, and nothing may have run. To prove the second
half, the target records every method (and property) it enters, and every side effect, in a
:class:`Journal` that lives outside its storage (a rolled-back turn cannot hide an entry), and its
stored total is read back after each attempt. Each test also shows the target still works.

Chains are delivered by every path a remote chain can take: a stub, ``Mesh.call`` with a raw chain
(encoded, delivered and decoded like any call), ``self.lmz.call_raw`` and ``self.lmz.call`` from
another actor, and hand-crafted wire bytes handed to ``Mesh._deliver`` (so the receiver's decoding
path sees exactly what an attacker wrote).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from lumenize_trio import (
    RESULT,
    ActorId,
    ChainError,
    DataCloneError,
    LumenizeDO,
    LumenizeWorker,
    Mesh,
    NotMeshCallableError,
    WorkerContext,
    clone,
    mesh,
    open_mesh,
)
from lumenize_trio.ocan import (
    MAX_ARGUMENTS,
    MAX_CHAIN_LENGTH,
    Apply,
    Get,
    NestedChain,
    OperationChain,
    Verbatim,
    to_wire,
)
from lumenize_trio.runtime._events import receive
from lumenize_trio.runtime._outcome import Reply

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

# -- the targets ---------------------------------------------------------------------------------


class Journal:
    """What ran on the targets, kept outside their storage. One per test, given as a service."""

    def __init__(self) -> None:
        #: Methods and properties that started running (``on_before_call`` excluded).
        self.entered: list[str] = []
        #: ``on_before_call`` runs: the WHO hook runs before the access check, by design.
        self.hooks: list[str] = []
        #: Side effects of the worker (it has no storage).
        self.effects: list[object] = []
        #: What the attacker's local reply handler received.
        self.outcomes: list[object] = []


def journal(node: object) -> Journal:
    return cast("Journal", cast("Any", node).svc.journal)


class Notes:
    """A public attribute of the vault that is not @mesh: its method must never be reachable."""

    def __init__(self, log: Journal) -> None:
        self._log = log

    def add(self, text: str) -> None:
        self._log.entered.append("notes.add")


class Profile:
    """Returned by a @mesh method: the rest of the chain may use it (capability trust)."""

    def __init__(self, log: Journal) -> None:
        self.name = "main"
        self.tags = ["a", "b"]
        self._log = log

    def rename(self, name: str) -> str:
        self._log.entered.append("profile.rename")
        self.name = name
        return name

    def _hidden(self) -> None:
        self._log.entered.append("profile._hidden")


def deny(actor: object) -> None:
    raise PermissionError("locked: nobody may call this")


class Vault(LumenizeDO):
    """The target. Its @mesh surface is MESH_NAMES; everything else must stay out of reach."""

    secret_attr = "a public class attribute that is not @mesh"

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.notes = Notes(journal(self))

    def on_before_call(self) -> None:
        journal(self).hooks.append("on_before_call")

    def _enter(self, name: str) -> None:
        journal(self).entered.append(name)

    @mesh
    def deposit(self, *amounts: object, **named: object) -> int:
        self._enter("deposit")
        total = self.ctx.storage.kv.get("total", 0) + 1
        self.ctx.storage.kv.put("total", total)
        return cast("int", total)

    @mesh
    def total(self) -> int:
        return cast("int", self.ctx.storage.kv.get("total", 0))  # not journaled: the tests read it

    @mesh
    def echo(self, *args: object, **kwargs: object) -> list[str]:
        """How arguments arrive: the type name of each."""
        self._enter("echo")
        return [type(arg).__name__ for arg in (*args, *kwargs.values())]

    @mesh
    def reflect(self, value: object) -> object:
        """Returns what it was given: a hostile peer's result can be anything."""
        self._enter("reflect")
        return value

    @mesh
    def profile(self) -> Profile:
        self._enter("profile")
        return Profile(journal(self))

    @mesh
    def greeting(self) -> str:
        self._enter("greeting")
        return "{0.__class__.__mro__}"

    @mesh
    def countdown(self, n: int) -> Iterator[int]:
        yield from range(n)

    @mesh(guard=deny)
    def locked(self) -> str:
        self._enter("locked")
        return "opened"

    @mesh
    def self_test(self) -> int:
        """Proves the journal sees what runs: calls the unreachable members from inside."""
        self.wipe()
        _ = self.exploding
        self._private()
        self.notes.add("x")
        return self.total()

    # -- never reachable from a remote chain ------------------------------------------------

    def wipe(self) -> None:
        self._enter("wipe")
        self.ctx.storage.kv.put("total", -1000)

    @property
    def exploding(self) -> str:
        self._enter("exploding")
        self.ctx.storage.kv.put("total", -1)
        return "boom"

    def _private(self) -> None:
        self._enter("_private")
        self.ctx.storage.kv.put("total", -2)

    def on_alarm(self, info: object) -> None:
        self._enter("on_alarm")


MESH_NAMES = (
    "deposit",
    "total",
    "echo",
    "reflect",
    "profile",
    "greeting",
    "countdown",
    "locked",
    "self_test",
)


class Scribe(LumenizeWorker):
    """A worker target: same rules, a fresh instance per call, side effects in the journal."""

    def on_before_call(self) -> None:
        journal(self).hooks.append("scribe.on_before_call")

    @mesh
    def write(self, *texts: object) -> int:
        journal(self).entered.append("scribe.write")
        journal(self).effects.append(texts)
        return len(journal(self).effects)

    @mesh
    def echo(self, *args: object) -> list[str]:
        journal(self).entered.append("scribe.echo")
        return [type(arg).__name__ for arg in args]

    def wipe(self) -> None:
        journal(self).entered.append("scribe.wipe")
        journal(self).effects.clear()

    @property
    def exploding(self) -> str:
        journal(self).entered.append("scribe.exploding")
        journal(self).effects.clear()
        return "boom"

    def _private(self) -> None:
        journal(self).entered.append("scribe._private")


class Attacker(LumenizeDO):
    """Sends whatever it is told to, with ``call_raw`` and ``call``; reports what came back."""

    @mesh
    async def raw(self, binding: str, name: str | None, chain: OperationChain) -> object:
        return await self.lmz.call_raw(binding, name, chain)

    @mesh
    def fire(self, method: str, *args: object) -> str:
        remote = getattr(self.ctn(), method)(*args)
        return self.lmz.call("VAULT", "v", remote, self.ctn().got(RESULT))

    @mesh
    def fire_reflect(self, value: object) -> str:
        """Asks the vault to send *value* back, as a result, to the local handler."""
        return self.lmz.call("VAULT", "v", self.ctn().reflect(Verbatim(value)), self.ctn().got(RESULT))

    def got(self, outcome: object) -> None:
        """A local reply handler: not @mesh, yet the runtime runs it (it is not remote)."""
        journal(self).outcomes.append(outcome)

    def selfdestruct(self) -> None:
        journal(self).entered.append("attacker.selfdestruct")


@attrs.define
class World:
    mesh: Mesh
    log: Journal

    @property
    def vault_id(self) -> ActorId:
        return self.mesh.namespace("VAULT").id_from_name("v")

    async def total(self) -> int:
        return cast("int", await self.mesh.call(self.vault_id, (Get("total"), Apply())))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    log = Journal()
    bindings = {"VAULT": Vault, "SCRIBE": Scribe, "ATTACKER": Attacker}
    async with open_mesh(bindings, services={"journal": lambda node: log}) as m:
        yield World(m, log)


async def deliver(m: Mesh, target: ActorId | str, payload: bytes) -> object:
    """Hand raw bytes to a node as a call, exactly as the runtime delivers them."""
    reply = Reply()
    m._deliver(target, payload, reply)
    return await reply.wait()


def wire(chain: object, context: object = None) -> bytes:
    return clone.dumps([chain, context])


def forged(cls: type, **attributes: object) -> object:
    """An instance made the way the decoder makes one: no __init__, no validators."""
    obj = object.__new__(cls)
    for name, value in attributes.items():
        object.__setattr__(obj, name, value)
    return obj


async def assert_refused(
    w: World, send: Any, error: type[BaseException], fragment: str, *, worker: bool = False
) -> BaseException:
    """``await send()`` fails with exactly *error* (message containing *fragment*); nothing ran."""
    entered, effects = list(w.log.entered), list(w.log.effects)
    total = await w.total()
    with pytest.raises(error, match=re.escape(fragment)) as info:
        await send()
    assert type(info.value) is error, info.value
    assert w.log.entered == entered, "a refused chain ran something"
    assert w.log.effects == effects, "a refused chain had a side effect"
    assert await w.total() == total, "a refused chain wrote to storage"
    return info.value


async def assert_still_works(w: World) -> None:
    before = await w.total()
    assert await w.mesh.call(w.vault_id, (Get("deposit"), Apply())) == before + 1
    assert await w.mesh.call("SCRIBE", (Get("write"), Apply(("ok",), {}))) == len(w.log.effects)


# -- the attack table ----------------------------------------------------------------------------

PRIVATE = "names starting with '_' are private"


def not_callable(name: str) -> str:
    return f"Vault.{name} is not callable through the mesh"


def nested(chain: OperationChain) -> NestedChain:
    return NestedChain(chain)


def call(name: str, *args: object) -> OperationChain:
    return (Get(name), Apply(args, {}))


#: (id, chain, error, message fragment). Each is sent to the vault by every delivery path.
ATTACKS: list[tuple[str, OperationChain, type[BaseException], str]] = [
    ("__class__", (Get("__class__"),), NotMeshCallableError, PRIVATE),
    (
        "__class__-then-subclasses",
        (Get("__class__"), Get("__subclasses__"), Apply()),
        NotMeshCallableError,
        PRIVATE,
    ),
    ("__globals__", (Get("__globals__"),), NotMeshCallableError, PRIVATE),
    ("__init__.__globals__", (Get("__init__"), Get("__globals__")), NotMeshCallableError, PRIVATE),
    ("__dict__", (Get("__dict__"),), NotMeshCallableError, PRIVATE),
    ("__reduce__", call("__reduce__"), NotMeshCallableError, PRIVATE),
    ("__reduce_ex__", call("__reduce_ex__", 2), NotMeshCallableError, PRIVATE),
    ("__getattribute__", call("__getattribute__", "ctx"), NotMeshCallableError, PRIVATE),
    ("_private", call("_private"), NotMeshCallableError, PRIVATE),
    ("_lmz_check_access", (Get("_lmz_check_access"),), NotMeshCallableError, PRIVATE),
    ("_lmz_deliver", call("_lmz_deliver", (), b"", None, "x"), NotMeshCallableError, PRIVATE),
    ("method.__func__", (Get("deposit"), Get("__func__")), NotMeshCallableError, PRIVATE),
    ("method.__self__.wipe", (Get("deposit"), Get("__self__"), *call("wipe")), NotMeshCallableError, PRIVATE),
    ("method.__globals__", (Get("deposit"), Get("__globals__")), NotMeshCallableError, PRIVATE),
    ("returned.__class__", (*call("profile"), Get("__class__")), NotMeshCallableError, PRIVATE),
    ("returned._hidden", (*call("profile"), *call("_hidden")), NotMeshCallableError, PRIVATE),
    (
        "ctx.storage",
        (Get("ctx"), Get("storage"), Get("kv"), *call("put", "total", 666)),
        NotMeshCallableError,
        not_callable("ctx"),
    ),
    ("env.get", (Get("env"), *call("get", "VAULT", "other")), NotMeshCallableError, not_callable("env")),
    ("svc.alarms", (Get("svc"), Get("alarms")), NotMeshCallableError, not_callable("svc")),
    ("svc.journal", (Get("svc"), Get("journal"), Get("entered")), NotMeshCallableError, not_callable("svc")),
    ("lmz.call", (Get("lmz"), *call("call", "VAULT", "v", None)), NotMeshCallableError, not_callable("lmz")),
    ("lmz.call_context", (Get("lmz"), Get("call_context")), NotMeshCallableError, not_callable("lmz")),
    ("ctn", call("ctn"), NotMeshCallableError, not_callable("ctn")),
    ("ctn-then-method", (*call("ctn"), *call("wipe")), NotMeshCallableError, not_callable("ctn")),
    ("on_before_call", call("on_before_call"), NotMeshCallableError, not_callable("on_before_call")),
    ("on_alarm", call("on_alarm", None), NotMeshCallableError, not_callable("on_alarm")),
    ("getattr", call("getattr", "ctx"), NotMeshCallableError, not_callable("getattr")),
    ("non-mesh method", call("wipe"), NotMeshCallableError, not_callable("wipe")),
    ("property with side effects", (Get("exploding"),), NotMeshCallableError, not_callable("exploding")),
    (
        "public attribute's method",
        (Get("notes"), *call("add", "x")),
        NotMeshCallableError,
        not_callable("notes"),
    ),
    ("class attribute", (Get("secret_attr"),), NotMeshCallableError, not_callable("secret_attr")),
    ("apply first", (Apply(),), NotMeshCallableError, "a call must start by naming a @mesh method"),
    ("apply then name", (Apply(), *call("deposit")), NotMeshCallableError, "a call must start by naming"),
    ("guard denies", call("locked"), PermissionError, "locked: nobody may call this"),
    (
        "chain too long",
        (*call("deposit"), *[Get("real")] * (MAX_CHAIN_LENGTH - 1)),
        ChainError,
        f"has {MAX_CHAIN_LENGTH + 1} operations; the limit (MAX_CHAIN_LENGTH) is {MAX_CHAIN_LENGTH}",
    ),
    (
        "too many arguments",
        call("deposit", *range(MAX_ARGUMENTS + 1)),
        ChainError,
        f"{MAX_ARGUMENTS + 1} arguments; the limit (MAX_ARGUMENTS) is {MAX_ARGUMENTS}",
    ),
    (
        "too many keyword arguments",
        (Get("deposit"), Apply(tuple(range(60)), {f"k{i}": i for i in range(41)})),
        ChainError,
        f"101 arguments; the limit (MAX_ARGUMENTS) is {MAX_ARGUMENTS}",
    ),
    ("nested non-mesh", call("deposit", nested(call("wipe"))), NotMeshCallableError, not_callable("wipe")),
    (
        "nested in a list and a dict",
        call("deposit", [1, {"k": nested(call("wipe"))}]),
        NotMeshCallableError,
        not_callable("wipe"),
    ),
    (
        "nested keyword",
        (Get("deposit"), Apply((), {"x": nested(call("wipe"))})),
        NotMeshCallableError,
        not_callable("wipe"),
    ),
    (
        "nested property",
        call("deposit", nested((Get("exploding"),))),
        NotMeshCallableError,
        not_callable("exploding"),
    ),
    (
        "nested ctx",
        call("deposit", nested((Get("ctx"), Get("storage")))),
        NotMeshCallableError,
        not_callable("ctx"),
    ),
    ("nested private", call("deposit", nested(call("_private"))), NotMeshCallableError, PRIVATE),
    ("nested dunder", call("echo", nested((Get("__class__"),))), NotMeshCallableError, PRIVATE),
    (
        "nested guard",
        call("deposit", nested(call("locked"))),
        PermissionError,
        "locked: nobody may call this",
    ),
    (
        "nested apply first",
        call("deposit", nested((Apply(),))),
        NotMeshCallableError,
        "a call must start by naming",
    ),
    (
        "nested deeper",
        call("echo", nested(call("echo", nested(call("wipe"))))),
        NotMeshCallableError,
        not_callable("wipe"),
    ),
    (
        "nested chain too long",
        call("deposit", nested((*call("total"), *[Get("real")] * (MAX_CHAIN_LENGTH - 1)))),
        ChainError,
        "chain nested in operation 1",
    ),
    (
        "nested too many arguments",
        call("deposit", nested(call("echo", *range(MAX_ARGUMENTS + 1)))),
        ChainError,
        f"{MAX_ARGUMENTS + 1} arguments; the limit (MAX_ARGUMENTS) is {MAX_ARGUMENTS}",
    ),
    ("RESULT smuggled", call("deposit", RESULT), ChainError, "RESULT was never filled in"),
    ("RESULT in a list", call("deposit", [RESULT]), ChainError, "RESULT was never filled in"),
    (
        "RESULT nested",
        call("deposit", nested(call("echo", RESULT))),
        ChainError,
        "RESULT was never filled in",
    ),
    (
        "marker in a set",
        call("echo", frozenset({nested((Get("total"),))})),
        ChainError,
        "may not be a set member or part of a dict key",
    ),
]

ATTACK_IDS = [attack[0] for attack in ATTACKS]


@pytest.mark.parametrize(("name", "chain", "error", "fragment"), ATTACKS, ids=ATTACK_IDS)
async def test_attack_through_mesh_call_is_refused(
    world: World, name: str, chain: OperationChain, error: type[BaseException], fragment: str
) -> None:
    """A raw chain sent with ``Mesh.call`` (encoded, delivered, decoded) is refused; nothing ran."""
    await assert_refused(world, lambda: world.mesh.call(world.vault_id, chain), error, fragment)
    await assert_still_works(world)


@pytest.mark.parametrize(("name", "chain", "error", "fragment"), ATTACKS, ids=ATTACK_IDS)
async def test_attack_as_wire_bytes_is_refused(
    world: World, name: str, chain: OperationChain, error: type[BaseException], fragment: str
) -> None:
    """The same attacks as bytes an attacker wrote, handed straight to the receiver."""
    payload = wire(to_wire(chain))
    await assert_refused(world, lambda: deliver(world.mesh, world.vault_id, payload), error, fragment)
    await assert_still_works(world)


@pytest.mark.parametrize(("name", "chain", "error", "fragment"), ATTACKS, ids=ATTACK_IDS)
async def test_attack_from_another_actor_with_call_raw_is_refused(
    world: World, name: str, chain: OperationChain, error: type[BaseException], fragment: str
) -> None:
    """``self.lmz.call_raw`` takes a raw chain: the callee refuses it and the error comes back."""
    attacker = world.mesh.get("ATTACKER", "mallory")
    # Verbatim: the attacker receives the chain as data (its own markers must not run on it).
    send = lambda: attacker.raw("VAULT", "v", Verbatim(chain))  # noqa: E731
    await assert_refused(world, send, error, fragment)
    await assert_still_works(world)


@pytest.mark.parametrize(
    ("method", "args", "error", "fragment"),
    [
        ("wipe", (), NotMeshCallableError, not_callable("wipe")),
        ("on_before_call", (), NotMeshCallableError, not_callable("on_before_call")),
        ("ctn", (), NotMeshCallableError, not_callable("ctn")),
        ("locked", (), PermissionError, "locked: nobody may call this"),
        ("deposit", (Verbatim(RESULT),), ChainError, "RESULT was never filled in"),
    ],
)
async def test_attack_with_lmz_call_reaches_the_handler_as_a_value(
    world: World, method: str, args: tuple[object, ...], error: type[BaseException], fragment: str
) -> None:
    """``self.lmz.call``: the refusal is delivered to the caller's handler as the exception value."""
    entered, total = list(world.log.entered), await world.total()
    await world.mesh.get("ATTACKER", "mallory").fire(method, *args)
    await trio.testing.wait_all_tasks_blocked()
    [outcome] = world.log.outcomes
    assert type(outcome) is error
    assert fragment in str(outcome)
    assert world.log.entered == entered
    assert await world.total() == total
    await assert_still_works(world)


async def test_stub_refuses_private_names_before_sending(world: World) -> None:
    """A stub cannot even record a private name, so nothing reaches the actor."""
    stub = world.mesh.get("VAULT", "v")
    with pytest.raises(NotMeshCallableError, match=re.escape(PRIVATE)):
        _ = stub.deposit.__func__
    with pytest.raises(NotMeshCallableError, match=re.escape(PRIVATE)):
        _ = stub._private
    with pytest.raises(NotMeshCallableError, match=re.escape(PRIVATE)):
        _ = stub.profile().__globals__  # (`.__class__` is the stub's own, local attribute)
    assert world.log.hooks == []  # the vault never saw a call
    await assert_still_works(world)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        (("ctx", "storage", "kv"), not_callable("ctx")),
        (("env",), not_callable("env")),
        (("svc", "alarms"), not_callable("svc")),
        (("lmz", "call_context"), not_callable("lmz")),
        (("exploding",), not_callable("exploding")),
        (("secret_attr",), not_callable("secret_attr")),
        (("notes",), not_callable("notes")),
    ],
)
async def test_stub_attribute_reads_are_checked(world: World, path: tuple[str, ...], fragment: str) -> None:
    """A chain of reads only (no call) is checked like any other: ``await stub.ctx.storage``."""
    stub: Any = world.mesh.get("VAULT", "v")
    pending = stub
    for name in path:
        pending = getattr(pending, name)
    await assert_refused(world, lambda: pending, NotMeshCallableError, fragment)
    await assert_still_works(world)


async def test_stub_calls_to_unreachable_methods_are_refused(world: World) -> None:
    stub: Any = world.mesh.get("VAULT", "v")
    await assert_refused(world, lambda: stub.wipe(), NotMeshCallableError, not_callable("wipe"))
    await assert_refused(
        world, lambda: stub.ctx.storage.kv.put("total", 5), NotMeshCallableError, not_callable("ctx")
    )
    # A stub is not a continuation: it cannot be nested, so nothing is sent at all.
    await assert_refused(
        world, lambda: stub.deposit(stub.wipe()), DataCloneError, "cannot clone a value of type lumenize_trio"
    )
    await assert_still_works(world)


async def test_the_journal_sees_what_runs(world: World) -> None:
    """Control: the members the attacks aim at do record themselves when they do run."""
    assert await world.mesh.get("VAULT", "control").self_test() == -2
    assert world.log.entered == ["wipe", "exploding", "_private", "notes.add"]


# -- capability: reads on a returned object vs reads on the actor --------------------------------


async def test_a_returned_object_may_be_used_further_in_the_chain(world: World) -> None:
    m, vault = world.mesh, world.vault_id
    assert await m.call(vault, (*call("profile"), Get("name"))) == "main"
    assert await m.call(vault, (*call("profile"), Get("tags"))) == ["a", "b"]
    assert await m.call(vault, (*call("profile"), *call("rename", "spare"))) == "spare"
    assert await m.call(vault, (*call("total"), Get("real"))) == 0
    assert world.log.entered == ["profile", "profile", "profile", "profile.rename"]


async def test_the_same_reads_on_the_actor_are_refused(world: World) -> None:
    """What a returned object allows is not allowed on the actor itself."""
    m, vault = world.mesh, world.vault_id
    await assert_refused(
        world, lambda: m.call(vault, (Get("notes"),)), NotMeshCallableError, not_callable("notes")
    )
    await assert_refused(
        world, lambda: m.call(vault, (Get("name"),)), NotMeshCallableError, not_callable("name")
    )
    await assert_refused(
        world, lambda: m.call(vault, call("rename", "x")), NotMeshCallableError, not_callable("rename")
    )
    await assert_still_works(world)


async def test_reading_a_mesh_method_without_calling_it_runs_nothing(world: World) -> None:
    """``Get("deposit")`` alone is allowed by the check, but the method is not called and a bound
    method cannot be returned."""
    await assert_refused(
        world,
        lambda: world.mesh.call(world.vault_id, (Get("deposit"),)),
        DataCloneError,
        "bound methods do not cross actor boundaries",
    )


@pytest.mark.parametrize(
    ("chain", "fragment"),
    [
        ((*call("countdown", 3), Get("gi_frame"), Get("f_globals")), "'gi_frame' of a generator"),
        ((*call("countdown", 3), Get("gi_code")), "'gi_code' of a generator"),
        ((*call("greeting"), *call("format", 1)), "'format' of a str"),
        ((*call("greeting"), *call("format_map", {})), "'format_map' of a str"),
    ],
)
async def test_interpreter_internals_of_returned_objects_are_refused(
    world: World, chain: OperationChain, fragment: str
) -> None:
    """Capability trust stops at interpreter internals reachable without an underscore."""
    with pytest.raises(NotMeshCallableError, match=re.escape(fragment)) as info:
        await world.mesh.call(world.vault_id, chain)
    assert "it would expose interpreter internals" in str(info.value)
    assert world.log.entered in ([], ["greeting"])  # the generator's body never ran
    await assert_still_works(world)


# -- markers smuggled as data ----------------------------------------------------------------------


async def test_verbatim_markers_arrive_as_data_and_never_run(world: World) -> None:
    """A ``Verbatim`` argument is unwrapped once and its content passed as a value: a chain inside
    it is never run against the callee."""
    chain = call(
        "echo",
        Verbatim(nested(call("wipe"))),
        Verbatim(RESULT),
        Verbatim([nested((Get("__class__"),))]),
        Get("ctx"),
        Apply(),
    )
    assert await world.mesh.call(world.vault_id, chain) == [
        "NestedChain",
        "_ResultMarker",
        "list",
        "Get",
        "Apply",
    ]
    assert world.log.entered == ["echo"]
    assert await world.total() == 0


async def test_a_hostile_result_is_data_to_the_callers_handler(world: World) -> None:
    """A callee returning chain markers cannot make the caller run them: ``fill_result`` wraps the
    result in ``Verbatim``, so the caller's local handler gets the marker as a value."""
    attacker = world.mesh.get("ATTACKER", "mallory")
    hostile = nested(call("selfdestruct"))  # would run on the attacker if it were executed
    await attacker.fire_reflect(Verbatim(hostile))
    await trio.testing.wait_all_tasks_blocked()
    assert world.log.outcomes == [hostile]
    assert world.log.entered == ["reflect"]  # the vault reflected; the attacker never self-destructed


# -- hand-crafted wire bytes -------------------------------------------------------------------


def _self_containing() -> NestedChain:
    marker = forged(NestedChain, chain=())
    object.__setattr__(marker, "chain", (Get("echo"), Apply((marker,), {})))
    return cast("NestedChain", marker)


WIRE_ATTACKS: list[tuple[str, bytes, type[BaseException], str]] = [
    ("garbage", b"\xff\x00\x13", DataCloneError, "malformed"),
    (
        "truncated",
        wire([["get", "deposit"], ["apply", [], {}]])[:-3],
        DataCloneError,
        "premature end of stream",
    ),
    (
        "not a pair",
        clone.dumps([[["get", "deposit"]]]),
        ChainError,
        "a mesh call's payload must be [chain, context]",
    ),
    ("chain not a list", wire("deposit"), ChainError, "a chain on the wire is a list of operations, got str"),
    (
        "registered ops",
        wire(call("wipe")),
        ChainError,
        "a chain on the wire is a list of operations, got tuple",
    ),
    ("unknown op", wire([["call", "wipe"]]), ChainError, "operation 0 of a chain on the wire is malformed"),
    ("name not str", wire([["get", 5]]), ChainError, "operation 0 of a chain on the wire is malformed"),
    (
        "short apply",
        wire([["get", "deposit"], ["apply"]]),
        ChainError,
        "operation 1 of a chain on the wire is malformed",
    ),
    ("int kwarg key", wire([["get", "deposit"], ["apply", [], {1: 2}]]), ChainError, "is malformed"),
    ("empty chain", wire([]), ChainError, "the chain is empty"),
    ("dotted name", wire([["get", "ctx.storage"]]), ChainError, "'ctx.storage' is not an identifier"),
    ("dunder", wire([["get", "__class__"], ["get", "__init__"]]), NotMeshCallableError, PRIVATE),
    (
        "bad context",
        wire([["get", "deposit"], ["apply", [], {}]], "root"),
        ValueError,
        "malformed call context",
    ),
    (
        "forged nested chain: list",
        wire([["get", "echo"], ["apply", [forged(NestedChain, chain=[Get("wipe"), Apply()])], {}]]),
        ChainError,
        "must be a tuple of operations, got list",
    ),
    (
        "forged nested get: int name",
        wire([["get", "echo"], ["apply", [NestedChain((forged(Get, name=5),))], {}]]),
        ChainError,
        "an attribute name must be a str, got int",
    ),
    (
        "forged nested get: dunder",
        wire([["get", "echo"], ["apply", [NestedChain((forged(Get, name="__globals__"),))], {}]]),
        NotMeshCallableError,
        PRIVATE,
    ),
    (
        "forged apply: list args",
        wire(
            [["get", "echo"], ["apply", [NestedChain((Get("total"), forged(Apply, args=[], kwargs={})))], {}]]
        ),
        ChainError,
        "Apply.args must be a tuple, got list",
    ),
    (
        "nested non-mesh",
        wire([["get", "echo"], ["apply", [NestedChain(call("wipe"))], {}]]),
        NotMeshCallableError,
        not_callable("wipe"),
    ),
    (
        "self-containing nested chain",
        wire([["get", "echo"], ["apply", [_self_containing()], {}]]),
        ChainError,
        "the chain contains itself",
    ),
]


@pytest.mark.parametrize(
    ("name", "payload", "error", "fragment"), WIRE_ATTACKS, ids=[a[0] for a in WIRE_ATTACKS]
)
async def test_hand_crafted_wire_bytes_are_refused(
    world: World, name: str, payload: bytes, error: type[BaseException], fragment: str
) -> None:
    await assert_refused(world, lambda: deliver(world.mesh, world.vault_id, payload), error, fragment)
    await assert_refused(
        world, lambda: deliver(world.mesh, "SCRIBE", payload), error, fragment.replace("Vault", "Scribe")
    )
    await assert_still_works(world)


async def test_undecodable_bytes_never_reach_on_before_call(world: World) -> None:
    with pytest.raises(DataCloneError):
        await deliver(world.mesh, world.vault_id, b"\xff")
    with pytest.raises(ChainError, match="malformed"):
        await deliver(world.mesh, world.vault_id, wire([["nope"]]))
    assert world.log.hooks == []
    assert world.log.entered == []


# -- depth -----------------------------------------------------------------------------------------


def deep_list(levels: int, leaf: object = 0) -> object:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def deep_nested_chains(levels: int) -> OperationChain:
    chain: OperationChain = call("total")
    for _ in range(levels):
        chain = call("echo", nested(chain))
    return chain


async def test_arguments_nested_past_the_limit_in_wire_bytes_are_refused(world: World) -> None:
    """The decoder admits some levels past the clone's limit (tags count as levels there); the
    chain validator refuses them before anything runs."""
    mark = clone.dumps("DEEPMARK")
    payload = wire([["get", "deposit"], ["apply", [deep_list(150, "DEEPMARK")], {}]])
    assert payload.count(mark) == 1
    deeper = payload.replace(mark, b"\x81" * 100 + mark)  # 100 more one-element arrays
    await assert_refused(
        world,
        lambda: deliver(world.mesh, world.vault_id, deeper),
        ChainError,
        "arguments nest deeper than 200 levels",
    )
    much_deeper = payload.replace(mark, b"\x81" * 2000 + mark)
    await assert_refused(
        world, lambda: deliver(world.mesh, world.vault_id, much_deeper), DataCloneError, "nesting depth"
    )
    await assert_still_works(world)


async def test_arguments_nested_past_the_limit_fail_at_the_caller(world: World) -> None:
    """Sent through the mesh, a too-deep chain cannot even be encoded: nothing is delivered."""
    chain = call("deposit", deep_list(250))
    await assert_refused(
        world,
        lambda: world.mesh.call(world.vault_id, chain),
        DataCloneError,
        "nesting deeper than 200 levels",
    )
    await assert_refused(
        world,
        lambda: world.mesh.call(world.vault_id, deep_nested_chains(60)),
        DataCloneError,
        "nesting deeper",
    )
    assert world.log.hooks.count("on_before_call") == 4  # the four total() reads only


async def test_nested_chains_past_the_depth_limit_are_refused_by_the_receiver(world: World) -> None:
    """``receive`` (the entry every remote chain goes through) refuses chains nested too deep
    before any operation runs. (Over the mesh, the clone refuses them even earlier.)"""
    node = Scribe(WorkerContext("SCRIBE"), world.mesh)
    chain = (Get("write"), Apply((nested(deep_nested_chains(55)),), {}))
    with pytest.raises(
        ChainError, match=r"arguments nest deeper than 200 levels \(each nested chain counts 4\)"
    ):
        await receive(node, chain)
    assert world.log.entered == []
    assert world.log.effects == []


# -- workers ---------------------------------------------------------------------------------------

WORKER_ATTACKS: list[tuple[str, OperationChain, type[BaseException], str]] = [
    ("__class__", (Get("__class__"),), NotMeshCallableError, PRIVATE),
    ("__init__.__globals__", (Get("__init__"), Get("__globals__")), NotMeshCallableError, PRIVATE),
    ("method.__self__", (Get("write"), Get("__self__")), NotMeshCallableError, PRIVATE),
    ("_private", call("_private"), NotMeshCallableError, PRIVATE),
    (
        "ctx",
        (Get("ctx"), Get("binding")),
        NotMeshCallableError,
        "Scribe.ctx is not callable through the mesh",
    ),
    ("env.get", (Get("env"), *call("get", "VAULT", "v")), NotMeshCallableError, "Scribe.env is not callable"),
    ("svc", (Get("svc"), Get("journal")), NotMeshCallableError, "Scribe.svc is not callable"),
    (
        "lmz.call_raw",
        (Get("lmz"), *call("call_raw", "VAULT", "v", ())),
        NotMeshCallableError,
        "Scribe.lmz is not",
    ),
    ("non-mesh", call("wipe"), NotMeshCallableError, "Scribe.wipe is not callable through the mesh"),
    (
        "property",
        (Get("exploding"),),
        NotMeshCallableError,
        "Scribe.exploding is not callable through the mesh",
    ),
    ("on_before_call", call("on_before_call"), NotMeshCallableError, "Scribe.on_before_call is not"),
    (
        "nested non-mesh",
        call("write", nested(call("wipe"))),
        NotMeshCallableError,
        "Scribe.wipe is not callable",
    ),
    ("RESULT", call("write", RESULT), ChainError, "RESULT was never filled in"),
    (
        "too long",
        (*call("write"), *[Get("real")] * MAX_CHAIN_LENGTH),
        ChainError,
        "the limit (MAX_CHAIN_LENGTH)",
    ),
    ("too many args", call("write", *range(MAX_ARGUMENTS + 1)), ChainError, "the limit (MAX_ARGUMENTS)"),
]


@pytest.mark.parametrize(
    ("name", "chain", "error", "fragment"), WORKER_ATTACKS, ids=[a[0] for a in WORKER_ATTACKS]
)
async def test_worker_attacks_are_refused(
    world: World, name: str, chain: OperationChain, error: type[BaseException], fragment: str
) -> None:
    m = world.mesh
    await assert_refused(world, lambda: m.call("SCRIBE", chain), error, fragment)
    await assert_refused(world, lambda: deliver(m, "SCRIBE", wire(to_wire(chain))), error, fragment)
    attacker = m.get("ATTACKER", "mallory")
    await assert_refused(world, lambda: attacker.raw("SCRIBE", None, Verbatim(chain)), error, fragment)
    await assert_still_works(world)


async def test_worker_stub_reads_are_checked(world: World) -> None:
    stub: Any = world.mesh.get("SCRIBE")
    await assert_refused(
        world, lambda: stub.exploding, NotMeshCallableError, "Scribe.exploding is not callable"
    )
    await assert_refused(world, lambda: stub.env.get("VAULT", "v"), NotMeshCallableError, "Scribe.env is not")
    assert await stub.write("fine") == 1


# -- random chains -------------------------------------------------------------------------------

#: Names an attacker would try: dunders, privates, the node's machinery, builtins, and the names of
#: interesting attributes further down (storage, kv, alarms, ...). Mixed with the @mesh names, so
#: that random chains also start with a legitimate method and smuggle the attack in a nested chain.
DANGEROUS = (
    "__class__", "__globals__", "__init__", "__dict__", "__reduce__", "__reduce_ex__", "__subclasses__",
    "__mro__", "__func__", "__self__", "__code__", "__builtins__", "__getattribute__", "__call__",
    "__lmz_mesh__", "_private", "_lmz_check_access", "_lmz_deliver", "_enter", "_log",
    "ctx", "env", "svc", "lmz", "ctn", "storage", "kv", "put", "delete_all", "call", "call_raw",
    "get", "alarms", "journal", "on_before_call", "on_alarm", "on_start", "wipe", "exploding",
    "notes", "secret_attr", "format", "gi_frame", "f_globals", "mro", "getattr", "setattr",
    "eval", "exec", "open", "system", "real",
)  # fmt: skip
NAMES = (*DANGEROUS, *MESH_NAMES, "write")

scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3)


def _chains(args: st.SearchStrategy[object]) -> st.SearchStrategy[OperationChain]:
    op = st.one_of(
        st.sampled_from(NAMES).map(Get),
        st.lists(args, max_size=3).map(lambda values: Apply(tuple(values), {})),
    )
    return st.lists(op, min_size=1, max_size=6).map(tuple)


chains = st.recursive(_chains(scalars), lambda inner: _chains(scalars | inner.map(NestedChain)), max_leaves=6)


def preorder(chain: OperationChain) -> Iterator[OperationChain]:
    """The chain and every nested chain, in the order the access check sees them."""
    yield chain
    for op in chain:
        if type(op) is Apply:
            for arg in op.args:
                if type(arg) is NestedChain:
                    yield from preorder(arg.chain)


def expected_refusal(
    chain: OperationChain, cls: str, mesh_names: tuple[str, ...]
) -> tuple[type[BaseException], str] | None:
    """What the receiver must answer, or ``None`` if every chain of the tree may run."""
    tree = list(preorder(chain))
    if any(type(op) is Get and op.name.startswith("_") for c in tree for op in c):
        return NotMeshCallableError, PRIVATE  # checked for the whole tree before any access check
    for c in tree:
        first = c[0]
        if type(first) is not Get:
            return NotMeshCallableError, "a call must start by naming a @mesh method"
        if first.name not in mesh_names:
            return NotMeshCallableError, f"{cls}.{first.name} is not callable through the mesh"
        if first.name == "locked":
            return PermissionError, "locked: nobody may call this"
    return None


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=chains, as_bytes=st.booleans())
async def test_random_chains_not_starting_with_a_mesh_method_are_refused(
    chain: OperationChain, as_bytes: bool
) -> None:
    """Any chain tree in which some chain does not start with a @mesh method (or that names
    anything private) is refused with the right error, and nothing ran."""
    refusal = expected_refusal(chain, "Vault", MESH_NAMES)
    assume(refusal is not None)
    assert refusal is not None
    error, fragment = refusal
    log = Journal()
    async with open_mesh({"VAULT": Vault, "SCRIBE": Scribe}, services={"journal": lambda node: log}) as m:
        w = World(m, log)
        if as_bytes:
            payload = wire(to_wire(chain))
            await assert_refused(w, lambda: deliver(m, w.vault_id, payload), error, fragment)
        else:
            await assert_refused(w, lambda: m.call(w.vault_id, chain), error, fragment)
        assert log.entered == []
        assert await w.total() == 0
        await assert_still_works(w)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=chains)
async def test_random_chains_sent_to_a_worker_are_refused(chain: OperationChain) -> None:
    refusal = expected_refusal(chain, "Scribe", ("write", "echo"))
    assume(refusal is not None)
    assert refusal is not None
    error, fragment = refusal
    log = Journal()
    async with open_mesh({"VAULT": Vault, "SCRIBE": Scribe}, services={"journal": lambda node: log}) as m:
        w = World(m, log)
        await assert_refused(w, lambda: m.call("SCRIBE", chain), error, fragment)
        assert log.entered == []
        assert log.effects == []


# -- known gap -------------------------------------------------------------------------------------


class Typed(LumenizeDO):
    """Returns a class: the interpreter-internals rule covers ``str.format`` on a str, not on the
    ``str`` type, where the format string is an argument."""

    @mesh
    def kind(self) -> type:
        return str

    @mesh
    def profile(self) -> Profile:
        return Profile(journal(self))


async def test_format_read_from_the_str_type_is_refused() -> None:
    log = Journal()
    async with open_mesh({"TYPED": Typed}, services={"journal": lambda node: log}) as m:
        typed = m.namespace("TYPED").id_from_name("t")
        # Walks a private attribute of an object that a nested (checked) chain produced.
        chain = (*call("kind"), Get("format"), Apply(("{0._log.entered}", nested(call("profile"))), {}))
        with pytest.raises(NotMeshCallableError, match="'format' of a type"):
            await m.call(typed, chain)
