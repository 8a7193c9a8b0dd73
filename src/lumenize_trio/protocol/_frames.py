"""Frames: encoding them, and decoding untrusted bytes into checked frame values.

Every frame is one clone document: a CBOR array ``[version, kind, ...fields]``. Chains, results,
errors and payloads are carried *inside* it as byte strings that are clone documents of their
own, so that one undecodable value (a class this side has not registered) costs only its own call,
and so that each call's arguments are cloned on their own, as at every actor boundary. The layout
of every frame is specified in ``docs/protocol.md`` (section "RPC frames").

:func:`decode_frame` checks everything about the frame's shape and raises :class:`FrameError`
(carrying the close code to answer with) for anything wrong; it never decodes the inner byte
strings: the connections do that, per call.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final, TypeAlias, final

import attrs

from .. import clone
from .._exceptions import DataCloneError
from ..clone._encode import dumps_plain
from ._limits import MAX_CALLS_PER_BATCH, MAX_FRAME_SIZE, MAX_ID, PROTOCOL_VERSION, CloseCode

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class Kind(enum.IntEnum):
    """The second item of every frame."""

    BATCH = 1
    RESULTS = 2
    DOWNSTREAM = 3
    PING = 4
    PONG = 5
    CLOSE = 6


@final
class FrameError(Exception):
    """Bytes that are not a valid frame; ``code`` is the close code to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@final
@attrs.frozen
class BatchFrame:
    """``[1, 1, [[call_id, chain_bytes], ...]]``: ids unique, 1 to MAX_CALLS_PER_BATCH calls."""

    calls: tuple[tuple[int, bytes], ...]


@final
@attrs.frozen
class ResultsFrame:
    """``[1, 2, [[call_id, ok, value_bytes], ...]]``: ids unique, at least one item."""

    results: tuple[tuple[int, bool, bytes], ...]


@final
@attrs.frozen
class DownstreamFrame:
    """``[1, 3, payload_bytes, seq]``: seq is an id or null."""

    payload: bytes
    seq: int | None


@final
@attrs.frozen
class PingFrame:
    """``[1, 4]``."""


@final
@attrs.frozen
class PongFrame:
    """``[1, 5]``."""


@final
@attrs.frozen
class CloseFrame:
    """``[1, 6, code, reason]``: code from 1000 to 4999."""

    code: int
    reason: str


Frame: TypeAlias = BatchFrame | ResultsFrame | DownstreamFrame | PingFrame | PongFrame | CloseFrame

#: The two frames that never change: a shell may compare received bytes with them, and a server
#: may answer PING with PONG without waking anything (an auto-response pair).
PING_BYTES: Final = clone.dumps([PROTOCOL_VERSION, int(Kind.PING)])
PONG_BYTES: Final = clone.dumps([PROTOCOL_VERSION, int(Kind.PONG)])


def encode_batch(calls: Sequence[tuple[int, bytes]]) -> bytes:
    """The BATCH frame of *calls* (``(call_id, clone.dumps(to_wire(chain)))`` pairs)."""
    return dumps_plain([PROTOCOL_VERSION, int(Kind.BATCH), [[call_id, chain] for call_id, chain in calls]])


def encode_results(results: Sequence[tuple[int, bool, bytes]]) -> bytes:
    """The RESULTS frame of *results* (``(call_id, ok, clone.dumps(value or error))``)."""
    return dumps_plain(
        [PROTOCOL_VERSION, int(Kind.RESULTS), [[call_id, ok, data] for call_id, ok, data in results]]
    )


def encode_downstream(payload: bytes, seq: int | None) -> bytes:
    """The DOWNSTREAM frame of *payload* (``clone.dumps(value)``) with its sequence number."""
    return dumps_plain([PROTOCOL_VERSION, int(Kind.DOWNSTREAM), payload, seq])


def encode_close(code: int, reason: str) -> bytes:
    """The CLOSE frame.

    Raises:
        ValueError: *code* is not an integer from 1000 to 4999, or *reason* is not a ``str``.
    """
    if type(code) is not int and not isinstance(code, CloseCode):
        raise ValueError(f"a close code is an integer from 1000 to 4999, got {code!r:.40}")
    if not 1000 <= code <= 4999:
        raise ValueError(f"a close code is an integer from 1000 to 4999, got {code}")
    if type(reason) is not str:
        raise ValueError(f"a close reason is a str, got {type(reason).__name__}")
    return dumps_plain([PROTOCOL_VERSION, int(Kind.CLOSE), int(code), reason])


