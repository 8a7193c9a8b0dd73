"""The three layers of access control: ``on_before_call`` (WHO), ``@mesh`` (WHAT), guards.

Every node records what ran, in order, in a trace kept outside its storage (given to the mesh as a
service), so each test can state exactly which hooks, guards and methods ran, and in what order.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import attrs
import pytest
import trio
import trio.testing

from lumenize_trio import (
    RESULT,
    ChainError,
    DataCloneError,
    LumenizeDO,
    LumenizeWorker,
    Mesh,
    NoCallContextError,
    NotMeshCallableError,
    RemoteError,
    clone,
    mesh,
    open_mesh,
)
from lumenize_trio.ocan import Get, Verbatim

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


# -- errors ----------------------------------------------------------------------------------------


@clone.register(name="tests.security.Denied")
class Denied(PermissionError):
    """A registered error with an attribute: it crosses the mesh as itself."""

    def __init__(self, message: str, caller: str | None = None) -> None:
        super().__init__(message)
        self.caller = caller


class Unregistered(Exception):
    """Not registered: the caller gets a RemoteError standing in for it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# -- nodes -----------------------------------------------------------------------------------------


def trace(node: object) -> list[str]:
    return cast("list[str]", cast("Any", node).svc.trace)


def only_trusted(actor: Any) -> None:
    """Allows only calls whose immediate caller is a node of the TRUSTED binding."""
    trace(actor).append("guard:only_trusted")
    caller = actor.lmz.call_context.caller  # NoCallContextError (a denial) for calls from outside
    if caller.binding_name != "TRUSTED":
        raise Denied(f"{caller.binding_name} may not do this", caller=caller.binding_name)


def recorded(name: str) -> Any:
    """A guard that allows, and records that it ran."""

    def guard(actor: Any) -> None:
        trace(actor).append(f"guard:{name}")

    return guard


class AdminPanel:
    """What ``Bank.admin()`` returns: its methods are not @mesh, the capability is the check."""

    def __init__(self, bank: Bank) -> None:
        self._bank = bank

    def force_reset(self) -> str:
        trace(self._bank).append("force_reset")
        self._bank.ctx.storage.kv.put("total", 0)
        return "reset"


class Bank(LumenizeDO):
    def on_before_call(self) -> None:
        trace(self).append("on_before_call")

    @mesh(guard=recorded("deposit"))
    def deposit(self, amount: int) -> int:
        trace(self).append("deposit")
        total = cast("int", self.ctx.storage.kv.get("total", 0)) + amount
        self.ctx.storage.kv.put("total", total)
        return total

    @mesh
    def total(self) -> int:
        return cast("int", self.ctx.storage.kv.get("total", 0))

    @mesh(guard=only_trusted)
    def admin(self) -> AdminPanel:
        trace(self).append("admin")
        return AdminPanel(self)

    @mesh(guard=only_trusted)
    def audit_total(self) -> int:
        trace(self).append("audit_total")
        return self.total()

    @mesh
    def context(self) -> dict[str, object]:
        context = self.lmz.call_context
        return {
            "chain": [node.binding_name for node in context.call_chain],
            "origin_auth": context.origin_auth,
            "state": dict(context.state),
        }

    @mesh
    def fail(self, code: int) -> None:
        self.ctx.storage.kv.put("total", -1)  # rolled back: the method raises
        try:
            raise KeyError("the inner cause")
        except KeyError as inner:
            raise Denied(f"refused with code {code}", caller="bank") from inner

    @mesh
    def fail_unregistered(self) -> None:
        raise Unregistered("not registered", 7)

    @mesh
    def arm(self) -> None:
        self.ctx.storage.set_alarm(self.env.clock.now() + 60)

    def on_alarm(self, info: object) -> None:
        """Local: not @mesh, yet it runs (and has no call context)."""
        try:
            self.lmz.call_context  # noqa: B018 - the read is the test
        except NoCallContextError:
            trace(self).append("on_alarm:no-context")


class Strict(LumenizeDO):
    """``on_before_call`` refuses every call to the actor named "closed" (after writing)."""

    def on_before_call(self) -> None:
        trace(self).append("strict:on_before_call")
        self.ctx.storage.kv.put("seen", True)  # rolled back with the refusal
        if self.ctx.id.name == "closed":
            raise Denied("closed for business", caller=None)

    @mesh(guard=recorded("strict"))
    def enter(self) -> str:
        trace(self).append("strict:enter")
        return "in"

    @mesh
    def seen(self) -> bool:
        return cast("bool", self.ctx.storage.kv.get("seen", False))


