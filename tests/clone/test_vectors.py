"""Tests for `lumenize_trio.clone` against the RFC 8949 Appendix A vectors (shared/vectors)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import cbor2
import pytest

from lumenize_trio import UNDEFINED, DataCloneError, clone

_FILE = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "cbor-appendix-a.json"
VECTORS: list[dict[str, Any]] = json.loads(_FILE.read_text()) if _FILE.exists() else []

# Vectors whose diagnostic value is not a JSON "decoded" field, with what we decode them to.
# None means: refused, deliberately (see docs/protocol.md#values).
_DIAGNOSTIC: dict[str, Any] = {
    "f97c00": math.inf,
    "f97e00": math.nan,
    "f9fc00": -math.inf,
    "fa7f800000": math.inf,
    "fa7fc00000": math.nan,
    "faff800000": -math.inf,
    "fb7ff0000000000000": math.inf,
    "fb7ff8000000000000": math.nan,
    "fbfff0000000000000": -math.inf,
    "f7": UNDEFINED,
    "f0": cbor2.CBORSimpleValue(16),  # unassigned simple values have no Python type: cbor2's stands in
    "f818": None,  # simple(24): not well-formed under RFC 8949
    "f8ff": cbor2.CBORSimpleValue(255),
    "c074323031332d30332d32315432303a30343a30305a": dt.datetime(2013, 3, 21, 20, 4, tzinfo=dt.UTC),
    "c11a514b67b0": dt.datetime(2013, 3, 21, 20, 4, tzinfo=dt.UTC),
    "c1fb41d452d9ec200000": dt.datetime(2013, 3, 21, 20, 4, 0, 500000, tzinfo=dt.UTC),
    "d74401020304": None,  # tag 23 (expected base16): no Python value
    "d818456449455446": None,  # tag 24 (embedded CBOR): refused, it would smuggle unchecked bytes
    "d82076687474703a2f2f7777772e6578616d706c652e636f6d": "http://www.example.com",
    "40": b"",
    "4401020304": b"\x01\x02\x03\x04",
    "a201020304": {1: 2, 3: 4},
    "5f42010243030405ff": b"\x01\x02\x03\x04\x05",
}

# Re-encoding differs on purpose: we write floats as 64-bit (cbor2's choice), and write datetimes
# as RFC 3339 text (tag 0), never tag 1.
_REENCODE_DIFFERS = {
    "f90000",
    "f98000",
    "f93c00",
    "fb3ff199999999999a",
    "f93e00",
    "f97bff",
    "fa47c35000",
    "fa7f7fffff",
    "fb7e37e43c8800759c",
    "f90001",
    "f90400",
    "f9c400",
    "fbc010666666666666",
    "c11a514b67b0",
    "c1fb41d452d9ec200000",
    "f97c00",
    "f97e00",
    "f9fc00",
    "c074323031332d30332d32315432303a30343a30305a",
    "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
}


def _expected(vector: dict[str, Any]) -> Any:
    if "decoded" in vector:
        return vector["decoded"]
    return _DIAGNOSTIC[vector["hex"]]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if hasattr(b, "host"):  # httpx.URL from tag 32
        return str(b) == a
    return (bool(a == b) and type(a) is type(b)) or (isinstance(a, int | float) and a == b)


def test_vectors_present() -> None:
    assert len(VECTORS) >= 80, f"expected the Appendix A vectors at {_FILE}"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["hex"] for v in VECTORS])
def test_vector_decodes(vector: dict[str, Any]) -> None:
    data = base64.b64decode(vector["cbor"])
    expected = _expected(vector)
    if expected is None and vector.get("decoded", 0) is not None:
        with pytest.raises(DataCloneError):
            clone.loads(data)
        return
    assert _same(expected, clone.loads(data))


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if v["roundtrip"] and v["hex"] not in _REENCODE_DIFFERS and _expected(v) is not None],
    ids=lambda v: v["hex"],
)
def test_vector_reencodes(vector: dict[str, Any]) -> None:
    assert clone.dumps(clone.loads(bytes.fromhex(vector["hex"]))).hex() == vector["hex"]
