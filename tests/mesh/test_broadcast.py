"""Tests for ``self.svc.broadcast`` (``lumenize_trio.node._broadcast``).

Targets record what they saw in ``SEEN`` (outside the mesh); broadcasters record what their
``on_result`` handlers got. Fire-and-forget calls settle under ``wait_all_tasks_blocked``;
anything that involves time runs on the mock clock.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, strategies as st

from lumenize_trio import (
    RESULT,
    ActorId,
    ActorResetError,
    CallContext,
    ChainError,
    DataCloneError,
    InvalidActorIdError,
    LumenizeDO,
    LumenizeWorker,
    Mesh,
    MeshCallError,
    NoCallContextError,
    NodeIdentity,
    NotMeshCallableError,
    ServiceError,
    UnknownBindingError,
    WorkerContext,
    clone,
    mesh,
    open_mesh,
)
from lumenize_trio.node import _broadcast
from lumenize_trio.node._broadcast import HOP_BINDING, HOP_IDENTITY, ROUTE_TTL, hop_plan, split
from lumenize_trio.ocan import Apply, Get, chain_of, continuation, to_wire

# SEEN holds (tag, value) pairs recorded by the nodes below; EVENTS the events Sub.hang waits for.
from .nodes import EVENTS, SEEN, seen, settle


def names(context: CallContext) -> list[str]:
    return [
        f"{n.binding_name}/{n.instance_name}" if n.instance_name else n.binding_name
        for n in context.call_chain
    ]


@clone.register(name="tests.mesh.broadcast.Gone")
class Gone(Exception):
    """A registered error with an attribute (a subscriber that went away)."""

    def __init__(self, message: str, who: str) -> None:
        super().__init__(message)
        self.who = who


class Sub(LumenizeDO):
    """A broadcast target. Names starting with ``bad`` fail."""

    @mesh
    def show(self, text: object) -> str:
        context = self.lmz.call_context
        name = self.lmz.instance_name or self.ctx.id.hex[:8]
        SEEN.append(("show", (name, text, names(context), context.origin_auth, dict(context.state))))
        if name.startswith("bad") or text == "boom":
            raise Gone("unsubscribed", name)
        return name

    @mesh
    def prefix(self) -> str:
        return "nested:"

    @mesh
    async def hang(self, event: str, fail: bool) -> None:
        await EVENTS[event].wait()
        if fail:
            raise Gone("late", event)


class Sink(LumenizeWorker):
    """A worker target: counts deliveries and the hops each one crossed."""

    @mesh
    def reject(self) -> None:
        raise Gone("no workers today", "sink")

    @mesh
    def take(self, index: int) -> None:
        SEEN.append(
            ("take", (index, [n.binding_name for n in self.lmz.call_context.call_chain].count(HOP_BINDING)))
        )


def _targets(spec: list[Any], env: Mesh) -> list[Any]:
    """Targets from plain data: ``["SUB", "name"]``, ``["SINK", None]``, ``["SUB", {"id": ...}]``."""
    out: list[Any] = []
    for binding, instance in spec:
        if isinstance(instance, dict):
            out.append((binding, env.namespace(binding).id_from_string(instance["id"])))
        else:
            out.append((binding, instance))
    return out


class Hub(LumenizeDO):
    """The broadcaster."""

    @mesh
    def send(
        self,
        spec: list[Any],
        text: object = "hi",
        *,
        threshold: int = 100,
        branch: int = 6,
        on_result: str | None = "last",
        write: bool = False,
    ) -> str:
        if write:
            self.ctx.storage.kv.put("written", True)
        handler: Any = {
            None: None,
            "last": self.ctn().failed(),
            "marker": self.ctn().failed_marked("tag", RESULT),
            "keyword": self.ctn().failed_keyword(error=RESULT),
            "explode": self.ctn().explode(),
        }[on_result]
        return self.svc.broadcast(  # type: ignore[operator,no-any-return]
            _targets(spec, self.env),
            self.ctn(Sub).show(text),
            on_result=handler,
            direct_threshold=threshold,
            branch=branch,
        )

    @mesh
    def send_to_sink(self, with_result: bool) -> str:
        return self.svc.broadcast(  # type: ignore[operator,no-any-return]
            [("SINK", None)], self.ctn(Sink).reject(), on_result=self.ctn().failed() if with_result else None
        )

    @mesh
    def send_nested(self, spec: list[Any]) -> str:
        sub = self.ctn(Sub)
        return self.svc.broadcast(_targets(spec, self.env), sub.show(sub.prefix()), direct_threshold=1)  # type: ignore[operator,no-any-return]

    @mesh
    def send_hang(self, names_: list[str], fail: bool, threshold: int) -> str:
        targets = [("SUB", name) for name in names_]
        return self.svc.broadcast(  # type: ignore[operator,no-any-return]
            targets,
            self.ctn(Sub).hang("late", fail),
            on_result=self.ctn().failed(),
            direct_threshold=threshold,
        )

    @mesh
    def misuse(self, case: str) -> object:
        show = self.ctn(Sub).show("x")
        bc: Any = self.svc.broadcast
        cases: dict[str, Any] = {
            "remote": lambda: bc([("SUB", "a")], "show"),
            "remote_empty": lambda: bc([("SUB", "a")], self.ctn()),
            "on_result": lambda: bc([("SUB", "a")], show, on_result=print),
            "on_result_empty": lambda: bc([("SUB", "a")], show, on_result=self.ctn()),
            "on_result_not_call": lambda: bc([("SUB", "a")], show, on_result=self.ctn().failed),
            "on_result_too_many": lambda: bc([("SUB", "a")], show, on_result=self.ctn().failed(*range(99))),
            "not_iterable": lambda: bc(5, show),
            "string": lambda: bc("SUB", show),
            "empty": lambda: bc([], show),
            "empty_generator": lambda: bc((t for t in ()), show),
            "not_pair": lambda: bc([("SUB", "a"), "SUB"], show),
            "triple": lambda: bc([("SUB", "a", "b")], show),
            "binding": lambda: bc([("SUB", "a"), ("NOPE", "a")], show),
            "worker_instance": lambda: bc([("SINK", "a")], show),
            "actor_no_instance": lambda: bc([("SUB", None)], show),
            "bad_name": lambda: bc([("SUB", "")], show),
            "foreign_id": lambda: bc([("SUB", self.ctx.id)], show),
            "threshold": lambda: bc([("SUB", "a")], show, direct_threshold=0),
            "threshold_type": lambda: bc([("SUB", "a")], show, direct_threshold=True),
            "threshold_inf": lambda: bc([("SUB", "a")], show, direct_threshold=math.inf),
            "branch": lambda: bc([("SUB", "a")], show, branch=1),
            "unclonable_direct": lambda: bc([("SUB", "a")], self.ctn(Sub).show(trio.Event())),
            "unclonable_tree": lambda: bc([("SUB", "a"), ("SUB", "b")], self.ctn(Sub).show(trio.Event()), on_result=self.ctn().failed(), direct_threshold=1),
        }  # fmt: skip
        return cases[case]()

    def failed(self, error: BaseException, target: tuple[str, object]) -> None:
        self._record("failed", error, target)

    def explode(self, error: BaseException, target: tuple[str, object]) -> None:
        raise RuntimeError(f"cannot handle {target}")

    def failed_marked(self, tag: str, error: BaseException, target: tuple[str, object]) -> None:
        assert tag == "tag"
        self._record("failed", error, target)

    def failed_keyword(self, target: tuple[str, object], *, error: BaseException) -> None:
        self._record("failed", error, target)

    def _record(self, tag: str, error: BaseException, target: tuple[str, object]) -> None:
        self.ctx.storage.kv.put("failures", self.ctx.storage.kv.get("failures", 0) + 1)
        try:
            context: CallContext | None = self.lmz.call_context
        except NoCallContextError:
            context = None
        if context is not None:
            context.state["touched"] = True  # each handler run has its own copy
        SEEN.append(
            (
                tag,
                (
                    type(error).__name__,
                    getattr(error, "who", None),
                    target,
                    None if context is None else names(context),
                    None if context is None else context.origin_auth,
                    None if context is None else dict(context.state),
                ),
            )
        )

    @mesh
    def failures(self) -> int:
        return self.ctx.storage.kv.get("failures", 0)

    @mesh
    def written(self) -> bool:
        return self.ctx.storage.kv.get("written", False)

    @mesh
    async def poke(self, binding: str, instance: str | None, token: str) -> object:
        """Call another node's return entry point, as any node could try."""
        return await self.lmz.call_raw(binding, instance, self.ctn().lmz_broadcast_result(token, 1, []))


