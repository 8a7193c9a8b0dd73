"""An exact structural comparison that also checks sharing (identity) both ways."""

from __future__ import annotations

import dataclasses
import math
import re
from decimal import Decimal
from typing import Any

import attrs
import httpx

from lumenize_trio import IdentityMap

_IDENTITY_TYPES = (list, dict, set, frozenset, tuple, bytearray, IdentityMap, BaseException, httpx.Headers)


def assert_isomorphic(original: Any, copy: Any) -> None:
    """Fail unless *copy* equals *original* in type and value, with exactly the same sharing."""
    _Walk().same(original, copy, "$")


class _Walk:
    def __init__(self) -> None:
        self.forward: dict[int, Any] = {}
        self.backward: dict[int, Any] = {}
        self.keep: list[Any] = []

    def same(self, a: Any, b: Any, path: str) -> None:
        assert type(a) is type(b) or _remote_match(a, b), f"{path}: type {type(a)} became {type(b)}"
        tracked = _is_tracked(a)
        if tracked:
            if id(a) in self.forward:
                assert self.forward[id(a)] is b, f"{path}: an alias became a distinct object"
                return
            assert id(b) not in self.backward, f"{path}: distinct objects became one"
            self.forward[id(a)] = b
            self.backward[id(b)] = a
            self.keep += [a, b]
        if isinstance(a, float):
            assert (math.isnan(a) and math.isnan(b)) or (
                a == b and math.copysign(1, a) == math.copysign(1, b)
            ), f"{path}: {a!r} became {b!r}"
        elif isinstance(a, list | tuple):
            assert len(a) == len(b), f"{path}: length {len(a)} became {len(b)}"
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                self.same(x, y, f"{path}[{i}]")
        elif isinstance(a, dict):
            assert len(a) == len(b), f"{path}: size changed"
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
                self.same(ka, kb, f"{path}.<key>")
                self.same(va, vb, f"{path}[{ka!r}]")
        elif isinstance(a, IdentityMap):
            assert len(a) == len(b)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
                self.same(ka, kb, f"{path}.<key>")
                self.same(va, vb, f"{path}[<{ka!r}>]")
        elif isinstance(a, set | frozenset):
            assert len(a) == len(b)
            lookup = {_set_key(m): m for m in b}
            for member in a:
                assert _set_key(member) in lookup, f"{path}: member {member!r} lost"
                self.same(member, lookup[_set_key(member)], f"{path}{{{member!r}}}")
        elif isinstance(a, BaseException):
            assert type(b).__name__ == type(a).__name__
            self.same(a.args, b.args, f"{path}.args")
            attrs_a = {k: v for k, v in vars(a).items() if k != "remote_traceback"}
            attrs_b = {k: v for k, v in vars(b).items() if k != "remote_traceback"}
            assert attrs_a.keys() == attrs_b.keys(), (
                f"{path}: attributes {attrs_a.keys()} became {attrs_b.keys()}"
            )
            for k in attrs_a:
                self.same(attrs_a[k], attrs_b[k], f"{path}.{k}")
            assert (a.__cause__ is None) == (b.__cause__ is None), f"{path}: cause lost"
            if a.__cause__ is not None:
                self.same(a.__cause__, b.__cause__, f"{path}.__cause__")
        elif _is_record(a):
            fields = (
                [f.name for f in dataclasses.fields(a)]
                if dataclasses.is_dataclass(a)
                else [f.name for f in attrs.fields(type(a))]
            )
            for name in fields:
                self.same(getattr(a, name), getattr(b, name), f"{path}.{name}")
        elif isinstance(a, re.Pattern):
            assert (a.pattern, a.flags) == (b.pattern, b.flags), f"{path}: {a!r} became {b!r}"
        elif isinstance(a, httpx.Headers):
            assert a.raw == b.raw, f"{path}: {a!r} became {b!r}"
        elif isinstance(a, Decimal):  # NaN is unequal to itself; the text keeps sign and exponent
            assert str(a) == str(b), f"{path}: {a!r} became {b!r}"
        elif isinstance(a, complex):
            self.same(a.real, b.real, f"{path}.real")
            self.same(a.imag, b.imag, f"{path}.imag")
        else:
            assert a == b, f"{path}: {a!r} became {b!r}"


def _is_tracked(value: Any) -> bool:
    if isinstance(value, _IDENTITY_TYPES):
        return True
    return _is_record(value)


def _is_record(value: Any) -> bool:
    return (dataclasses.is_dataclass(value) and not isinstance(value, type)) or attrs.has(type(value))


def _remote_match(a: Any, b: Any) -> bool:
    return isinstance(a, BaseException) and getattr(type(b), "remote_class_name", None) is not None


def _set_key(member: Any) -> Any:
    # NaN never equals itself; give it a stable stand-in so sets holding NaN can be compared.
    if isinstance(member, float) and math.isnan(member):
        return ("nan",)
    return member
