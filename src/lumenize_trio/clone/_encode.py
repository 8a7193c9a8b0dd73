"""Encoding: a validating scan, then cbor2 (with hooks only where the value needs them).

Theory of operation
-------------------
``dumps`` makes two passes over the value.

1. **Scan** (pure Python): checks every type against the type table, so an unclonable value fails
   before a byte is written, with the path to it; counts how often each identity-bearing object
   (list, dict, set, tuple, exception, ...) is reached; and notes whether anything needs a hook.
2. **Emit** (cbor2's C encoder): plain data with no sharing goes straight to ``cbor2.dumps``, which
   is the fast path. Otherwise the encoder gets hooks for the types that need them; an object
   reached more than once is written as tag 28 (shareable) the first time and tag 29 (a reference
   to the n-th shareable, counted in document order) every later time, which also closes cycles.

Both passes agree on what the children of a value are (``_exception_parts``, ``_object_state``),
so every object counted as shared is written exactly once and referenced everywhere else.
"""

from __future__ import annotations

import datetime as dt
import re
import traceback
import uuid
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Final

import cbor2
import httpx

from .._exceptions import DataCloneError, LumenizeError, RemoteError
from . import _registry, _tags
from ._limits import MAX_DEPTH
from ._values import IdentityMap

_NoneType: Final = type(None)
_UndefinedType: Final = type(cbor2.undefined)
_Pattern: Final = type(re.compile(""))

#: Values cbor2 writes natively with no tag and no identity worth keeping.
_ATOMS: Final = frozenset({_NoneType, bool, int, float, str, bytes, _UndefinedType, cbor2.CBORSimpleValue})
#: Immutable values that need a hook but have no children and no identity worth keeping.
_VALUES: Final = frozenset(
    {
        complex,
        dt.datetime,
        dt.date,
        dt.timedelta,
        Decimal,
        Fraction,
        uuid.UUID,
        _Pattern,
        httpx.URL,
    }
)
#: Identity-bearing values with no children.
_LEAVES: Final = frozenset({bytearray, httpx.Headers})
#: Containers that cannot exist before their contents (a cycle back to one needs a mutable parent).
_IMMUTABLE_CONTAINERS: Final = frozenset({tuple, frozenset})
#: Attributes never carried as exception attributes (they travel in their own fields).
_EXCEPTION_OWN: Final = frozenset({"__notes__", "remote_traceback"})
#: Exception bases that RemoteError already implies; not worth reporting as a "base".
_IMPLIED_BASES: Final = frozenset({RemoteError, LumenizeError, Exception, BaseException, object})