class Caster(LumenizeWorker):
    """A worker broadcaster: its on_result runs on the very instance that broadcast."""

    @mesh
    def send(self, spec: list[Any], threshold: int) -> str:
        SEEN.append(("caster", id(self)))
        return self.svc.broadcast(  # type: ignore[operator,no-any-return]
            _targets(spec, self.env),
            self.ctn(Sub).show("w"),
            on_result=self.ctn().failed(),
            direct_threshold=threshold,
        )

    def failed(self, error: BaseException, target: tuple[str, object]) -> None:
        try:
            chain: list[str] | None = names(self.lmz.call_context)
        except NoCallContextError:
            chain = None
        SEEN.append(("caster_failed", (id(self), type(error).__name__, target, chain)))


BINDINGS = {"SUB": Sub, "SINK": Sink, "HUB": Hub, "CASTER": Caster}


def subs(*names_: str) -> list[list[object]]:
    return [["SUB", name] for name in names_]


def hop_class(m: Mesh) -> Any:
    return m.bindings[HOP_BINDING]


def client_context(state: dict[str, object] | None = None) -> CallContext:
    """A chain that a remote client started (what a gateway would build)."""
    return CallContext(
        (NodeIdentity("LumenizeClient", "LMZ_CLIENT", "alice.tab1"),), {"sub": "alice"}, dict(state or {})
    )


