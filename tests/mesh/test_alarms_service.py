"""Tests for ``self.svc.alarms`` (``lumenize_trio.node._alarms_service``), under Trio's mock clock."""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings, strategies as st

from lumenize_trio import (
    RESULT,
    ActorResetError,
    AlarmInfo,
    ChainError,
    DataCloneError,
    LumenizeDO,
    LumenizeWorker,
    NoCallContextError,
    Schedule,
    ServiceError,
    clone,
    mesh,
    open_mesh,
)
from lumenize_trio.node._alarms_service import RUNNING_RECHECK, Alarms
from lumenize_trio.ocan import Apply, Get
from lumenize_trio.storage import SqlNotAllowedError, open_actor_storage
from lumenize_trio.storage._schedules import ScheduleRow

UTC = dt.UTC


@clone.register(name="tests.mesh.alarms.Point")
class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


class Planner(LumenizeDO):
    """Schedules ``hit(tag)`` calls and records every run in storage, with the mesh time."""

    @property
    def alarms(self) -> Alarms:
        service = self.svc.alarms
        assert isinstance(service, Alarms)
        return service

    def now(self) -> float:
        return self.env.clock.now()

    # -- what the tests call ------------------------------------------------------------------

    @mesh
    def plan(self, when: Any, tag: object = None, *, key: str | None = None) -> Schedule:
        return self.alarms.schedule(when, self.ctn().hit(tag), id=key)

    @mesh
    def plan_many(self, items: list[tuple[Any, object, str | None]]) -> list[Schedule]:
        return [self.alarms.schedule(when, self.ctn().hit(tag), id=key) for when, tag, key in items]

    @mesh
    def plan_ctn(self, when: Any, method: str, *args: object, key: str | None = None) -> Schedule:
        builder = getattr(self.ctn(), method)
        return self.alarms.schedule(when, builder(*args), id=key)

    @mesh
    def get(self, key: str) -> Schedule | None:
        return self.alarms.get(key)

    @mesh
    def list(self, **filters: Any) -> list[Schedule]:
        return self.alarms.list(**filters)

    @mesh
    def cancel(self, key: str) -> Schedule | None:
        return self.alarms.cancel(key)

    @mesh
    async def trigger(self, count: int | None = None) -> list[Schedule]:
        return await self.alarms.trigger(count)

    @mesh
    async def trigger_then_fail(self) -> None:
        self.ctx.storage.kv.put("before_trigger", True)
        await self.alarms.trigger(1)
        self.ctx.storage.kv.put("after_trigger", True)
        raise RuntimeError("the caller fails after trigger()")

    @mesh
    def native(self) -> float | None:
        return self.ctx.storage.get_alarm()

    @mesh
    def clock(self) -> float:
        return self.now()

    @mesh
    def hits(self) -> list[list[object]]:
        return self.ctx.storage.kv.get("hits", [])

    @mesh
    def kv(self, key: str) -> object:
        return self.ctx.storage.kv.get(key)

    @mesh
    def wipe(self) -> None:
        self.ctx.storage.delete_all()

    @mesh
    def user_sql(self, query: str) -> list[dict[str, object]]:
        return self.ctx.storage.sql.exec(query).to_list()

    @mesh
    def table_exists(self) -> bool:
        return self.ctx._activation.storage.schedules.exists()

    @mesh
    def put_raw(self, row: list[object]) -> None:
        storage = self.ctx._activation.storage
        storage.schedules.put(ScheduleRow(*row))  # type: ignore[arg-type]
        storage.set_alarm(self.now())

    @mesh
    def plan_then_fail(self, delay: float) -> None:
        self.alarms.schedule(delay, self.ctn().hit("rolled back"))
        raise RuntimeError("the turn fails after scheduling")

    @mesh
    def service_repr(self) -> str:
        return repr(self.alarms)

    @mesh
    def keep_service(self) -> None:
        KEPT.append(self.alarms)

    # -- handlers (not @mesh: alarms run locally) ---------------------------------------------

    def _record(self, tag: object) -> None:
        kv = self.ctx.storage.kv
        kv.put("hits", [*kv.get("hits", []), [tag, self.now()]])

    def hit(self, tag: object) -> None:
        self._record(tag)

    def fail(self, tag: object) -> None:
        self._record(tag)  # rolled back with the failure
        self.ctx.storage.kv.put("failed_write", True)
        raise RuntimeError(f"handler {tag} failed")

    async def slow_writer(self, tag: object, seconds: float) -> None:
        self._record([tag, "started"])
        await trio.sleep(seconds)
        self._record([tag, "done"])

    @mesh
    async def trigger_within(self, seconds: float) -> list[Schedule] | None:
        with trio.move_on_after(seconds):
            return await self.alarms.trigger(1)
        self.ctx.storage.kv.put("after_cancel", True)
        return None

    def call_then_fail(self, tag: object) -> None:
        self.lmz.call("SLOW", "s", self.ctn(Slow).wait(0))
        self._record(tag)  # rolled back
        raise RuntimeError("after a fire-and-forget call")

    async def slow(self, tag: object, seconds: float) -> None:
        await trio.sleep(seconds)  # not a mesh await: the gate stays shut
        self._record(tag)

    def whoami(self, tag: object) -> None:
        try:
            context = self.lmz.call_context
        except NoCallContextError:
            self._record([tag, "no context"])
        else:
            self._record([tag, [n.binding_name for n in context.call_chain]])

    async def ask_chain(self, tag: object) -> None:
        self._record([tag, await self.lmz.call_raw("SLOW", "s", self.ctn(Slow).chain())])

    def show(self, tag: object, *values: object) -> None:
        self._record([tag, list(values)])

    def stop_cron(self, tag: object) -> None:
        self._record(tag)
        self.alarms.cancel("cron")

    def replace_me(self, tag: object) -> None:
        self._record(tag)
        self.alarms.schedule(100, self.ctn().hit("replacement"), id="me")

    def wipe_all(self, tag: object) -> None:
        self.ctx.storage.delete_all()
        self._record(tag)

    def plan_more(self, tag: object) -> None:
        self._record(tag)
        self.alarms.schedule(0, self.ctn().hit("planned by a handler"))

    def cancel_sibling(self, tag: object) -> None:
        self._record(tag)
        self.alarms.cancel("sibling")

    async def nested_trigger(self, tag: object) -> None:
        self._record(tag)
        ran = await self.alarms.trigger()
        self._record(["nested ran", [s.id for s in ran]])

    # -- a handler that awaits mesh calls --------------------------------------------------------

    async def remote(self, tag: object, seconds: float, fail_after: bool = False, slow: str = "s") -> None:
        kv = self.ctx.storage.kv
        kv.put("before_await", kv.get("before_await", 0) + 1)
        self._record([tag, "before"])
        result = await self.lmz.call_raw("SLOW", slow, self.ctn(Slow).wait(seconds))
        self._record([tag, "after", result])
        kv.put("after_await", kv.get("after_await", 0) + 1)
        if fail_after:
            raise RuntimeError("failed after a mesh await")

    async def remote_swallowing(self, tag: object, seconds: float) -> None:
        self._record([tag, "before"])
        try:
            await self.lmz.call_raw("SLOW", "s", self.ctn(Slow).wait(seconds))
        except ActorResetError:
            return  # wrong, but it must not let the service write into the reset actor

    # -- the retry pattern (docs/alarms.md) ----------------------------------------------------

    def flaky(self, tag: str, attempt: int = 0) -> None:
        kv = self.ctx.storage.kv
        try:
            failures = kv.get("flaky_failures", 0)
            if failures:
                kv.put("flaky_failures", failures - 1)
                raise ConnectionError("the service is down")
            self._record([tag, "ok", attempt])
        except ConnectionError:
            self._record([tag, "failed", attempt])
            if attempt + 1 >= 4:
                self._record([tag, "gave up", attempt])
                return
            self.alarms.schedule(2 * 2**attempt, self.ctn().flaky(tag, attempt + 1), id=f"retry:{tag}")

    @mesh
    def set_failures(self, n: int) -> None:
        self.ctx.storage.kv.put("flaky_failures", n)


