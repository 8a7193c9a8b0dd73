"""Hypothesis strategies for values the clone must round-trip, including shared graphs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import attrs
import httpx
from hypothesis import strategies as st

from lumenize_trio import UNDEFINED, IdentityMap, clone


@clone.register(name="tests.Point")
@dataclasses.dataclass
class Point:
    x: Any
    y: Any


@clone.register(name="tests.Frozen")
@attrs.frozen
class Frozen:
    label: str
    items: Any


@clone.register(name="tests.GraphError")
class GraphError(Exception):
    """A user exception: registered, with attributes that can point anywhere."""


# Every code point, lone surrogates included (they go through tag 273).
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=12)

atoms = st.one_of(
    st.none(),
    st.just(UNDEFINED),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.binary(max_size=16),
)

timezones = st.one_of(
    st.just(dt.UTC), st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
)

values = st.one_of(
    st.datetimes(timezones=timezones),
    st.datetimes(),
    st.dates(),
    st.timedeltas(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.uuids(),
    st.complex_numbers(allow_nan=False),
    st.sampled_from(
        [
            re.compile("a.b", re.IGNORECASE | re.MULTILINE),
            re.compile(rb"\d+"),
            re.compile("x", re.DOTALL | re.VERBOSE),
        ]
    ),
    st.sampled_from([httpx.URL("https://u:p@example.com:8443/p/a?q=1&q=2#frag"), httpx.URL("/relative?x")]),
    st.lists(
        st.tuples(st.sampled_from(["Set-Cookie", "x-a", "Accept"]), st.text("abc=; ", max_size=8)), max_size=4
    ).map(httpx.Headers),
    st.binary(max_size=8).map(bytearray),
)

hashables = st.one_of(atoms.filter(lambda v: v is not UNDEFINED), st.tuples(st.integers(), any_text))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(hashables, children, max_size=4),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
        st.lists(st.tuples(children, children), max_size=3).map(IdentityMap),
        st.builds(Point, children, children),
        st.builds(Frozen, any_text, children),
    )


trees = st.recursive(st.one_of(atoms, values), _containers, max_leaves=20)


@st.composite
def graphs(draw: st.DrawFn) -> Any:
    """A graph of mutable nodes with random edges: aliases, cycles and self-loops all occur."""
    kinds = draw(
        st.lists(
            st.sampled_from(["list", "dict", "point", "error", "idmap", "set-holder"]), min_size=1, max_size=6
        )
    )
    nodes: list[Any] = []
    for kind in kinds:
        if kind == "list":
            nodes.append([])
        elif kind == "dict":
            nodes.append({})
        elif kind == "point":
            nodes.append(Point(None, None))
        elif kind == "error":
            nodes.append(GraphError(draw(any_text)))
        elif kind == "idmap":
            nodes.append(IdentityMap())
        else:
            nodes.append([set()])
    child = st.one_of(
        st.integers(0, len(nodes) - 1).map(lambda i: ("node", i)),
        st.integers(0, len(nodes) - 1).map(lambda i: ("tuple", i)),
        trees.map(lambda v: ("value", v)),
    )
    for node, kind in zip(nodes, kinds, strict=True):
        edges = draw(st.lists(child, max_size=4))
        resolved = [
            nodes[arg] if how == "node" else (nodes[arg], "in a tuple") if how == "tuple" else arg
            for how, arg in edges
        ]
        if kind == "list":
            node.extend(resolved)
        elif kind == "dict":
            node.update({f"k{i}": v for i, v in enumerate(resolved)})
        elif kind == "point":
            node.x, node.y = resolved[:1], resolved[1:]
        elif kind == "error":
            node.links = resolved
            cause = draw(st.none() | st.sampled_from([n for n in nodes if isinstance(n, BaseException)]))
            node.__cause__ = cause
        elif kind == "idmap":
            for v in resolved:
                node[v] = len(node)
        else:
            node[0].update(draw(st.sets(hashables, max_size=3)))
            node.extend(resolved)
    return nodes[draw(st.integers(0, len(nodes) - 1))]
