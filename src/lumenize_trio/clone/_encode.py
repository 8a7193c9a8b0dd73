"""Encoding: a validating scan, then cbor2 (with hooks only where the value needs them).

Plain JSON-like data with no sharing goes straight to ``cbor2.dumps`` after a quick check (the
fast path). Anything else is scanned first (:mod:`._scan`), so an unclonable value fails before a
byte is written, with the path to it. Anything else is written by cbor2's C encoder with hooks for the types that need a
tag. A value in which some object is reached twice is written as ``GRAPH([root, [bodies...]])``:
each shared object is written once, as a body, and every occurrence of it is ``REF(index)``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import cbor2
import httpx

from .._exceptions import DataCloneError
from . import _registry, _tags
from ._limits import MAX_DEPTH
from ._parts import ATOMS, ExceptionParts, Pattern, object_state
from ._scan import Layout, ScanError, layout, path_to, scan
from ._values import IdentityMap


def dumps(value: object) -> bytes:
    """Structured-clone *value* to CBOR bytes.

    Aliases and cycles are kept (see ``docs/clone.md``); the type table says what can be cloned.
    Synchronous and side-effect free: *value* is not modified.

    Raises:
        DataCloneError: something inside *value* cannot be cloned. The message names the path to
            it (``$.a[3].b``) and its type, and nothing has been written.
    """
    if type(value) in ATOMS or _is_plain(value):
        return dumps_plain(value)
    try:
        found = scan(value)
        if not found.shared and found.max_depth > MAX_DEPTH:
            raise ScanError(found.deepest, f"nesting deeper than {MAX_DEPTH} levels")
        graph = layout(value, found.counts) if found.shared else None
    except ScanError as exc:
        raise DataCloneError(f"{path_to(value, exc.obj)}: {exc.message}") from None
    return _Emitter(graph).dumps(value)


def dumps_plain(value: object) -> bytes:
    """:func:`dumps` for a value its maker built from dicts with str keys, lists and atoms only,
    with no object reached twice and nesting well under the limit: the shape is not checked.

    For envelopes whose shape the caller knows (RPC frames, a chain of scalar arguments).
    """
    try:
        return cbor2.dumps(value)
    except UnicodeEncodeError:
        return _Emitter(None).dumps(value)  # a str with lone surrogates: written with tag 273


def _is_plain(value: object) -> bool:
    """Whether *value* is JSON-like data (dicts, lists, atoms) with no object reached twice.

    A quick first look, so the commonest messages skip the general scan: ``False`` only means
    "look properly", never "refuse".
    """
    cls = type(value)
    if cls in ATOMS:
        return True
    return (cls is dict or cls is list) and _plain_container(value, set(), 0)  # type: ignore[arg-type]


_Plain = dict[object, object] | list[object]


def _plain_container(obj: _Plain, seen: set[int], depth: int) -> bool:
    oid = id(obj)
    if depth > MAX_DEPTH or oid in seen:
        return False
    seen.add(oid)
    if type(obj) is dict:
        for key, item in obj.items():
            if type(key) not in ATOMS:
                return False
            kind = type(item)
            if kind not in ATOMS and not (
                (kind is dict or kind is list) and _plain_container(item, seen, depth + 1)  # type: ignore[arg-type]
            ):
                return False
        return True
    for item in obj:
        kind = type(item)
        if kind not in ATOMS and not (
            (kind is dict or kind is list) and _plain_container(item, seen, depth + 1)  # type: ignore[arg-type]
        ):
            return False
    return True


_Hook = Callable[[cbor2.CBOREncoder, object], None]


class _Body:
    """Wraps a shared object where its body (not a reference to it) must be written."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj


