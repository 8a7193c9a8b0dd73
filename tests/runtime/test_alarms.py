"""Tests for native alarms, under Trio's mock clock (autojump): time is virtual."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import pytest
import trio

from lumenize_trio import AlarmInfo, LumenizeDO, mesh, open_mesh


class Alarmed(LumenizeDO):
    """Records every alarm run in storage; can be told to fail or to re-arm."""

    @mesh
    def arm(self, delay: float, *, failures: int = 0, repeat: int = 0) -> float:
        when = self.now() + delay
        self.ctx.storage.kv.put("failures", failures)
        self.ctx.storage.kv.put("repeat", repeat)
        self.ctx.storage.set_alarm(when)
        return when

    @mesh
    def arm_at(self, when: dt.datetime) -> None:
        self.ctx.storage.set_alarm(when)

    @mesh
    def disarm(self) -> None:
        self.ctx.storage.delete_alarm()

    @mesh
    def alarm(self) -> float | None:
        return self.ctx.storage.get_alarm()

    @mesh
    def runs(self) -> list[list[object]]:
        return self.ctx.storage.kv.get("runs", [])

    def now(self) -> float:
        return self.env.clock.now()

    def on_alarm(self, info: AlarmInfo) -> None:
        kv = self.ctx.storage.kv
        kv.put(
            "runs",
            [
                *kv.get("runs", []),
                [self.now(), info.retry_count, info.is_retry, self.ctx.storage.get_alarm()],
            ],
        )
        failures = kv.get("failures", 0)
        if failures:
            kv.put("failures", failures - 1)  # rolled back with the failure: counts attempts only via runs
            raise RuntimeError("alarm handler failed")
        repeat = kv.get("repeat", 0)
        if repeat:
            kv.put("repeat", repeat - 1)
            self.ctx.storage.set_alarm(self.now() + 86400)


async def test_alarm_fires_at_its_time_and_clears(autojump_clock: Any) -> None:
    async with open_mesh({"A": Alarmed}) as m:
        stub = m.get("A", "x")
        when = await stub.arm(30)
        assert await stub.alarm() == when
        await trio.sleep(29)
        assert await stub.runs() == []
        await trio.sleep(2)
        runs = await stub.runs()
        assert len(runs) == 1
        fired_at, retry_count, is_retry, alarm_inside = runs[0]
        assert when <= fired_at < when + 1
        assert (retry_count, is_retry, alarm_inside) == (0, False, None)
        assert await stub.alarm() is None


async def test_a_year_of_daily_alarms_runs_in_virtual_time(autojump_clock: Any) -> None:
    async with open_mesh({"A": Alarmed}, idle_timeout=60) as m:
        stub = m.get("A", "daily")
        await stub.arm(86400, repeat=364)
        await trio.sleep(366 * 86400)
        runs = await stub.runs()
        assert len(runs) == 365
        assert await stub.alarm() is None
        assert m.statistics().evictions >= 300  # evicted between days, woken by each alarm


class Counting(LumenizeDO):
    """Counts attempts outside storage (class attribute), since failing turns roll storage back."""

    attempts: ClassVar[list[tuple[float, int]]] = []

    @mesh
    def arm(self, delay: float, fail_times: int) -> None:
        type(self).fail_times = fail_times  # type: ignore[attr-defined]
        self.ctx.storage.set_alarm(self.env.clock.now() + delay)

    @mesh
    def alarm(self) -> float | None:
        return self.ctx.storage.get_alarm()

    def on_alarm(self, info: AlarmInfo) -> None:
        type(self).attempts.append((self.env.clock.now(), info.retry_count))
        if info.retry_count < type(self).fail_times:  # type: ignore[attr-defined]
            raise RuntimeError("not yet")


@pytest.mark.parametrize("fail_times", [3, 100])
async def test_retry_schedule(autojump_clock: Any, fail_times: int) -> None:
    Counting.attempts = []
    async with open_mesh({"C": Counting}) as m:
        stub = m.get("C", "r")
        await stub.arm(10, fail_times)
        start = m.clock.now()
        await trio.sleep(1000)
        attempts = Counting.attempts
        assert await stub.alarm() is None
    counts = [count for _, count in attempts]
    expected = list(range(min(fail_times, 6) + 1))
    assert counts == expected
    times = [t - start for t, _ in attempts]
    assert 10 <= times[0] < 11
    for n in range(1, len(times)):
        gap = times[n] - times[n - 1]
        base = 2.0 * 2 ** (n - 1)
        assert base <= gap <= base * 1.25 + 1, (n, gap)


async def test_alarm_set_with_datetime_and_deleted(autojump_clock: Any) -> None:
    async with open_mesh({"A": Alarmed}) as m:
        stub = m.get("A", "d")
        when = dt.datetime.fromtimestamp(m.clock.now() + 50, dt.UTC)
        await stub.arm_at(when)
        assert await stub.alarm() == pytest.approx(when.timestamp())
        await stub.disarm()
        await trio.sleep(100)
        assert await stub.runs() == []


async def test_alarm_fires_after_eviction(autojump_clock: Any) -> None:
    async with open_mesh({"A": Alarmed}, idle_timeout=5) as m:
        stub = m.get("A", "evicted")
        await stub.arm(3600)
        await trio.sleep(60)
        assert m.statistics().active_actors == 0
        await trio.sleep(3600)
        assert len(await stub.runs()) == 1


async def test_due_alarm_fires_after_restart(tmp_path: Any) -> None:
    async with open_mesh({"A": Alarmed}, data_dir=tmp_path) as m:
        await m.get("A", "restart").arm(0.5)
    await trio.sleep(0.6)  # the mesh is down when the alarm comes due
    async with open_mesh({"A": Alarmed}, data_dir=tmp_path) as m:
        await trio.sleep(0.5)  # the overdue alarm fires as the mesh starts
        runs = await m.get("A", "restart").runs()
        assert len(runs) == 1


async def test_an_alarm_whose_turn_fails_to_commit_fires_again(autojump_clock: Any) -> None:
    async with open_mesh({"A": Alarmed}) as m:
        stub = m.get("A", "x")
        when = await stub.arm(30)
        m.fail_next_commit(stub, OSError("disk full"))
        await trio.sleep(31)  # the alarm turn ran, its commit failed, the actor was reset
        await trio.sleep(5)  # planned again a second later: it runs and commits
        runs = await stub.runs()
        assert len(runs) == 1  # the failed run's write was rolled back
        assert runs[0][0] >= when + 1
        assert await stub.alarm() is None
