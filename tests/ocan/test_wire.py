"""Tests for `lumenize_trio.ocan._wire`: the plain-list wire form of chains."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from lumenize_trio import clone
from lumenize_trio.ocan import Apply, ChainError, Get, chain_of, continuation, from_wire, to_wire

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.binary(max_size=5))
ops = st.one_of(
    names.map(Get),
    st.builds(
        Apply,
        st.lists(st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4).map(tuple),
        st.dictionaries(names, scalars, max_size=3),
    ),
)


@given(st.lists(ops, min_size=1, max_size=10).map(tuple))
def test_wire_roundtrip_through_clone(chain: tuple[object, ...]) -> None:
    assert from_wire(clone.loads(clone.dumps(to_wire(chain)))) == chain  # type: ignore[arg-type]


def test_wire_shape() -> None:
    chain = chain_of(continuation().room("lobby").post("hi", mention=True))
    assert to_wire(chain) == [
        ["get", "room"],
        ["apply", ["lobby"], {}],
        ["get", "post"],
        ["apply", ["hi"], {"mention": True}],
    ]


@pytest.mark.parametrize(
    "data",
    [
        "not a list",
        [["get"]],
        [["get", 1]],
        [["apply", [], []]],
        [["apply", (), {}]],
        [["apply", [], {1: 2}]],
        [["call", "x"]],
        [("get", "x")],
    ],
)
def test_malformed_wire_chains_are_refused(data: object) -> None:
    with pytest.raises(ChainError):
        from_wire(data)
