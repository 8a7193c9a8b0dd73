"""What the fetch executors make of failures that retrying cannot change, and of the unexpected."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

from lumenize_trio import FetchError, FetchRefusedError, LumenizeDO, Request, open_mesh
from lumenize_trio.runtime._fetcher import Fetcher, _Final


class Plain(LumenizeDO):
    pass


@pytest.mark.parametrize(
    "error",
    [
        FetchRefusedError("refused example.test: a private address", url="http://example.test/"),
        _Final(FetchError("over fetch_max_body", url="http://example.test/")),
    ],
)
async def test_failures_that_retrying_cannot_change_are_not_retried(
    error: Exception, monkeypatch: pytest.MonkeyPatch, autojump_clock: Any
) -> None:
    attempts: list[str] = []

    async def send_once(self: Fetcher, request: Request, url: str) -> object:
        attempts.append(url)
        raise error

    monkeypatch.setattr(Fetcher, "_send_once", send_once)
    async with open_mesh({"P": Plain}) as m:
        fetcher = m.fetcher()
        deadline = m.clock.now() + 60
        with pytest.raises(FetchError) as caught:
            await fetcher.perform(Request("GET", "http://example.test/"), deadline, 5, 0.1)
    assert len(attempts) == 1
    assert caught.value is (error.error if isinstance(error, _Final) else error)


async def test_a_network_error_on_an_idempotent_request_is_retried(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: Any
) -> None:
    attempts: list[str] = []

    async def send_once(self: Fetcher, request: Request, url: str) -> object:
        attempts.append(url)
        raise FetchError("connection refused", url=url)

    monkeypatch.setattr(Fetcher, "_send_once", send_once)
    async with open_mesh({"P": Plain}) as m:
        with pytest.raises(FetchError, match="connection refused"):
            await m.fetcher().perform(Request("GET", "http://example.test/"), m.clock.now() + 60, 2, 0.1)
    assert len(attempts) == 3


async def test_an_unexpected_error_becomes_this_requests_fetch_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def perform(
        self: Fetcher, request: Request, deadline: float, retries: int, backoff: float
    ) -> object:
        raise RuntimeError("a library bug")

    monkeypatch.setattr(Fetcher, "perform", perform)
    outcomes: list[object] = []
    async with open_mesh({"P": Plain}) as m:
        with caplog.at_level(logging.ERROR, logger="lumenize_trio"):
            m.fetcher().submit(
                ("key", "r1"), Request("GET", "http://example.test/"), deadline=0, retries=0, backoff=1,
                deliver=outcomes.append,
            )  # fmt: skip
            await trio.testing.wait_all_tasks_blocked()
    [outcome] = outcomes
    assert isinstance(outcome, FetchError)
    assert "failed unexpectedly" in str(outcome)
    assert "a library bug" in str(outcome)
    assert any("failed unexpectedly" in r.getMessage() for r in caplog.records)
