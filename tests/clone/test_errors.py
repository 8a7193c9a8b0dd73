"""Tests for `lumenize_trio.clone`: refused values name their path and type; hostile bytes fail fast."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import types

import cbor2
import httpx
import pytest
import trio
from hypothesis import given, strategies as st

from lumenize_trio import DataCloneError, clone
from lumenize_trio.clone import MAX_DEPTH

from .strategies import trees


def _gen() -> object:
    yield 1


async def _coro() -> None:
    pass


def _refused() -> list[tuple[str, object, str]]:
    coro = _coro()
    coro.close()
    return [
        ("function", lambda: 1, "function"),
        ("builtin", len, "builtin_function_or_method"),
        ("method", "x".upper, "builtin_function_or_method"),
        ("generator", _gen(), "generator"),
        ("coroutine", coro, "coroutine"),
        ("module", types, "module"),
        ("class", int, "type"),
        ("file", io.BytesIO(), "_io.BytesIO"),
        ("lock", threading.Lock(), "lock"),
        ("trio-event", trio.Event(), "trio.Event"),
        ("memoryview", memoryview(b"x"), "memoryview"),
        ("subclass", type("MyList", (list,), {})(), "MyList"),
        ("unregistered", type("Thing", (), {})(), "Thing"),
        ("object", object(), "object"),
    ]


@pytest.mark.parametrize(("kind", "value", "type_name"), _refused(), ids=[r[0] for r in _refused()])
def test_refused_types_name_path_and_type(kind: str, value: object, type_name: str) -> None:
    with pytest.raises(DataCloneError) as info:
        clone.dumps({"a": [0, 1, 2, {"b": value}]})
    message = str(info.value)
    assert message.startswith("$.a[3].b: cannot clone a value of type "), message
    assert type_name in message
    assert isinstance(info.value, TypeError)


def test_socket_refused() -> None:
    with socket.socket() as sock, pytest.raises(DataCloneError, match=r"^\$\[0\]: .*socket"):
        clone.dumps([sock])


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"not id": [len]}, "$['not id'][0]"),
        ({(1, len): 1}, "$.<key (1, <built-in function len>)>[1]"),
        ({frozenset({len})}, "${frozenset({<built-in function len>})}{<built-in function len>}"),
        ((1, (2, len)), "$[1][1]"),
        (ValueError(1, len), "$.args[1]"),
        (RuntimeError("x").with_traceback(None), None),
    ],
)
def test_paths_through_every_container(value: object, path: str | None) -> None:
    if path is None:
        clone.dumps(value)
        return
    with pytest.raises(DataCloneError) as info:
        clone.dumps(value)
    assert str(info.value).startswith(path + ": "), str(info.value)


def test_paths_through_attributes_causes_and_notes() -> None:
    err = ValueError("x")
    err.payload = {"f": len}  # type: ignore[attr-defined]
    with pytest.raises(DataCloneError, match=r"^\$\.payload\.f: "):
        clone.dumps(err)
    err2 = ValueError("x")
    err2.__cause__ = KeyError(len)
    with pytest.raises(DataCloneError, match=r"^\$\.__cause__\.args\[0\]: "):
        clone.dumps(err2)
    err3 = ValueError("x")
    err3.add_note("ok")
    err3.__notes__.append(len)  # type: ignore[arg-type]
    with pytest.raises(DataCloneError, match=r"^\$\.__notes__\[1\]: "):
        clone.dumps(err3)


def test_too_deep_to_encode() -> None:
    value: list[object] = []
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    with pytest.raises(DataCloneError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        clone.dumps(value)


def test_loads_needs_bytes() -> None:
    with pytest.raises(DataCloneError, match="needs bytes, got str"):
        clone.loads("a1")  # type: ignore[arg-type]
    assert clone.loads(bytearray(b"\x01")) == 1
    assert clone.loads(memoryview(b"\x01")) == 1


def _tag(tag: int, value: object) -> str:
    return cbor2.dumps(cbor2.CBORTag(tag, value)).hex()


_PRIVATE = 0x4C4D5400
_RAW_GRAPH = cbor2.CBORTag(_PRIVATE + 11, [1, []])

MALFORMED = {
    "empty": "",
    "truncated-array": "8301",
    "truncated-string": "6461",
    "huge-array-length": "9b00000000ffffffff",
    "huge-bytes-length": "5b7fffffffffffffff",
    "huge-map-length": "bb00000000ffffffff",
    "trailing-bytes": "0001",
    "reserved-additional-info": "1c",
    "break-outside-container": "ff",
    "simple-24-not-well-formed": "f818",
    "invalid-utf8": "62c328",
    "duplicate-keys": "a2616101616102",
    "unknown-tag": "d9ffff00",
    "ref-without-shareable": "d81d00",
    "ref-out-of-range": "d81c81d81d05",
    "ref-not-int": "d81c81d81d6161",
    "shareable-of-ref": "d81c81d81cd81d00",
    "bigfloat": "c5822003",
    "string-ref": "d9010080",
    "mime": "d8246161",
    "ipv4": "d83444c0a80001",
    "tuple-not-array": _tag(_PRIVATE, 1),
    "timedelta-bad": _tag(_PRIVATE + 7, [1, 2]),
    "decimal-bad": _tag(4, [1]),
    "decimal-text-bad": _tag(_PRIVATE + 9, "one"),
    "rational-zero-denominator": _tag(30, [1, 0]),
    "uuid-short": _tag(37, b"\x01"),
    "complex-bad": _tag(43000, ["a", 1]),
    "pattern-bad": _tag(_PRIVATE + 8, ["a"]),
    "pattern-uncompilable": _tag(_PRIVATE + 8, ["(", 0]),
    "regex-uncompilable": _tag(35, "("),
    "url-bad": _tag(32, "http://[::1"),
    "date-bad": _tag(1004, "a"),
    "days-out-of-range": _tag(100, 10**9),
    "datetime-naive-in-tag-0": _tag(0, "2024-01-01T00:00:00"),
    "datetime-not-iso": _tag(0, "yesterday"),
    "epoch-out-of-range": _tag(1, 10**20),
    "epoch-not-number": _tag(1, "x"),
    "naive-with-offset": _tag(_PRIVATE + 6, "2024-01-01T00:00:00+01:00"),
    "naive-not-iso": _tag(_PRIVATE + 6, "x"),
    "exception-no-name": _tag(_PRIVATE + 4, {}),
    "exception-args-not-array": _tag(_PRIVATE + 4, {"name": "ValueError", "args": 1}),
    "exception-bad-traceback": _tag(_PRIVATE + 4, {"name": "ValueError", "traceback": 1}),
    "exception-bad-base": _tag(_PRIVATE + 4, {"name": "X", "base": 1}),
    "exception-dunder-attribute": _tag(_PRIVATE + 4, {"name": "ValueError", "attrs": {"__class__": 1}}),
    "exception-group-bad-args": _tag(_PRIVATE + 4, {"name": "ExceptionGroup", "args": ["m", []]}),
    "object-unregistered": _tag(_PRIVATE + 5, ["nope", {}]),
    "object-exception-name": _tag(_PRIVATE + 5, ["ValueError", {}]),
    "object-not-pair": _tag(_PRIVATE + 5, ["tests.Point"]),
    "object-dunder-attribute": _tag(_PRIVATE + 5, ["tests.Point", {"__class__": 1}]),
    "identity-map-odd": _tag(_PRIVATE + 3, [1]),
    "frozenset-unhashable": _tag(_PRIVATE + 1, [[1]]),
    "set-unhashable-member": _tag(258, [[1]]),
    "wtf8-bad": _tag(273, b"\xff"),
    "headers-bad": _tag(_PRIVATE + 10, [["a"]]),
    "headers-non-latin": _tag(_PRIVATE + 10, [["a", "\u2603"]]),
    "bytearray-not-bytes": _tag(_PRIVATE + 2, "x"),
    "deep-nesting": "81" * 2000 + "00",
    "indefinite-unterminated": "9f01",
    "graph-not-pair": _tag(_PRIVATE + 11, [1]),
    "graph-bodies-not-array": _tag(_PRIVATE + 11, [1, 2]),
    "graph-nested": "82" + _tag(_PRIVATE + 11, [1, []]) + "01",
    "graph-nested-in-graph": _tag(_PRIVATE + 11, [_RAW_GRAPH, []]),
    "graph-ref-out-of-range": _tag(_PRIVATE + 11, [cbor2.CBORTag(_PRIVATE + 12, 3), [1]]),
    "graph-ref-negative": _tag(_PRIVATE + 11, [cbor2.CBORTag(_PRIVATE + 12, -1), [1]]),
    "graph-ref-text": _tag(_PRIVATE + 11, [cbor2.CBORTag(_PRIVATE + 12, "a"), [1]]),
    "graph-body-is-ref": _tag(
        _PRIVATE + 11, [cbor2.CBORTag(_PRIVATE + 12, 0), [cbor2.CBORTag(_PRIVATE + 12, 0)]]
    ),
    "graph-tuple-self-cycle": _tag(
        _PRIVATE + 11,
        [cbor2.CBORTag(_PRIVATE + 12, 0), [cbor2.CBORTag(_PRIVATE, [cbor2.CBORTag(_PRIVATE + 12, 0)])]],
    ),
    "graph-unhashable-key": "da4c4d540b82a1da4c4d5403800180",
    "graph-unhashable-member": "da4c4d540b82d9010281da4c4d54038080",
    "ref-outside-graph": _tag(_PRIVATE + 12, 0),
    "value-sharing-28": "d81c8101",
    "value-sharing-29": "d81d00",
    "unhashable-key-in-graph": "d81c82" + "a1" + _tag(_PRIVATE + 3, []) + "01" + "d81d00",
    "unhashable-key": "a1" + _tag(_PRIVATE + 3, []) + "01",
}


@pytest.mark.parametrize("hex_data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_is_a_clone_error(hex_data: str) -> None:
    with pytest.raises(DataCloneError):
        clone.loads(bytes.fromhex(hex_data))


@given(trees, st.data())
def test_truncated_output_never_decodes(value: object, data: st.DataObject) -> None:
    encoded = clone.dumps(value)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(DataCloneError):
        clone.loads(encoded[:cut])


@given(st.binary(max_size=64))
def test_random_bytes_never_crash(data: bytes) -> None:
    """Arbitrary bytes either decode or raise DataCloneError: nothing else escapes."""
    with contextlib.suppress(DataCloneError):
        clone.loads(data)


@given(trees, st.data())
def test_mutated_output_never_crashes(value: object, data: st.DataObject) -> None:
    encoded = bytearray(clone.dumps(value))
    index = data.draw(st.integers(0, len(encoded) - 1))
    encoded[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DataCloneError):
        clone.loads(bytes(encoded))


def test_graph_tag_in_a_longer_form_still_decodes() -> None:
    """A GRAPH tag written with an 8-byte argument is not our prefix, but it is valid CBOR."""
    inner: list[object] = []
    short = clone.dumps([inner, inner])
    assert short.startswith(bytes.fromhex("da4c4d540b"))
    long_form = bytes.fromhex("db000000004c4d540b") + short[5:]
    result = clone.loads(long_form)
    assert isinstance(result, list)
    assert result[0] is result[1]


def test_unknown_exception_class_becomes_remote_error_with_name() -> None:
    data = _tag(_PRIVATE + 4, {"name": "RangeError", "args": ["too big"], "attrs": {"limit": 3}})
    exc = clone.loads(bytes.fromhex(data))
    assert isinstance(exc, clone.RemoteError)
    assert type(exc).__name__ == "RangeError"
    assert exc.remote_class_name == "RangeError"
    assert exc.args == ("too big",)
    assert exc.limit == 3


def test_non_exception_cause_from_a_peer_is_kept_as_remote_cause() -> None:
    data = _tag(_PRIVATE + 4, {"name": "Error", "args": ["x"], "cause": {"code": 7}})
    exc = clone.loads(bytes.fromhex(data))
    assert isinstance(exc, BaseException)
    assert exc.__cause__ is None
    assert exc.remote_cause == {"code": 7}


def test_self_described_and_js_tags_accepted() -> None:
    assert clone.loads(bytes.fromhex("d9d9f701")) == 1
    pattern = clone.loads(bytes.fromhex(_tag(35, "a+")))
    assert pattern.pattern == "a+"  # type: ignore[attr-defined]
    assert clone.loads(bytes.fromhex(_tag(100, 1))).isoformat() == "1970-01-02"  # type: ignore[attr-defined]


def test_headers_roundtrip_keeps_httpx_encoding() -> None:
    headers = httpx.Headers({"a": "é"}, encoding="latin-1")
    assert clone.loads(clone.dumps(headers)) == headers
