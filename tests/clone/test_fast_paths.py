"""The decoder's scalar fast path agrees with the general path on every input it accepts."""

from __future__ import annotations

import math
import struct

import cbor2
import pytest
from hypothesis import example, given, strategies as st

from lumenize_trio import DataCloneError, clone
from lumenize_trio.clone import _decode


def _general(raw: bytes) -> object:
    """What the decoder makes of *raw* without the fast path (or the error it raises)."""
    try:
        return _decode._decode(raw, _decode._ONE_PASS)
    except DataCloneError as exc:
        return exc


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is float:
        assert isinstance(b, float)
        return struct.pack(">d", a) == struct.pack(">d", b) or (math.isnan(a) and math.isnan(b))
    return a == b


scalars = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.integers(),
    st.text(max_size=70),
    st.binary(max_size=70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
)


@given(scalars)
@example(2**64 - 1)
@example(-(2**64))
@example(float("nan"))
def test_scalars_round_trip_through_the_fast_path(value: object) -> None:
    data = clone.dumps(value)
    assert _same(clone.loads(data), value)
    fast = _decode._scalar(data) if data else _decode._NOT_SCALAR
    if fast is not _decode._NOT_SCALAR:
        assert _same(fast, _general(data))


# Short byte strings, biased towards the heads the fast path looks at.
heads = st.sampled_from(
    [
        *(0x00, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1F, 0x20, 0x38, 0x3B, 0x40, 0x58, 0x5F, 0x60),
        *(0x77, 0x78, 0x79, 0x7F, 0x80, 0xC0, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFF),
    ]
)
documents = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.builds(lambda head, tail: bytes([head]) + tail, heads, st.binary(max_size=12)),
)


@given(documents)
@example(b"\x63\xed\xa0\x80")  # an encoded surrogate: not valid UTF-8
@example(b"\x61\xff")
@example(b"\x01\x02")  # trailing bytes
@example(b"\x19\x01")  # truncated
@example(b"\xf9\x7e\x00")
def test_fast_path_accepts_only_what_the_general_path_accepts_and_agrees(raw: bytes) -> None:
    fast = _decode._scalar(raw)
    general = _general(raw)
    if fast is _decode._NOT_SCALAR:
        return  # the general path decides
    assert not isinstance(general, DataCloneError), (raw, fast, general)
    assert _same(fast, general), (raw, fast, general)
    assert _same(clone.loads(raw), general)


@pytest.mark.parametrize("value", [0, 23, 24, 255, 256, 2**32, -1, -25, "", "é", b"", True, False, None, 1.5])
def test_loads_fast_path_matches_cbor2(value: object) -> None:
    raw = cbor2.dumps(value)
    assert _decode._scalar(raw) is not _decode._NOT_SCALAR
    assert _same(clone.loads(raw), cbor2.loads(raw))


def test_fast_path_defers_on_everything_else() -> None:
    for raw in (b"\x80", b"\xa0", b"\xc1\x00", b"\xf7", b"\x1c", b"\x5f\xff", b"\x18", b"\xfb\x00"):
        assert _decode._scalar(raw) is _decode._NOT_SCALAR
    with pytest.raises(DataCloneError):
        clone.loads(b"\x18")
    assert clone.loads(bytearray(b"\x05")) == 5


def test_reused_decoders_start_clean_after_errors_and_across_threads() -> None:
    import threading

    good = clone.dumps([{"a": (1, 2)}, ["x", b"y"], {3, 4}])
    for bad in (b"\x82\x01", good + b"\x00", b"\xd9\xff\xff\x00", b"\x81" * 5000 + b"\x01", b"\xc1"):
        with pytest.raises(DataCloneError):
            clone.loads(bad)
        assert clone.loads(good) == [{"a": (1, 2)}, ["x", b"y"], {3, 4}]
    results: list[bool] = []

    def work(n: int) -> None:
        data = clone.dumps([n, [n] * 3, {"n": (n,)}])
        results.append(all(clone.loads(data) == [n, [n] * 3, {"n": (n,)}] for _ in range(200)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4


def test_idle_decoders_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    idle: list[object] = []
    monkeypatch.setitem(_decode._IDLE_DECODERS, id(_decode._ONE_PASS), idle)
    monkeypatch.setattr(_decode, "_MAX_IDLE_DECODERS", 1)
    data = clone.dumps([1, [2]])
    assert clone.loads(data) == [1, [2]]
    assert len(idle) == 1
    kept = idle[0]
    assert clone.loads(data) == [1, [2]]
    assert idle == [kept]  # reused, not a second one
    filler = object()
    idle.insert(0, filler)  # so that once `kept` is taken out, the pool is still full
    assert clone.loads(data) == [1, [2]]
    assert idle == [filler]  # `kept` was used, then not put back