KEPT: list[Alarms] = []


class Slow(LumenizeDO):
    """The callee of mesh awaits: answers after *seconds* of (virtual) time, counting calls."""

    @mesh
    async def wait(self, seconds: float) -> str:
        kv = self.ctx.storage.kv
        kv.put("calls", kv.get("calls", 0) + 1)
        await trio.sleep(seconds)
        return f"waited {seconds}"

    @mesh
    def calls(self) -> int:
        return self.ctx.storage.kv.get("calls", 0)

    @mesh
    def chain(self) -> list[str]:
        return [node.binding_name for node in self.lmz.call_context.call_chain]


class Caller(LumenizeDO):
    """Calls Planner.trigger through the mesh, so that the call has a call context."""

    @mesh
    async def trigger_remotely(self, name: str) -> list[Schedule]:
        return await self.lmz.call_raw("P", name, self.ctn(Planner).trigger(1))


class Overrider(Planner):
    """Overrides on_alarm and calls super(), as the docs say."""

    async def on_alarm(self, info: AlarmInfo) -> None:
        self.ctx.storage.kv.put("own_on_alarm", info.retry_count)
        await super().on_alarm(info)


class Forgetful(Planner):
    """Overrides on_alarm without calling super(): its schedules never run."""

    def on_alarm(self, info: AlarmInfo) -> None:
        self.ctx.storage.kv.put("own_on_alarm", info.retry_count)


class Helper(LumenizeWorker):
    @mesh
    def alarms_of_a_worker(self) -> object:
        return self.svc.alarms


BINDINGS: dict[str, type] = {
    "P": Planner,
    "SLOW": Slow,
    "CALLER": Caller,
    "OVER": Overrider,
    "FORGET": Forgetful,
    "HELPER": Helper,
}


def tags(hits: list[list[object]]) -> list[object]:
    return [tag for tag, _ in hits]


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lumenize_trio"]


# -- scheduling by delay, datetime and cron -------------------------------------------------------


