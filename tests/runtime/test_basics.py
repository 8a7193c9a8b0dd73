"""Tests for `lumenize_trio.runtime`: stubs, ids, calls, errors, isolation, access control."""

from __future__ import annotations

import pytest
import trio

from lumenize_trio import (
    ActorId,
    ChainError,
    DataCloneError,
    InvalidActorIdError,
    LumenizeDO,
    NotMeshCallableError,
    RemoteError,
    UnknownBindingError,
    mesh,
    open_mesh,
)
from lumenize_trio.ocan import chain_of, continuation

from .actors import Counter, Refused


async def test_counter_example_from_the_issue() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        alice = m.get("COUNTER", "alice")
        assert await alice.increment(2) == 2
        assert await alice.increment() == 3
        assert await m.get("COUNTER", "bob").increment() == 1


async def test_storage_persists_in_data_dir(tmp_path: object) -> None:
    async with open_mesh({"COUNTER": Counter}, data_dir=tmp_path) as m:  # type: ignore[arg-type]
        assert await m.get("COUNTER", "alice").increment(5) == 5
    async with open_mesh({"COUNTER": Counter}, data_dir=tmp_path) as m:  # type: ignore[arg-type]
        assert await m.get("COUNTER", "alice").increment() == 6


async def test_ids() -> None:
    async with open_mesh({"COUNTER": Counter, "OTHER": Counter}) as m:
        ns = m.namespace("COUNTER")
        alice = ns.id_from_name("alice")
        assert alice == ns.id_from_name("alice")
        assert alice.name == "alice"
        assert len(alice.hex) == 64
        assert ns.id_from_string(alice.hex) == alice
        assert ns.id_from_string(alice.hex).name is None
        unique = ns.new_unique_id()
        assert unique != ns.new_unique_id()
        assert ns.id_from_string(str(unique)) == unique
        assert await m.get("COUNTER", unique).increment() == 1
        for bad in [
            "",
            "xyz",
            alice.hex.upper(),
            alice.hex[:-1] + ("0" if alice.hex[-1] != "0" else "1"),
            42,
        ]:
            with pytest.raises(InvalidActorIdError):
                ns.id_from_string(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidActorIdError, match="not an id of namespace 'OTHER'"):
            m.namespace("OTHER").id_from_string(alice.hex)
        with pytest.raises(InvalidActorIdError):
            m.get("OTHER", alice)
        with pytest.raises(InvalidActorIdError):
            ns.id_from_name("")
        with pytest.raises(InvalidActorIdError):
            ns.id_from_name("x" * 3000)
        assert "alice" in repr(alice)


async def test_unknown_binding_names_the_known_ones() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        with pytest.raises(UnknownBindingError, match=r"unknown binding 'NOPE' \(this mesh has: COUNTER\)"):
            m.get("NOPE", "x")
        with pytest.raises(LookupError):
            m.namespace("NOPE")


async def test_remote_errors_keep_class_attributes_and_cause_and_roll_back() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "a")
        with pytest.raises(Refused) as info:
            await stub.fail("nope")
        assert info.value.code == 42
        assert isinstance(info.value.__cause__, KeyError)
        assert "raise Refused" in (info.value.remote_traceback or "") or info.value.remote_traceback
        assert await stub.written() is False  # the failing turn's write was rolled back


async def test_only_mesh_methods_are_reachable() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "a")
        with pytest.raises(NotMeshCallableError, match="not_exposed is not callable"):
            await stub.not_exposed()
        with pytest.raises(NotMeshCallableError):
            await stub._private()
        with pytest.raises(NotMeshCallableError):
            await stub.memory  # reading an attribute is refused too
        assert await stub.guarded() == "ok"
        with pytest.raises(PermissionError, match="bob may not"):
            await m.get("COUNTER", "bob").guarded()


async def test_pipelined_chain_runs_in_one_delivery() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "a")
        assert await stub.builder().add("x").add("y").build() == "x-y"


async def test_oversized_chain_and_unclonable_arguments_fail_at_the_call_site() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "a")
        call = stub.builder()
        for _ in range(24):  # builder() and each add() are two operations: a Get and an Apply
            call = call.add("x")
        with pytest.raises(ChainError, match="at most 50"):
            _ = call.add
        with pytest.raises(DataCloneError, match=r"cannot clone a value of type function"):
            await stub.remember(lambda: 1)
        assert await stub.recall() == []  # nothing was delivered


async def test_arguments_and_results_are_cloned() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "a")
        mine = ["caller"]
        result = await stub.mutate(mine)
        assert mine == ["caller"]  # the callee changed its own copy
        assert result == ["caller", "callee"]
        assert result is not mine
        shared = [1]
        await stub.remember(shared)
        shared.append(2)
        assert await stub.recall() == [[1]]
        recalled = await stub.recall()
        recalled[0].append(3)
        assert await stub.recall() == [[1]]


async def test_open_mesh_validates_its_options() -> None:
    with pytest.raises(TypeError, match="non-empty mapping"):
        async with open_mesh({}):
            pass
    with pytest.raises(TypeError, match="must be a node class"):
        async with open_mesh({"X": object}):
            pass
    with pytest.raises(ValueError, match="identifiers"):
        async with open_mesh({"not valid": Counter}):
            pass
    for option in [
        {"durability": "fast"},
        {"idle_timeout": 0},
        {"max_queue": 0},
        {"max_open_databases": True},
    ]:
        with pytest.raises(ValueError, match=next(iter(option))):
            async with open_mesh({"COUNTER": Counter}, **option):  # type: ignore[arg-type]
                pass