class Caller(LumenizeDO):
    """Calls the bank with ``call_raw`` and ``call``; its binding is what guards look at."""

    @mesh
    async def attempt(self, method: str, *args: object) -> object:
        return await self.lmz.call_raw("BANK", "b", getattr(self.ctn(Bank), method)(*args))

    @mesh
    async def attempt_raw(self, chain: tuple[object, ...]) -> object:
        return await self.lmz.call_raw("BANK", "b", chain)

    @mesh
    async def call_teller(self, method: str, state: dict[str, object] | None) -> object:
        return await self.lmz.call_raw("TELLER", None, getattr(self.ctn(Teller), method)(), state=state)

    @mesh
    async def reset(self) -> object:
        return await self.lmz.call_raw("BANK", "b", self.ctn(Bank).admin().force_reset())

    @mesh
    async def deposit_audit(self) -> object:
        bank = self.ctn(Bank)
        return await self.lmz.call_raw("BANK", "b", bank.deposit(bank.audit_total()))

    @mesh
    async def context_with(self, state: dict[str, object]) -> object:
        return await self.lmz.call_raw("BANK", "b", self.ctn(Bank).context(), state=state)

    @mesh
    def fire(self, binding: str, name: str, method: str, *args: object) -> str:
        remote = getattr(self.ctn(), method)(*args)
        return self.lmz.call(binding, name, remote, self.ctn().got(RESULT, method))

    def got(self, outcome: object, method: str) -> None:
        """A local reply handler: not @mesh."""
        trace(self).append(f"got:{method}")
        outcomes(self).append(outcome)


class Teller(LumenizeWorker):
    """A worker callee: the same layers apply."""

    def on_before_call(self) -> None:
        trace(self).append("teller:on_before_call")
        if self.lmz.call_context.state.get("block"):
            raise Denied("teller refuses", caller="teller")

    @mesh(guard=recorded("teller"))
    def serve(self) -> str:
        trace(self).append("teller:serve")
        return "served"

    @mesh(guard=only_trusted)
    def vault(self) -> str:
        trace(self).append("teller:vault")
        return "vault"


def outcomes(node: object) -> list[object]:
    return cast("list[object]", cast("Any", node).svc.outcomes)


@attrs.define
class World:
    mesh: Mesh
    trace: list[str]
    outcomes: list[object]

    def bank_total(self) -> Any:
        return self.mesh.get("BANK", "b").total()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    log: list[str] = []
    results: list[object] = []
    bindings = {
        "BANK": Bank,
        "STRICT": Strict,
        "TRUSTED": Caller,
        "UNTRUSTED": Caller,
        "TELLER": Teller,
    }
    services = {"trace": lambda node: log, "outcomes": lambda node: results}
    async with open_mesh(bindings, services=services) as m:
        yield World(m, log, results)


# -- ordering: on_before_call, then the guard, then the method -------------------------------------


async def test_on_before_call_runs_before_the_guard_before_the_method(world: World) -> None:
    assert await world.mesh.get("BANK", "b").deposit(5) == 5
    assert world.trace == ["on_before_call", "guard:deposit", "deposit"]


async def test_the_same_order_on_a_worker(world: World) -> None:
    assert await world.mesh.get("TRUSTED", "t").call_teller("serve", None) == "served"
    assert world.trace == ["teller:on_before_call", "guard:teller", "teller:serve"]


async def test_on_before_call_raising_denies_and_rolls_back(world: World) -> None:
    """The hook's exception reaches the caller as itself; neither guard nor method ran, and the
    hook's own write was rolled back with the refused call."""
    with pytest.raises(Denied, match="closed for business") as info:
        await world.mesh.get("STRICT", "closed").enter()
    assert type(info.value) is Denied
    assert world.trace == ["strict:on_before_call"]
    # The actor still answers (its hook records this call too); nothing was kept.
    world.trace.clear()
    open_ = world.mesh.get("STRICT", "open")
    assert await open_.enter() == "in"
    assert world.trace == ["strict:on_before_call", "guard:strict", "strict:enter"]
    with pytest.raises(Denied):
        await world.mesh.get("STRICT", "closed").seen()


async def test_worker_on_before_call_denies(world: World) -> None:
    caller = world.mesh.get("TRUSTED", "t")
    with pytest.raises(Denied, match="teller refuses") as info:
        await caller.call_teller("serve", {"block": True})
    assert type(info.value) is Denied
    assert world.trace == ["teller:on_before_call"]


# -- guards ----------------------------------------------------------------------------------------


