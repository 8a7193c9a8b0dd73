"""Decoding: cbor2's C decoder with strict tag handling, and a graph pass only when sharing is used.

Theory of operation
-------------------
Bytes without value sharing (no tag 28) decode in one pass: every tag's decoder builds the final
value as cbor2 meets it (children come first, which is all a tree needs).

Bytes with sharing decode in two: cbor2 builds a raw tree in which tags 28/29 and the container
tags are left as small node objects, then :class:`_Graph` walks it in document order, numbering
shareable values as it meets them and resolving references. Containers that can exist before their
contents (list, dict, set, identity map, registered object) are registered first and filled after,
which closes cycles. Tuples, frozensets and exceptions need their contents (or args) first; a
reference to one that is still being built gets a placeholder, and each place a placeholder was put
is patched once the real object exists. The encoder refuses the one shape this cannot rebuild
(a placeholder inside another immutable container).

Safety: nesting is capped at ``MAX_DEPTH``; every tag is either known or rejected (no fallback to
opaque values); trailing bytes, duplicate map keys and truncated input are errors; nothing is
imported by name and no user ``__init__`` runs. Work and memory stay proportional to the input.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Final, cast

import cbor2

from .._exceptions import DataCloneError
from . import _rebuild as rb, _tags
from ._limits import MAX_DEPTH
from ._values import IdentityMap

_Decoder = Callable[[object, bool], object]

#: cbor2 counts tags as nesting levels too: one container level of ours can be up to three CBOR
#: levels (tag 28, a type tag, the array), so this bound admits everything ``dumps`` produces.
_CBOR_DEPTH: Final = 3 * MAX_DEPTH + 2


class _NeedsGraph(Exception):
    """Raised by the one-pass decoders on meeting value sharing: decode again with the graph pass."""


def loads(data: bytes | bytearray | memoryview) -> object:
    """Rebuild a value from bytes made by :func:`dumps` (or by a peer speaking the same format).

    Safe on untrusted input: see :doc:`clone` for the limits.

    Raises:
        DataCloneError: the bytes are not a well-formed clone (malformed or truncated CBOR, an
            unknown tag, a payload of the wrong shape, a class that is not registered, nesting
            deeper than the limit, trailing bytes). The cause carries cbor2's error, if any.
    """
    if type(data) is bytes:
        raw = data
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        raise DataCloneError(f"loads() needs bytes, got {type(data).__name__}")
    if len(raw) <= _SCALAR_MAX and raw:
        value = _scalar(raw)
        if value is not _NOT_SCALAR:
            return value
    if not raw.startswith(_GRAPH_PREFIX):
        try:
            return _decode(raw, _ONE_PASS)
        except _NeedsGraph:
            pass  # a GRAPH tag written in a longer form than ours
    document = _decode(raw, _GRAPH_PASS)
    if type(document) is not _GraphRoot:
        raise rb.fail("REF tags may only appear inside a GRAPH, and a GRAPH only as the whole value")
    try:
        return _Graph(document.bodies).run(document.root)
    except RecursionError:
        raise DataCloneError("value is nested too deeply to rebuild from this call depth") from None


#: Documents at most this long are first tried as a lone scalar (:func:`_scalar`).
_SCALAR_MAX: Final = 64
_NOT_SCALAR: Final = object()
_SIMPLE: Final[dict[int, object]] = {0xF4: False, 0xF5: True, 0xF6: None}
_FLOATS: Final = {0xF9: struct.Struct(">e"), 0xFA: struct.Struct(">f"), 0xFB: struct.Struct(">d")}


def _scalar(raw: bytes) -> object:
    """Decode *raw* if it is exactly one int, text, byte string, bool, None or float; else a miss.

    The fast path for the commonest small documents (a counter, a name, a flag), skipping the
    decoder's set-up. It accepts only well-formed items with nothing after them and returns
    :data:`_NOT_SCALAR` for anything else (including everything malformed), which then takes the
    general path: it never decides an error, so the two paths cannot disagree on one.
    """
    head = raw[0]
    major = head >> 5
    info = head & 0x1F
    if major == 7:
        if head in _SIMPLE:
            return _SIMPLE[head] if len(raw) == 1 else _NOT_SCALAR
        codec = _FLOATS.get(head)
        if codec is None or len(raw) != 1 + codec.size:
            return _NOT_SCALAR
        return codec.unpack_from(raw, 1)[0]
    if major > 3:
        return _NOT_SCALAR
    if info < 24:
        start, number = 1, info
    elif info < 28:
        start = 1 + (1 << (info - 24))
        if len(raw) < start:
            return _NOT_SCALAR
        number = int.from_bytes(raw[1:start], "big")
    else:
        return _NOT_SCALAR
    if major < 2:  # an unsigned or a negative integer
        if len(raw) != start:
            return _NOT_SCALAR
        return number if major == 0 else -1 - number
    if len(raw) != start + number:
        return _NOT_SCALAR
    if major == 2:
        return raw[start:]
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError:
        return _NOT_SCALAR


#: Decoders that finished a decode cleanly, kept for reuse (making one costs more than a small
#: decode), per table of tag decoders. A decoder is taken out while in use (``list.pop`` and
#: ``append`` are atomic, so threads and nested decodes each get their own) and put back only
#: after a successful decode; one that raised is dropped, whatever state it was left in.
_IDLE_DECODERS: Final[dict[int, list[cbor2.CBORDecoder]]] = {}
_MAX_IDLE_DECODERS: Final = 4


def _decode(raw: bytes, decoders: dict[int, _Decoder]) -> object:
    stream = io.BytesIO(raw)
    idle = _IDLE_DECODERS[id(decoders)]
    try:
        decoder = idle.pop()
    except IndexError:
        decoder = cbor2.CBORDecoder(
            stream,
            semantic_decoders=decoders,
            tag_hook=_unknown_tag,
            max_depth=_CBOR_DEPTH,
            allow_duplicate_keys=False,
        )
    else:
        decoder.fp = stream
    try:
        value = decoder.decode()
    except cbor2.CBORDecodeError as exc:
        cause = exc.__cause__
        if isinstance(cause, _NeedsGraph | DataCloneError):
            raise cause from None
        raise DataCloneError(f"malformed CBOR: {exc}") from exc
    except RecursionError:
        raise DataCloneError(f"malformed clone: nesting deeper than {MAX_DEPTH} levels") from None
    if stream.tell() != len(raw):
        raise DataCloneError(f"malformed CBOR: {len(raw) - stream.tell()} trailing bytes after the value")
    stream.close()  # the idle decoder keeps the stream: let it drop the input
    if len(idle) < _MAX_IDLE_DECODERS:
        idle.append(decoder)
    return value


def _unknown_tag(tag: cbor2.CBORTag, immutable: bool) -> object:
    raise rb.fail(f"unknown CBOR tag {tag.tag}")


def _refuse(tag: int, why: str) -> _Decoder:
    def decoder(value: object, immutable: bool) -> object:
        raise rb.fail(f"CBOR tag {tag} ({why}) is not accepted")

    return decoder


def _needs_graph(value: object, immutable: bool) -> object:
    raise _NeedsGraph


# --- one-pass decoders (no sharing) ------------------------------------------------------------


def _tuple(value: object, immutable: bool) -> tuple[object, ...]:
    return tuple(rb.expect_sequence(value, "tuple"))


def _frozenset(value: object, immutable: bool) -> frozenset[object]:
    items = rb.expect_sequence(value, "frozenset")
    rb.hashable_members(items, "frozenset")
    return frozenset(items)


def _set(value: object, immutable: bool) -> set[object] | frozenset[object]:
    return rb.new_set(rb.expect_sequence(value, "tag 258 (set)"), immutable)


def _identity_map(value: object, immutable: bool) -> IdentityMap:
    flat = rb.identity_pairs(value)
    result = IdentityMap()
    for i in range(0, len(flat), 2):
        result[flat[i]] = flat[i + 1]
    return result


def _object(value: object, immutable: bool) -> object:
    obj, state = rb.new_object(value)
    for key, item in state.items():
        rb.set_attribute(obj, rb.attribute_name(key, "object attribute"), item)
    return obj


def _exception(value: object, immutable: bool) -> BaseException:
    payload = rb.ExceptionPayload(value)
    exc = rb.new_exception(payload.name, payload.base, tuple(payload.args))
    rb.finish_exception(
        exc,
        payload,
        rb.checked_attrs(payload.attrs),
        payload.cause,
        list(payload.notes),
    )
    return exc


#: Tags whose payload has no children worth a graph node: the same decoder serves both passes.
_LEAF_DECODERS: Final[dict[int, _Decoder]] = {
    _tags.DATETIME_STRING: rb.aware_datetime,
    _tags.EPOCH_DATETIME: rb.epoch_datetime,
    _tags.DECIMAL_FRACTION: rb.decimal_fraction,
    5: _refuse(5, "bigfloat"),
    25: _refuse(25, "string reference"),
    256: _refuse(256, "string reference namespace"),
    _tags.RATIONAL: rb.rational,
    _tags.URI: rb.url,
    _tags.REGEX: rb.regex,
    36: _refuse(36, "MIME message"),
    _tags.UUID: rb.uuid_,
    52: _refuse(52, "IPv4 address"),
    54: _refuse(54, "IPv6 address"),
    _tags.DAYS_SINCE_EPOCH: rb.days_since_epoch,
    260: _refuse(260, "network address"),
    261: _refuse(261, "network address"),
    _tags.WTF8_STRING: rb.wtf8,
    _tags.FULL_DATE: rb.full_date,
    _tags.COMPLEX: rb.complex_,
    _tags.BYTEARRAY: rb.bytearray_,
    _tags.NAIVE_DATETIME: rb.naive_datetime,
    _tags.TIMEDELTA: rb.timedelta,
    _tags.PATTERN: rb.pattern,
    _tags.DECIMAL_TEXT: rb.decimal_text,
    _tags.HEADERS: rb.headers,
    _tags.SHAREABLE: _refuse(_tags.SHAREABLE, "value sharing; this format shares through GRAPH and REF"),
    _tags.SHARED_REF: _refuse(_tags.SHARED_REF, "value sharing; this format shares through GRAPH and REF"),
}

_ONE_PASS: Final[dict[int, _Decoder]] = {
    **_LEAF_DECODERS,
    _tags.GRAPH: _needs_graph,
    _tags.REF: _needs_graph,  # a GRAPH written in a longer form may be around it: the graph pass says
    _tags.TUPLE: _tuple,
    _tags.FROZENSET: _frozenset,
    _tags.SET: _set,
    _tags.IDENTITY_MAP: _identity_map,
    _tags.OBJECT: _object,
    _tags.EXCEPTION: _exception,
}


# --- graph pass (values with shared objects) -----------------------------------------------


class _GraphRoot:
    __slots__ = ("bodies", "root")

    def __init__(self, value: object) -> None:
        parts = rb.expect_sequence(value, "GRAPH")
        if len(parts) != 2:
            raise rb.fail("GRAPH must be [root, [bodies...]]")
        self.root = parts[0]
        self.bodies = rb.expect_sequence(parts[1], "GRAPH bodies")


class _Ref:
    __slots__ = ("index",)

    def __init__(self, index: object) -> None:
        if type(index) is not int or index < 0:
            raise rb.fail(f"REF must hold a non-negative integer, got {index!r}")
        self.index: int = index


class _Node:
    """A container tag whose contents are rebuilt by :class:`_Graph`."""

    __slots__ = ("immutable", "tag", "value")

    def __init__(self, tag: int, value: object, immutable: bool) -> None:
        self.tag = tag
        self.value = value
        self.immutable = immutable


def _node_decoder(tag: int) -> _Decoder:
    def decoder(value: object, immutable: bool) -> object:
        return _Node(tag, value, immutable)

    return decoder


_GRAPH_PASS: Final[dict[int, _Decoder]] = {
    **_LEAF_DECODERS,
    _tags.GRAPH: lambda value, immutable: _GraphRoot(value),
    _tags.REF: lambda value, immutable: _Ref(value),
    **{
        tag: _node_decoder(tag)
        for tag in (
            _tags.TUPLE,
            _tags.FROZENSET,
            _tags.SET,
            _tags.IDENTITY_MAP,
            _tags.OBJECT,
            _tags.EXCEPTION,
        )
    },
}
_IDLE_DECODERS.update({id(_ONE_PASS): [], id(_GRAPH_PASS): []})
_GRAPH_PREFIX: Final = cbor2.dumps(cbor2.CBORTag(_tags.GRAPH, None))[:-1]
_RAW: Final = frozenset({list, dict, tuple, cbor2.frozendict, _Ref, _Node, _GraphRoot})
_CONTENTS_FIRST: Final = frozenset({_tags.TUPLE, _tags.FROZENSET, _tags.EXCEPTION})
_UNBUILT: Final = object()


class _Graph:
    """Rebuilds a GRAPH: shells first, then immutable bodies in table order, then every fill.

    The encoder guarantees that every cycle passes through a body that can exist before its
    contents (see ``_scan``), and lists immutable bodies after the bodies they contain; so
    building an immutable body never needs itself. Bytes from elsewhere that break this get an
    error, never a wrong value.
    """

    __slots__ = ("building", "pending", "raw", "values")

    def __init__(self, bodies: Sequence[object]) -> None:
        self.raw = bodies
        self.values: list[object] = [_UNBUILT] * len(bodies)
        self.building: set[int] = set()
        self.pending: dict[int, Callable[[], None]] = {}  # id(shell) -> fill, until it has run

    def run(self, root: object) -> object:
        for i, raw in enumerate(self.raw):
            self._shell(i, raw)
        for i in range(len(self.raw)):
            if self.values[i] is _UNBUILT:
                self._get(i)
        while self.pending:  # fills may fill others early (_ready), so take them one at a time
            oid = next(iter(self.pending))
            self.pending.pop(oid)()
        return self.build(root)

    def _shell(self, index: int, raw: object) -> None:
        """Make an empty body that can exist before its contents, and queue its fill."""
        cls = type(raw)
        shell: object
        fill: Callable[[], None]
        if isinstance(raw, list):
            shell, fill = raw, partial(self._fill_list, raw)
        elif isinstance(raw, dict):
            shell, fill = raw, partial(self._fill_dict, raw)
        elif isinstance(raw, _Node) and raw.tag not in _CONTENTS_FIRST:
            node = raw
            if node.tag == _tags.SET:
                shell = set()
                fill = partial(self._fill_set, shell, rb.expect_sequence(node.value, "tag 258 (set)"))
            elif node.tag == _tags.IDENTITY_MAP:
                shell = IdentityMap()
                fill = partial(self._fill_identity_map, shell, rb.identity_pairs(node.value))
            else:
                shell, state = rb.new_object(node.value)
                fill = partial(self._fill_object, shell, state)
        elif cls is _Node or cls is _Ref or cls is _GraphRoot or cls is tuple or cls is cbor2.frozendict:
            return  # built in table order by _get (a bare REF or GRAPH body is an error there)
        else:
            self.values[index] = raw  # an atom or a leaf decoded already
            return
        self.values[index] = shell
        self.pending[id(shell)] = fill

    def _get(self, index: int) -> object:
        if index >= len(self.values):
            raise rb.fail(f"REF {index} is beyond the {len(self.values)} bodies of the GRAPH")
        value = self.values[index]
        if value is not _UNBUILT:
            return value
        if index in self.building:
            raise rb.fail(f"body {index} refers to itself through tuples, frozensets or exception args only")
        self.building.add(index)
        raw = self.raw[index]
        if type(raw) is _Ref or type(raw) is _GraphRoot:
            raise rb.fail(f"body {index} must be a value, not a {type(raw).__name__.strip('_')}")
        self.values[index] = value = self.build(raw, body=True)
        self.building.discard(index)
        return value

    def _ready(self, value: object) -> None:
        """Fill a queued body now, before it is hashed as a key or set member."""
        fill = self.pending.pop(id(value), None)
        if fill is not None:
            fill()
        elif isinstance(value, tuple | frozenset):
            for item in value:
                self._ready(item)

    def build(self, raw: object, *, body: bool = False) -> object:
        cls = type(raw)
        if cls not in _RAW:
            return raw
        if isinstance(raw, list):
            self._fill_list(raw)
            return raw
        if isinstance(raw, dict):
            self._fill_dict(raw)
            return raw
        if cls is _Ref:
            return self._get(raw.index)  # type: ignore[attr-defined]
        if cls is tuple:  # an array in a map key
            return tuple(self.build(item) for item in raw)  # type: ignore[attr-defined]
        if cls is cbor2.frozendict:  # a map in a map key
            pairs = cast("Mapping[object, object]", raw).items()
            return cbor2.frozendict({self._key(k): self.build(v) for k, v in pairs})
        if cls is _GraphRoot:
            raise rb.fail("a GRAPH tag may only wrap the whole value")
        return self._node(raw, body)  # type: ignore[arg-type]

    def _node(self, node: _Node, body: bool) -> object:
        tag = node.tag
        if tag == _tags.TUPLE:
            return tuple(self.build(item) for item in rb.expect_sequence(node.value, "tuple"))
        if tag == _tags.FROZENSET:
            members = [self._key(item) for item in rb.expect_sequence(node.value, "frozenset")]
            rb.hashable_members(members, "frozenset")
            return frozenset(members)
        if tag == _tags.EXCEPTION:
            payload = rb.ExceptionPayload(node.value)
            exc = rb.new_exception(payload.name, payload.base, tuple(self.build(a) for a in payload.args))
            fill = partial(self._fill_exception, exc, payload)
            if body:  # its attributes may refer back to bodies still being built: fill it last
                self.pending[id(exc)] = fill
            else:
                fill()
            return exc
        if tag == _tags.SET:
            result: set[object] = set()
            self._fill_set(result, rb.expect_sequence(node.value, "tag 258 (set)"))
            return frozenset(result) if node.immutable else result
        if tag == _tags.IDENTITY_MAP:
            mapping = IdentityMap()
            self._fill_identity_map(mapping, rb.identity_pairs(node.value))
            return mapping
        obj, state = rb.new_object(node.value)
        self._fill_object(obj, state)
        return obj

    def _key(self, raw: object) -> object:
        key = self.build(raw)
        self._ready(key)
        return key

    def _fill_list(self, items: list[object]) -> None:
        for i, item in enumerate(items):
            if type(item) in _RAW:
                items[i] = self.build(item)

    def _fill_dict(self, mapping: dict[object, object]) -> None:
        pairs = list(mapping.items())
        mapping.clear()
        for raw_key, raw_value in pairs:
            key = self._key(raw_key)
            try:
                mapping[key] = self.build(raw_value)
            except TypeError:
                raise rb.fail(f"map key of type {type(key).__name__} is not hashable") from None

    def _fill_set(self, result: set[object], items: Sequence[object]) -> None:
        for item in items:
            member = self._key(item)
            try:
                result.add(member)
            except TypeError:
                raise rb.fail(f"set holds an unhashable {type(member).__name__}") from None

    def _fill_identity_map(self, mapping: IdentityMap, flat: Sequence[object]) -> None:
        for i in range(0, len(flat), 2):
            mapping[self.build(flat[i])] = self.build(flat[i + 1])

    def _fill_object(self, obj: object, state: Mapping[object, object]) -> None:
        for raw_key, raw_value in state.items():
            rb.set_attribute(obj, rb.attribute_name(raw_key, "object attribute"), self.build(raw_value))

    def _fill_exception(self, exc: BaseException, payload: rb.ExceptionPayload) -> None:
        attrs = {name: self.build(value) for name, value in rb.checked_attrs(payload.attrs).items()}
        cause = self.build(payload.cause)
        notes = [self.build(note) for note in payload.notes]
        rb.finish_exception(exc, payload, attrs, cause, notes)