class _Emitter:
    """cbor2 with hooks; with a layout, shared objects become bodies and references."""

    __slots__ = ("body", "graph", "index")

    def __init__(self, graph: Layout | None) -> None:
        self.graph = graph
        self.index: dict[int, int] = graph.index if graph is not None else {}
        self.body: int | None = None  # id of the body being written right now

    def dumps(self, value: object) -> bytes:
        encoders: dict[type, _Hook] = {
            tuple: self._tuple,
            set: self._set,
            frozenset: self._frozenset,
            bytearray: self._bytearray,
            IdentityMap: self._identity_map,
            httpx.Headers: self._headers,
            _Body: self._body,
            httpx.URL: _url,
            dt.datetime: _datetime,
            dt.date: _date,
            dt.timedelta: _timedelta,
            Decimal: _decimal,
            Fraction: _fraction,
            uuid.UUID: _uuid,
            Pattern: _pattern,
            complex: _complex,
        }
        document: object = value
        if self.graph is not None:
            encoders[list] = self._list
            encoders[dict] = self._dict
            document = cbor2.CBORTag(_tags.GRAPH, [value, [_Body(body) for body in self.graph.bodies]])
        try:
            return cbor2.dumps(document, encoders=encoders, default=self._default)
        except UnicodeEncodeError:
            encoders[str] = _str_with_surrogates
            return cbor2.dumps(document, encoders=encoders, default=self._default)

    def _reference(self, enc: cbor2.CBOREncoder, obj: object) -> bool:
        """Write a reference to *obj* if it is shared (and not the body being written).

        Returns True when a reference was written: the caller writes nothing more.
        """
        oid = id(obj)
        if oid == self.body:
            self.body = None
            return False
        index = self.index.get(oid)
        if index is None:
            return False
        enc.encode_semantic(_tags.REF, index)
        return True

    def _body(self, enc: cbor2.CBOREncoder, wrapper: object) -> None:
        assert isinstance(wrapper, _Body)
        self.body = id(wrapper.obj)
        enc.encode(wrapper.obj)

    def _list(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        if not self._reference(enc, obj):
            enc.encode_array(obj)  # type: ignore[arg-type]

    def _dict(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        if not self._reference(enc, obj):
            enc.encode_map(obj)  # type: ignore[arg-type]

    def _tuple(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        if not self._reference(enc, obj):
            enc.encode_length(6, _tags.TUPLE)
            enc.encode_array(obj)  # type: ignore[arg-type]

    def _set(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        if not self._reference(enc, obj):
            enc.encode_length(6, _tags.SET)
            enc.encode_array(list(obj))  # type: ignore[call-overload]

    def _frozenset(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        if not self._reference(enc, obj):
            enc.encode_length(6, _tags.FROZENSET)
            enc.encode_array(list(obj))  # type: ignore[call-overload]

    def _bytearray(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        if not self._reference(enc, obj):
            enc.encode_semantic(_tags.BYTEARRAY, bytes(obj))  # type: ignore[call-overload]

    def _identity_map(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        if not self._reference(enc, obj):
            assert isinstance(obj, IdentityMap)
            flat: list[object] = []
            for key, value in obj.items():
                flat.append(key)
                flat.append(value)
            enc.encode_semantic(_tags.IDENTITY_MAP, flat)

    def _headers(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        if not self._reference(enc, obj):
            assert isinstance(obj, httpx.Headers)
            # Latin-1 maps bytes to text one to one, so the raw header bytes survive exactly.
            pairs = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in obj.raw]
            enc.encode_semantic(_tags.HEADERS, pairs)

    def _default(self, enc: cbor2.CBOREncoder, obj: object) -> None:
        # Only exceptions and registered objects get here: the scan refused everything else.
        if self._reference(enc, obj):
            return
        if isinstance(obj, BaseException):
            enc.encode_semantic(_tags.EXCEPTION, ExceptionParts(obj).payload())
            return
        name = _registry.name_of(type(obj))
        assert name is not None, "the scan accepted an unregistered object"
        enc.encode_semantic(_tags.OBJECT, [name, object_state(obj)])


def _url(enc: cbor2.CBOREncoder, obj: object) -> None:
    enc.encode_semantic(_tags.URI, str(obj))


def _datetime(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, dt.datetime)
    tag = _tags.NAIVE_DATETIME if obj.utcoffset() is None else _tags.DATETIME_STRING
    enc.encode_semantic(tag, obj.isoformat())


def _date(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, dt.date)
    enc.encode_semantic(_tags.FULL_DATE, obj.isoformat())


def _timedelta(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, dt.timedelta)
    enc.encode_semantic(_tags.TIMEDELTA, [obj.days, obj.seconds, obj.microseconds])


def _decimal(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, Decimal)
    if obj.is_finite() and not (obj.is_zero() and obj.is_signed()):
        sign, digits, exponent = obj.as_tuple()
        mantissa = int("".join(map(str, digits)))
        enc.encode_semantic(_tags.DECIMAL_FRACTION, [exponent, -mantissa if sign else mantissa])
    else:  # NaN, sNaN, ±Infinity and -0 have no [exponent, mantissa] form
        enc.encode_semantic(_tags.DECIMAL_TEXT, str(obj))


def _fraction(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, Fraction)
    enc.encode_semantic(_tags.RATIONAL, [obj.numerator, obj.denominator])


def _uuid(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, uuid.UUID)
    enc.encode_semantic(_tags.UUID, obj.bytes)


def _pattern(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, re.Pattern)
    enc.encode_semantic(_tags.PATTERN, [obj.pattern, obj.flags])


def _complex(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, complex)
    enc.encode_semantic(_tags.COMPLEX, [obj.real, obj.imag])


def _str_with_surrogates(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, str)
    try:
        enc.encode_string(obj)
    except UnicodeEncodeError:
        enc.encode_semantic(_tags.WTF8_STRING, obj.encode("utf-8", "surrogatepass"))