async def test_guard_reads_the_call_context(world: World) -> None:
    """A guard that allows only callers of one binding: allowed via call_raw from a TRUSTED actor,
    denied from an UNTRUSTED one, with the error's class and attribute kept."""
    assert await world.mesh.get("TRUSTED", "t").attempt("audit_total") == 0
    assert world.trace == ["on_before_call", "guard:only_trusted", "audit_total"]
    world.trace.clear()
    with pytest.raises(Denied, match="UNTRUSTED may not do this") as info:
        await world.mesh.get("UNTRUSTED", "u").attempt("audit_total")
    assert type(info.value) is Denied
    assert info.value.caller == "UNTRUSTED"
    assert world.trace == ["on_before_call", "guard:only_trusted"]


async def test_a_guard_reading_the_context_denies_calls_from_outside_the_mesh(world: World) -> None:
    """A stub call from outside carries no call context: the guard's read raises, which denies."""
    with pytest.raises(NoCallContextError, match="only available while handling a mesh call"):
        await world.mesh.get("BANK", "b").audit_total()
    assert "audit_total" not in world.trace


async def test_a_guard_runs_for_a_chain_that_only_reads(world: World) -> None:
    """``Get("admin")`` alone calls nothing, but the guard still decides."""
    with pytest.raises(Denied, match="UNTRUSTED may not do this"):
        await world.mesh.get("UNTRUSTED", "u").attempt_raw(Verbatim((Get("admin"),)))
    assert world.trace == ["on_before_call", "guard:only_trusted"]
    world.trace.clear()
    # Allowed, yet admin() is not called: a bound method is read, and cannot be returned.
    with pytest.raises(DataCloneError, match="bound methods do not cross actor boundaries"):
        await world.mesh.get("TRUSTED", "t").attempt_raw(Verbatim((Get("admin"),)))
    assert world.trace == ["on_before_call", "guard:only_trusted"]


async def test_worker_guard_reads_the_call_context(world: World) -> None:
    with pytest.raises(NoCallContextError):
        await world.mesh.get("TELLER").vault()
    assert await world.mesh.get("TRUSTED", "t").call_teller("vault", None) == "vault"
    with pytest.raises(Denied, match="UNTRUSTED may not do this") as info:
        await world.mesh.get("UNTRUSTED", "u").call_teller("vault", None)
    assert cast("Denied", info.value).caller == "UNTRUSTED"
    assert world.trace.count("teller:vault") == 1


# -- capability trust ------------------------------------------------------------------------------


async def test_capability_admin_then_force_reset(world: World) -> None:
    """``admin().force_reset()``: the guard of ``admin`` protects the whole chain; what ``admin``
    returns may be called further without being @mesh."""
    bank = world.mesh.get("BANK", "b")
    await bank.deposit(10)
    world.trace.clear()
    with pytest.raises(Denied, match="UNTRUSTED may not do this"):
        await world.mesh.get("UNTRUSTED", "u").reset()
    assert world.trace == ["on_before_call", "guard:only_trusted"]  # admin() and force_reset() never ran
    assert await bank.total() == 10
    world.trace.clear()
    assert await world.mesh.get("TRUSTED", "t").reset() == "reset"
    # The guard ran once, admin() ran once (no re-run to find the receiver), then force_reset().
    assert world.trace == ["on_before_call", "guard:only_trusted", "admin", "force_reset"]
    assert await bank.total() == 0


async def test_force_reset_is_not_reachable_on_the_actor(world: World) -> None:
    with pytest.raises(
        NotMeshCallableError, match=re.escape("Bank.force_reset is not callable through the mesh")
    ):
        await world.mesh.get("TRUSTED", "t").attempt("force_reset")
    assert "force_reset" not in world.trace


# -- nested chains are checked independently -------------------------------------------------------


async def test_nested_chain_guard_denies_the_whole_call(world: World) -> None:
    """``deposit(audit_total())``: the outer guard allows, the nested chain's guard denies, and
    nothing of either runs."""
    with pytest.raises(Denied, match="UNTRUSTED may not do this"):
        await world.mesh.get("UNTRUSTED", "u").deposit_audit()
    assert world.trace == ["on_before_call", "guard:deposit", "guard:only_trusted"]
    assert await world.bank_total() == 0


async def test_nested_chain_allowed_runs_inner_first(world: World) -> None:
    await world.mesh.get("BANK", "b").deposit(3)
    world.trace.clear()
    assert await world.mesh.get("TRUSTED", "t").deposit_audit() == 6  # deposit(total=3)
    assert world.trace == [
        "on_before_call",
        "guard:deposit",
        "guard:only_trusted",  # every check first...
        "audit_total",  # ...then the nested chain...
        "deposit",  # ...then the outer call
    ]


