"""Tests for `lumenize_trio.clone`: the type table, case by case."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import uuid
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest

from lumenize_trio import UNDEFINED, DataCloneError, IdentityMap, clone

from .isomorphism import assert_isomorphic


def roundtrip(value: object) -> object:
    return clone.loads(clone.dumps(value))


@pytest.mark.parametrize(
    "value",
    [
        None,
        UNDEFINED,
        True,
        False,
        0,
        -1,
        2**64,
        -(2**64) - 1,
        10**100,
        1.5,
        float("inf"),
        float("-inf"),
        -0.0,
        "",
        "héllo ☃ 𝄞",
        "\ud800",
        "a\udfffb\ud83d",
        b"",
        b"\x00\xff",
        bytearray(b"ab"),
        [],
        (),
        (1, [2], (3,)),
        {},
        {"a": 1, 2: "b", (1, 2): [3], None: 0, frozenset({1}): "fs"},
        set(),
        {1, "a", (2, 3)},
        frozenset({1, 2}),
        dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
        dt.datetime(1, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.date(2024, 2, 29),
        dt.timedelta(days=-3, seconds=5, microseconds=7),
        Decimal("1.50"),
        Decimal("-1E+1000"),
        Decimal("-0"),
        Decimal("0.000"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        Decimal("sNaN"),
        Fraction(-7, 3),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        complex(1.5, -2),
        re.compile(r"^a+b$", re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE),
        re.compile(rb"\x00+"),
        httpx.URL("https://user:pass@example.com:8443/a/b?x=1&x=2#frag"),
        httpx.Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-Case", "Kept")]),
    ],
    ids=repr,
)
def test_roundtrip_exact(value: object) -> None:
    assert_isomorphic(value, roundtrip(value))


def test_nan_stays_nan() -> None:
    result = roundtrip(float("nan"))
    assert isinstance(result, float)
    assert math.isnan(result)


def test_undefined_is_distinct_from_none() -> None:
    assert roundtrip([None, UNDEFINED]) == [None, UNDEFINED]
    assert roundtrip(UNDEFINED) is UNDEFINED
    assert repr(UNDEFINED) == "undefined"
    assert not UNDEFINED


def test_dict_order_kept() -> None:
    value = {k: i for i, k in enumerate("zyxabc")}
    assert list(roundtrip(value)) == list("zyxabc")  # type: ignore[call-overload]


def test_named_timezone_becomes_fixed_offset_with_same_instant() -> None:
    """A ZoneInfo is not sent by name: the instant and the UTC offset survive, the zone's name does not."""
    value = dt.datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    result = roundtrip(value)
    assert isinstance(result, dt.datetime)
    assert result == value
    assert result.utcoffset() == dt.timedelta(hours=2)


def test_naive_datetime_stays_naive() -> None:
    result = roundtrip(dt.datetime(2024, 1, 1, 9))
    assert isinstance(result, dt.datetime)
    assert result.tzinfo is None


def test_pattern_keeps_flags() -> None:
    result = roundtrip(re.compile("abc", re.IGNORECASE))
    assert isinstance(result, re.Pattern)
    assert result.match("ABC")


def test_headers_keep_repeats_and_order() -> None:
    headers = httpx.Headers([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    result = roundtrip(headers)
    assert isinstance(result, httpx.Headers)
    assert result.get_list("set-cookie") == ["a=1", "b=2"]


def test_identity_map_keys_by_identity() -> None:
    key1, key2 = [1], [1]
    value = IdentityMap([(key1, "one"), (key2, "two")])
    result = roundtrip([value, key1])
    assert isinstance(result, list)
    copy, copied_key = result
    assert copy[copied_key] == "one"
    assert len(copy) == 2
    assert [1] not in copy


def test_identity_map_basics() -> None:
    key = {"k": 1}
    m = IdentityMap()
    m[key] = 1
    assert key in m
    assert m[key] == 1
    assert len(m) == 1
    assert list(m) == [key]
    del m[key]
    assert key not in m
    with pytest.raises(KeyError):
        m[key]
    with pytest.raises(KeyError):
        del m[key]
    assert IdentityMap([(1, 2)]) != {1: 2}
    cyclic = IdentityMap()
    cyclic[1] = cyclic
    assert repr(cyclic) == "IdentityMap([(1, ...)])"


@clone.register(name="tests.types.Slotted")
@attrs.frozen
class Slotted:
    a: int
    b: list[int]


@clone.register(name="tests.types.Validated")
@dataclasses.dataclass
class Validated:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


def test_registered_types_roundtrip_without_running_init() -> None:
    v = Validated(1)
    v.value = -5  # valid now only because __post_init__ does not run again on decode
    result = roundtrip([Slotted(1, [2]), v])
    assert isinstance(result, list)
    assert result[0] == Slotted(1, [2])
    assert result[1].value == -5


def test_register_decorator_forms_and_clashes() -> None:
    @clone.register
    class Plain:
        pass

    assert roundtrip(Plain()).__class__ is Plain
    with pytest.raises(DataCloneError, match="belongs to"):

        @clone.register(name="tests.types.Slotted")
        class Other:
            pass

    with pytest.raises(DataCloneError, match="registered already"):
        clone.register(Slotted, name="another.name")
    clone.register(Slotted, name="tests.types.Slotted")  # idempotent
    with pytest.raises(DataCloneError, match="needs a class"):
        clone.register(42)  # type: ignore[call-overload]
    with pytest.raises(DataCloneError, match="non-empty"):
        clone.register(type("X", (), {}), name="")


def test_unset_slot_stays_unset() -> None:
    @clone.register(name="tests.types.Sparse")
    class Sparse:
        __slots__ = ("a", "b")

    s = Sparse()
    s.a = 1
    result = roundtrip(s)
    assert isinstance(result, Sparse)
    assert result.a == 1
    assert not hasattr(result, "b")


def test_plain_data_has_no_tags() -> None:
    """Plain JSON-like data is plain CBOR: a peer needs no tag support to read it."""
    assert clone.dumps({"a": [1, 2.5, "x", None, True]}) == bytes.fromhex(
        "a161618501fb40040000000000006178f6f5"
    )


def test_builtin_exception_c_fields_survive() -> None:
    attr = AttributeError("no x", name="x")
    imp = ImportError("gone", name="mod", path="/p")
    name = NameError("undefined y", name="y")
    result = roundtrip([attr, imp, name, OSError(2, "missing", "f.txt"), StopIteration(5), SystemExit(3)])
    assert isinstance(result, list)
    r_attr, r_imp, r_name, r_os, r_stop, r_exit = result
    assert r_attr.name == "x"
    assert (r_imp.name, r_imp.path) == ("mod", "/p")
    assert r_name.name == "y"
    assert type(r_os) is FileNotFoundError
    assert (r_os.errno, r_os.filename) == (2, "f.txt")
    assert r_stop.value == 5
    assert r_exit.code == 3
