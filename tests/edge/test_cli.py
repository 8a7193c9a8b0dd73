"""Tests for `lumenize_trio.cli`: ``lumenize-trio serve module:factory``, in a subprocess and in-process."""

from __future__ import annotations

import io
import os
import runpy
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from functools import partial
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from lumenize_trio.cli import ServerSpec, load_factory, main, run_server
from lumenize_trio.cli._serve import FactoryError, parse_bind

if TYPE_CHECKING:
    from pathlib import Path

FACTORY = """
from lumenize_trio import LumenizeDO, Response


class Counter(LumenizeDO):
    def on_request(self, request):
        n = self.ctx.storage.kv.get("n", 0) + 1
        self.ctx.storage.kv.put("n", n)
        return Response(200, content=str(n))


def factory(data_dir):
    return {"COUNTER": Counter}, {"prefix": "/api"}, {"durability": "normal"}


def bindings_only(data_dir):
    return {"COUNTER": Counter}


def broken(data_dir):
    raise RuntimeError("factory bug")


def wrong(data_dir):
    return ["COUNTER"]


not_callable = 5
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding a factory module (a unique name per test), made the current directory."""
    (tmp_path / f"edge_cli_app_{tmp_path.name}.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return tmp_path


def module(project: Path) -> str:
    return f"edge_cli_app_{project.name}"


async def serve_once(project: Path, signum: signal.Signals) -> str:
    """Run the CLI in a subprocess, make one request, stop it with *signum*; return the body."""
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "lumenize_trio.cli",
            "serve",
            f"{module(project)}:factory",
            "--bind",
            "127.0.0.1:0",
        ],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            chunk = await process.stdout.receive_some(1)
            assert chunk, "the server exited before listening"
            line += chunk
        assert line.startswith(b"lumenize-trio: serving on http://127.0.0.1:")
        url = line.split()[3].decode()
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"{url}/api/counter/c1")).text
        process.send_signal(signum)
        rest = b""
        while chunk := await process.stdout.receive_some():
            rest += chunk
        assert await process.wait() == 0
        assert rest == f"lumenize-trio: {signum.name}, stopping\n".encode()
        return body
    finally:
        if process.returncode is None:  # pragma: no cover - only if the test failed
            process.kill()
            await process.wait()


async def test_cli_serve_in_a_subprocess(project: Path) -> None:
    """Start, one request, SIGTERM, clean exit; again with SIGINT: the count survived."""
    with trio.fail_after(60):
        assert await serve_once(project, signal.SIGTERM) == "1"
        assert list((project / ".lumenize" / "COUNTER").glob("*.sqlite"))
        assert await serve_once(project, signal.SIGINT) == "2"


async def test_run_server_in_process(project: Path) -> None:
    out = io.StringIO()
    spec = load_factory(f"{module(project)}:bindings_only", project / "data")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(
                partial(run_server, spec, host="127.0.0.1", port=0, data_dir=project / "data", out=out)
            )
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"http://{host}:{port}/counter/x")).text == "1"
            os.kill(os.getpid(), signal.SIGTERM)  # received by run_server's signal receiver
    assert out.getvalue().splitlines() == [
        f"lumenize-trio: serving on http://127.0.0.1:{port} (data in {project / 'data'})",
        "lumenize-trio: SIGTERM, stopping",
    ]


async def test_run_server_shows_ipv6_hosts_in_brackets(project: Path) -> None:
    out = io.StringIO()
    spec = load_factory(f"{module(project)}:bindings_only", project)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(partial(run_server, spec, host="::1", port=0, data_dir=project, out=out))
            except OSError:  # pragma: no cover - no IPv6 on this machine
                pytest.skip("no IPv6 loopback")
            nursery.cancel_scope.cancel()
    assert out.getvalue().startswith("lumenize-trio: serving on http://[::1]:")


def test_main_serves_until_sigterm(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """main() in this process: a thread waits for the server, asks once, then sends SIGTERM."""
    with socket.socket() as probe:  # a free port (main() prints its URL only to stdout)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answers: list[str] = []

    def client() -> None:
        with httpx.Client() as http:
            while True:
                try:
                    answers.append(http.get(f"http://127.0.0.1:{port}/api/counter/x").text)
                    break
                except httpx.ConnectError:
                    time.sleep(0.01)  # not listening yet
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        argv = ["serve", f"{module(project)}:factory", "--bind", f"127.0.0.1:{port}", "--data-dir", "d"]
        assert main(argv) == 0
    finally:
        thread.join()
    assert answers == ["1"]
    assert capsys.readouterr().out.splitlines()[-1] == "lumenize-trio: SIGTERM, stopping"


def test_python_dash_m_runs_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["lumenize-trio", "--help"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("lumenize_trio.cli", run_name="__main__")
    assert info.value.code == 0
    assert "serve" in capsys.readouterr().out


def test_load_factory_forms(project: Path) -> None:
    spec = load_factory(f"{module(project)}:factory", project)
    assert set(spec.bindings) == {"COUNTER"}
    assert spec.app_options == {"prefix": "/api"}
    assert spec.mesh_options == {"durability": "normal"}
    only = load_factory(f"{module(project)}:bindings_only", project)
    assert only == ServerSpec(only.bindings, {}, {})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_colon", "TARGET must be 'module:factory'"),
        (":factory", "TARGET must be"),
        ("mod:", "TARGET must be"),
        ("no_such_module_xyz:factory", "cannot import 'no_such_module_xyz'"),
        ("{m}:missing", "is not a callable factory"),
        ("{m}:not_callable", "is not a callable factory"),
        ("{m}:broken", "raised RuntimeError('factory bug')"),
        ("{m}:wrong", "must return bindings (a mapping)"),
    ],
)
def test_load_factory_errors(project: Path, target: str, message: str) -> None:
    with pytest.raises(FactoryError) as info:
        load_factory(target.format(m=module(project)), project)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("bind", "expected"),
    [("127.0.0.1:8787", ("127.0.0.1", 8787)), ("[::1]:0", ("::1", 0)), ("localhost:80", ("localhost", 80))],
)
def test_parse_bind(bind: str, expected: tuple[str, int]) -> None:
    assert parse_bind(bind) == expected


@pytest.mark.parametrize("bind", ["8787", ":8787", "host:", "host:http", "host:70000"])
def test_parse_bind_errors(bind: str) -> None:
    with pytest.raises(FactoryError, match="--bind must be HOST:PORT"):
        parse_bind(bind)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["serve"], "the following arguments are required: TARGET"),
        (["serve", "nope"], "TARGET must be 'module:factory'"),
        (["serve", "x:y", "--bind", "nope"], "--bind must be HOST:PORT"),
    ],
)
def test_main_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_main_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    assert "factory(data_dir) returns the bindings" in " ".join(capsys.readouterr().out.split())