# -- guards and hooks must be synchronous and must raise to deny -----------------------------------


def test_async_guard_is_refused_when_decorating() -> None:
    async def async_guard(actor: object) -> None:
        raise AssertionError("never runs")

    with pytest.raises(TypeError, match=re.escape("@mesh(guard=...) must be synchronous")):

        @mesh(guard=async_guard)
        def method(self: object) -> None:
            raise AssertionError("never runs")


class SneakyGuards(LumenizeDO):
    """Guards that do not raise: each must deny, never let the call through."""

    @mesh(guard=lambda actor: _async_guard(actor))  # a plain def that returns a coroutine
    def coroutine_guarded(self) -> str:
        trace(self).append("coroutine_guarded")
        return "passed"

    @mesh(guard=lambda actor: False)  # "return False to deny" is not how guards work
    def false_guarded(self) -> str:
        trace(self).append("false_guarded")
        return "passed"

    @mesh(guard=lambda actor: True)
    def true_guarded(self) -> str:
        trace(self).append("true_guarded")
        return "passed"


COROUTINES: list[Any] = []


async def _async_guard(actor: object) -> None:
    trace(actor).append("async guard body ran")


def _async_guard_tracking(actor: object) -> object:
    coroutine = _async_guard(actor)
    COROUTINES.append(coroutine)
    return coroutine


@pytest.mark.parametrize(
    ("method", "returned"),
    [("coroutine_guarded", "coroutine"), ("false_guarded", "bool"), ("true_guarded", "bool")],
)
async def test_a_guard_that_returns_something_denies(method: str, returned: str) -> None:
    log: list[str] = []
    async with open_mesh({"SNEAKY": SneakyGuards}, services={"trace": lambda node: log}) as m:
        with pytest.raises(TypeError, match=re.escape(f"returned {returned}, so the call is refused")):
            await getattr(m.get("SNEAKY", "s"), method)()
    assert log == []  # neither the async guard's body nor the method ran


async def test_a_coroutine_returned_by_a_guard_is_closed() -> None:
    """Closed unawaited: its body never runs and no 'never awaited' warning is left behind."""

    class Tracked(LumenizeDO):
        @mesh(guard=_async_guard_tracking)
        def method(self) -> str:
            return "passed"

    log: list[str] = []
    COROUTINES.clear()
    async with open_mesh({"TRACKED": Tracked}, services={"trace": lambda node: log}) as m:
        with pytest.raises(TypeError, match="a guard must be synchronous"):
            await m.get("TRACKED", "t").method()
    [coroutine] = COROUTINES
    assert coroutine.cr_frame is None  # closed
    assert log == []


class AsyncHook(LumenizeDO):
    async def on_before_call(self) -> None:
        trace(self).append("async hook body ran")

    @mesh
    def method(self) -> str:
        trace(self).append("method")
        return "passed"


class FalseHook(LumenizeDO):
    def on_before_call(self) -> bool:
        trace(self).append("false hook")
        return False  # meant as "deny"; must not read as "allow"

    @mesh
    def method(self) -> str:
        trace(self).append("method")
        return "passed"


async def test_async_on_before_call_is_refused() -> None:
    log: list[str] = []
    async with open_mesh({"HOOK": AsyncHook}, services={"trace": lambda node: log}) as m:
        with pytest.raises(TypeError, match=re.escape("on_before_call() must be synchronous")):
            await m.get("HOOK", "h").method()
    assert log == []


async def test_on_before_call_returning_a_value_is_refused() -> None:
    log: list[str] = []
    async with open_mesh({"HOOK": FalseHook}, services={"trace": lambda node: log}) as m:
        with pytest.raises(
            TypeError, match=re.escape("on_before_call() returned bool, so the call is refused")
        ):
            await m.get("HOOK", "h").method()
    assert log == ["false hook"]


class Impostor:
    """Claims to be an actor class without subclassing LumenizeDO: it has no access check."""

    _lmz_type = "LumenizeDO"

    def __init__(self, ctx: object, env: object) -> None:
        self.ctx = ctx
        self.ran: list[str] = []

    def wipe(self) -> str:
        raise AssertionError("an unchecked chain ran")


