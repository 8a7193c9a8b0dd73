"""Crash safety: a writer process is killed with SIGKILL at random moments; nothing acknowledged is lost.

After each kill the data directory is reopened and checked: every write whose reply the child
had received is present, no turn is half-visible (each turn writes a pair of keys), and due
alarms fire after the restart (at-least-once).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from lumenize_trio import open_mesh

from .crash_child import Pairs

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(data_dir: Path, rng: random.Random) -> set[tuple[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.crash_child", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None
    wanted = rng.randint(1, 300)
    acked: set[tuple[str, int]] = set()
    deadline = time.monotonic() + 30
    try:
        while len(acked) < wanted and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            _, actor, i = line.split()
            acked.add((actor, int(i)))
        time.sleep(rng.uniform(0, 0.02))  # let it run on a little: the kill lands anywhere
        proc.send_signal(signal.SIGKILL)
    finally:
        rest, errors = proc.communicate(timeout=30)
    for line in rest.splitlines():  # replies received before the kill
        _, actor, i = line.split()
        acked.add((actor, int(i)))
    assert acked, f"the child acknowledged nothing; stderr: {errors[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    return acked


async def _check(data_dir: Path, acked: set[tuple[str, int]]) -> None:
    async with open_mesh({"PAIRS": Pairs}, data_dir=data_dir) as m:
        await trio.sleep(0.3)  # overdue alarms fire as the mesh starts
        for n in range(4):
            actor = f"w{n}"
            snapshot: Any = await m.get("PAIRS", actor).snapshot()
            keys: dict[str, object] = snapshot["keys"]
            pairs = {k[1:] for k in keys if k[0] in "ab"}
            for suffix in pairs:
                assert f"a{suffix}" in keys, f"{actor}: half a turn is visible (no a{suffix})"
                assert f"b{suffix}" in keys, f"{actor}: half a turn is visible (no b{suffix})"
            stored = {int(s) for s in pairs}
            mine = {i for a, i in acked if a == actor}
            assert mine <= stored, f"{actor}: acknowledged writes lost: {sorted(mine - stored)[:10]}"
            assert snapshot["alarm"] is None, f"{actor}: a due alarm did not fire after the restart"
            if any(i % 7 == 3 for i in stored):
                assert keys.get("fired", 0) >= 1, f"{actor}: its alarm never fired"


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_during_write_burst_loses_nothing_acknowledged(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    acked: set[tuple[str, int]] = set()
    for _ in range(2):  # kill, check, and kill again on top of the recovered state
        acked |= _run_and_kill(tmp_path, rng)
        trio.run(_check, tmp_path, acked)
