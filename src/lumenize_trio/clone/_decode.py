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
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DataCloneError(f"loads() needs bytes, got {type(data).__name__}")
    raw = bytes(data)
    if b"\xd8\x1c" not in raw:  # no tag 28 in its short form: try the one-pass decoder
        try:
            return _decode(raw, _ONE_PASS)
        except _NeedsGraph:
            pass  # tag 28 or 29 in a longer form
    try:
        return _Graph().build(_decode(raw, _GRAPH_PASS))
    except RecursionError:
        raise DataCloneError("value is nested too deeply to rebuild from this call depth") from None


def _decode(raw: bytes, decoders: dict[int, _Decoder]) -> object:
    stream = io.BytesIO(raw)
    try:
        value = cbor2.CBORDecoder(
            stream,
            semantic_decoders=decoders,
            tag_hook=_unknown_tag,
            max_depth=_CBOR_DEPTH,
            allow_duplicate_keys=False,
        ).decode()
    except cbor2.CBORDecodeError as exc:
        cause = exc.__cause__
        if isinstance(cause, _NeedsGraph | DataCloneError):
            raise cause from None
        raise DataCloneError(f"malformed CBOR: {exc}") from exc
    except RecursionError:
        raise DataCloneError(f"malformed clone: nesting deeper than {MAX_DEPTH} levels") from None
    if stream.tell() != len(raw):
        raise DataCloneError(f"malformed CBOR: {len(raw) - stream.tell()} trailing bytes after the value")
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
}

_ONE_PASS: Final[dict[int, _Decoder]] = {
    **_LEAF_DECODERS,
    _tags.SHAREABLE: _needs_graph,
    _tags.SHARED_REF: _needs_graph,
    _tags.TUPLE: _tuple,
    _tags.FROZENSET: _frozenset,
    _tags.SET: _set,
    _tags.IDENTITY_MAP: _identity_map,
    _tags.OBJECT: _object,
    _tags.EXCEPTION: _exception,
}


# --- graph pass (value sharing) ----------------------------------------------------------------


class _Shareable:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class _Ref:
    __slots__ = ("index",)

    def __init__(self, index: object) -> None:
        if type(index) is not int or index < 0:
            raise rb.fail(f"tag 29 must hold a non-negative integer, got {index!r}")
        self.index: int = index


class _Node:
    """A container tag whose contents must be rebuilt in document order."""

    __slots__ = ("immutable", "tag", "value")

    def __init__(self, tag: int, value: object, immutable: bool) -> None:
        self.tag = tag
        self.value = value
        self.immutable = immutable


class _Placeholder:
    """Stands in for a tuple, frozenset or exception that is still being built."""

    __slots__ = ("done", "patches", "value")

    def __init__(self) -> None:
        self.patches: list[Callable[[object], object]] = []
        self.done = False
        self.value: object = None


def _node_decoder(tag: int) -> _Decoder:
    def decoder(value: object, immutable: bool) -> object:
        return _Node(tag, value, immutable)

    return decoder


