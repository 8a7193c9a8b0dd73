"""The client side of an RPC connection, as a sans-IO state machine.

Theory of operation
-------------------
``call(chain)`` checks the chain, encodes it (so an uncloneable argument fails at the call site)
and queues it in the *open batch*; it returns the call's id. Ids count up from 1 and are never
reused on one connection. ``data_to_send(now)`` takes the oldest queued batch out as one BATCH
frame and starts its deadline (``now + batch_timeout``). A batch holds at most
``MAX_CALLS_PER_BATCH`` calls and fits one frame; past either limit ``call`` opens a new batch, so
an I/O shell calls ``data_to_send`` until it returns ``None``.

``receive_data(bytes)`` turns one frame into events. A result for a call in flight settles it; a
result for an id this connection issued but no longer waits for (its batch expired, or it was
abandoned) is dropped silently, since it may legitimately arrive late; a result for an id never
issued is a protocol error. A results frame may answer any subset of the calls in flight: what
is left of a batch keeps its deadline. ``expired(now)`` gives up the calls of every batch whose
deadline has passed; ``abandon()`` gives up everything (the transport died).

Nothing here reads a clock: every ``now`` is the caller's (``trio.current_time()`` in the shell).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from .. import clone
from .._exceptions import ChainError, DataCloneError
from ..clone._encode import dumps_plain
from ..ocan import to_wire, validate_chain
from ..ocan._plan import is_simple
from ._events import CallError, CallResult, Close, Downstream, Ping, Pong, ProtocolError
from ._frames import (
    PING_BYTES,
    PONG_BYTES,
    BatchFrame,
    CloseFrame,
    DownstreamFrame,
    FrameError,
    PingFrame,
    PongFrame,
    ResultsFrame,
    decode_frame,
    encode_batch,
    encode_close,
)
from ._limits import DEFAULT_BATCH_TIMEOUT, FRAME_OVERHEAD, MAX_CALLS_PER_BATCH, MAX_FRAME_SIZE, CloseCode
from ._refs import RefError, find_refs

if TYPE_CHECKING:
    from ..ocan import OperationChain
    from ._events import ClientEvent


@final
class _Queued:
    """A batch being filled: the encoded calls, in order, and their total size."""

    __slots__ = ("calls", "ids", "size")

    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes]] = []
        self.ids: set[int] = set()
        self.size = 0


@final
class _InFlight:
    """A batch that was sent: its deadline and the calls still waiting for a result."""

    __slots__ = ("deadline", "waiting")

    def __init__(self, deadline: float, waiting: list[int]) -> None:
        self.deadline = deadline
        self.waiting = dict.fromkeys(waiting)  # ordered, so expired() reports in call order


@final
class RpcClientConnection:
    """The client's half of the RPC protocol: makes batches, reads results and pushes.

    Args:
        batch_timeout: seconds (of the caller's clock) a sent batch waits for its results before
            :meth:`expired` gives its calls up. Default :data:`DEFAULT_BATCH_TIMEOUT` (30 s).

    Raises:
        ValueError: *batch_timeout* is not a positive number.

    .. versionadded:: 0.1
    """

    def __init__(self, *, batch_timeout: float = DEFAULT_BATCH_TIMEOUT) -> None:
        if (
            isinstance(batch_timeout, bool)
            or not isinstance(batch_timeout, int | float)
            or not batch_timeout > 0
        ):
            raise ValueError(f"batch_timeout must be a positive number of seconds, got {batch_timeout!r}")
        self.batch_timeout = float(batch_timeout)
        self._next_id = 1
        self._queued: list[_Queued] = []
        self._batches: list[_InFlight] = []  # in the order they were sent, so by deadline too
        self._in_flight: dict[int, _InFlight] = {}

    def call(self, chain: OperationChain) -> int:
        """Queue a call of *chain* and return its id (unique on this connection).

        *chain* may hold :class:`CallRef` markers naming calls that are still queued in the same
        batch (made since the last :meth:`data_to_send` that emptied the queue); the server
        replaces each by that call's result.

        Raises:
            ChainError: *chain* is malformed or over a limit (see
                :func:`~lumenize_trio.ocan.validate_chain`), holds a ``CallRef`` in a set or a dict
                key, references a call that is not queued in the batch this call goes to, or is
                too large for a frame.
            NotMeshCallableError: a name in *chain* starts with ``_``.
            DataCloneError: an argument cannot be cloned.

        Nothing is queued when it raises.
        """
        if is_simple(chain):  # scalar arguments only (most calls): valid, no reference, plain
            refs: tuple[int, ...] = ()
            data = dumps_plain(to_wire(chain))
        else:
            validate_chain(chain)
            try:
                refs = find_refs(chain)
            except RefError as exc:
                raise ChainError(str(exc)) from None
            data = clone.dumps(to_wire(chain))
        size = len(data)
        if size > MAX_FRAME_SIZE - FRAME_OVERHEAD:
            raise ChainError(
                f"the call encodes to {size} bytes; a frame holds at most {MAX_FRAME_SIZE - FRAME_OVERHEAD}"
            )
        batch = self._queued[-1] if self._queued else None
        for ref in refs:
            if batch is None or ref not in batch.ids:
                raise ChainError(
                    f"CallRef({ref}) names no call queued in this batch: a call's result can be passed "
                    "without waiting only to calls made before the batch is sent; await it instead"
                )
        if (
            batch is None
            or len(batch.calls) >= MAX_CALLS_PER_BATCH
            or batch.size + size > MAX_FRAME_SIZE - FRAME_OVERHEAD
        ):
            if refs:
                raise ChainError(
                    "the batch the referenced calls are in is full; await them and pass their results"
                )
            batch = _Queued()
            self._queued.append(batch)
        call_id = self._next_id
        self._next_id += 1
        batch.calls.append((call_id, data))
        batch.ids.add(call_id)
        batch.size += size
        return call_id

    def data_to_send(self, now: float) -> bytes | None:
        """The next BATCH frame to send, or ``None`` when no call is queued.

        Takes the oldest queued batch out and starts its deadline at ``now + batch_timeout``.
        Call it until it returns ``None``: calls past one batch's limits wait in the next one.
        """
        if not self._queued:
            return None
        batch = self._queued.pop(0)
        in_flight = _InFlight(now + self.batch_timeout, [call_id for call_id, _ in batch.calls])
        self._batches.append(in_flight)
        for call_id in in_flight.waiting:
            self._in_flight[call_id] = in_flight
        return encode_batch(batch.calls)

    def receive_data(self, data: bytes) -> list[ClientEvent]:
        """The events of one frame received from the server.

        Returns:
            For RESULTS, one :class:`CallResult` or :class:`CallError` per call in flight that it
            answers, in frame order (a value that cannot be decoded here becomes a ``CallError``
            with the ``DataCloneError``; an error that is not an exception is a protocol error);
            for DOWNSTREAM a :class:`Downstream` (or a ``ProtocolError`` if the payload cannot be
            decoded); a :class:`Ping`, :class:`Pong` or :class:`Close`; or a single
            :class:`ProtocolError` for anything malformed, in which case nothing in the frame was
            acted on. Never raises.
        """
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            return [ProtocolError(exc.code, exc.message)]
        if type(frame) is ResultsFrame:
            return self._results(frame)
        if type(frame) is DownstreamFrame:
            try:
                payload = clone.loads(frame.payload)
            except DataCloneError as exc:
                return [_protocol_error(f"a DOWNSTREAM payload cannot be decoded: {exc}")]
            return [Downstream(payload, frame.seq)]
        if type(frame) is PingFrame:
            return [Ping()]
        if type(frame) is PongFrame:
            return [Pong()]
        if type(frame) is CloseFrame:
            return [Close(frame.code, frame.reason)]
        assert type(frame) is BatchFrame
        return [_protocol_error("a BATCH frame is sent by clients only")]

    def _results(self, frame: ResultsFrame) -> list[ClientEvent]:
        # Checked whole before anything is settled: a bad frame changes nothing.
        for call_id, _, _ in frame.results:
            if call_id >= self._next_id:
                return [_protocol_error(f"a result for call {call_id}, which this client never made")]
        events: list[CallResult | CallError] = []
        for call_id, ok, data in frame.results:
            if call_id not in self._in_flight:
                continue  # expired or abandoned: a late answer is not an error
            try:
                value = clone.loads(data)
            except DataCloneError as exc:
                events.append(CallError(call_id, exc))
                continue
            if ok:
                events.append(CallResult(call_id, value))
            elif isinstance(value, BaseException):
                events.append(CallError(call_id, value))
            else:
                return [
                    _protocol_error(
                        f"the error of call {call_id} is a {type(value).__name__}, not an exception"
                    )
                ]
        for event in events:
            self._settle(event.call_id)
        return list(events)

    def _settle(self, call_id: int) -> None:
        batch = self._in_flight.pop(call_id)
        del batch.waiting[call_id]
        if not batch.waiting:
            self._batches.remove(batch)

    def expired(self, now: float) -> list[int]:
        """Give up, and return the ids of, every call whose batch's deadline is at or before *now*.

        The ids come in the order the calls were made. Results that arrive for them later are
        dropped. The shell fails each with its timeout error.
        """
        out: list[int] = []
        while self._batches and self._batches[0].deadline <= now:
            batch = self._batches.pop(0)
            for call_id in batch.waiting:
                del self._in_flight[call_id]
            out.extend(batch.waiting)
        return out

    def next_deadline(self) -> float | None:
        """The earliest deadline of a batch in flight (for the shell's sleep), or ``None``."""
        return self._batches[0].deadline if self._batches else None

    def abandon(self) -> list[int]:
        """Give up every queued and in-flight call (the transport closed); return their ids in order.

        Results that arrive for them later are dropped. The connection stays usable: new calls
        get new ids.
        """
        out = sorted(self._in_flight)
        for batch in self._queued:
            out.extend(call_id for call_id, _ in batch.calls)
        self._queued.clear()
        self._batches.clear()
        self._in_flight.clear()
        return out

    @property
    def waiting(self) -> int:
        """How many calls are queued or in flight."""
        return len(self._in_flight) + sum(len(batch.calls) for batch in self._queued)

    def send_ping(self) -> bytes:
        """A PING frame (always the same bytes); the server answers with a PONG."""
        return PING_BYTES

    def send_pong(self) -> bytes:
        """A PONG frame (always the same bytes), the answer to a :class:`Ping`."""
        return PONG_BYTES

    def send_close(self, code: int, reason: str) -> bytes:
        """A CLOSE frame with *code* (1000 to 4999) and *reason*.

        Raises:
            ValueError: *code* or *reason* is out of range or of the wrong type.
        """
        return encode_close(code, reason)


def _protocol_error(message: str) -> ProtocolError:
    return ProtocolError(int(CloseCode.PROTOCOL_ERROR), message)