async def test_delay_fires_at_its_time_once_and_the_row_and_alarm_go(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        now = await p.clock()
        s = await p.plan(30, "a")
        assert isinstance(s, Schedule)
        assert (s.type, s.delay, s.cron) == ("delayed", 30.0, None)
        assert s.time == pytest.approx(now + 30, abs=1e-3)
        assert s.chain == (Get("hit"), Apply(("a",), {}))
        assert await p.native() == s.time
        assert await p.get(s.id) == s
        await trio.sleep(29)
        assert await p.hits() == []
        await trio.sleep(2)
        hits = await p.hits()
        assert tags(hits) == ["a"]
        assert s.time <= hits[0][1] < s.time + 1
        assert await p.get(s.id) is None
        assert await p.native() is None
        await trio.sleep(1000)
        assert len(await p.hits()) == 1


async def test_aware_datetime_and_past_datetime(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        now = await p.clock()
        at = dt.datetime.fromtimestamp(now + 3600, UTC).astimezone(dt.timezone(dt.timedelta(hours=5)))
        s = await p.plan(at, "later")
        assert (s.type, s.time, s.delay, s.cron) == ("scheduled", at.timestamp(), None, None)
        past = await p.plan(dt.datetime.fromtimestamp(now - 3600, UTC), "past")
        assert past.time < now
        # A due schedule arms the native alarm at its (past) time: it fires at once.
        await trio.sleep(0.001)
        assert tags(await p.hits()) == ["past"]
        await trio.sleep(3600)
        assert tags(await p.hits()) == ["past", "later"]


async def test_delay_zero_fires_at_once_not_at_the_next_wakeup(autojump_clock: Any) -> None:
    """The TypeScript original armed only future rows; here a due row arms the alarm too."""
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan(86400, "tomorrow")
        s = await p.plan(0, "now")
        assert await p.native() == s.time
        await trio.sleep(0.001)
        assert tags(await p.hits()) == ["now"]
        assert await p.native() == (await p.list())[0].time


async def test_cron_repeats_from_now_without_catching_up(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        s = await p.plan_ctn("*/5 * * * *", "slow", "tick", 1000, key="cron")
        assert (s.type, s.cron, s.delay) == ("cron", "*/5 * * * *", None)
        assert s.time % 300 == 0
        assert s.time > await p.clock()
        await trio.sleep(s.time - await p.clock() + 0.5)
        # The handler slept 1000 s (three 5-minute marks went by); the next run is the first
        # mark after it finished, and the missed ones are not caught up.
        hits = await p.hits()
        assert len(hits) == 1
        finished = hits[0][1]
        assert finished == pytest.approx(s.time + 1000, abs=1e-3)
        following = await p.get("cron")
        assert following.time == (finished // 300 + 1) * 300
        assert following.type == "cron"
        await trio.sleep(following.time - await p.clock() + 1000.5)
        assert len(await p.hits()) == 2


async def test_cron_runs_until_cancelled_and_survives_a_failing_run(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn("* * * * *", "fail", "boom", key="cron")
        await trio.sleep(125)
        # It raised twice; a cron row is advanced, never removed, by a failure.
        assert await p.hits() == []
        assert (await p.get("cron")).time > await p.clock()
        await p.plan_ctn("* * * * *", "stop_cron", "last", key="cron")
        await trio.sleep(61)
        assert tags(await p.hits()) == ["last"]
        assert await p.get("cron") is None
        assert await p.native() is None


@pytest.mark.parametrize(
    "expression", ["not cron", "61 * * * *", "* * * *", "", "* * * * * * * *", "@sometimes"]
)
async def test_invalid_cron_raises_at_schedule_time_naming_it(expression: str) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        with pytest.raises(ValueError, match="is not a usable cron expression") as info:
            await p.plan(expression, "x")
        assert repr(expression) in str(info.value)
        assert await p.list() == []
        assert await p.native() is None


@pytest.mark.parametrize(
    ("when", "error", "match"),
    [
        (-1, ValueError, "finite and not negative, not -1"),
        (-0.5, ValueError, "not negative"),
        (math.nan, ValueError, "not nan"),
        (math.inf, ValueError, "not inf"),
        (10**400, ValueError, "too large"),
        (True, TypeError, "not a bool"),
        (None, TypeError, "not NoneType"),
        ([1], TypeError, "not list"),
        (dt.date(2030, 1, 1), TypeError, "not date"),
        (dt.timedelta(seconds=5), TypeError, "not timedelta"),
        (dt.datetime(2030, 1, 1), ValueError, "naive"),
    ],
)
async def test_bad_when_is_refused(when: object, error: type[Exception], match: str) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        with pytest.raises(error, match=match):
            await p.plan(when, "x")
        assert await p.list() == []
        assert not await p.table_exists()


async def test_bad_continuations_and_ids_are_refused() -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        with pytest.raises(AttributeError, match="Planner has no method 'nope' to schedule"):
            await p.plan_ctn(1, "nope")
        with pytest.raises(ChainError, match="RESULT was never filled in"):
            await p.plan_ctn(1, "hit", RESULT)
        with pytest.raises(DataCloneError):
            await p.plan_ctn(1, "hit", object())
        for bad_id, error, match in [
            (42, TypeError, "a schedule id must be a str, not int"),
            ("", ValueError, "must not be empty"),
            ("x" * 2049, ValueError, "at most 2048 UTF-8 bytes; this one is 2049"),
            ("\ud800", ValueError, "not valid Unicode"),
        ]:
            with pytest.raises(error, match=match):
                await p.plan(1, "x", key=bad_id)
        assert await p.list() == []


async def test_schedule_needs_a_continuation_ending_with_a_call() -> None:
    class Direct(LumenizeDO):
        @mesh
        def try_it(self, what: str) -> str:
            alarms = self.svc.alarms
            assert isinstance(alarms, Alarms)
            values: dict[str, object] = {
                "not a continuation": "hit",
                "empty": self.ctn(),
                "no call": self.ctn().hit,
            }
            try:
                alarms.schedule(1, values[what])
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
            return "accepted"  # pragma: no cover - the test fails if reached

        def hit(self) -> None:
            pass  # pragma: no cover - never scheduled

    async with open_mesh({"D": Direct}) as m:
        d = m.get("D", "d")
        assert await d.try_it("not a continuation") == (
            "TypeError: schedule() takes a continuation like self.ctn().method(args), not str"
        )
        assert (await d.try_it("empty")).startswith("ChainError: the continuation must end with a call")
        assert (await d.try_it("no call")).startswith("ChainError: the continuation must end with a call")


async def test_arguments_are_cloned_at_schedule_time(autojump_clock: Any) -> None:
    class Mutator(Planner):
        @mesh
        def plan_and_mutate(self) -> None:
            items = [1, 2]
            self.alarms.schedule(1, self.ctn().show("mutated", items))
            items.append(3)

    rich = {
        "when": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        "set": {1, 2},
        "bytes": b"\x00\xff",
        "point": Point(1, 2),
        "big": 2**100,
        "nan": math.inf,
    }
    async with open_mesh({"M": Mutator}) as m:
        p = m.get("M", "m")
        await p.plan_and_mutate()
        s = await p.plan_ctn(2, "show", "rich", rich, (1, "two"))
        assert s.chain[-1].args == ("rich", rich, (1, "two"))
        await trio.sleep(3)
        hits = await p.hits()
        assert tags(hits) == [["mutated", [[1, 2]]], ["rich", [rich, (1, "two")]]]


async def test_schedule_values_cross_the_wire(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        s = await m.get("P", "p").plan(5, {"nested": [1, 2]}, key="x")
        assert s == clone.loads(clone.dumps(s))
        assert type(s) is Schedule
        with pytest.raises(AttributeError):
            s.time = 0  # type: ignore[misc]


# -- ordering, ids, replacement -------------------------------------------------------------------


async def test_ties_fire_in_scheduling_order(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        at = dt.datetime.fromtimestamp(await p.clock() + 50, UTC)
        schedules = await p.plan_many([(at, i, None) for i in range(20)])
        assert len({s.time for s in schedules}) == 1
        await p.plan_many([(at, i, None) for i in range(20, 25)])  # a later turn, same time
        await trio.sleep(60)
        assert tags(await p.hits()) == list(range(25))


async def test_many_due_at_once_run_in_one_go(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_many([(5, i, None) for i in range(150)])
        await trio.sleep(6)
        assert tags(await p.hits()) == list(range(150))
        assert await p.list() == []


async def test_rescheduling_an_id_replaces_it(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        first = await p.plan(10, "first", key="job")
        second = await p.plan(20, "second", key="job")
        assert second.id == first.id == "job"
        assert await p.get("job") == second
        assert [s.id for s in await p.list()] == ["job"]
        assert await p.native() == second.time
        await trio.sleep(30)
        assert tags(await p.hits()) == ["second"]


async def test_a_replaced_tie_moves_to_the_back(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        at = dt.datetime.fromtimestamp(await p.clock() + 10, UTC)
        await p.plan_many([(at, "a", "a"), (at, "b", "b"), (at, "a again", "a")])
        await trio.sleep(11)
        assert tags(await p.hits()) == ["b", "a again"]


async def test_default_ids_are_unique_strings() -> None:
    async with open_mesh(BINDINGS) as m:
        schedules = await m.get("P", "p").plan_many([(3600, i, None) for i in range(500)])
        ids = [s.id for s in schedules]
        assert all(isinstance(i, str) and i for i in ids)
        assert len(set(ids)) == 500


# -- get, list, cancel ----------------------------------------------------------------------------


async def test_list_filters_by_type_and_time(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        now = await p.clock()
        d10 = await p.plan(10, "d10", key="d10")
        d30 = await p.plan(30, "d30", key="d30")
        at = await p.plan(dt.datetime.fromtimestamp(now + 20, UTC), "at", key="at")
        cron = await p.plan("0 0 1 1 *", "cron", key="cron")
        assert await p.list() == [d10, at, d30, cron]
        assert await p.list(type="delayed") == [d10, d30]
        assert await p.list(type="scheduled") == [at]
        assert await p.list(type="cron") == [cron]
        assert await p.list(start=d30.time) == [d30, cron]
        assert await p.list(end=at.time) == [d10, at]
        assert await p.list(start=d10.time + 1, end=d30.time) == [at, d30]
        window = (dt.datetime.fromtimestamp(now + 15, UTC), dt.datetime.fromtimestamp(now + 25, UTC))
        assert await p.list(start=window[0], end=window[1]) == [at]
        assert await p.list(type="delayed", start=now + 15) == [d30]
        assert await p.list(start=math.inf) == []
        for filters, error, match in [
            ({"type": "weekly"}, ValueError, "takes one of delayed, scheduled, cron, not 'weekly'"),
            (
                {"start": "soon"},
                TypeError,
                r"list\(start=...\) takes epoch seconds or an aware datetime, not str",
            ),
            ({"end": True}, TypeError, r"list\(end=...\)"),
            ({"start": math.nan}, ValueError, "must not be NaN"),
            ({"end": dt.datetime(2030, 1, 1)}, ValueError, "naive"),
        ]:
            with pytest.raises(error, match=match):
                await p.list(**filters)


async def test_get_and_list_before_anything_was_scheduled() -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        assert await p.get("nothing") is None
        assert await p.list() == []
        assert await p.cancel("nothing") is None
        assert await p.trigger() == []
        assert await p.trigger(5) == []
        assert not await p.table_exists()  # reading never creates the table
        with pytest.raises(TypeError, match="must be a str, not NoneType"):
            await p.get(None)
        with pytest.raises(TypeError, match="must be a str"):
            await p.cancel(1)


async def test_cancel_returns_the_schedule_and_rearms(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        first = await p.plan(10, "first", key="first")
        second = await p.plan(20, "second", key="second")
        assert await p.native() == first.time
        assert await p.cancel("first") == first
        assert await p.cancel("first") is None
        assert await p.native() == second.time
        assert await p.cancel("second") == second
        assert await p.native() is None
        await trio.sleep(30)
        assert await p.hits() == []


# -- trigger --------------------------------------------------------------------------------------


async def test_trigger_runs_the_earliest_even_if_not_due(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        a = await p.plan(60, "a")
        b = await p.plan(120, "b")
        c = await p.plan(180, "c")
        assert await p.trigger() == []  # nothing is due
        assert await p.trigger(0) == []
        assert await p.trigger(2) == [a, b]
        assert tags(await p.hits()) == ["a", "b"]
        assert await p.list() == [c]
        assert await p.native() == c.time
        assert await p.trigger(10) == [c]
        assert await p.native() is None


async def test_trigger_without_count_runs_what_is_due(autojump_clock: Any) -> None:
    class Blocked(Planner):
        def on_alarm(self, info: AlarmInfo) -> None:
            pass  # schedules run only when the test triggers them

    async with open_mesh({"B": Blocked}) as m:
        p = m.get("B", "b")
        a = await p.plan(1, "a")
        b = await p.plan(2, "b")
        await p.plan(100, "c")
        await trio.sleep(5)
        assert await p.hits() == []
        ran = await p.trigger()
        assert ran == [a, b]
        assert tags(await p.hits()) == ["a", "b"]


@pytest.mark.parametrize(
    ("count", "error", "match"),
    [
        (-1, ValueError, "must not be negative, got -1"),
        (1.0, TypeError, "not float"),
        (True, TypeError, "not bool"),
    ],
)
async def test_trigger_count_is_checked(count: object, error: type[Exception], match: str) -> None:
    async with open_mesh(BINDINGS) as m:
        with pytest.raises(error, match=match):
            await m.get("P", "p").trigger(count)


async def test_a_cancelled_trigger_undoes_the_unfinished_handler(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan(3600, "first")
        s = await p.plan_ctn(3601, "slow_writer", "slow", 100)
        assert [x.chain[-1].args for x in await p.trigger(1)] == [("first",)]
        assert await p.trigger_within(5) is None  # cancelled inside the slow handler
        assert await p.kv("after_cancel") is True
        assert tags(await p.hits()) == ["first"]  # its "started" write was rolled back
        assert await p.list() == [s]  # and it is still there
        assert await p.trigger_within(500) == [s]
        assert tags(await p.hits()) == ["first", ["slow", "started"], ["slow", "done"]]


async def test_trigger_outside_a_turn_is_refused() -> None:
    KEPT.clear()
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.keep_service()
        with pytest.raises(ServiceError, match="only inside one of this actor's turns"):
            await KEPT[0].trigger()
        assert await p.service_repr() == "<svc.alarms of P/p>"
    KEPT.clear()


async def test_trigger_splits_the_calling_turn(autojump_clock: Any) -> None:
    """Writes made before trigger() stay even if the caller raises afterwards (documented)."""
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan(500, "a")
        await p.plan(1000, "b")
        with pytest.raises(RuntimeError, match="fails after trigger"):
            await p.trigger_then_fail()
        assert await p.kv("before_trigger") is True
        assert await p.kv("after_trigger") is None
        assert tags(await p.hits()) == ["a"]


async def test_schedules_made_during_a_run_wait_for_the_next_run(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(0, "plan_more", "first")
        await trio.sleep(0.001)
        assert tags(await p.hits()) == ["first", "planned by a handler"]


async def test_a_handler_that_triggers_does_not_rerun_itself(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(10, "nested_trigger", "outer", key="outer")
        await p.plan(10, "sibling", key="sibling")
        await trio.sleep(11)
        assert tags(await p.hits()) == ["outer", "sibling", ["nested ran", ["sibling"]]]
        assert await p.list() == []


async def test_a_handler_cancelling_a_sibling_due_with_it_stops_the_sibling(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_many([(10, "before", None)])
        await p.plan_ctn(10, "cancel_sibling", "canceller")
        await p.plan(10, "sibling", key="sibling")
        await p.plan(10, "after")
        await trio.sleep(11)
        assert tags(await p.hits()) == ["before", "canceller", "after"]


async def test_trigger_runs_a_cron_row_once_per_call(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        cron = await p.plan("0 * * * *", "hourly", key="cron")
        later = await p.plan(7200, "later")
        assert await p.trigger(5) == [cron, later]
        assert tags(await p.hits()) == ["hourly", "later"]
        assert (await p.get("cron")).time >= cron.time


async def test_two_due_rows_awaiting_mesh_calls_each_run_once(autojump_clock: Any) -> None:
    """The second row starts in another turn while the first awaits; when the first turn goes
    on, it skips the row the other turn is running (it had read both in advance)."""
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        start = await p.clock()
        at = dt.datetime.fromtimestamp(start + 5, UTC)
        await p.plan_ctn(at, "remote", "short", 10, False, "s1")
        await p.plan_ctn(at, "remote", "long", 100, False, "s2")
        await trio.sleep(200)
        hits = await p.hits()
        assert [[tag, round(when - start)] for tag, when in hits] == [
            [["short", "before"], 5],
            [["long", "before"], 5],
            [["short", "after", "waited 10"], 15],
            [["long", "after", "waited 100"], 105],
        ]
        assert [await m.get("SLOW", name).calls() for name in ("s1", "s2")] == [1, 1]
        assert await p.list() == []


# -- failures -------------------------------------------------------------------------------------


async def test_a_raising_handler_is_logged_removed_and_rolled_back_alone(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="lumenize_trio")
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan(10, "before")
        bad = await p.plan_ctn(10, "fail", "bad", key="bad")
        await p.plan(10, "after")
        await trio.sleep(11)
        assert tags(await p.hits()) == ["before", "after"]
        assert await p.kv("failed_write") is None
        assert await p.get(bad.id) is None
        assert await p.list() == []
    failures = [r for r in caplog.records if "the handler of schedule 'bad' raised" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert failures[0].exc_info is not None
    assert "handler bad failed" in str(failures[0].exc_info[1])
    assert "alarms of P/p" in failures[0].getMessage()


async def test_a_call_made_before_a_handler_raised_is_still_sent(autojump_clock: Any) -> None:
    """As in any turn: rolling back a handler's writes does not take back its outputs."""
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(1, "call_then_fail", "x")
        await trio.sleep(5)
        assert await p.hits() == []
        assert await m.get("SLOW", "s").calls() == 1


async def test_a_row_whose_chain_cannot_be_read_is_logged_and_removed(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        now = await p.clock()
        await p.plan(5, "fine")
        await p.put_raw([1000, "junk", now, "delayed", b"\xff\x00junk", None, 0.0])
        await trio.sleep(6)
        assert tags(await p.hits()) == ["fine"]
        assert await p.list() == []
    assert any("could not read the chain of schedule 'junk'" in text for text in messages(caplog))


async def test_a_cron_row_with_no_next_time_is_removed(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        good = await p.plan(1, "template")
        await p.put_raw(
            [
                500,
                "odd",
                await p.clock(),
                "cron",
                clone.dumps([["get", "hit"], ["apply", ["odd"], {}]]),
                "bad cron",
                None,
            ]
        )
        await p.cancel(good.id)
        await trio.sleep(1)
        assert tags(await p.hits()) == ["odd"]
        assert await p.list() == []
    assert any("cron schedule 'odd' has no next time" in text for text in messages(caplog))


async def test_the_retry_pattern_backs_off_and_gives_up(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.set_failures(2)
        start = await p.clock()
        await p.plan_ctn(1, "flaky", "job")
        await trio.sleep(60)
        hits = await p.hits()
        assert [tag for tag, _ in hits] == [["job", "failed", 0], ["job", "failed", 1], ["job", "ok", 2]]
        offsets = [round(at - start, 3) for _, at in hits]
        assert offsets == [1, 1 + 2, 1 + 2 + 4]
        assert await p.list() == []

        await p.set_failures(10)
        await p.plan_ctn(1, "flaky", "doomed")
        await trio.sleep(100)
        doomed = [tag for tag, _ in (await p.hits())[3:]]
        assert doomed == [
            ["doomed", "failed", 0],
            ["doomed", "failed", 1],
            ["doomed", "failed", 2],
            ["doomed", "failed", 3],
            ["doomed", "gave up", 3],
        ]
        assert await p.list() == []


async def test_a_handler_replacing_its_own_id_keeps_the_replacement(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(1, "replace_me", "original", key="me")
        await trio.sleep(2)
        replacement = await p.get("me")
        assert replacement is not None
        assert replacement.chain[-1].args == ("replacement",)
        await trio.sleep(100)
        assert tags(await p.hits()) == ["original", "replacement"]


async def test_a_handler_calling_delete_all_removes_every_schedule(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(1, "wipe_all", "wiper")
        await p.plan(1, "same time, later")
        await p.plan(50, "later")
        await trio.sleep(100)
        assert tags(await p.hits()) == ["wiper"]
        assert await p.list() == []
        assert await p.native() is None


# -- context, async handlers, the gate ------------------------------------------------------------


async def test_handlers_run_with_no_call_context(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(1, "whoami", "by alarm")
        await p.plan_ctn(3600, "whoami", "by trigger")
        await trio.sleep(2)
        # trigger() from inside a mesh call (which has a context): the handler still has none.
        ran = await m.get("CALLER", "c").trigger_remotely("p")
        assert [s.chain[-1].args for s in ran] == [("by trigger",)]
        assert tags(await p.hits()) == [["by alarm", "no context"], ["by trigger", "no context"]]
        # Calls a handler makes start a fresh chain, with the actor as origin.
        await p.plan_ctn(3600, "ask_chain", "chain")
        await m.get("CALLER", "c").trigger_remotely("p")
        assert tags(await p.hits())[-1] == ["chain", ["P"]]


async def test_async_handlers_and_non_mesh_awaits_keep_the_gate(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        s = await p.plan_ctn(1, "slow", "slow", 100)
        await trio.sleep(1.5)
        # The handler sleeps (not a mesh await): this call waits for it.
        assert tags(await p.hits()) == ["slow"]
        assert await p.clock() >= s.time + 100


async def test_a_handler_awaiting_a_mesh_call_opens_the_gate(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        s = await p.plan_ctn(1, "remote", "r", 1000, key="r")
        await p.plan(5, "due during the await")
        await trio.sleep(10)
        # The handler is awaiting SLOW: other turns run, the row is still there (it is removed
        # only with the handler's last writes), and a schedule due meanwhile already ran.
        assert tags(await p.hits()) == [["r", "before"], "due during the await"]
        assert await p.kv("before_await") == 1  # committed before the call left
        assert await p.get("r") == s
        # While it runs, the native alarm is kept no later than RUNNING_RECHECK ahead...
        native = await p.native()
        assert native is not None
        assert native <= await p.clock() + RUNNING_RECHECK
        # ...and those rechecks never run the handler twice.
        await trio.sleep(500)
        assert await m.get("SLOW", "s").calls() == 1
        await trio.sleep(600)
        assert tags(await p.hits()) == [
            ["r", "before"],
            "due during the await",
            ["r", "after", "waited 1000"],
        ]
        assert (await p.kv("before_await"), await p.kv("after_await")) == (1, 1)
        assert await p.list() == []
        assert await p.native() is None


async def test_a_handler_raising_after_a_mesh_await_keeps_only_what_was_committed(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(1, "remote", "r", 10, True)
        await trio.sleep(20)
        # Writes before the await were committed when the call left; those after it rolled back.
        assert (await p.kv("before_await"), await p.kv("after_await")) == (1, None)
        assert tags(await p.hits()) == [["r", "before"]]
        assert await p.list() == []
    assert any("the handler of schedule" in text for text in messages(caplog))


@pytest.mark.parametrize("handler", ["remote", "remote_swallowing"])
async def test_an_actor_reset_under_an_awaiting_handler_stops_it(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture, handler: str
) -> None:
    """A commit failure resets the actor while the handler awaits: the service writes nothing
    more for that run (not even if the handler swallows the error), and the row runs again."""
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(1, handler, "r", 100, key="r")
        await trio.sleep(10)
        m.fail_next_commit(p, OSError("disk full"))
        with pytest.raises(ActorResetError):
            await p.plan(5000, "lost with the failed commit")
        await trio.sleep(300)
        hits = tags(await p.hits())
        assert hits[:2] == [["r", "before"], ["r", "before"]]  # it ran again, from the start
        assert await p.get("r") is None
        assert [s.chain[-1].args for s in await p.list()] == []
    assert any("reset" in text for text in messages(caplog))


async def test_cancelling_a_running_schedule_leaves_the_handler_running(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        s = await p.plan_ctn(1, "remote", "r", 100, key="r")
        await trio.sleep(10)
        assert await p.cancel("r") == s
        await trio.sleep(100)
        assert tags(await p.hits()) == [["r", "before"], ["r", "after", "waited 100"]]
        assert await p.list() == []


async def test_trigger_skips_a_schedule_whose_handler_is_running(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan_ctn(1, "remote", "r", 100, key="r")
        later = await p.plan(3600, "later")
        await trio.sleep(10)
        assert await p.trigger(5) == [later]
        await trio.sleep(100)
        assert await m.get("SLOW", "s").calls() == 1


# -- on_alarm ---------------------------------------------------------------------------------------


async def test_an_override_that_calls_super_still_runs_schedules(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        o = m.get("OVER", "o")
        await o.plan(1, "a")
        await trio.sleep(2)
        assert tags(await o.hits()) == ["a"]
        assert await o.kv("own_on_alarm") == 0


async def test_an_override_without_super_runs_no_schedules(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        f = m.get("FORGET", "f")
        await f.plan(1, "a")
        await trio.sleep(2)
        assert await f.hits() == []
        assert await f.kv("own_on_alarm") == 0
        assert len(await f.list()) == 1


async def test_a_native_alarm_with_no_schedules_is_dropped_quietly(autojump_clock: Any) -> None:
    class Plain(LumenizeDO):
        @mesh
        def arm(self) -> None:
            self.ctx.storage.set_alarm(self.env.clock.now() + 1)

        @mesh
        def state(self) -> tuple[float | None, bool]:
            return self.ctx.storage.get_alarm(), self.ctx._activation.storage.schedules.exists()

    async with open_mesh({"PLAIN": Plain}) as m:
        plain = m.get("PLAIN", "x")
        await plain.arm()
        await trio.sleep(2)
        assert await plain.state() == (None, False)


async def test_on_alarm_with_a_replaced_alarms_service_warns(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Plain(LumenizeDO):
        @mesh
        def arm(self) -> None:
            self.ctx.storage.set_alarm(self.env.clock.now() + 1)

    async with open_mesh({"PLAIN": Plain}, services={"alarms": lambda node: "mine"}) as m:
        await m.get("PLAIN", "x").arm()
        await trio.sleep(2)
    assert any("svc.alarms is 'str', not the built-in service" in text for text in messages(caplog))


async def test_workers_have_no_alarms() -> None:
    async with open_mesh(BINDINGS) as m:
        with pytest.raises(ServiceError, match="'alarms' service is not available to a LumenizeWorker"):
            await m.get("HELPER").alarms_of_a_worker()


# -- storage: the reserved table, delete_all, rollbacks ---------------------------------------------


async def test_the_table_is_made_on_first_use_and_is_reserved(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        assert not await p.table_exists()
        with pytest.raises(RuntimeError, match="fails after scheduling"):
            await p.plan_then_fail(5)
        assert not await p.table_exists()  # the CREATE rolled back with the turn
        await p.plan(5, "kept")
        assert await p.table_exists()
        # User SQL still works once the table exists, and cannot reach it.
        assert await p.user_sql("SELECT 1 AS one") == [{"one": 1}]
        await p.user_sql("CREATE TABLE mine (x)")
        for query in (
            "SELECT * FROM __lmz_alarms",
            "DELETE FROM __lmz_alarms",
            "DROP INDEX __lmz_alarms_time",
        ):
            with pytest.raises(SqlNotAllowedError, match="reserved"):
                await p.user_sql(query)
        await trio.sleep(6)
        assert tags(await p.hits()) == ["kept"]


async def test_delete_all_removes_schedules_and_the_alarm(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan(5, "gone")
        await p.plan("* * * * *", "gone too")
        await p.wipe()
        assert await p.list() == []
        assert await p.native() is None
        await trio.sleep(120)
        assert await p.hits() == []
        await p.plan(5, "new")  # the table is still there, and usable
        await trio.sleep(6)
        assert tags(await p.hits()) == ["new"]


def test_schedule_table_without_a_mesh() -> None:
    """The storage API on its own: rows, ordering, rollbacks forgetting the table."""
    with open_actor_storage(None) as storage:
        table = storage.schedules
        assert repr(table) == "<lumenize_trio.storage.ScheduleTable>"
        assert not table.exists()
        assert (table.max_seq(), table.earliest_time(), table.delete(1), table.set_time(1, 0)) == (
            0,
            None,
            False,
            False,
        )
        storage.begin_turn()
        table.put(ScheduleRow(1, "a", 10.0, "delayed", b"x", None, 1.0))
        storage.end_turn(False)
        assert not table.exists()  # rolled back, and the flag forgot it
        storage.begin_turn()
        table.put(ScheduleRow(2, "b", 5.0, "scheduled", b"y", None, None))
        table.put(ScheduleRow(3, "c", 5.0, "cron", b"z", "* * * * *", None))
        storage.end_turn(True)
        storage.commit()
        assert [r.id for r in table.select()] == ["b", "c"]
        assert table.earliest_time(skip={2}) == 5.0
        assert table.earliest_time(skip={2, 3}) is None
        assert table.set_time(2, 7.0)
        assert [r.id for r in table.first(10, max_seq=3, due_by=6.0)] == ["c"]
        assert not table.delete(99)
        assert table.max_seq() == 3
        storage.rollback()
        assert table.exists()  # re-read after the rollback forgot it
        assert table.get("b") == ScheduleRow(2, "b", 5.0, "scheduled", b"y", None, None)


async def test_a_failed_commit_of_a_run_fires_again_in_the_same_process(autojump_clock: Any) -> None:
    async with open_mesh(BINDINGS) as m:
        p = m.get("P", "p")
        await p.plan(10, "a")
        m.fail_next_commit(p, OSError("disk full"))
        await trio.sleep(3600)
        assert tags(await p.hits()) == ["a"]


# -- restarts and crashes ---------------------------------------------------------------------------


async def test_schedules_fire_after_a_restart(autojump_clock: Any, tmp_path: Any) -> None:
    async with open_mesh(BINDINGS, data_dir=tmp_path) as m:
        p = m.get("P", "p")
        planned = [
            await p.plan(30, "delayed"),
            await p.plan("* * * * *", "cron", key="cron"),
            await p.plan(dt.datetime.fromtimestamp(await p.clock() + 45, UTC), "datetime"),
        ]
    async with open_mesh(BINDINGS, data_dir=tmp_path) as m:
        p = m.get("P", "p")
        # Mesh time starts again from the wall clock; sleep past the schedules.
        await trio.sleep(max(s.time for s in planned) - await p.clock() + 1)
        assert sorted(tags(await p.hits()), key=str) == ["cron", "datetime", "delayed"]
        assert [s.id for s in await p.list()] == ["cron"]


async def test_a_run_cut_short_by_a_crash_runs_again(autojump_clock: Any, tmp_path: Any) -> None:
    """At least once: nothing of a handler's turn commits before it ends, so it runs again."""
    async with open_mesh(BINDINGS, data_dir=tmp_path) as m:
        p = m.get("P", "p")
        await p.plan(1, "quick")
        await p.plan_ctn(1, "slow", "cut short", 1000)
        await trio.sleep(10)  # both handlers ran or run in one turn; the slow one is sleeping
    async with open_mesh(BINDINGS, data_dir=tmp_path) as m:
        p = m.get("P", "p")
        await trio.sleep(1001)
        # Neither removal had committed: both ran again, and each recorded once in total.
        assert tags(await p.hits()) == ["quick", "cut short"]
        assert await p.list() == []


async def test_a_crash_during_a_mesh_await_reruns_the_handler(autojump_clock: Any, tmp_path: Any) -> None:
    """The writes before a mesh await were committed; the run repeats from the start."""
    async with open_mesh(BINDINGS, data_dir=tmp_path) as m:
        p = m.get("P", "p")
        await p.plan_ctn(1, "remote", "r", 1000, key="r")
        await trio.sleep(100)
        assert await p.kv("before_await") == 1
    async with open_mesh(BINDINGS, data_dir=tmp_path) as m:
        p = m.get("P", "p")
        # The alarm was kept at most RUNNING_RECHECK ahead (in the first mesh's time).
        await trio.sleep(RUNNING_RECHECK + 100)
        assert await p.kv("before_await") == 2
        await trio.sleep(1000)
        assert (await p.kv("before_await"), await p.kv("after_await")) == (2, 1)
        assert await p.list() == []


# -- the property: everything not cancelled fires once, in (time, scheduling) order ------------------

# Offsets are whole multiples of 20 s from the first batch, so that ties are common; ids come
# from a small pool, so that replacing and cancelling hit live schedules.
_OFFSET = st.integers(-1, 12).map(lambda k: 20 * k)
_OP = st.one_of(
    st.tuples(st.just("delay"), _OFFSET.filter(lambda o: o >= 0), st.integers(0, 5)),
    st.tuples(st.just("at"), _OFFSET, st.integers(0, 5)),
    st.tuples(st.just("cancel"), st.integers(0, 5)),
)


class Model(LumenizeDO):
    @mesh
    def apply(self, base: float, batch: list[tuple[Any, ...]], first_tag: int) -> list[object]:
        alarms = self.svc.alarms
        assert isinstance(alarms, Alarms)
        out: list[object] = []
        for i, op in enumerate(batch):
            tag = first_tag + i
            if op[0] == "cancel":
                cancelled = alarms.cancel(f"id{op[1]}")
                out.append(None if cancelled is None else cancelled.chain[-1].args[0])
                continue
            kind, offset, key = op
            if kind == "delay":
                when: object = base + offset - self.env.clock.now()
            else:
                when = dt.datetime.fromtimestamp(base + offset, UTC)
            out.append(alarms.schedule(when, self.ctn().fired(tag), id=f"id{key}").time)
        return out

    def fired(self, tag: int) -> None:
        kv = self.ctx.storage.kv
        kv.put("fired", [*kv.get("fired", []), tag])

    @mesh
    def log(self) -> list[int]:
        return self.ctx.storage.kv.get("fired", [])

    @mesh
    def now(self) -> float:
        return self.env.clock.now()


@settings(deadline=None, max_examples=60)
@given(st.lists(st.lists(_OP, max_size=12), min_size=1, max_size=4))
def test_everything_not_cancelled_fires_once_in_order(batches: list[list[tuple[Any, ...]]]) -> None:
    async def main() -> None:
        async with open_mesh({"M": Model}) as m:
            actor = m.get("M", "m")
            base = await actor.now()
            live: dict[str, tuple[float, float, int, int]] = {}  # id -> (fire moment, time, seq, tag)
            fired: list[tuple[float, float, int, int]] = []
            tag = 0
            for number, batch in enumerate(batches):
                # Batches run at base + 100k + 0.5: never at a schedule's time (whole seconds
                # from base), so "already fired" is never a race.
                at = base + 100 * number + 0.5
                await trio.sleep(at - await actor.now())
                fired.extend(sorted(e for e in live.values() if e[0] < at))
                live = {k: e for k, e in live.items() if e[0] >= at}
                # Delays cannot point before now: those become datetimes in the past.
                batch = [
                    ("at", op[1], op[2]) if op[0] == "delay" and op[1] <= 100 * number else op for op in batch
                ]
                results = await actor.apply(base, batch, tag)
                for op, result in zip(batch, results, strict=True):
                    if op[0] == "cancel":
                        entry = live.pop(f"id{op[1]}", None)
                        assert result == (None if entry is None else entry[3])
                    else:
                        assert isinstance(result, float)
                        live[f"id{op[2]}"] = (max(result, at), result, tag, tag)
                    tag += 1
            await trio.sleep(base + 100 * len(batches) + 400 - await actor.now())
            fired.extend(sorted(live.values()))
            assert await actor.log() == [entry[3] for entry in fired]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