def hub_call(method: str, *args: object, **kwargs: object) -> tuple[Get | Apply, ...]:
    return chain_of(getattr(continuation(), method)(*args, **kwargs))


# -- the call site -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("remote", TypeError, "remote must be a continuation"),
        ("remote_empty", ChainError, "remote continuation records nothing"),
        ("on_result", TypeError, "on_result must be a continuation"),
        ("on_result_empty", ChainError, "on_result continuation records nothing"),
        ("on_result_not_call", ChainError, "on_result must end with a call"),
        ("on_result_too_many", ChainError, "MAX_ARGUMENTS"),
        ("not_iterable", TypeError, "iterable of .binding, instance. pairs, not int"),
        ("string", TypeError, "iterable of .binding, instance. pairs, not str"),
        ("empty", ValueError, "at least one target"),
        ("empty_generator", ValueError, "at least one target"),
        ("not_pair", TypeError, r"targets\[1\] must be a \(binding, instance\) pair, not 'SUB'"),
        ("triple", TypeError, r"targets\[0\] must be a \(binding, instance\) pair"),
        ("binding", UnknownBindingError, r"targets\[1\]: unknown binding 'NOPE'"),
        ("worker_instance", MeshCallError, r"targets\[0\]: 'SINK' is a worker binding"),
        ("actor_no_instance", MeshCallError, r"targets\[0\]: 'SUB' is an actor binding"),
        ("bad_name", InvalidActorIdError, r"targets\[0\]: an actor name must be a non-empty str"),
        ("foreign_id", InvalidActorIdError, r"targets\[0\]: .* is an id of 'HUB', not of 'SUB'"),
        ("threshold", ValueError, "direct_threshold must be at least 1, not 0"),
        ("threshold_type", TypeError, "direct_threshold must be an int, not bool"),
        ("threshold_inf", TypeError, "direct_threshold must be an int, not float"),
        ("branch", ValueError, "branch must be at least 2, not 1"),
        ("unclonable_direct", DataCloneError, "Event"),
        ("unclonable_tree", DataCloneError, "Event"),
    ],
)
async def test_broadcast_misuse_raises_at_the_call_site_and_sends_nothing(
    case: str, error: type[Exception], message: str
) -> None:
    async with open_mesh(BINDINGS) as m:
        with pytest.raises(error, match=message):
            await m.get("HUB", "h").misuse(case)
        await settle()
        assert seen("show") == []
        hop = m.bindings.get(HOP_BINDING)
        assert hop is None or len(hop.routes) == 0  # no route was left behind


async def test_broadcast_is_a_service_of_workers_too() -> None:
    async with open_mesh(BINDINGS) as m:
        worker = Caster(WorkerContext("CASTER"), m)
        assert "broadcast" in dir(worker.svc)
        assert isinstance(worker.svc.broadcast, _broadcast.Broadcast)
        assert repr(worker.svc.broadcast) == "<broadcast service of <lmz LumenizeWorker CASTER>>"


async def test_broadcast_returns_a_fresh_id_each_time() -> None:
    async with open_mesh(BINDINGS) as m:
        hub = m.get("HUB", "h")
        first = await hub.send(subs("a"))
        second = await hub.send(subs("a"), threshold=1)
        assert isinstance(first, str)
        assert len(first) == 32
        assert int(first, 16) >= 0
        assert first != second


# -- direct delivery -----------------------------------------------------------------------------


async def test_direct_broadcast_reaches_every_target_with_the_callers_context() -> None:
    """Up to the threshold every target is called directly: its chain is the caller's chain
    extended by the broadcaster, and origin_auth and state flow, as with lmz.call."""
    async with open_mesh(BINDINGS) as m:
        await m.call(m.target("HUB", "h"), hub_call("send", subs("a", "b", "c")), client_context({"room": 1}))
        await settle()
        shown = sorted(seen("show"))
        assert shown == [
            (name, "hi", ["LMZ_CLIENT/alice.tab1", "HUB/h"], {"sub": "alice"}, {"room": 1}) for name in "abc"
        ]


async def test_duplicate_targets_are_each_delivered() -> None:
    async with open_mesh(BINDINGS) as m:
        await m.get("HUB", "h").send(subs("a", "a"))
        await settle()
        assert [name for name, *_ in seen("show")] == ["a", "a"]


async def test_the_remote_continuation_may_nest_calls_that_run_on_the_target() -> None:
    """A nested continuation runs on each target (tree included), never on a hop."""
    async with open_mesh(BINDINGS) as m:
        await m.get("HUB", "h").send_nested(subs("a", "b", "c"))
        await settle()
        assert sorted(text for _, text, *_ in seen("show")) == ["nested:"] * 3


# -- on_result: errors only, the error and the target ------------------------------------------