def _is_id(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_ID


def _fail(message: str) -> FrameError:
    return FrameError(int(CloseCode.PROTOCOL_ERROR), message)


def decode_frame(data: object) -> Frame:
    """Check and decode one frame received from a peer.

    Raises:
        FrameError: *data* is not bytes, is larger than :data:`MAX_FRAME_SIZE`
            (code TOO_LARGE), is not a clone document, is not ``[version, kind, ...]``, has
            another version (code VERSION_MISMATCH), an unknown kind, or fields of the wrong
            count, type or range (code PROTOCOL_ERROR). The message says which.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _fail(f"a frame is bytes, got {type(data).__name__}")
    size = len(data)
    if size > MAX_FRAME_SIZE:
        raise FrameError(
            int(CloseCode.TOO_LARGE), f"a frame of {size} bytes is over the limit of {MAX_FRAME_SIZE} bytes"
        )
    try:
        frame = clone.loads(data)
    except DataCloneError as exc:
        raise _fail(f"a frame is not a valid clone document: {exc}") from None
    if type(frame) is not list or not frame:
        raise _fail(f"a frame is an array [version, kind, ...], got {_describe(frame)}")
    version = frame[0]
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise FrameError(
            int(CloseCode.VERSION_MISMATCH),
            f"protocol version {version!r:.40} is not supported; this side speaks version {PROTOCOL_VERSION}",
        )
    if len(frame) < 2:
        raise _fail("a frame is an array [version, kind, ...], got an array of 1 item")
    kind = frame[1]
    if type(kind) is not int or kind not in _KINDS:
        raise _fail(f"unknown frame kind {kind!r:.40} (known: 1 to {len(_KINDS)})")
    decoder, fields = _KINDS[kind]
    if len(frame) != 2 + fields:
        raise _fail(f"a {Kind(kind).name} frame has {2 + fields} items, got {len(frame)}")
    return decoder(frame)


def _describe(value: object) -> str:
    if type(value) is list:
        return f"an array of {len(value)} items"
    return f"a {type(value).__name__}"


def _unique(ids: list[int], what: str) -> None:
    if len(set(ids)) != len(ids):
        seen: set[int] = set()
        for call_id in ids:  # pragma: no branch - a duplicate exists, so the loop returns
            if call_id in seen:
                raise _fail(f"call id {call_id} appears twice in one {what} frame")
            seen.add(call_id)


def _batch(frame: list[object]) -> BatchFrame:
    calls = frame[2]
    if type(calls) is not list or not calls:
        raise _fail(f"a BATCH frame's calls are a non-empty array, got {_describe(calls)}")
    if len(calls) > MAX_CALLS_PER_BATCH:
        raise _fail(f"a batch of {len(calls)} calls is over the limit of {MAX_CALLS_PER_BATCH}")
    out: list[tuple[int, bytes]] = []
    for index, call in enumerate(calls):
        if type(call) is not list or len(call) != 2 or not _is_id(call[0]) or type(call[1]) is not bytes:
            raise _fail(f"call {index} of a BATCH frame is not [call_id, chain bytes]: {call!r:.80}")
        out.append((call[0], call[1]))
    _unique([call_id for call_id, _ in out], "BATCH")
    return BatchFrame(tuple(out))


def _results(frame: list[object]) -> ResultsFrame:
    results = frame[2]
    if type(results) is not list or not results:
        raise _fail(f"a RESULTS frame's results are a non-empty array, got {_describe(results)}")
    out: list[tuple[int, bool, bytes]] = []
    for index, item in enumerate(results):
        if (
            type(item) is not list
            or len(item) != 3
            or not _is_id(item[0])
            or type(item[1]) is not bool
            or type(item[2]) is not bytes
        ):
            raise _fail(f"result {index} of a RESULTS frame is not [call_id, ok, bytes]: {item!r:.80}")
        out.append((item[0], item[1], item[2]))
    _unique([call_id for call_id, _, _ in out], "RESULTS")
    return ResultsFrame(tuple(out))


def _downstream(frame: list[object]) -> DownstreamFrame:
    payload, seq = frame[2], frame[3]
    if type(payload) is not bytes:
        raise _fail(f"a DOWNSTREAM frame's payload is bytes, got {_describe(payload)}")
    if seq is not None and not _is_id(seq):
        raise _fail(f"a DOWNSTREAM frame's seq is null or an integer from 0 to 2**53-1, got {seq!r:.40}")
    assert seq is None or type(seq) is int
    return DownstreamFrame(payload, seq)


def _ping(frame: list[object]) -> PingFrame:
    return PingFrame()


def _pong(frame: list[object]) -> PongFrame:
    return PongFrame()


def _close(frame: list[object]) -> CloseFrame:
    code, reason = frame[2], frame[3]
    if type(code) is not int or not 1000 <= code <= 4999:
        raise _fail(f"a CLOSE frame's code is an integer from 1000 to 4999, got {code!r:.40}")
    if type(reason) is not str:
        raise _fail(f"a CLOSE frame's reason is text, got {_describe(reason)}")
    return CloseFrame(code, reason)


_KINDS: Final[dict[int, tuple[Callable[[list[object]], Frame], int]]] = {
    Kind.BATCH: (_batch, 1),
    Kind.RESULTS: (_results, 1),
    Kind.DOWNSTREAM: (_downstream, 2),
    Kind.PING: (_ping, 0),
    Kind.PONG: (_pong, 0),
    Kind.CLOSE: (_close, 2),
}
