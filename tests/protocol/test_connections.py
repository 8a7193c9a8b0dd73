"""Tests for `lumenize_trio.protocol` connections: byte-level client/server peer pairs, pipelining,
deadlines, limits, refusals, and fuzzing of ``receive_data``."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lumenize_trio import clone
from lumenize_trio.clone import DataCloneError
from lumenize_trio.ocan import (
    MAX_CHAIN_LENGTH,
    Apply,
    ChainError,
    Get,
    NestedChain,
    NotMeshCallableError,
    OperationChain,
    Verbatim,
    chain_of,
    continuation,
    execute,
    to_wire,
)
from lumenize_trio.protocol import (
    MAX_CALLS_PER_BATCH,
    MAX_FRAME_SIZE,
    BatchReceived,
    Call,
    CallError,
    CallRef,
    CallResult,
    Close,
    CloseCode,
    Downstream,
    EncodedOutcome,
    Ping,
    Pong,
    ProtocolError,
    RpcClientConnection,
    RpcServerConnection,
    plan_batch,
    run_batch,
)
from lumenize_trio.protocol._frames import encode_batch, encode_results


class Counter:
    """The target the server runs chains against."""

    def __init__(self) -> None:
        self.total = 0
        self.made = 0
        self.items: list[object] = []

    def add(self, a: int, b: int = 0) -> int:
        return a + b

    def increment(self) -> int:
        self.total += 1
        return self.total

    def make(self) -> list[int]:
        self.made += 1
        return [self.made]

    def use(self, *values: object, **named: object) -> object:
        return [values, named]

    def keep(self, value: list[object]) -> None:
        value.append("kept")
        self.items.append(value)

    def fail(self) -> None:
        try:
            raise KeyError("inner")
        except KeyError as exc:
            raise ValueError("outer") from exc

    def text(self) -> str:
        return "hello"

    def unclonable(self) -> object:
        return object()


ctn = continuation(Counter)


async def serve(server: RpcServerConnection, data: bytes, target: object) -> bytes:
    """What the Trio server loop does with one frame: plan, execute in order, answer."""
    [event] = server.receive_data(data)
    assert isinstance(event, BatchReceived), event
    plan = plan_batch(event.calls)
    while (ready := plan.next_call()) is not None:
        try:
            value = await execute(target, ready.chain)
        except Exception as exc:
            plan.fail(ready.call_id, exc)
        else:
            plan.succeed(ready.call_id, value)
    assert plan.done
    return server.send_results(plan.outcomes())


class Pair:
    """A client and a server connection, with the bytes carried by hand and a round-trip count."""

    def __init__(self, *, batch_timeout: float = 30.0) -> None:
        self.client = RpcClientConnection(batch_timeout=batch_timeout)
        self.server = RpcServerConnection()
        self.target = Counter()
        self.round_trips = 0

    async def flush(self, now: float = 0.0) -> dict[int, object]:
        """Send every queued batch, serve it, and return the outcomes by call id."""
        out: dict[int, object] = {}
        while (data := self.client.data_to_send(now)) is not None:
            self.round_trips += 1
            reply = await serve(self.server, data, self.target)
            for event in self.client.receive_data(reply):
                assert isinstance(event, CallResult | CallError), event
                out[event.call_id] = event.value if isinstance(event, CallResult) else event.error
        return out


# --- calls, chaining, nesting, pipelining --------------------------------------------------------


async def test_one_call_round_trip() -> None:
    pair = Pair()
    call_id = pair.client.call(chain_of(ctn.add(1, 2)))
    assert await pair.flush() == {call_id: 3}
    assert pair.client.waiting == 0


async def test_chained_call_is_one_call() -> None:
    pair = Pair()
    call_id = pair.client.call(chain_of(ctn.text().upper()))
    assert await pair.flush() == {call_id: "HELLO"}
    assert pair.round_trips == 1


async def test_nested_calls_run_on_the_server_in_one_round_trip() -> None:
    pair = Pair()
    call_id = pair.client.call(chain_of(ctn.add(ctn.add(1, 10), ctn.add(100, 1000))))
    assert await pair.flush() == {call_id: 1111}
    assert pair.round_trips == 1


async def test_calls_before_a_flush_travel_in_one_batch_and_run_in_order() -> None:
    pair = Pair()
    made = [pair.client.call(chain_of(ctn.increment())) for _ in range(20)]
    outcomes = await pair.flush()
    assert [outcomes[i] for i in made] == list(range(1, 21))
    assert pair.round_trips == 1


async def test_pipelined_reference_passes_a_result_without_a_round_trip() -> None:
    pair = Pair()
    x = pair.client.call(chain_of(ctn.make()))
    used = pair.client.call(chain_of(ctn.use(CallRef(x), box=[CallRef(x)])))
    outcomes = await pair.flush()
    assert outcomes == {x: [1], used: [([1],), {"box": [[1]]}]}
    assert pair.round_trips == 1
    assert pair.target.made == 1  # make() ran once


async def test_pipelined_reference_inside_a_nested_chain_and_containers() -> None:
    pair = Pair()
    x = pair.client.call(chain_of(ctn.make()))
    y = pair.client.call(chain_of(ctn.use(ctn.use((CallRef(x), {"k": CallRef(x)})))))
    outcomes = await pair.flush()
    assert outcomes[y] == [([(([1], {"k": [1]}),), {}],), {}]


async def test_a_result_used_twice_in_one_call_is_one_object_and_a_copy() -> None:
    """Within a call a referenced result is one object (like a variable); each call gets a copy."""
    seen: list[object] = []

    class Target:
        def make(self) -> list[int]:
            return [1]

        def same(self, a: object, b: object) -> bool:
            seen.append(a)
            return a is b

    t = continuation(Target)
    client, server = RpcClientConnection(), RpcServerConnection()
    x = client.call(chain_of(t.make()))
    first = client.call(chain_of(t.same(CallRef(x), CallRef(x))))
    second = client.call(chain_of(t.same(CallRef(x), [])))
    events = client.receive_data(await serve(server, client.data_to_send(0.0) or b"", Target()))
    assert events[1:] == [CallResult(first, True), CallResult(second, False)]
    assert seen[0] is not seen[1]


async def test_referenced_result_is_isolated_from_the_actor() -> None:
    """A result the actor still holds reaches a later call as a copy, never as the same object."""
    pair = Pair()
    x = pair.client.call(chain_of(ctn.make()))
    pair.client.call(chain_of(ctn.keep(CallRef(x))))
    outcomes = await pair.flush()
    assert outcomes[x] == [1]
    assert pair.target.items == [[1, "kept"]]


async def test_error_has_class_and_cause() -> None:
    pair = Pair()
    call_id = pair.client.call(chain_of(ctn.fail()))
    error = (await pair.flush())[call_id]
    assert isinstance(error, ValueError)
    assert error.args == ("outer",)
    assert isinstance(error.__cause__, KeyError)


async def test_failed_call_fails_the_calls_that_reference_it_and_only_them() -> None:
    pair = Pair()
    bad = pair.client.call(chain_of(ctn.fail()))
    dependent = pair.client.call(chain_of(ctn.use(CallRef(bad))))
    indirect = pair.client.call(chain_of(ctn.use(CallRef(dependent))))
    fine = pair.client.call(chain_of(ctn.add(2, 2)))
    outcomes = await pair.flush()
    assert isinstance(outcomes[bad], ValueError)
    # The same exception answers all three (each result is cloned on its own, so three copies).
    for call_id in (dependent, indirect):
        assert type(outcomes[call_id]) is ValueError
        assert outcomes[call_id].args == ("outer",)  # type: ignore[attr-defined]
    assert outcomes[fine] == 4


async def test_unclonable_result_becomes_an_error() -> None:
    pair = Pair()
    call_id = pair.client.call(chain_of(ctn.unclonable()))
    other = pair.client.call(chain_of(ctn.add(1)))
    outcomes = await pair.flush()
    assert isinstance(outcomes[call_id], DataCloneError)
    assert "result of call 1 cannot be sent" in str(outcomes[call_id])
    assert outcomes[other] == 1


async def test_unclonable_referenced_result_fails_it_and_its_dependents() -> None:
    pair = Pair()
    x = pair.client.call(chain_of(ctn.unclonable()))
    y = pair.client.call(chain_of(ctn.use(CallRef(x))))
    outcomes = await pair.flush()
    assert isinstance(outcomes[x], DataCloneError)
    assert str(outcomes[y]) == str(outcomes[x])


# --- refused calls (the server answers them; the rest of the batch runs) --------------------------


def raw_call(wire: object) -> bytes:
    return clone.dumps(wire)


@attrs.define
class Unregistered:
    value: int


def hand_made_objects() -> bytes:
    """A chain whose argument is an object of a class the server has not registered."""
    clone.register(Unregistered, name="tests.protocol.Unregistered")
    return raw_call([["get", "use"], ["apply", [Unregistered(1)], {}]])


@pytest.mark.parametrize(
    ("chain_bytes", "error", "message"),
    [
        (raw_call([["get", "_secret"], ["apply", [], {}]]), NotMeshCallableError, "_secret"),
        (raw_call([["get", "add"]] * (MAX_CHAIN_LENGTH + 1)), ChainError, "MAX_CHAIN_LENGTH"),
        (raw_call([["call", "add"]]), ChainError, "malformed"),
        (raw_call({"not": "a chain"}), ChainError, "a list of operations"),
        (b"\xff", DataCloneError, ""),
    ],
)
async def test_refused_calls_are_answered_and_the_batch_goes_on(
    chain_bytes: bytes, error: type[BaseException], message: str
) -> None:
    client, server = RpcClientConnection(), RpcServerConnection()
    fine = client.call(chain_of(ctn.add(1, 1)))
    client.data_to_send(0.0)
    data = encode_batch([(fine, clone.dumps(to_wire(chain_of(ctn.add(1, 1))))), (5, chain_bytes)])
    [batch] = server.receive_data(data)
    assert isinstance(batch, BatchReceived)
    refused = batch.calls[1]
    assert isinstance(refused.refused, error)
    assert message in str(refused.refused)
    assert refused.chain == ()
    outcomes = run_batch(batch.calls, lambda chain: 2)
    assert outcomes[0] == CallResult(fine, 2)
    assert outcomes[1] == CallError(5, refused.refused)


def test_unregistered_class_in_arguments_refuses_only_that_call() -> None:
    data = hand_made_objects()
    # Forget the class on the "server side" by decoding under another name.
    data = data.replace(b"tests.protocol.Unregistered", b"tests.protocol.Unknown!!!!!!")
    [batch] = RpcServerConnection().receive_data(encode_batch([(1, data)]))
    assert isinstance(batch, BatchReceived)
    assert isinstance(batch.calls[0].refused, DataCloneError)


def test_reference_to_a_refused_call_fails_with_its_error() -> None:
    bad = raw_call([["get", "_x"], ["apply", [], {}]])
    good = clone.dumps(to_wire(chain_of(ctn.use(CallRef(1)))))
    [batch] = RpcServerConnection().receive_data(encode_batch([(1, bad), (2, good)]))
    assert isinstance(batch, BatchReceived)
    outcomes = run_batch(batch.calls, lambda chain: pytest.fail("nothing runs"))
    assert isinstance(outcomes[0], CallError)
    assert outcomes[1] == CallError(2, outcomes[0].error)


# --- references the server refuses (protocol errors: nothing runs) --------------------------------


def ref_with(call_id: object) -> CallRef:
    ref = object.__new__(CallRef)
    object.__setattr__(ref, "call_id", call_id)
    return ref


def chain_bytes(*args: object) -> bytes:
    return clone.dumps(to_wire((Get("use"), Apply(args, {}))))


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        (
            [(1, chain_bytes(CallRef(2))), (2, chain_bytes())],
            "call 1 references call 2, which is not an earlier",
        ),
        ([(1, chain_bytes(CallRef(1)))], "call 1 references itself"),
        ([(1, chain_bytes()), (2, chain_bytes(CallRef(9)))], "call 2 references call 9"),
        ([(1, chain_bytes()), (2, chain_bytes({CallRef(1)}))], "call 2: a CallRef may not be a set member"),
        ([(1, chain_bytes()), (2, chain_bytes({(CallRef(1),): 1}))], "part of a dict key"),
        ([(1, chain_bytes(ref_with("1")))], "call_id must be an integer"),
        ([(1, chain_bytes(ref_with(-1)))], "call_id must be an integer"),
        ([(1, chain_bytes(object.__new__(CallRef)))], "got None"),
    ],
)
def test_bad_references_are_protocol_errors(calls: list[tuple[int, bytes]], message: str) -> None:
    [event] = RpcServerConnection().receive_data(encode_batch(calls))
    assert isinstance(event, ProtocolError)
    assert event.code == CloseCode.PROTOCOL_ERROR
    assert message in event.message


def test_references_are_found_through_aliases_and_cycles_once() -> None:
    shared: list[object] = [CallRef(1)]
    cyclic: list[object] = [CallRef(1)]
    cyclic.append(cyclic)
    chain = (Get("use"), Apply((shared, shared, cyclic, Verbatim(CallRef(99))), {}))
    [batch] = RpcServerConnection().receive_data(
        encode_batch([(1, chain_bytes()), (2, clone.dumps(to_wire(chain)))])
    )
    assert isinstance(batch, BatchReceived)
    assert batch.calls[1].refs == (1,)  # the CallRef inside Verbatim is data, not a reference
    outcomes = run_batch(batch.calls, lambda chain: chain)
    result = outcomes[1]
    assert isinstance(result, CallResult)
    ready = result.value
    assert isinstance(ready, tuple)
    args = ready[1].args
    assert args[0] is args[1]  # aliases stay aliases
    assert type(args[0][0]) is Verbatim
    assert args[0][0] is args[2][0]  # every reference to call 1 in one call: the same Verbatim
    assert args[0][0].value == outcomes[0].value  # type: ignore[union-attr]
    assert args[2][1] is args[2]  # the cycle is kept
    assert args[3] == Verbatim(CallRef(99))


# --- the client's own checks -------------------------------------------------------------------


def test_client_call_refuses_bad_chains_before_queueing() -> None:
    client = RpcClientConnection()
    with pytest.raises(ChainError, match="names no call queued"):
        client.call(chain_of(ctn.use(CallRef(1))))
    with pytest.raises(ChainError, match="set member"):
        client.call(chain_of(ctn.use({CallRef(1)})))
    with pytest.raises(DataCloneError):
        client.call(chain_of(ctn.use(object())))
    with pytest.raises(ChainError):
        client.call(())
    with pytest.raises(NotMeshCallableError):
        client.call((Get("_x"),))
    assert client.waiting == 0
    assert client.data_to_send(0.0) is None


def test_client_reference_to_a_sent_call_is_refused() -> None:
    client = RpcClientConnection()
    x = client.call(chain_of(ctn.make()))
    assert client.data_to_send(0.0) is not None
    with pytest.raises(ChainError, match="await it instead"):
        client.call(chain_of(ctn.use(CallRef(x))))


def test_client_ids_count_up_and_are_never_reused() -> None:
    client = RpcClientConnection()
    assert [client.call(chain_of(ctn.text())) for _ in range(3)] == [1, 2, 3]
    client.abandon()
    assert client.call(chain_of(ctn.text())) == 4


def test_client_opens_a_new_batch_past_the_call_limit() -> None:
    client, server = RpcClientConnection(), RpcServerConnection()
    for _ in range(MAX_CALLS_PER_BATCH + 1):
        client.call(chain_of(ctn.increment()))
    first, second = client.data_to_send(0.0), client.data_to_send(0.0)
    assert client.data_to_send(0.0) is None
    assert first is not None
    assert second is not None
    [a], [b] = server.receive_data(first), server.receive_data(second)
    assert isinstance(a, BatchReceived)
    assert isinstance(b, BatchReceived)
    assert (len(a.calls), len(b.calls)) == (MAX_CALLS_PER_BATCH, 1)


def test_client_reference_into_a_full_batch_is_refused() -> None:
    client = RpcClientConnection()
    first = client.call(chain_of(ctn.make()))
    for _ in range(MAX_CALLS_PER_BATCH - 1):
        client.call(chain_of(ctn.increment()))
    with pytest.raises(ChainError, match="is full"):
        client.call(chain_of(ctn.use(CallRef(first))))
    assert client.waiting == MAX_CALLS_PER_BATCH


def test_client_size_limits() -> None:
    client = RpcClientConnection()
    with pytest.raises(ChainError, match="a frame holds at most"):
        client.call(chain_of(ctn.use(bytes(MAX_FRAME_SIZE))))
    half = bytes(MAX_FRAME_SIZE // 2)
    client.call(chain_of(ctn.use(half)))
    client.call(chain_of(ctn.use(half)))  # does not fit with the first: a second batch
    sizes = [len(data) for data in iter(lambda: client.data_to_send(0.0), None)]
    assert len(sizes) == 2
    assert all(size <= MAX_FRAME_SIZE for size in sizes)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "30", True])
def test_client_batch_timeout_must_be_positive(timeout: object) -> None:
    with pytest.raises(ValueError, match="batch_timeout"):
        RpcClientConnection(batch_timeout=timeout)  # type: ignore[arg-type]


# --- deadlines ---------------------------------------------------------------------------------


def test_deadline_is_per_batch_from_the_time_it_was_sent() -> None:
    client = RpcClientConnection()
    assert client.next_deadline() is None
    a = client.call(chain_of(ctn.text()))
    b = client.call(chain_of(ctn.text()))
    client.data_to_send(100.0)
    c = client.call(chain_of(ctn.text()))
    assert client.next_deadline() == 130.0  # a queued call has no deadline yet
    client.data_to_send(110.0)
    assert client.expired(129.9) == []
    assert client.expired(130.0) == [a, b]
    assert client.next_deadline() == 140.0
    assert client.expired(1000.0) == [c]
    assert client.next_deadline() is None
    assert client.waiting == 0


def test_late_results_for_expired_calls_are_dropped() -> None:
    client = RpcClientConnection(batch_timeout=5)
    a = client.call(chain_of(ctn.text()))
    client.data_to_send(0.0)
    assert client.expired(5.0) == [a]
    assert client.receive_data(encode_results([(a, True, clone.dumps("late"))])) == []


def test_partial_results_keep_the_rest_of_the_batch_waiting() -> None:
    client = RpcClientConnection(batch_timeout=10)
    a = client.call(chain_of(ctn.text()))
    b = client.call(chain_of(ctn.text()))
    client.data_to_send(0.0)
    assert client.receive_data(encode_results([(b, True, clone.dumps(2))])) == [CallResult(b, 2)]
    assert client.waiting == 1
    assert client.next_deadline() == 10.0
    assert client.receive_data(encode_results([(b, True, clone.dumps(2))])) == []  # answered already
    assert client.expired(10.0) == [a]


def test_abandon_gives_up_everything_and_drops_late_results() -> None:
    client = RpcClientConnection()
    a = client.call(chain_of(ctn.text()))
    client.data_to_send(0.0)
    b = client.call(chain_of(ctn.text()))
    assert client.waiting == 2
    assert client.abandon() == [a, b]
    assert client.waiting == 0
    assert client.next_deadline() is None
    assert client.data_to_send(0.0) is None
    assert client.receive_data(encode_results([(a, True, clone.dumps(1))])) == []


# --- results the client refuses ---------------------------------------------------------------


def test_result_for_a_call_never_made_is_a_protocol_error_and_settles_nothing() -> None:
    client = RpcClientConnection()
    a = client.call(chain_of(ctn.text()))
    client.data_to_send(0.0)
    [event] = client.receive_data(encode_results([(a, True, clone.dumps(1)), (a + 1, True, clone.dumps(1))]))
    assert isinstance(event, ProtocolError)
    assert "never made" in event.message
    assert client.waiting == 1


def test_error_that_is_not_an_exception_is_a_protocol_error() -> None:
    client = RpcClientConnection()
    a = client.call(chain_of(ctn.text()))
    client.data_to_send(0.0)
    [event] = client.receive_data(encode_results([(a, False, clone.dumps("a string"))]))
    assert isinstance(event, ProtocolError)
    assert "not an exception" in event.message
    assert client.waiting == 1


def test_undecodable_result_fails_only_that_call() -> None:
    client = RpcClientConnection()
    a = client.call(chain_of(ctn.text()))
    b = client.call(chain_of(ctn.text()))
    client.data_to_send(0.0)
    events = client.receive_data(encode_results([(a, True, b"\xff"), (b, True, clone.dumps("ok"))]))
    assert isinstance(events[0], CallError)
    assert isinstance(events[0].error, DataCloneError)
    assert events[1] == CallResult(b, "ok")


# --- downstream, ping/pong, close ------------------------------------------------------------


@given(
    st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers())),
    st.none() | st.integers(0, 2**53 - 1),
)
def test_downstream_round_trip(payload: object, seq: int | None) -> None:
    data = RpcServerConnection().send_downstream(payload, seq)
    assert RpcClientConnection().receive_data(data) == [Downstream(payload, seq)]


def test_downstream_refusals() -> None:
    server = RpcServerConnection()
    with pytest.raises(ValueError, match="seq"):
        server.send_downstream(1, seq=-1)
    with pytest.raises(DataCloneError):
        server.send_downstream(object())
    with pytest.raises(DataCloneError, match="does not fit one frame"):
        server.send_downstream(bytes(MAX_FRAME_SIZE))
    bad = clone.dumps([1, 3, b"\xff", None])
    [event] = RpcClientConnection().receive_data(bad)
    assert isinstance(event, ProtocolError)
    assert "DOWNSTREAM payload cannot be decoded" in event.message


def test_ping_pong_both_ways() -> None:
    client, server = RpcClientConnection(), RpcServerConnection()
    assert server.receive_data(client.send_ping()) == [Ping()]
    assert client.receive_data(server.send_pong()) == [Pong()]
    assert client.receive_data(server.send_ping()) == [Ping()]
    assert server.receive_data(client.send_pong()) == [Pong()]


def test_close_both_ways_and_nothing_sent_after() -> None:
    client, server = RpcClientConnection(), RpcServerConnection()
    assert client.receive_data(server.send_close(CloseCode.TOKEN_EXPIRED, "Token expired")) == [
        Close(4401, "Token expired")
    ]
    assert server.closed
    with pytest.raises(RuntimeError, match="closed"):
        server.send_results([CallResult(1, 1)])
    with pytest.raises(RuntimeError, match="closed"):
        server.send_downstream(1)
    assert server.receive_data(client.send_close(1000, "bye")) == [Close(1000, "bye")]
    with pytest.raises(ValueError, match="close code"):
        client.send_close(5000, "")


@pytest.mark.parametrize("code", [CloseCode.NO_TOKEN, CloseCode.FORBIDDEN, CloseCode.RATE_LIMITED])
def test_documented_close_codes(code: CloseCode) -> None:
    assert RpcClientConnection().receive_data(RpcServerConnection().send_close(code, "no")) == [
        Close(code, "no")
    ]
    assert (CloseCode.NO_TOKEN, CloseCode.TOKEN_EXPIRED, CloseCode.FORBIDDEN, CloseCode.RATE_LIMITED) == (
        4400,
        4401,
        4403,
        4429,
    )


def test_frames_in_the_wrong_direction_are_protocol_errors() -> None:
    client, server = RpcClientConnection(), RpcServerConnection()
    client.call(chain_of(ctn.text()))
    batch = client.data_to_send(0.0)
    assert batch is not None
    [event] = client.receive_data(batch)
    assert isinstance(event, ProtocolError)
    assert "BATCH frame is sent by clients only" in event.message
    for data, kind in [
        (encode_results([(1, True, b"\xf6")]), "RESULTS"),
        (server.send_downstream(1), "DOWNSTREAM"),
    ]:
        [event] = server.receive_data(data)
        assert isinstance(event, ProtocolError)
        assert f"a {kind} frame is sent by servers only" in event.message


def test_version_mismatch_end_to_end() -> None:
    """A server that gets a frame of another version answers with a VERSION_MISMATCH close."""
    client, server = RpcClientConnection(), RpcServerConnection()
    [event] = server.receive_data(clone.dumps([2, 1, [[1, b"\x80"]]]))
    assert isinstance(event, ProtocolError)
    assert event.code == CloseCode.VERSION_MISMATCH == 4426
    assert "protocol version 2 is not supported" in event.message
    assert client.receive_data(server.send_close(event.code, event.message)) == [Close(4426, event.message)]
    [event] = client.receive_data(clone.dumps([0, 5]))
    assert isinstance(event, ProtocolError)
    assert event.code == CloseCode.VERSION_MISMATCH


def test_oversized_frames_are_refused_with_too_large() -> None:
    for connection in (RpcClientConnection(), RpcServerConnection()):
        [event] = connection.receive_data(bytes(MAX_FRAME_SIZE + 1))
        assert isinstance(event, ProtocolError)
        assert event.code == CloseCode.TOO_LARGE


# --- send_results ----------------------------------------------------------------------------


def test_send_results_refusals() -> None:
    server = RpcServerConnection()
    with pytest.raises(ValueError, match="at least one"):
        server.send_results([])
    with pytest.raises(ValueError, match="repeated"):
        server.send_results([CallResult(1, 1), CallResult(1, 2)])
    with pytest.raises(ValueError, match="out of range"):
        server.send_results([CallResult(-1, 1)])
    with pytest.raises(ValueError, match="takes CallResult and CallError"):
        server.send_results([Ping()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="takes CallResult and CallError"):
        server.send_results([CallError(1, "not an exception")])  # type: ignore[arg-type]


def test_send_results_replaces_unclonable_errors() -> None:
    error = ValueError("x")
    error.sock = object()  # type: ignore[attr-defined]
    client = RpcClientConnection()
    a = client.call(chain_of(ctn.text()))
    client.data_to_send(0.0)
    [event] = client.receive_data(RpcServerConnection().send_results([CallError(a, error)]))
    assert isinstance(event, CallError)
    assert isinstance(event.error, DataCloneError)
    assert "the error of call 1 cannot be sent" in str(event.error)


def test_send_results_always_fits_one_frame() -> None:
    big = bytes(MAX_FRAME_SIZE * 2 // 5)
    client = RpcClientConnection()
    ids = [client.call(chain_of(ctn.text())) for _ in range(5)]
    client.data_to_send(0.0)
    values = [big, big, b"small", big + b"+", big]
    data = RpcServerConnection().send_results([CallResult(i, v) for i, v in zip(ids, values, strict=True)])
    assert len(data) <= MAX_FRAME_SIZE
    events = client.receive_data(data)
    kept = [e for e in events if isinstance(e, CallResult)]
    dropped = [e for e in events if isinstance(e, CallError)]
    # The largest first (ties in order), and only as many as needed.
    assert [e.call_id for e in dropped] == [ids[0], ids[3]]
    assert "does not fit one frame" in str(dropped[0].error)
    assert [e.value for e in kept] == [big, b"small", big]


def test_encoded_outcomes_go_in_the_frame_as_they_are() -> None:
    client = RpcClientConnection()
    ids = [client.call(chain_of(ctn.text())) for _ in range(2)]
    client.data_to_send(0.0)
    server = RpcServerConnection()
    data = server.send_results(
        [
            EncodedOutcome(ids[0], True, clone.dumps({"a": 1})),
            EncodedOutcome(ids[1], False, clone.dumps(KeyError("k"))),
        ]
    )
    # The same frame send_results makes from the values.
    assert data == server.send_results([CallResult(ids[0], {"a": 1}), CallError(ids[1], KeyError("k"))])
    ok, failed = client.receive_data(data)
    assert ok == CallResult(ids[0], {"a": 1})
    assert isinstance(failed, CallError)
    assert isinstance(failed.error, KeyError)


def test_encoded_outcome_refusals_and_size_rule() -> None:
    server = RpcServerConnection()
    with pytest.raises(ValueError, match="repeated"):
        server.send_results([EncodedOutcome(1, True, b"\x01"), EncodedOutcome(1, True, b"\x02")])
    with pytest.raises(ValueError, match="out of range"):
        server.send_results([EncodedOutcome(-1, True, b"\x01")])
    for bad in [EncodedOutcome(1, 1, b"\x01"), EncodedOutcome(1, True, "text")]:  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"EncodedOutcome \(of a bool and bytes\)"):
            server.send_results([bad])
    big = clone.dumps(bytes(MAX_FRAME_SIZE))
    data = server.send_results([EncodedOutcome(1, True, big), EncodedOutcome(2, True, b"\x01")])
    assert len(data) <= MAX_FRAME_SIZE
    client_view = clone.loads(data)[2]
    assert client_view[0][1] is False
    assert b"does not fit one frame" in client_view[0][2]
    assert client_view[1] == [2, True, b"\x01"]
    server.send_close(1000, "")
    with pytest.raises(RuntimeError, match="closed"):
        server.send_results([EncodedOutcome(1, True, b"\x01")])


def test_a_plan_answers_encoded_outcomes_as_they_are_and_decodes_them_for_references() -> None:
    calls = [
        Call(1, chain_of(ctn.text())),
        Call(2, chain_of(ctn.use(CallRef(1))), (1,)),
        Call(3, chain_of(ctn.text())),
        Call(4, chain_of(ctn.use(CallRef(3))), (3,)),
        Call(5, chain_of(ctn.text())),
    ]
    plan = plan_batch(calls)
    ready = plan.next_call()
    assert ready is not None
    plan.settle_encoded(1, True, clone.dumps(["value"]))
    ready = plan.next_call()
    assert ready is not None
    assert ready.chain == chain_of(ctn.use(Verbatim(["value"])))  # decoded for the reference
    plan.succeed(2, "echoed")
    ready = plan.next_call()
    assert ready is not None
    with pytest.raises(TypeError, match="a bool and bytes"):
        plan.settle_encoded(3, 0, b"")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an exception"):
        plan.settle_encoded(3, False, clone.dumps("no"))  # nothing recorded: still call 3's turn
    plan.settle_encoded(3, False, clone.dumps(KeyError("k")))
    ready = plan.next_call()  # call 4 fails with call 3's error, unrun
    assert ready is not None
    assert ready.call_id == 5
    plan.settle_encoded(5, False, b"not decoded: nothing refers to it")
    assert plan.next_call() is None
    outcomes = plan.outcomes()
    assert outcomes[0] == EncodedOutcome(1, True, clone.dumps(["value"]))
    assert outcomes[1] == CallResult(2, "echoed")
    assert outcomes[2] == EncodedOutcome(3, False, clone.dumps(KeyError("k")))
    assert isinstance(outcomes[3], CallError)
    assert isinstance(outcomes[3].error, KeyError)
    assert outcomes[4] == EncodedOutcome(5, False, b"not decoded: nothing refers to it")


# --- plan_batch misuse -------------------------------------------------------------------------


def test_plan_refuses_misuse() -> None:
    calls = [Call(1, chain_of(ctn.text())), Call(2, chain_of(ctn.text()))]
    plan = plan_batch(calls)
    ready = plan.next_call()
    assert ready is not None
    with pytest.raises(RuntimeError, match="has no outcome yet"):
        plan.next_call()
    with pytest.raises(RuntimeError, match="not the call handed out last"):
        plan.succeed(2, None)
    plan.succeed(1, "a")
    with pytest.raises(RuntimeError, match="not the call handed out last"):
        plan.fail(1, ValueError())
    assert not plan.done
    assert plan.outcomes() == [CallResult(1, "a")]
    with pytest.raises(ValueError, match="unique"):
        plan_batch([Call(1, ()), Call(1, ())])
    with pytest.raises(ValueError, match="not earlier"):
        plan_batch([Call(1, (), (2,)), Call(2, ())])


def test_run_batch_records_errors() -> None:
    def execute_sync(chain: OperationChain) -> object:
        raise LookupError("nope")

    [outcome] = run_batch([Call(1, chain_of(ctn.text()))], execute_sync)
    assert isinstance(outcome, CallError)
    assert isinstance(outcome.error, LookupError)


def test_run_batch_lets_base_exceptions_through() -> None:
    def execute_sync(chain: OperationChain) -> object:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([Call(1, chain_of(ctn.text()))], execute_sync)


def test_substituted_nested_chain_alias_stays_one_chain() -> None:
    nested = NestedChain((Get("use"), Apply((CallRef(1),), {})))
    chain: OperationChain = (Get("use"), Apply((nested, nested), {}))
    outcomes = run_batch([Call(1, chain_of(ctn.text())), Call(2, chain, (1,))], lambda c: c)
    ready = outcomes[1]
    assert isinstance(ready, CallResult)
    value = ready.value
    assert isinstance(value, tuple)
    first, second = value[1].args
    assert first is second
    assert first.chain[1].args == (Verbatim(outcomes[0].value),)  # type: ignore[union-attr]


# --- Hypothesis: round trips and fuzzing -------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "use", "text"]), st.lists(values, max_size=3)),
        min_size=1,
        max_size=10,
    ),
    st.lists(values, min_size=10, max_size=10),
)
def test_peer_pair_round_trip(calls: list[tuple[str, list[object]]], answers: list[object]) -> None:
    """Whatever the client queues, the server receives as the same chains; whatever the server
    answers, the client reports for the same ids."""
    client, server = RpcClientConnection(), RpcServerConnection()
    chains = [(Get(name), Apply(tuple(args), {})) for name, args in calls]
    ids = [client.call(chain) for chain in chains]
    data = client.data_to_send(0.0)
    assert data is not None
    [batch] = server.receive_data(data)
    assert isinstance(batch, BatchReceived)
    assert [(c.call_id, c.chain) for c in batch.calls] == list(zip(ids, chains, strict=True))
    outcomes = run_batch(batch.calls, lambda chain: answers[len(chain[1].args)])  # type: ignore[union-attr]
    events = client.receive_data(server.send_results(outcomes))
    assert events == outcomes
    assert client.waiting == 0


CLIENT_EVENTS = (CallResult, CallError, Downstream, Ping, Pong, Close, ProtocolError)
SERVER_EVENTS = (BatchReceived, Ping, Pong, Close, ProtocolError)


def valid_frames() -> list[bytes]:
    client, server = RpcClientConnection(), RpcServerConnection()
    x = client.call(chain_of(ctn.make()))
    client.call(chain_of(ctn.use(CallRef(x), ctn.add(1, {"a": [CallRef(x)]}))))
    batch = client.data_to_send(0.0)
    assert batch is not None
    return [
        batch,
        server.send_results([CallResult(1, [1, "x", {"k": 2.5}]), CallError(2, ValueError("no"))]),
        server.send_downstream({"room": "lobby", "seq": [1, 2]}, 7),
        server.send_close(4401, "expired"),
        server.send_ping(),
    ]


VALID = valid_frames()


def check_never_raises(data: bytes) -> None:
    client = RpcClientConnection()
    for _ in range(3):
        client.call(chain_of(ctn.text()))
    client.data_to_send(0.0)
    events = client.receive_data(data)
    assert all(isinstance(event, CLIENT_EVENTS) for event in events)
    server_events = RpcServerConnection().receive_data(data)
    assert len(server_events) == 1
    assert isinstance(server_events[0], SERVER_EVENTS)


@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    check_never_raises(data)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(VALID),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from(["flip", "insert", "delete"])),
        min_size=1,
        max_size=4,
    ),
)
def test_fuzz_mutated_frames(frame: bytes, edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(frame)
    for position, byte, how in edits:
        at = position % (len(data) + 1)
        if how == "insert":
            data.insert(at, byte)
        elif data and at < len(data):
            if how == "flip":
                data[at] ^= byte or 1
            else:
                del data[at]
    check_never_raises(bytes(data))


@given(st.sampled_from(VALID), st.integers(0, 300))
def test_fuzz_truncated_frames(frame: bytes, cut: int) -> None:
    data = frame[: cut % max(len(frame), 1)]
    check_never_raises(data)
    server_events = RpcServerConnection().receive_data(data)
    assert all(isinstance(event, ProtocolError) for event in server_events)