@pytest.mark.parametrize("threshold", [100, 1], ids=["direct", "tree"])
@pytest.mark.parametrize("style", ["last", "marker", "keyword"])
async def test_on_result_gets_each_error_and_its_target(threshold: int, style: str) -> None:
    """Errors only: the error goes where RESULT is (or is appended), then the target as given."""
    async with open_mesh(BINDINGS) as m:
        hub = m.get("HUB", "h")
        await hub.send(subs("ok1", "bad1", "ok2", "bad2"), threshold=threshold, on_result=style)
        await settle()
        assert len(seen("show")) == 4
        failed = sorted(seen("failed"), key=lambda f: f[1])
        assert [(kind, who, target) for kind, who, target, *_ in failed] == [
            ("Gone", "bad1", ("SUB", "bad1")),
            ("Gone", "bad2", ("SUB", "bad2")),
        ]
        assert await hub.failures() == 2  # the handlers ran as turns of the hub, and committed


@pytest.mark.parametrize("threshold", [100, 1], ids=["direct", "tree"])
async def test_on_result_runs_in_the_broadcasters_context_with_its_own_state(threshold: int) -> None:
    """Like a reply handler: inside the call context the broadcaster had (a shallow copy of the
    state per run, so one run's changes are not seen by the next)."""
    async with open_mesh(BINDINGS) as m:
        await m.call(
            m.target("HUB", "h"),
            hub_call("send", subs("bad1", "bad2"), threshold=threshold),
            client_context({"room": 1}),
        )
        await settle()
        failed = seen("failed")
        assert len(failed) == 2
        for _kind, _who, _target, chain, auth, state in failed:
            assert chain == ["LMZ_CLIENT/alice.tab1"]
            assert auth == {"sub": "alice"}
            assert state == {"room": 1, "touched": True}


@pytest.mark.parametrize("threshold", [100, 1], ids=["direct", "tree"])
async def test_on_result_gets_the_target_object_as_given(threshold: int) -> None:
    """An actor addressed by an unnamed ActorId comes back as that id."""
    async with open_mesh(BINDINGS) as m:
        unnamed = m.namespace("SUB").new_unique_id()
        await m.get("HUB", "h").send(
            [["SUB", {"id": unnamed.hex}], ["SUB", "named"]], "boom", threshold=threshold
        )
        await settle()
        assert sorted(name for name, *_ in seen("show")) == sorted([unnamed.hex[:8], "named"])
        targets = [target for _, _, target, *_ in seen("failed")]
        assert len(targets) == 2
        assert ("SUB", "named") in targets
        [by_id] = [t for t in targets if t != ("SUB", "named")]
        assert by_id == ("SUB", unnamed)
        assert isinstance(by_id[1], ActorId)


@pytest.mark.parametrize("threshold", [100, 1], ids=["direct", "tree"])
async def test_failures_without_on_result_are_logged(
    threshold: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_mesh(BINDINGS) as m:
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            broadcast_id = await m.get("HUB", "h").send(
                subs("ok", "bad"), threshold=threshold, on_result=None
            )
            await settle()
    [record] = [r for r in caplog.records if "has no on_result" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert broadcast_id[:8] in record.getMessage()
    assert "unsubscribed" in record.getMessage()
    assert ("SUB/bad" if threshold == 100 else "targets[1]") in record.getMessage()


async def test_a_worker_target_fails_as_its_binding(caplog: pytest.LogCaptureFixture) -> None:
    async with open_mesh(BINDINGS) as m:
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            await m.get("HUB", "h").send_to_sink(True)
            await m.get("HUB", "h").send_to_sink(False)
            await settle()
        [(kind, who, target, *_)] = seen("failed")
        assert (kind, who, target) == ("Gone", "sink", ("SINK", None))
    assert any("to SINK failed and has no on_result" in r.getMessage() for r in caplog.records)


async def test_a_raising_on_result_is_logged_with_the_target(caplog: pytest.LogCaptureFixture) -> None:
    async with open_mesh(BINDINGS) as m:
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            broadcast_id = await m.get("HUB", "h").send(subs("bad"), on_result="explode")
            await settle()
    assert any(f"broadcast {broadcast_id[:8]} to SUB/bad raised" in r.getMessage() for r in caplog.records)


async def test_a_worker_can_broadcast_and_its_on_result_runs_on_the_same_instance() -> None:
    async with open_mesh(BINDINGS) as m:
        caster = m.get("CASTER")
        await caster.send(subs("bad1", "ok"), 100)
        await caster.send(subs("bad2", "ok", "ok"), 1)
        await settle()
        first, second = seen("caster")
        assert first != second  # a fresh worker instance per call
        failed = sorted(seen("caster_failed"), key=lambda f: f[2])
        # Each handler ran on the instance that broadcast; a stub call carries no context.
        assert failed == [(first, "Gone", ("SUB", "bad1"), None), (second, "Gone", ("SUB", "bad2"), None)]


# -- the tree ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "plan"),
    [(1, []), (100, []), (101, [6]), (600, [6]), (601, [6, 6]), (3600, [6, 36]), (10_000, [6, 36, 216])],
)
def test_hop_plan(count: int, plan: list[int]) -> None:
    assert hop_plan(count) == plan


def _walk(
    start: int, stop: int, threshold: int, branch: int, depth: int, out: dict[int, int], hops: list[int]
) -> None:
    """The tree as the hops build it: which depth each target ends at, and hops per level."""
    if stop - start <= threshold:
        for index in range(start, stop):
            out[index] = depth
        return
    bounds = split(stop - start, branch)
    while len(hops) <= depth:
        hops.append(0)
    hops[depth] += len(bounds)
    for lo, hi in bounds:
        _walk(start + lo, start + hi, threshold, branch, depth + 1, out, hops)


@given(st.integers(1, 5000), st.integers(1, 300), st.integers(2, 12))
def test_hop_plan_matches_the_tree_and_the_depth_rule(count: int, threshold: int, branch: int) -> None:
    """Every target is reached once; the deepest path is the smallest d with
    count <= threshold * branch**d (ceil(log_branch(count / threshold))); other paths are at most
    one hop shorter; hop_plan counts the hops of each level."""
    depths: dict[int, int] = {}
    hops: list[int] = []
    _walk(0, count, threshold, branch, 0, depths, hops)
    assert sorted(depths) == list(range(count))
    deepest = 0
    while count > threshold * branch**deepest:
        deepest += 1
    assert max(depths.values()) == deepest
    assert min(depths.values()) >= deepest - 1
    assert hop_plan(count, threshold, branch) == hops
    if count > threshold:
        assert deepest == math.ceil(math.log(count / threshold, branch) - 1e-9)


@given(st.integers(1, 10_000), st.integers(1, 50))
def test_split_makes_contiguous_groups_that_differ_by_at_most_one(count: int, parts: int) -> None:
    bounds = split(count, parts)
    assert len(bounds) == min(count, parts)
    assert bounds[0][0] == 0
    assert bounds[-1][1] == count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)


