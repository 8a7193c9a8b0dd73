"""Tests that chains, markers, RESULT and the chain errors cross `lumenize_trio.clone` intact."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
from hypothesis import given, strategies as st

from lumenize_trio import clone
from lumenize_trio.ocan import (
    RESULT,
    Apply,
    ChainError,
    Get,
    NestedChain,
    NotMeshCallableError,
    OperationChain,
    Verbatim,
    chain_of,
    continuation,
    execute,
    fill_result,
    validate_chain,
)


def roundtrip(value: object) -> object:
    return clone.loads(clone.dumps(value))


def test_operations_roundtrip_with_their_types():
    c = continuation()
    chain = chain_of(c.a.b(1, [2, c.x()], k={"v": (3, None)}, r=RESULT).c(Verbatim({1, 2})))
    back = roundtrip(chain)
    assert back == chain
    assert type(back) is tuple
    assert [type(op) for op in back] == [type(op) for op in chain]
    assert type(back[2].args[1][1]) is NestedChain
    assert type(back[-1].args[0]) is Verbatim


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (Get("a"), "lumenize.ocan.Get"),
        (Apply((1,), {}), "lumenize.ocan.Apply"),
        (NestedChain((Get("a"),)), "lumenize.ocan.NestedChain"),
        (Verbatim(1), "lumenize.ocan.Verbatim"),
        (RESULT, "lumenize.ocan.RESULT"),
    ],
)
def test_wire_names_are_stable(value, name):
    """Stored chains depend on these names: changing one orphans data."""
    assert name.encode() in clone.dumps(value)


def test_result_decodes_to_the_same_singleton():
    assert roundtrip(RESULT) is RESULT
    back = roundtrip([RESULT, {"k": RESULT}, (Apply((RESULT,), {"x": RESULT}),)])
    assert back[0] is RESULT
    assert back[1]["k"] is RESULT
    assert back[2][0].args[0] is RESULT
    assert back[2][0].kwargs["x"] is RESULT


def test_result_is_a_readable_singleton_under_copy_and_pickle():
    assert repr(RESULT) == "RESULT"
    assert copy.copy(RESULT) is RESULT
    assert copy.deepcopy(RESULT) is RESULT
    assert pickle.loads(pickle.dumps(RESULT)) is RESULT
    assert type(RESULT)() is RESULT


async def test_decoded_handler_chain_fills_and_runs():
    class Target:
        def handle(self, value: object, tag: str) -> tuple[object, str]:
            return value, tag

    handler = roundtrip(chain_of(continuation(Target).handle(RESULT, "t")))
    assert handler[-1].args[0] is RESULT
    filled = roundtrip(fill_result(handler, ValueError("boom")))
    value, tag = await execute(Target(), filled)
    assert isinstance(value, ValueError)
    assert value.args == ("boom",)
    assert tag == "t"


async def test_decoded_shared_nested_chain_still_runs_once():
    class Target:
        def __init__(self) -> None:
            self.calls = 0

        def tick(self) -> int:
            self.calls += 1
            return self.calls

        def pair(self, a: int, b: int) -> tuple[int, int]:
            return a, b

    c = continuation(Target)
    once = c.tick()
    chain = roundtrip(chain_of(c.pair(once, once)))
    target = Target()
    assert await execute(target, chain) == (1, 1)
    assert target.calls == 1


def test_chain_errors_roundtrip_as_their_classes():
    for error in (ChainError("too long"), NotMeshCallableError("private")):
        back = roundtrip(error)
        assert type(back) is type(error)
        assert back.args == error.args


def test_decoded_operation_missing_attributes_is_refused():
    """Decoding sets only what was sent: validation must cope with a Get that has no name."""
    hollow = object.__new__(Get)
    back = roundtrip((hollow,))
    with pytest.raises(ChainError, match="attribute name must be a str"):
        validate_chain(back)


# --- property ---------------------------------------------------------------------------------

# Values the clone round-trips to equal values. NaN is left out because NaN != NaN would make
# equal chains compare unequal; sets are left out of argument positions because markers may not
# be hashed.
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64, max_value=2**80),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.just(RESULT),
)
_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


def _values(extra: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(
        st.one_of(_leaf, extra),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), inner, max_size=3),
            inner.map(Verbatim),
        ),
        max_leaves=8,
    )


def _chains(extra: st.SearchStrategy[object]) -> st.SearchStrategy[OperationChain]:
    apply = st.builds(
        lambda args, kwargs: Apply(tuple(args), kwargs),
        st.lists(_values(extra), max_size=3),
        st.dictionaries(_names, _values(extra), max_size=3),
    )
    return st.lists(st.one_of(st.builds(Get, _names), apply), min_size=1, max_size=6).map(tuple)


_nested = st.deferred(lambda: _chains(st.nothing()).map(NestedChain))
_chain = _chains(_nested)


@given(_chain)
def test_any_chain_roundtrips_to_an_equal_chain_property(chain):
    back = roundtrip(chain)
    assert back == chain
    assert type(back) is tuple


@given(
    st.lists(
        st.one_of(
            _names.map(lambda n: ("get", n)),
            st.lists(_values(st.nothing()), max_size=3).map(lambda a: ("call", a)),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_any_built_chain_roundtrips_property(steps):
    """Chains recorded by the builder from random get/call sequences round-trip equal."""
    builder = continuation()
    nested = continuation().inner()
    for kind, payload in steps:
        builder = getattr(builder, payload) if kind == "get" else builder(*payload, nested=nested)
    chain = chain_of(builder)
    assert roundtrip(chain) == chain


def test_float_arguments_keep_their_value():
    chain = (Get("f"), Apply((math.inf, -0.0, 1.5), {}))
    back = roundtrip(chain)
    assert back == chain
    assert math.copysign(1, back[1].args[1]) == -1