async def test_a_node_class_without_an_access_check_runs_nothing() -> None:
    """Fail closed: the runtime refuses to run chains on a class that has no ``_lmz_check_access``."""
    async with open_mesh({"IMPOSTOR": Impostor}) as m:
        with pytest.raises(TypeError, match=re.escape("Impostor has no access check (_lmz_check_access)")):
            await cast("Any", m.get("IMPOSTOR", "i")).wipe()


# -- every failure stage comes back as a value -----------------------------------------------------


@pytest.mark.parametrize(
    ("binding", "name", "method", "args", "error", "fragment"),
    [
        ("BANK", "b", "deposit", (RESULT,), ChainError, "RESULT was never filled in"),
        ("BANK", "b", "wipe", (), NotMeshCallableError, "Bank.wipe is not callable through the mesh"),
        ("STRICT", "closed", "enter", (), Denied, "closed for business"),
        ("BANK", "b", "audit_total", (), Denied, "UNTRUSTED may not do this"),
        ("BANK", "b", "fail", (4,), Denied, "refused with code 4"),
    ],
    ids=["bad chain", "not @mesh", "on_before_call", "guard", "method"],
)
async def test_every_failure_stage_reaches_the_handler_as_the_exception(
    world: World,
    binding: str,
    name: str,
    method: str,
    args: tuple[object, ...],
    error: type[BaseException],
    fragment: str,
) -> None:
    """With ``self.lmz.call`` the callee never raises across: the refusal arrives at the caller's
    local handler as the exception value, its class kept."""
    caller = world.mesh.get("UNTRUSTED", "u")
    await caller.fire(binding, name, method, *(Verbatim(arg) for arg in args))
    await trio.testing.wait_all_tasks_blocked()
    [outcome] = world.outcomes
    assert type(outcome) is error
    assert fragment in str(outcome)
    assert f"got:{method}" in world.trace
    assert await world.bank_total() == 0  # nothing was written anywhere
    assert await world.mesh.get("BANK", "b").deposit(1) == 1  # and the bank still works


async def test_the_local_handler_is_not_reachable_remotely(world: World) -> None:
    with pytest.raises(NotMeshCallableError, match=re.escape("Caller.got is not callable through the mesh")):
        await cast("Any", world.mesh.get("TRUSTED", "t")).got(1, "x")
    assert world.outcomes == []


async def test_alarm_handler_runs_locally_without_mesh(world: World, autojump_clock: object) -> None:
    bank = world.mesh.get("BANK", "b")
    await bank.arm()
    await trio.sleep(120)  # virtual time
    assert "on_alarm:no-context" in world.trace
    with pytest.raises(NotMeshCallableError, match=re.escape("Bank.on_alarm is not callable")):
        await cast("Any", bank).on_alarm(None)


# -- error fidelity --------------------------------------------------------------------------------


async def test_registered_error_keeps_class_attributes_and_cause(world: World) -> None:
    with pytest.raises(Denied) as info:
        await world.mesh.get("BANK", "b").fail(9)
    error = info.value
    assert type(error) is Denied
    assert str(error) == "refused with code 9"
    assert error.caller == "bank"
    assert isinstance(error.__cause__, KeyError)
    assert await world.bank_total() == 0  # the method's write was rolled back


async def test_unregistered_error_arrives_as_a_remote_error(world: World) -> None:
    with pytest.raises(RemoteError) as info:
        await world.mesh.get("BANK", "b").fail_unregistered()
    error = cast("Any", info.value)
    assert error.remote_class_name.endswith(".Unregistered")  # the sender's qualified name
    assert type(error).__name__ == "Unregistered"
    assert error.code == 7
    assert "not registered" in str(error)


# -- call context trust ----------------------------------------------------------------------------


async def test_state_is_caller_controlled_and_origin_auth_is_not(world: World) -> None:
    """A caller may put anything in ``state`` (so guards must not trust it), but cannot set
    ``origin_auth``: chains started by server nodes have none."""
    seen = cast(
        "dict[str, Any]",
        await world.mesh.get("UNTRUSTED", "u").context_with(
            {"role": "admin", "origin_auth": {"sub": "root"}}
        ),
    )
    assert seen["state"] == {"role": "admin", "origin_auth": {"sub": "root"}}
    assert seen["origin_auth"] is None
    assert seen["chain"] == ["UNTRUSTED"]


async def test_a_guard_on_the_call_chain_ignores_state(world: World) -> None:
    """``only_trusted`` looks at the call chain, so claiming a role in ``state`` changes nothing."""
    with pytest.raises(Denied, match="UNTRUSTED may not do this"):
        await world.mesh.get("UNTRUSTED", "u").attempt("audit_total")
    assert "audit_total" not in world.trace