class Fanout(LumenizeDO):
    """Broadcasts to N copies of the SINK worker."""

    @mesh
    def go(self, count: int, threshold: int = 100) -> str:
        return self.svc.broadcast(  # type: ignore[operator,no-any-return]
            [("SINK", None)] * count, self.ctn(Sink).take(0), direct_threshold=threshold
        )


@pytest.mark.parametrize(("count", "depth", "hops"), [(1, 0, 0), (100, 0, 0), (101, 1, 6), (10_000, 3, 258)])
async def test_tree_depth_and_hop_count(
    count: int, depth: int, hops: int, caplog: pytest.LogCaptureFixture
) -> None:
    """N targets: each delivery crosses exactly ``depth`` hops (seen in its call chain), and
    ``hops`` hop workers run in all (6 + 36 + 216 for 10,000 targets)."""
    async with open_mesh({**BINDINGS, "FAN": Fanout}) as m:
        with caplog.at_level(logging.DEBUG, logger="lumenize_trio"):
            await m.get("FAN", "f").go(count)
            await settle()
        taken = seen("take")
        assert len(taken) == count
        assert {crossed for _, crossed in taken} == {depth}
        hop_runs = [r for r in caplog.records if "hop for targets" in r.getMessage()]
        assert len(hop_runs) == hops
        assert len([r for r in hop_runs if "(leaf)" in r.getMessage()]) == (
            hop_plan(count)[-1] if hops else 0
        )


async def test_tree_targets_see_the_hops_in_their_call_chain() -> None:
    """Hops appear in call_chain (one per hop, upstream's behaviour): the caller of a tree
    delivery is the LMZ_BROADCAST worker, and the broadcaster is right before the hops."""
    async with open_mesh(BINDINGS) as m:
        await m.call(
            m.target("HUB", "h"),
            hub_call("send", subs("a", "b", "c"), threshold=2),
            client_context({"k": "v"}),
        )
        await settle()
        shown = seen("show")
        assert len(shown) == 3
        for _name, _text, chain, auth, state in shown:
            assert chain == ["LMZ_CLIENT/alice.tab1", "HUB/h", HOP_BINDING]
            assert auth == {"sub": "alice"}
            assert state == {"k": "v"}


async def test_tree_errors_return_to_the_broadcaster_not_to_the_chain_origin() -> None:
    """The upstream bug: with a client as call_chain[0], a tree's failures must still reach the
    broadcasting actor's on_result (an explicit return address, not the chain's origin)."""
    async with open_mesh(BINDINGS) as m:
        spec = [["SUB", f"s{i}"] for i in range(40)] + [["SUB", "bad-last"]]
        await m.call(m.target("HUB", "h"), hub_call("send", spec, threshold=3, branch=2), client_context())
        await settle()
        assert len(seen("show")) == 41
        [(kind, who, target, chain, auth, _state)] = seen("failed")
        assert (kind, who, target) == ("Gone", "bad-last", ("SUB", "bad-last"))
        assert chain == ["LMZ_CLIENT/alice.tab1"]
        assert auth == {"sub": "alice"}
        assert len(hop_class(m).routes) == 0  # every delivery accounted for: the route is gone