_GRAPH_PASS: Final[dict[int, _Decoder]] = {
    **_LEAF_DECODERS,
    _tags.SHAREABLE: lambda value, immutable: _Shareable(value),
    _tags.SHARED_REF: lambda value, immutable: _Ref(value),
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


class _Graph:
    """Turns a raw tree with sharing nodes into the final value (see the module docstring)."""

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: list[object] = []  # shareable values in document order (or their placeholders)

    def build(self, raw: object) -> object:
        cls = type(raw)
        if cls is list:
            self._fill_list(raw)  # type: ignore[arg-type]
            return raw
        if cls is dict:
            self._fill_dict(raw)  # type: ignore[arg-type]
            return raw
        if cls is _Shareable:
            return self._shareable(raw.value)  # type: ignore[attr-defined]
        if cls is _Ref:
            index: int = raw.index  # type: ignore[attr-defined]
            if index >= len(self.table):
                raise rb.fail(f"tag 29 refers to shared value {index}, which does not exist yet")
            value = self.table[index]
            if type(value) is _Placeholder and value.done:
                return value.value
            return value
        if cls is _Node:
            return self._node(raw, None)  # type: ignore[arg-type]
        if cls is tuple:  # an array in a map key
            return self._immutable_items(raw, "array in a map key")  # type: ignore[arg-type]
        if cls is cbor2.frozendict:  # a map in a map key
            pairs = cast("Mapping[object, object]", raw).items()
            built = {self._no_placeholder(self.build(k), "map key"): self.build(v) for k, v in pairs}
            return cbor2.frozendict(
                {k: self._no_placeholder(v, "map value in a key") for k, v in built.items()}
            )
        return raw

    def _shareable(self, inner: object) -> object:
        cls = type(inner)
        if cls is _Shareable or cls is _Ref:
            raise rb.fail("tag 28 must wrap a value, not another sharing tag")
        if cls is _Node:
            return self._node(inner, len(self.table))  # type: ignore[arg-type]
        index = len(self.table)
        self.table.append(inner)
        if cls is list:
            self._fill_list(inner)  # type: ignore[arg-type]
        elif cls is dict:
            self._fill_dict(inner)  # type: ignore[arg-type]
        elif cls is tuple or cls is cbor2.frozendict:
            self.table[index] = built = self.build(inner)
            return built
        return inner

    @staticmethod
    def _place(value: object, patch: Callable[[object], object]) -> object:
        """Note where a placeholder went, so *patch* puts the real object there later."""
        if type(value) is _Placeholder:
            value.patches.append(patch)
        return value

    @staticmethod
    def _no_placeholder(value: object, where: str) -> object:
        if type(value) is _Placeholder:
            raise rb.fail(f"a {where} refers to a tuple, frozenset or exception that is still being built")
        return value

    def _immutable_items(self, items: Sequence[object], where: str) -> tuple[object, ...]:
        return tuple(self._no_placeholder(self.build(item), where) for item in items)

    def _resolve(self, index: int | None, placeholder: _Placeholder | None, value: object) -> object:
        if index is None:
            return value
        self.table[index] = value
        if placeholder is not None:
            placeholder.done = True
            placeholder.value = value
            for patch in placeholder.patches:
                patch(value)
        return value

    def _reserve(self, index: int | None) -> _Placeholder | None:
        if index is None:
            return None
        placeholder = _Placeholder()
        self.table.append(placeholder)
        return placeholder

    def _fill_list(self, items: list[object]) -> None:
        for i, item in enumerate(items):
            if type(item) in _RAW_NODES or type(item) is list or type(item) is dict:
                items[i] = value = self.build(item)
                self._place(value, partial(items.__setitem__, i))

    def _fill_dict(self, mapping: dict[object, object]) -> None:
        pairs = list(mapping.items())
        mapping.clear()
        for raw_key, raw_value in pairs:
            key = self.build(raw_key)
            value = self.build(raw_value)
            try:
                mapping[key] = value
            except TypeError:
                raise rb.fail(f"map key of type {type(key).__name__} is not hashable") from None
            if type(key) is _Placeholder:
                key.patches.append(partial(_replace_key, mapping, key))
            self._place(value, partial(mapping.__setitem__, key))

    def _node(self, node: _Node, index: int | None) -> object:
        tag = node.tag
        if tag == _tags.SET:
            result: set[object] = set()
            if index is not None:
                self.table.append(result)
            for item in rb.expect_sequence(node.value, "tag 258 (set)"):
                member = self.build(item)
                try:
                    result.add(member)
                except TypeError:
                    raise rb.fail(f"set holds an unhashable {type(member).__name__}") from None
                if type(member) is _Placeholder:
                    member.patches.append(partial(_replace_member, result, member))
            if node.immutable:
                return self._resolve(index, None, frozenset(result))
            return result
        if tag == _tags.IDENTITY_MAP:
            mapping = IdentityMap()
            if index is not None:
                self.table.append(mapping)
            flat = rb.identity_pairs(node.value)
            for i in range(0, len(flat), 2):
                key = self.build(flat[i])
                value = self.build(flat[i + 1])
                mapping[key] = value
                if type(key) is _Placeholder:
                    key.patches.append(partial(_replace_identity_key, mapping, key))
                self._place(value, partial(mapping.__setitem__, key))
            return mapping
        if tag == _tags.OBJECT:
            obj, state = rb.new_object(node.value)
            if index is not None:
                self.table.append(obj)
            for raw_key, raw_value in state.items():
                name = rb.attribute_name(raw_key, "object attribute")
                value = self.build(raw_value)
                rb.set_attribute(obj, name, value)
                self._place(value, partial(rb.set_attribute, obj, name))
            return obj
        placeholder = self._reserve(index)
        if tag == _tags.TUPLE:
            items = self._immutable_items(rb.expect_sequence(node.value, "tuple"), "tuple item")
            return self._resolve(index, placeholder, items)
        if tag == _tags.FROZENSET:
            members = self._immutable_items(rb.expect_sequence(node.value, "frozenset"), "frozenset member")
            rb.hashable_members(members, "frozenset")
            return self._resolve(index, placeholder, frozenset(members))
        assert tag == _tags.EXCEPTION
        return self._exception(node.value, index, placeholder)

    def _exception(self, value: object, index: int | None, placeholder: _Placeholder | None) -> BaseException:
        payload = rb.ExceptionPayload(value)
        # Fields are rebuilt in the order the encoder writes them (args, attrs, cause, notes), which
        # is the order shareable values were numbered in.
        args = self._immutable_items(payload.args, "exception arg")
        exc = rb.new_exception(payload.name, payload.base, args)
        self._resolve(index, placeholder, exc)
        attrs = {}
        for raw_key, raw_value in payload.attrs.items():
            name = rb.attribute_name(raw_key, "exception attribute")
            attrs[name] = attr = self.build(raw_value)
            self._place(attr, partial(exc.__dict__.__setitem__, name))
        cause = self.build(payload.cause)
        self._place(cause, partial(setattr, exc, "__cause__"))
        notes = [self.build(note) for note in payload.notes]
        for i, note in enumerate(notes):
            self._place(note, partial(notes.__setitem__, i))
        if type(cause) is _Placeholder:
            cause = None  # patched in once the cause exists
        rb.finish_exception(exc, payload, attrs, cause, notes)
        return exc


_RAW_NODES: Final = frozenset({_Shareable, _Ref, _Node, tuple, cbor2.frozendict})


def _replace_key(mapping: dict[object, object], old: object, new: object) -> None:
    items = [(new if k is old else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


def _replace_member(members: set[object], old: object, new: object) -> None:
    members.discard(old)
    members.add(new)


def _replace_identity_key(mapping: IdentityMap, old: object, new: object) -> None:
    items = [(new if k is old else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)
