"""Tests for `lumenize_trio.protocol._frames`: the layout of every frame, round trips, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from lumenize_trio import clone
from lumenize_trio.protocol import MAX_CALLS_PER_BATCH, MAX_FRAME_SIZE, PROTOCOL_VERSION, CloseCode
from lumenize_trio.protocol._frames import (
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
    encode_downstream,
    encode_results,
)

ids = st.integers(0, 2**53 - 1)
blobs = st.binary(max_size=20)


@given(st.lists(st.tuples(ids, blobs), min_size=1, max_size=MAX_CALLS_PER_BATCH, unique_by=lambda c: c[0]))
def test_batch_roundtrip(calls: list[tuple[int, bytes]]) -> None:
    assert decode_frame(encode_batch(calls)) == BatchFrame(tuple(calls))


@given(st.lists(st.tuples(ids, st.booleans(), blobs), min_size=1, max_size=50, unique_by=lambda r: r[0]))
def test_results_roundtrip(results: list[tuple[int, bool, bytes]]) -> None:
    assert decode_frame(encode_results(results)) == ResultsFrame(tuple(results))


@given(blobs, st.none() | ids)
def test_downstream_roundtrip(payload: bytes, seq: int | None) -> None:
    assert decode_frame(encode_downstream(payload, seq)) == DownstreamFrame(payload, seq)


@given(st.integers(1000, 4999), st.text(max_size=30))
def test_close_roundtrip(code: int, reason: str) -> None:
    assert decode_frame(encode_close(code, reason)) == CloseFrame(code, reason)


def test_ping_pong_are_constant_bytes() -> None:
    assert bytes.fromhex("820104") == PING_BYTES
    assert bytes.fromhex("820105") == PONG_BYTES
    assert decode_frame(PING_BYTES) == PingFrame()
    assert decode_frame(bytearray(PONG_BYTES)) == PongFrame()


def test_layout_is_plain_cbor() -> None:
    """The outer frame is a plain array: [version, kind, fields...] with byte strings inside."""
    assert encode_batch([(1, b"\x80")]) == bytes.fromhex("830101818201" + "4180")
    assert clone.loads(encode_results([(7, False, b"x")])) == [1, 2, [[7, False, b"x"]]]
    assert clone.loads(encode_downstream(b"p", None)) == [1, 3, b"p", None]
    assert clone.loads(encode_close(CloseCode.TOKEN_EXPIRED, "expired")) == [1, 6, 4401, "expired"]


@pytest.mark.parametrize(("code", "reason"), [(999, ""), (5000, ""), (True, ""), (1000.0, ""), (1000, b"x")])
def test_encode_close_refuses(code: object, reason: object) -> None:
    with pytest.raises(ValueError, match="close"):
        encode_close(code, reason)  # type: ignore[arg-type]


def frame(*items: object) -> bytes:
    return clone.dumps(list(items))


BAD = [
    ("not bytes", "a frame is bytes"),
    (b"", "not a valid clone"),
    (b"\xff", "not a valid clone"),
    (clone.dumps({"v": 1}), "an array"),
    (frame(), "an array"),
    (frame(1), "an array of 1 item"),
    (frame(1, 99), "unknown frame kind 99"),
    (frame(1, "batch"), "unknown frame kind"),
    (frame(1, True), "unknown frame kind"),
    (frame(1, 4, None), "PING frame has 2 items"),
    (frame(1, 1), "BATCH frame has 3 items"),
    (frame(1, 1, []), "non-empty array"),
    (frame(1, 1, "x"), "non-empty array, got a str"),
    (frame(1, 1, [[1, b""]] + [[i + 2, b""] for i in range(MAX_CALLS_PER_BATCH)]), "over the limit of 100"),
    (frame(1, 1, [[1]]), "call 0 of a BATCH frame"),
    (frame(1, 1, [[-1, b""]]), "call 0"),
    (frame(1, 1, [[2**53, b""]]), "call 0"),
    (frame(1, 1, [[True, b""]]), "call 0"),
    (frame(1, 1, [[1, "chain"]]), "call 0"),
    (frame(1, 1, [(1, b"")]), "call 0"),
    (frame(1, 1, [[1, b""], [2, b""], [1, b""]]), "call id 1 appears twice in one BATCH"),
    (frame(1, 2, []), "non-empty array"),
    (frame(1, 2, [[1, 1, b""]]), "result 0 of a RESULTS frame"),
    (frame(1, 2, [[1, True, "x"]]), "result 0"),
    (frame(1, 2, [[1, True, b""], [1, False, b""]]), "call id 1 appears twice in one RESULTS"),
    (frame(1, 3, "x", None), "payload is bytes"),
    (frame(1, 3, b"", -1), "seq is null or an integer"),
    (frame(1, 3, b"", 1.5), "seq"),
    (frame(1, 6, 999, ""), "code is an integer from 1000"),
    (frame(1, 6, "1000", ""), "code"),
    (frame(1, 6, 1000, b""), "reason is text"),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_decode_refuses_with_a_clear_message(data: object, message: str) -> None:
    with pytest.raises(FrameError, match=message) as info:
        decode_frame(data)
    assert info.value.code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("version", [0, 2, "1", 1.0, True, None])
def test_decode_version_mismatch(version: object) -> None:
    with pytest.raises(FrameError, match="this side speaks version 1") as info:
        decode_frame(frame(version, 4))
    assert info.value.code == CloseCode.VERSION_MISMATCH
    assert PROTOCOL_VERSION == 1


def test_decode_version_checked_before_anything_else() -> None:
    """A frame of a future version is reported as a version mismatch even if its shape is new."""
    with pytest.raises(FrameError) as info:
        decode_frame(frame(2))
    assert info.value.code == CloseCode.VERSION_MISMATCH


def test_decode_too_large_before_decoding() -> None:
    data = bytes(MAX_FRAME_SIZE + 1)
    with pytest.raises(FrameError, match="over the limit") as info:
        decode_frame(data)
    assert info.value.code == CloseCode.TOO_LARGE


def test_frame_error_carries_code_and_message() -> None:
    error = FrameError(4002, "bad")
    assert (error.code, error.message, str(error)) == (4002, "bad", "bad")