async def test_tree_errors_return_to_a_broadcaster_known_only_by_its_id() -> None:
    """The return address of an actor without a name is its id."""
    async with open_mesh(BINDINGS) as m:
        hub_id = m.namespace("HUB").new_unique_id()
        await m.get("HUB", hub_id).send(subs("ok", "bad"), threshold=1)
        await settle()
        [(kind, who, target, *_)] = seen("failed")
        assert (kind, who, target) == ("Gone", "bad", ("SUB", "bad"))
        assert await m.get("HUB", hub_id).failures() == 1


async def test_the_hop_binding_is_registered_on_first_tree_broadcast() -> None:
    async with open_mesh(BINDINGS) as m:
        assert HOP_BINDING not in m.bindings
        await m.get("HUB", "h").send(subs("a", "b"), threshold=1)
        hop = hop_class(m)
        assert issubclass(hop, _broadcast.BroadcastHop)
        assert HOP_BINDING in m.workers
        await m.get("HUB", "h").send(subs("a", "b"), threshold=1)
        assert hop_class(m) is hop  # once per mesh
        await settle()
    async with open_mesh(BINDINGS) as other:
        await other.get("HUB", "h").send(subs("a", "b"), threshold=1)
        assert hop_class(other) is not hop  # each mesh has its own (and its own routes)
        assert hop_class(other).routes is not hop.routes
        await settle()


async def test_a_foreign_class_under_the_hop_binding_is_refused() -> None:
    async with open_mesh(BINDINGS) as m:
        m.add_worker_binding(HOP_BINDING, Sink)
        with pytest.raises(ServiceError, match="not the broadcast service's hop worker"):
            await m.get("HUB", "h").send(subs("a", "b"), threshold=1)


# -- the output gate -----------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [100, 1], ids=["direct", "tree"])
async def test_deliveries_wait_for_the_broadcasters_writes(threshold: int) -> None:
    """Sent from a turn that wrote: nothing leaves before the commit; a failed commit drops the
    deliveries and on_result hears of each target (ActorResetError)."""
    async with open_mesh(BINDINGS) as m:
        hub = m.get("HUB", "h")
        await hub.send(subs("a", "b"), threshold=threshold, write=True)
        await settle()
        assert len(seen("show")) == 2
        assert await hub.written()
        SEEN.clear()
        hub = m.get("HUB", "h2")
        m.fail_next_commit(m.target("HUB", "h2"), OSError("disk full"))  # type: ignore[arg-type]
        with pytest.raises(ActorResetError):
            await hub.send(subs("a", "b"), threshold=threshold, write=True)
        await settle()
        assert seen("show") == []
        failed = sorted(seen("failed"), key=lambda f: f[2])
        assert [(kind, target) for kind, _, target, *_ in failed] == [
            ("ActorResetError", ("SUB", "a")),
            ("ActorResetError", ("SUB", "b")),
        ]
        assert not await hub.written()