async def test_body_error_propagates_unwrapped() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with open_mesh({"COUNTER": Counter}):
            raise KeyError("mine")


async def test_closed_mesh_refuses_calls() -> None:
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "a")
    with pytest.raises(trio.ClosedResourceError):
        await stub.increment()


def test_actor_id_value_semantics() -> None:
    a = ActorId("B", "0" * 64, "x")
    assert a == ActorId("B", "0" * 64)
    assert a != ActorId("C", "0" * 64)
    assert len({a, ActorId("B", "0" * 64)}) == 1
    with pytest.raises(AttributeError):
        a.hex = "1"  # type: ignore[misc]
    assert (a == 3) is False


class Odd(LumenizeDO):
    @mesh
    def unclonable_result(self) -> object:
        return lambda: 1

    @mesh
    def unclonable_error(self) -> None:
        error = ValueError("with a lock inside")
        error.lock = trio.Lock()  # type: ignore[attr-defined]
        raise error


async def test_unclonable_results_and_errors_still_answer_the_caller() -> None:
    async with open_mesh({"ODD": Odd}) as m:
        stub = m.get("ODD", "o")
        with pytest.raises(DataCloneError, match="the result cannot be returned"):
            await stub.unclonable_result()
        with pytest.raises(RemoteError, match="ValueError: with a lock inside"):
            await stub.unclonable_error()


async def test_stub_method_builders_are_shared_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from lumenize_trio.ocan import chain_of, continuation
    from lumenize_trio.runtime import _stub

    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "a")
        assert await stub.increment(1) == 1
        assert _stub._METHODS["increment"] is stub.increment._builder  # made once, shared
        monkeypatch.setattr(_stub, "_METHODS", {})
        monkeypatch.setattr(_stub, "_MAX_METHODS", 0)
        assert await stub.increment(1) == 2  # past the bound: made per call, not kept
        assert _stub._METHODS == {}
        assert chain_of(stub.increment(1)._builder) == chain_of(continuation().increment(1))
        with pytest.raises(NotMeshCallableError):
            stub._private  # noqa: B018 - refused by the builder, never kept


async def test_a_call_of_scalars_is_handed_over_without_encoding() -> None:
    from lumenize_trio.ocan import chain_of, continuation
    from lumenize_trio.runtime._call_context import CallContext
    from lumenize_trio.runtime._mesh import _payload

    simple = chain_of(continuation().increment(1, by=2.5, label="x", raw=b"\x00", none=None))
    assert _payload(simple, None) is simple  # immutable all the way down: sharing is cloning
    assert type(_payload(simple, CallContext(()))) is bytes  # a context is encoded
    assert type(_payload(chain_of(continuation().remember([1])), None)) is bytes  # a list is

    async with open_mesh({"COUNTER": Counter}) as m:
        call = m.get("COUNTER", "a").pop_option(key=1)
        # The callee changing its keyword arguments cannot change the chain the caller holds.
        assert await call == 1
        assert await call == 1


async def test_scalar_arguments_with_lone_surrogates_cross_intact() -> None:
    # A call of scalar arguments is handed over as it is; a str that UTF-8 cannot encode must
    # arrive exactly, as it would through a clone.
    async with open_mesh({"COUNTER": Counter}) as m:
        stub = m.get("COUNTER", "c")
        assert await stub.remember("a\ud800b") == 1
        assert await stub.recall() == ["a\ud800b"]


async def test_call_outcome_returns_the_outcome_as_encoded() -> None:
    from lumenize_trio import OverloadedError, clone

    async with open_mesh({"COUNTER": Counter}, max_queue=1) as m:
        stub = m.get("COUNTER", "a")
        chain = chain_of(continuation().increment(5))
        ok, data = await m.call_outcome(stub.id, chain)
        assert ok is True
        assert clone.loads(data) == 5
        ok, data = await m.call_outcome(stub.id, chain_of(continuation().fail("no")))
        error = clone.loads(data)
        assert ok is False
        assert isinstance(error, Refused)
        assert error.args[0] == "no"
        with pytest.raises(DataCloneError):
            await m.call_outcome(stub.id, chain_of(continuation().remember(lambda: 1)))

        # A call that cannot be delivered is an outcome too.
        async def slow() -> None:
            await stub.slow_increment(0.1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow)
            nursery.start_soon(slow)  # queued: the queue is now full
            await trio.sleep(0.01)
            ok, data = await m.call_outcome(stub.id, chain)
            assert ok is False
            assert isinstance(clone.loads(data), OverloadedError)


async def test_call_outcome_is_refused_inside_a_turn() -> None:
    class Caller(LumenizeDO):
        @mesh
        async def relay(self) -> None:
            await self.env.call_outcome(self.env.get("COUNTER", "x").id, chain_of(continuation().count()))

    async with open_mesh({"COUNTER": Counter, "CALLER": Caller}) as m:
        with pytest.raises(RuntimeError, match="outside every turn"):
            await m.get("CALLER", "c").relay()
