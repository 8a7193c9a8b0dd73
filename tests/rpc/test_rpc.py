"""Tests for `lumenize_trio.rpc`: the endpoint served by real Hypercorn, the real client."""

from __future__ import annotations

import pytest
import trio

from lumenize_trio import ChainError, NotMeshCallableError
from lumenize_trio.rpc import issue, open_rpc_client

from .helpers import endpoint, open_rpc_edge, rpc_url
from .nodes import Refused

TRANSPORTS = ["websocket", "http"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_calls_and_errors(transport: str) -> None:
    async with open_rpc_edge() as edge, open_rpc_client(rpc_url(edge), transport=transport) as actor:  # type: ignore[arg-type]
        assert await actor.add(1, 2) == 3
        assert await actor.chained().add(2, 3) == 5
        with pytest.raises(Refused) as info:
            await actor.fail()
        assert info.value.why == "because"
        assert isinstance(info.value.__cause__, KeyError)
        with pytest.raises(ValueError, match="plain"):
            await actor.unknown()
        with pytest.raises(NotMeshCallableError):
            await actor.secret()
        assert await actor.add(actor.add(1, 10), actor.add(100, 1000)) == 1111


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_batching_and_pipelining_round_trips(transport: str) -> None:
    async with open_rpc_edge() as edge, open_rpc_client(rpc_url(edge), transport=transport) as actor:  # type: ignore[arg-type]
        rpc = endpoint(edge)
        assert await actor.add(actor.add(1, 10), actor.add(100, 1000)) == 1111
        assert rpc.frames_received == 1
        results: list[object] = []

        async def one(n: int) -> None:
            results.append(await actor.add(n, n))

        async with trio.open_nursery() as nursery:
            for n in range(5):
                nursery.start_soon(one, n)
        assert sorted(results) == [0, 2, 4, 6, 8]
        assert rpc.frames_received == 2
        made = issue(actor.make())
        assert await actor.use(made) == 14
        assert await made == {"n": 7}
        assert rpc.frames_received == 3
        # A settled call passed on is its value; a failed one raises at the call site.
        assert await actor.use(made) == 14
        failed = issue(actor.fail())
        with pytest.raises(Refused):
            await failed
        with pytest.raises(Refused):
            actor.use(failed)
        # A pending call of an earlier batch cannot be referenced: await it instead.
        slow = issue(actor.slow(0.2))
        await trio.sleep(0.05)
        with pytest.raises(ChainError, match="await it instead"):
            await actor.use(slow)
        assert await slow == "late"
        with pytest.raises(TypeError, match="issue"):
            issue(lambda: None)  # type: ignore[arg-type]
        assert await actor.use([made, (made,), {"k": made}][0]) == 14


async def test_expose_internals_is_a_separate_path() -> None:
    async with open_rpc_edge() as edge, open_rpc_client(rpc_url(edge)) as actor:
        with pytest.raises(NotMeshCallableError):
            await actor.ctx.storage.kv.get("value")
    async with open_rpc_edge(expose_internals=True) as edge, open_rpc_client(rpc_url(edge)) as actor:
        assert await actor.secret() == "internal"
        await actor.put({"a": 1})
        assert await actor.ctx.storage.kv.get("value") == {"a": 1}
        with pytest.raises(AttributeError, match="missing_method"):
            await actor.ctx.storage.kv.missing_method()
        with pytest.raises(NotMeshCallableError):
            await actor.ctx._activation.instance()  # private names stay refused