@pytest.mark.parametrize("threshold", [100, 1], ids=["direct", "tree"])
async def test_a_failed_commit_without_on_result_is_logged(
    threshold: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_mesh(BINDINGS) as m:
        m.fail_next_commit(m.target("HUB", "h"), OSError("disk full"))  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"), pytest.raises(ActorResetError):
            await m.get("HUB", "h").send(subs("a", "b"), threshold=threshold, write=True, on_result=None)
        await settle()
    undelivered = [r for r in caplog.records if "has no on_result" in r.getMessage()]
    assert len(undelivered) == 2  # two targets, or two one-target hops
    assert all("ActorResetError" in r.getMessage() for r in undelivered)


# -- routes: lifetime and bounds -----------------------------------------------------------------


async def test_a_route_outlives_a_slow_target_until_it_settles(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_mesh(BINDINGS) as m:
        EVENTS["late"] = trio.Event()
        await m.get("HUB", "h").send_hang(["a", "b"], True, 1)
        await settle()
        assert len(hop_class(m).routes) == 1
        await trio.sleep(ROUTE_TTL / 2)
        assert m.statistics().evictions == 1  # the idle hub was evicted meanwhile; its route was not
        EVENTS["late"].set()
        await settle()
        assert sorted(target for _, _, target, *_ in seen("failed")) == [("SUB", "a"), ("SUB", "b")]
        assert await m.get("HUB", "h").failures() == 2  # on_result ran on the hub's next activation
        assert len(hop_class(m).routes) == 0


async def test_a_route_expires_after_its_lifetime(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures that come back after ROUTE_TTL no longer reach on_result, and memory is freed."""
    async with open_mesh(BINDINGS, idle_timeout=10 * ROUTE_TTL) as m:
        EVENTS["late"] = trio.Event()
        with caplog.at_level(logging.WARNING, logger="lumenize_trio"):
            await m.get("HUB", "h").send_hang(["a", "b"], True, 1)
            await settle()
            await trio.sleep(ROUTE_TTL + 1)
            await settle()
            assert len(hop_class(m).routes) == 0
            EVENTS["late"].set()
            await settle()
        assert seen("failed") == []
    assert any("did not settle within" in r.getMessage() for r in caplog.records)


async def test_a_late_report_for_an_expired_route_is_dropped(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The broadcaster forgets the route before the hop gives up waiting: a report arriving in
    between finds nothing, and is dropped with a warning."""
    async with open_mesh(BINDINGS, idle_timeout=10 * ROUTE_TTL) as m:
        EVENTS["late"] = trio.Event()
        await m.get("HUB", "h").send_hang(["a", "b"], True, 1)
        await settle()
        routes = hop_class(m).routes
        [route] = list(routes._routes.values())
        route.expires = trio.current_time()  # as if it had been made ROUTE_TTL ago
        with caplog.at_level(logging.WARNING, logger="lumenize_trio"):
            EVENTS["late"].set()
            await settle()
        assert seen("failed") == []
        assert len(routes) == 0
    assert any("unknown or expired broadcast" in r.getMessage() for r in caplog.records)


async def test_the_route_table_is_bounded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_broadcast, "MAX_ROUTES", 2)
    async with open_mesh(BINDINGS) as m:
        EVENTS["late"] = trio.Event()
        hub = m.get("HUB", "h")
        with caplog.at_level(logging.WARNING, logger="lumenize_trio"):
            first = await hub.send_hang(["a", "b"], True, 1)
            await hub.send_hang(["c", "d"], True, 1)
            await hub.send_hang(["e", "f"], True, 1)
            assert len(hop_class(m).routes) == 2
            EVENTS["late"].set()
            await settle()
        # The oldest route was dropped: its failures are not delivered, the others' are.
        assert sorted(name for _, _, (_, name), *_ in seen("failed")) == ["c", "d", "e", "f"]
    assert any(first[:8] in r.getMessage() and "oldest" in r.getMessage() for r in caplog.records)


# -- the return path is not a way in -------------------------------------------------------------


async def test_the_return_entry_refuses_any_caller_but_the_hop_worker() -> None:
    async with open_mesh(BINDINGS) as m:
        with pytest.raises(NotMeshCallableError, match="only the LMZ_BROADCAST worker calls it"):
            await m.get("HUB", "attacker").poke("HUB", "victim", "guess")
        with pytest.raises(NoCallContextError):
            await m.get("HUB", "victim").lmz_broadcast_result("guess", 1, [])


async def test_the_return_entry_runs_only_what_the_token_names(caplog: pytest.LogCaptureFixture) -> None:
    """Even posing as the hop worker, a report with an unknown token, or with a real token sent
    to another node, runs nothing; a malformed report for a real route is refused."""
    async with open_mesh(BINDINGS) as m:
        EVENTS["late"] = trio.Event()
        await m.get("HUB", "victim").send_hang(["a", "b"], True, 1)
        await settle()
        [token] = list(hop_class(m).routes._routes)
        as_hop = CallContext((HOP_IDENTITY,))
        payload = clone.dumps(Gone("forged", "x"))
        with caplog.at_level(logging.WARNING, logger="lumenize_trio"):
            await m.call(
                m.target("HUB", "victim"),
                hub_call("lmz_broadcast_result", "guess", 1, [[0, payload]]),
                as_hop,
            )
            await m.call(
                m.target("HUB", "other"), hub_call("lmz_broadcast_result", token, 1, [[0, payload]]), as_hop
            )
            await m.call(
                m.target("HUB", "victim"), hub_call("lmz_broadcast_result", 12, 1, [[0, payload]]), as_hop
            )
        assert len([r for r in caplog.records if "unknown or expired" in r.getMessage()]) == 3
        for bad in ([[5, payload]], [[0, "not bytes"]], [0], "x"):
            with pytest.raises(MeshCallError, match="malformed broadcast report"):
                await m.call(
                    m.target("HUB", "victim"), hub_call("lmz_broadcast_result", token, 1, bad), as_hop
                )
        with pytest.raises(MeshCallError, match="malformed broadcast report"):
            await m.call(m.target("HUB", "victim"), hub_call("lmz_broadcast_result", token, -1, []), as_hop)
        await settle()
        assert seen("failed") == []
        EVENTS["late"].set()
        await settle()
        assert len(seen("failed")) == 2  # the real failures still arrive


def _job(
    targets: list[list[object]],
    /,
    *,
    token: object = None,
    reply: tuple[object, object] = (None, None),
    **overrides: object,
) -> tuple[Get | Apply, ...]:
    remote = clone.dumps(to_wire(chain_of(continuation().show("hostile"))))
    job: dict[str, object] = {
        "broadcast_id": "f" * 32,
        "first": 0,
        "targets": clone.dumps(targets),
        "remote": remote,
        "direct_threshold": 100,
        "branch": 6,
        "token": token,
        "reply_binding": reply[0],
        "reply_instance": reply[1],
    }
    job.update(overrides)
    return hub_call("lmz_broadcast_hop", *job.values())


@pytest.mark.parametrize(
    "overrides",
    [
        {"broadcast_id": 1},
        {"first": -1},
        {"targets": [["SUB", "a"]]},
        {"remote": "show"},
        {"direct_threshold": 0},
        {"branch": 1},
        {"token": 5},
        {"targets": b"\xff"},
        {"remote": clone.dumps("not a chain")},
        {"targets": clone.dumps([])},
        {"targets": clone.dumps({"a": 1})},
        {"token": "t", "reply_binding": "NOPE"},
        {"token": "t", "reply_binding": "SUB", "reply_instance": 3},
        {"token": "t", "reply_binding": 3},
    ],
)
async def test_the_hop_refuses_a_malformed_job(overrides: dict[str, object]) -> None:
    async with open_mesh(BINDINGS) as m:
        await m.get("HUB", "h").send(subs("a", "b"), threshold=1)  # registers the hop binding
        await settle()
        SEEN.clear()
        with pytest.raises(MeshCallError, match="malformed broadcast job"):
            await m.call(HOP_BINDING, _job([["SUB", "a"]], **overrides))
        await settle()
        assert seen("show") == []


async def test_anyone_may_use_a_hop_but_only_as_themselves(caplog: pytest.LogCaptureFixture) -> None:
    """A hop called directly sends what it is given with the caller's own chain, and its
    failure reports under a made-up token reach nothing."""
    async with open_mesh(BINDINGS) as m:
        await m.get("HUB", "h").send(subs("a", "b"), threshold=1)
        await settle()
        SEEN.clear()
        hub_id = m.target("HUB", "victim")
        assert isinstance(hub_id, ActorId)
        targets: list[list[object]] = [
            ["SUB", "x"],
            ["SUB", "bad"],
            ["NOPE", "y"],
            ["SUB", ""],
            ["SUB", b"\x00" * 32],
        ]
        with caplog.at_level(logging.WARNING, logger="lumenize_trio"):
            await m.call(
                HOP_BINDING,
                _job(targets, token="made-up", reply=("HUB", bytes.fromhex(hub_id.hex))),
                client_context(),
            )
            await settle()
        shown = seen("show")
        assert sorted(name for name, *_ in shown) == ["bad", "x"]  # the three bad targets were refused
        assert all(chain == ["LMZ_CLIENT/alice.tab1", HOP_BINDING] for _, _, chain, *_ in shown)
        assert seen("failed") == []
        assert any("unknown or expired" in r.getMessage() for r in caplog.records)


async def test_a_full_call_chain_fails_every_target_of_the_hop_and_is_still_reported() -> None:
    """The hops lengthen the chain; where it would exceed its limit nothing is sent, and every
    target of that hop is reported failed (the report itself goes on a fresh chain)."""
    async with open_mesh(BINDINGS) as m:
        long_chain = tuple(NodeIdentity("LumenizeDO", "SUB", f"n{i}") for i in range(63))
        context = CallContext(long_chain, None, {})
        await m.call(
            m.target("HUB", "h"), hub_call("send", subs("a", "b", "c"), threshold=1, branch=2), context
        )
        await settle()
        assert seen("show") == []
        failed = seen("failed")
        assert sorted(target for _, _, target, *_ in failed) == [("SUB", "a"), ("SUB", "b"), ("SUB", "c")]
        assert {kind for kind, *_ in failed} == {"ValueError"}


async def test_a_full_call_chain_without_on_result_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with open_mesh(BINDINGS) as m:
        long_chain = tuple(NodeIdentity("LumenizeDO", "SUB", f"n{i}") for i in range(63))
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            await m.call(
                m.target("HUB", "h"),
                hub_call("send", subs("a", "b", "c"), threshold=1, branch=2, on_result=None),
                CallContext(long_chain, None, {}),
            )
            await settle()
        assert seen("show") == []
    assert any("(a hop failed)" in r.getMessage() and "call chain" in r.getMessage() for r in caplog.records)


async def test_a_broadcast_from_a_full_chain_raises_at_once() -> None:
    async with open_mesh(BINDINGS) as m:
        long_chain = tuple(NodeIdentity("LumenizeDO", "SUB", f"n{i}") for i in range(64))
        with pytest.raises(ValueError, match="call chain is 64 nodes long"):
            await m.call(m.target("HUB", "h"), hub_call("send", subs("a")), CallContext(long_chain, None, {}))
        await settle()
        assert seen("show") == []


async def test_a_report_that_cannot_be_delivered_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A broadcaster that refuses the report (its on_before_call) loses those failures, loudly."""

    class Picky(Hub):
        def on_before_call(self) -> None:
            try:
                caller = self.lmz.call_context.caller
            except NoCallContextError:  # a stub call from the test
                return
            if caller == HOP_IDENTITY:
                raise PermissionError("no hops here")

    async with open_mesh({**BINDINGS, "PICKY": Picky}) as m:
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            await m.get("PICKY", "p").send(subs("bad"), threshold=1, branch=2)  # direct: no report
            await m.get("PICKY", "p").send(subs("bad", "bad2"), threshold=1, branch=2)
            await settle()
        assert len(seen("failed")) == 1  # the direct one
    assert any(
        "could not be reported" in r.getMessage() and "no hops here" in r.getMessage() for r in caplog.records
    )
