"""``lumenize-trio demo``: the chat room over RPC, in process and as the command."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from lumenize_trio.cli import main
from lumenize_trio.cli._demo import run_demo

if TYPE_CHECKING:
    from pathlib import Path


async def test_every_client_gets_every_message_and_history_survives(tmp_path: Path) -> None:
    out = io.StringIO()
    figures = await run_demo(data_dir=tmp_path, clients=3, messages=4, out=out)
    assert figures["messages"] == 12
    assert figures["deliveries"] == 36  # every message pushed to each of the 3 clients
    text = out.getvalue()
    assert "ada joined (0 earlier messages)" in text
    assert text.count(": message ") == 12  # the transcript as one client saw it
    assert "#12" in text
    # The room is durable: a second run catches up on the first run's messages.
    again = io.StringIO()
    await run_demo(data_dir=tmp_path, clients=1, messages=1, out=again)
    assert "ada joined (12 earlier messages)" in again.getvalue()


@pytest.mark.parametrize(("clients", "messages"), [(0, 1), (9, 1), (1, 0), (1, 1001)])
async def test_out_of_range_counts_are_refused(clients: int, messages: int) -> None:
    with pytest.raises(ValueError, match="must be 1 to"):
        await run_demo(data_dir=None, clients=clients, messages=messages, out=io.StringIO())


def test_the_command_runs_the_demo_and_exits_cleanly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lumenize_trio.cli", "demo", "--clients", "2", "--messages", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "4 messages, 8 pushes delivered" in result.stdout


def test_the_command_refuses_bad_counts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--clients", "0"])
    assert exit_.value.code == 2
    assert "--clients must be 1 to 8" in capsys.readouterr().err


def test_main_runs_the_demo_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--clients", "1", "--messages", "2", "--data-dir", str(tmp_path)]) == 0
    assert "2 messages, 2 pushes delivered" in capsys.readouterr().out
