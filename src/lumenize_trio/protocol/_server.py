"""The server side of an RPC connection, as a sans-IO state machine.

Theory of operation
-------------------
The server keeps no per-call state: each BATCH frame is checked whole and reported as one
:class:`BatchReceived`, whose calls the shell runs in order (with :func:`plan_batch`) and answers
with one RESULTS frame from :meth:`RpcServerConnection.send_results`. The same object serves a
WebSocket (many frames) or one HTTP request (one frame in, one out).

What is checked where:

* The frame (size, CBOR, version, kind, shape, ids unique, at most ``MAX_CALLS_PER_BATCH``
  calls) and every pipelined reference (rules in :mod:`._refs`): anything wrong is a
  :class:`ProtocolError` for the whole frame, and no call of it runs.
* Each call's chain: bytes that do not decode here (``DataCloneError``), a malformed chain or one
  over a limit (``ChainError``), a name starting with ``_`` (``NotMeshCallableError``). Such a call
  is *refused*: it is reported with its error in ``Call.refused`` and answered with that error,
  like a call that raised, while the rest of the batch runs. A call referencing a refused call
  fails with the same error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from .. import clone
from .._exceptions import ChainError, DataCloneError, NotMeshCallableError
from ..ocan import from_wire, validate_chain
from ..ocan._plan import is_simple
from ._events import (
    BatchReceived,
    Call,
    CallError,
    CallResult,
    Close,
    EncodedOutcome,
    Ping,
    Pong,
    ProtocolError,
)
from ._frames import (
    PING_BYTES,
    PONG_BYTES,
    BatchFrame,
    CloseFrame,
    FrameError,
    PingFrame,
    PongFrame,
    decode_frame,
    encode_close,
    encode_downstream,
    encode_results,
)
from ._limits import FRAME_OVERHEAD, MAX_FRAME_SIZE, MAX_ID, CloseCode
from ._refs import RefError, check_refs, find_refs

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._events import Outcome, ServerEvent


@final
class RpcServerConnection:
    """The server's half of the RPC protocol: reads batches, writes results, pushes and closes.

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        #: Whether :meth:`send_close` was called; nothing else may be sent afterwards.
        self.closed = False

    def receive_data(self, data: bytes) -> list[ServerEvent]:
        """The events of one frame received from a client.

        Returns:
            ``[BatchReceived(calls)]`` for a valid batch (refused calls included, marked);
            ``[Ping()]``, ``[Pong()]`` or ``[Close(code, reason)]``; or ``[ProtocolError(code,
            message)]`` for anything malformed, in which case no call of the frame may run and
            the shell should answer with :meth:`send_close` and close. Never raises.
        """
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            return [ProtocolError(exc.code, exc.message)]
        if type(frame) is BatchFrame:
            return [self._batch(frame)]
        if type(frame) is PingFrame:
            return [Ping()]
        if type(frame) is PongFrame:
            return [Pong()]
        if type(frame) is CloseFrame:
            return [Close(frame.code, frame.reason)]
        return [
            _protocol_error(
                f"a {type(frame).__name__.removesuffix('Frame').upper()} frame is sent by servers only"
            )
        ]

    def _batch(self, frame: BatchFrame) -> BatchReceived | ProtocolError:
        calls: list[Call] = []
        earlier: dict[int, None] = {}
        for call_id, data in frame.calls:
            try:
                chain = from_wire(clone.loads(data))
                simple = is_simple(chain)  # scalar arguments only (most calls): valid, no reference
                if not simple:
                    validate_chain(chain)
            except (DataCloneError, ChainError, NotMeshCallableError) as exc:
                calls.append(Call(call_id, (), (), exc))
            else:
                try:
                    refs = () if simple else find_refs(chain)
                except RefError as exc:
                    return _protocol_error(f"call {call_id}: {exc}")
                problem = check_refs(refs, earlier, call_id)
                if problem is not None:
                    return _protocol_error(problem)
                calls.append(Call(call_id, chain, refs))
            earlier[call_id] = None
        return BatchReceived(tuple(calls))

    def send_results(self, results: Iterable[Outcome]) -> bytes:
        """The RESULTS frame answering calls of a batch: one :class:`CallResult`,
        :class:`CallError` or :class:`EncodedOutcome` per call, each call id at most once
        (usually one per call, in order).

        Never fails for a value: a result or error that cannot be cloned is sent as a
        ``CallError`` carrying the ``DataCloneError``, and when the frame would exceed
        :data:`MAX_FRAME_SIZE` the largest values are replaced by such an error until it fits.

        Raises:
            ValueError: *results* is empty, repeats a call id, holds something that is not an
                outcome (an error that is not an exception, encoded data that is not bytes) or
                an id out of range.
            RuntimeError: :meth:`send_close` was called already.
        """
        self._check_open()
        items: list[tuple[int, bool, bytes]] = []
        ids: set[int] = set()
        for outcome in results:
            if (
                isinstance(outcome, EncodedOutcome)
                and type(outcome.ok) is bool
                and type(outcome.data) is bytes
            ):
                item = (outcome.call_id, outcome.ok, outcome.data)
            elif isinstance(outcome, CallResult):
                item = _encode_outcome(outcome.call_id, True, outcome.value)
            elif isinstance(outcome, CallError) and isinstance(outcome.error, BaseException):
                item = _encode_outcome(outcome.call_id, False, outcome.error)
            else:
                raise ValueError(
                    "send_results takes CallResult and CallError (of an exception) values, or "
                    f"EncodedOutcome (of a bool and bytes), got {outcome!r:.80}"
                )
            call_id = item[0]
            if type(call_id) is not int or not 0 <= call_id <= MAX_ID or call_id in ids:
                raise ValueError(f"call id {call_id!r:.40} is out of range or repeated")
            ids.add(call_id)
            items.append(item)
        if not items:
            raise ValueError("send_results needs at least one result")
        budget = MAX_FRAME_SIZE - FRAME_OVERHEAD
        total = sum(len(data) for _, _, data in items)
        if total > budget:
            # Replace the largest values first: the fewest calls lose their answer. At most
            # MAX_CALLS_PER_BATCH small errors always fit, so the loop ends at a break.
            largest_first = sorted(range(len(items)), key=lambda i: len(items[i][2]), reverse=True)
            for index in largest_first:  # pragma: no branch
                call_id, _, data = items[index]
                error = DataCloneError(
                    f"the result of call {call_id} is {len(data)} bytes encoded: together with the "
                    f"other results of its batch it does not fit one frame ({MAX_FRAME_SIZE} bytes)"
                )
                items[index] = (call_id, False, clone.dumps(error))
                total += len(items[index][2]) - len(data)
                if total <= budget:
                    break
        return encode_results(items)

    def send_downstream(self, payload: object, seq: int | None = None) -> bytes:
        """A DOWNSTREAM frame pushing *payload*, with an optional sequence number *seq*.

        Raises:
            DataCloneError: *payload* cannot be cloned, or is too large for one frame.
            ValueError: *seq* is not ``None`` or an integer from 0 to 2**53-1.
            RuntimeError: :meth:`send_close` was called already.
        """
        self._check_open()
        if seq is not None and (type(seq) is not int or not 0 <= seq <= MAX_ID):
            raise ValueError(f"seq must be None or an integer from 0 to 2**53-1, got {seq!r:.40}")
        data = clone.dumps(payload)
        if len(data) > MAX_FRAME_SIZE - FRAME_OVERHEAD:
            raise DataCloneError(
                f"a downstream payload of {len(data)} bytes encoded does not fit one frame ({MAX_FRAME_SIZE} bytes)"
            )
        return encode_downstream(data, seq)

    def send_ping(self) -> bytes:
        """A PING frame (always the same bytes); the client answers with a PONG."""
        return PING_BYTES

    def send_pong(self) -> bytes:
        """A PONG frame (always the same bytes), the answer to a :class:`Ping`."""
        return PONG_BYTES

    def send_close(self, code: int, reason: str) -> bytes:
        """A CLOSE frame with *code* (a :class:`CloseCode` or another code from 1000 to 4999) and
        *reason*. Marks the connection closed: nothing but another close may be sent after it.

        Raises:
            ValueError: *code* or *reason* is out of range or of the wrong type.
        """
        data = encode_close(code, reason)
        self.closed = True
        return data

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the connection was closed with send_close(); nothing more may be sent")


def _encode_outcome(call_id: int, ok: bool, value: object) -> tuple[int, bool, bytes]:
    try:
        return call_id, ok, clone.dumps(value)
    except DataCloneError as exc:
        what = "result" if ok else "error"
        error = DataCloneError(f"the {what} of call {call_id} cannot be sent: {exc}")
        return call_id, False, clone.dumps(error)


def _protocol_error(message: str) -> ProtocolError:
    return ProtocolError(int(CloseCode.PROTOCOL_ERROR), message)