class _PathError(Exception):
    """Raised inside the scan; collects the path while it unwinds, then becomes a DataCloneError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = []

    def to_clone_error(self) -> DataCloneError:
        segments = self.segments[::-1]
        if len(segments) > 12:  # a deep path: its two ends say where it is
            segments = [*segments[:4], "...", *segments[-6:]]
        path = "$" + "".join(segments)
        return DataCloneError(f"{path}: {self.message}")


class _BackEdgeToImmutable(Exception):
    """A child is a tuple or frozenset that is still being scanned: legal only in a mutable parent."""


def dumps(value: object) -> bytes:
    """Structured-clone *value* to CBOR bytes.

    Aliases and cycles are kept (see :doc:`clone`); the type table says what can be cloned.
    Synchronous and side-effect free: *value* is not modified.

    Raises:
        DataCloneError: something inside *value* cannot be cloned. The message names the path to
            it (``$.a[3].b``) and its type, and nothing has been written.
    """
    scan = _Scan()
    try:
        scan.visit(value, 0)
    except _PathError as exc:
        raise exc.to_clone_error() from None
    except _BackEdgeToImmutable:  # the root itself is the only parent: cannot happen
        raise AssertionError("unreachable") from None  # pragma: no cover - the root has no parent
    if scan.plain:
        try:
            return cbor2.dumps(value)
        except UnicodeEncodeError:
            pass  # a str with lone surrogates: the hooked path writes it with tag 273
    return _Emitter(scan.counts).dumps(value)


def _describe(value: object) -> str:
    cls = type(value)
    kind = f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__
    hint = _HINTS.get(cls.__name__, "")
    if callable(value) and not hint:
        hint = " (callables do not cross actor boundaries; send a continuation instead)"
    return f"cannot clone a value of type {kind}{hint}"


_HINTS: Final = {
    "function": " (functions and lambdas do not cross actor boundaries; send a continuation instead)",
    "method": " (bound methods do not cross actor boundaries; send a continuation instead)",
    "generator": " (generators cannot be cloned; send a list)",
    "coroutine": " (coroutines cannot be cloned; await it and send the result)",
    "module": " (modules cannot be cloned)",
    "type": " (classes cannot be cloned; send a registered name instead)",
    "memoryview": " (convert it to bytes)",
}


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _key_segment(key: object) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{_short_repr(key)}]"


class _Scan:
    """Pass 1: validate types, count identity-bearing objects, and decide whether hooks are needed."""

    __slots__ = ("active", "counts", "plain")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.plain = True
        self.active: set[int] = set()  # tuples and frozensets being scanned right now

    def visit(self, obj: object, depth: int) -> None:
        cls = type(obj)
        if cls in _ATOMS:
            return
        if depth > MAX_DEPTH:
            raise _PathError(f"nesting deeper than {MAX_DEPTH} levels")
        if cls in _VALUES:
            self.plain = False
            return
        oid = id(obj)
        counts = self.counts
        if oid in counts:
            counts[oid] += 1
            self.plain = False
            if oid in self.active:
                raise _BackEdgeToImmutable
            return
        counts[oid] = 1
        if cls is list or cls is tuple:
            if cls is tuple:
                self.plain = False
            self._visit_items(obj, depth, cls is tuple)  # type: ignore[arg-type]
        elif cls is dict:
            self._visit_dict(obj, depth)  # type: ignore[arg-type]
        elif cls is set or cls is frozenset:
            self.plain = False
            self._visit_members(obj, depth, cls is frozenset)  # type: ignore[arg-type]
        elif cls in _LEAVES:
            self.plain = False
        elif cls is IdentityMap:
            self.plain = False
            self._visit_identity_map(obj, depth)  # type: ignore[arg-type]
        elif isinstance(obj, BaseException):
            self.plain = False
            self._visit_exception(obj, depth)
        elif _registry.name_of(cls) is not None:
            self.plain = False
            for name, value in _object_state(obj).items():
                self._visit_child(value, depth, f".{name}", mutable_parent=True)
        else:
            del counts[oid]
            raise _PathError(_describe(obj))

    def _visit_child(self, value: object, depth: int, segment: str, *, mutable_parent: bool) -> None:
        try:
            self.visit(value, depth + 1)
        except _PathError as exc:
            exc.segments.append(segment)
            raise
        except _BackEdgeToImmutable:
            if not mutable_parent:
                err = _PathError(
                    "a cycle that returns to a tuple or frozenset through another tuple, frozenset or "
                    "exception args cannot be rebuilt (Python cannot make such an object); put a list on the cycle"
                )
                err.segments.append(segment)
                raise err from None

    def _visit_items(self, items: list[object] | tuple[object, ...], depth: int, immutable: bool) -> None:
        if immutable:
            self.active.add(id(items))
        for i, item in enumerate(items):
            if type(item) not in _ATOMS:
                self._visit_child(item, depth, f"[{i}]", mutable_parent=not immutable)
        if immutable:
            self.active.discard(id(items))

    def _visit_dict(self, mapping: dict[object, object], depth: int) -> None:
        for key, value in mapping.items():
            if type(key) not in _ATOMS:
                self._visit_child(key, depth, f".<key {_short_repr(key)}>", mutable_parent=True)
            if type(value) not in _ATOMS:
                self._visit_child(value, depth, _key_segment(key), mutable_parent=True)

    def _visit_members(self, members: set[object] | frozenset[object], depth: int, immutable: bool) -> None:
        if immutable:
            self.active.add(id(members))
        for member in members:
            if type(member) not in _ATOMS:
                self._visit_child(
                    member,
                    depth,
                    f"{{{_short_repr(member)}}}",
                    mutable_parent=not immutable,
                )
        if immutable:
            self.active.discard(id(members))

    def _visit_identity_map(self, mapping: IdentityMap, depth: int) -> None:
        for i, (key, value) in enumerate(mapping.items()):
            self._visit_child(key, depth, f".<key {i}>", mutable_parent=True)
            self._visit_child(value, depth, f"[<key {i}>]", mutable_parent=True)

    def _visit_exception(self, exc: BaseException, depth: int) -> None:
        parts = _exception_parts(exc)
        for i, arg in enumerate(parts.args):
            self._visit_child(arg, depth, f".args[{i}]", mutable_parent=False)
        for name, value in parts.attrs.items():
            self._visit_child(value, depth, f".{name}", mutable_parent=True)
        if parts.cause is not None:
            self._visit_child(parts.cause, depth, ".__cause__", mutable_parent=True)
        for i, note in enumerate(parts.notes):
            self._visit_child(note, depth, f".__notes__[{i}]", mutable_parent=True)


class _ExceptionParts:
    __slots__ = ("args", "attrs", "base", "cause", "exc", "name", "notes")

    def __init__(self, exc: BaseException) -> None:
        cls = type(exc)
        name = _registry.name_of(cls)
        self.base: str | None = None
        if name is None:
            name = cls.__dict__.get("remote_class_name") if issubclass(cls, RemoteError) else None
            if not isinstance(name, str):
                name = f"{cls.__module__}.{cls.__qualname__}"
            for klass in cls.__mro__[1:]:
                base = _registry.name_of(klass)
                if base is not None and klass not in _IMPLIED_BASES:
                    self.base = base
                    break
        self.name: str = name
        self.args: tuple[object, ...] = exc.args
        attrs = vars(exc)
        self.attrs: dict[str, object] = {k: v for k, v in attrs.items() if k not in _EXCEPTION_OWN}
        notes = attrs.get("__notes__")
        self.notes: list[object] = list(notes) if isinstance(notes, list) else []
        self.cause: BaseException | None = exc.__cause__
        self.exc = exc

    def payload(self) -> dict[str, object]:
        """The wire map, in the field order the decoder relies on for shared-value numbering."""
        out: dict[str, object] = {"name": self.name}
        if self.base is not None:
            out["base"] = self.base
        out["args"] = list(self.args)
        if self.attrs:
            out["attrs"] = self.attrs
        if self.cause is not None:
            out["cause"] = self.cause
        if self.notes:
            out["notes"] = self.notes
        tb = self.exc.__traceback__
        text = (
            "".join(traceback.format_tb(tb))
            if tb is not None
            else getattr(self.exc, "remote_traceback", None)
        )
        if isinstance(text, str):
            out["traceback"] = text
        return out


def _exception_parts(exc: BaseException) -> _ExceptionParts:
    return _ExceptionParts(exc)


def _object_state(obj: object) -> dict[str, object]:
    """The attributes of a registered object: its ``__dict__`` plus any slots that are set."""
    state = dict(getattr(obj, "__dict__", {}))
    for slot in _registry.slots_of(type(obj)):
        try:
            state[slot] = getattr(obj, slot)
        except AttributeError:
            continue  # an unset slot stays unset
    return state


_Hook = Callable[[cbor2.CBOREncoder, object], None]


class _Emitter:
    """Pass 2: cbor2 with hooks. Writes each shared object once (tag 28) and references after (tag 29)."""

    __slots__ = ("index", "shared")

    def __init__(self, counts: dict[int, int]) -> None:
        self.shared = {oid for oid, n in counts.items() if n > 1}
        self.index: dict[int, int] = {}

    def dumps(self, value: object) -> bytes:
        encoders: dict[type, _Hook] = {
            tuple: self._tuple,
            set: self._set,
            frozenset: self._frozenset,
            bytearray: self._bytearray,
            IdentityMap: self._identity_map,
            httpx.Headers: self._headers,
            httpx.URL: _url,
            dt.datetime: _datetime,
            dt.date: _date,
            dt.timedelta: _timedelta,
            Decimal: _decimal,
            Fraction: _fraction,
            uuid.UUID: _uuid,
            _Pattern: _pattern,
            complex: _complex,
        }
        if self.shared:
            encoders[list] = self._list
            encoders[dict] = self._dict
        try:
            return cbor2.dumps(value, encoders=encoders, default=self._default)
        except UnicodeEncodeError:
            encoders[str] = _str_with_surrogates
            self.index.clear()
            return cbor2.dumps(value, encoders=encoders, default=self._default)

    def _reference(self, enc: cbor2.CBOREncoder, obj: object) -> bool:
        """Write a reference if *obj* was written before; else mark it shareable if it is shared.

        Returns True when a reference was written (the caller writes nothing more).
        """
        oid = id(obj)
        if oid not in self.shared:
            return False
        index = self.index.get(oid)
        if index is not None:
            enc.encode_semantic(_tags.SHARED_REF, index)
            return True
        self.index[oid] = len(self.index)
        enc.encode_length(6, _tags.SHAREABLE)
        return False

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
            enc.encode_semantic(_tags.EXCEPTION, _exception_parts(obj).payload())
            return
        name = _registry.name_of(type(obj))
        assert name is not None, "the scan accepted an unregistered object"
        enc.encode_semantic(_tags.OBJECT, [name, _object_state(obj)])


def _url(enc: cbor2.CBOREncoder, obj: object) -> None:
    enc.encode_semantic(_tags.URI, str(obj))


def _datetime(enc: cbor2.CBOREncoder, obj: object) -> None:
    assert isinstance(obj, dt.datetime)
    if obj.utcoffset() is None:
        enc.encode_semantic(_tags.NAIVE_DATETIME, obj.isoformat())
    else:
        enc.encode_semantic(_tags.DATETIME_STRING, obj.isoformat())


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
    else:
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
