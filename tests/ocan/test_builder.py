"""Tests for the continuation builder (`lumenize_trio.ocan._builder`) and `fill_result`."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, strategies as st

from lumenize_trio.ocan import (
    MAX_ARGUMENTS,
    MAX_CHAIN_LENGTH,
    RESULT,
    Apply,
    ChainError,
    Continuation,
    Get,
    NestedChain,
    NotMeshCallableError,
    Verbatim,
    chain_of,
    continuation,
    fill_result,
)

# --- recording --------------------------------------------------------------------------------


def test_builder_records_gets_and_applies():
    c = continuation()
    assert chain_of(c.a.b(1, x=2).c(3)) == (
        Get("a"),
        Get("b"),
        Apply((1,), {"x": 2}),
        Get("c"),
        Apply((3,), {}),
    )


def test_builder_empty_records_nothing():
    assert chain_of(continuation()) == ()


def test_builder_call_without_get_records_apply_on_target():
    assert chain_of(continuation()(1)) == (Apply((1,), {}),)


def test_builder_is_immutable_and_reusable():
    """Extending a builder returns a new one; the original keeps its chain."""
    c = continuation()
    base = c.counter
    one = base.add(1)
    two = base.add(2)
    assert chain_of(base) == (Get("counter"),)
    assert chain_of(one) == (Get("counter"), Get("add"), Apply((1,), {}))
    assert chain_of(two) == (Get("counter"), Get("add"), Apply((2,), {}))
    with pytest.raises(AttributeError, match="immutable"):
        base.x = 1
    with pytest.raises(AttributeError, match="immutable"):
        del base.x


def test_builder_typed_class_is_only_a_hint():
    class Counter:
        def add(self, n: int) -> int:
            return n

    c = continuation(Counter)
    assert type(c) is Continuation
    assert chain_of(c.add(5)) == (Get("add"), Apply((5,), {}))


def test_builder_refuses_non_class_hint():
    with pytest.raises(TypeError, match="takes a class"):
        continuation(42)  # type: ignore[call-overload]


def test_builder_has_no_public_constructor():
    with pytest.raises(TypeError, match="no public constructor"):
        Continuation()


@pytest.mark.parametrize("name", ["_private", "__dict__", "_Continuation__x", "__await__", "__deepcopy__"])
def test_builder_refuses_private_names(name):
    c = continuation()
    with pytest.raises(NotMeshCallableError, match=repr(name)) as info:
        getattr(c, name)
    assert isinstance(info.value, AttributeError)
    assert info.value.name == name


def test_builder_rejects_non_identifier_names():
    with pytest.raises(ChainError, match="not an identifier"):
        getattr(continuation(), "a b")


def test_builder_state_does_not_collide_with_user_names():
    """Any public name is recorded, including ones a proxy might be expected to own."""
    c = continuation()
    for name in ("chain", "ops", "operations", "then", "call", "repr", "chain_of"):
        assert chain_of(getattr(c, name)) == (Get(name),)


def test_builder_protocol_probes_see_nothing():
    c = continuation().a
    assert not hasattr(c, "__await__")
    assert not hasattr(c, "_repr_html_")
    assert copy.copy(c) is not None
    assert chain_of(copy.copy(c)) == chain_of(c)
    assert chain_of(copy.deepcopy(c)) == chain_of(c)
    assert chain_of(pickle.loads(pickle.dumps(c))) == chain_of(c)


def test_builder_repr_reads_like_the_code():
    c = continuation()
    text = repr(c.a.b(1, x="y").c(c.d(), RESULT))
    assert text == "continuation().a.b(1, x='y').c(<chain .d()>, RESULT)"


def test_builder_repr_elides_long_chains_and_argument_lists():
    c = continuation()
    for i in range(20):
        c = getattr(c, f"a{i}")
    assert repr(c).endswith(".a11...")
    wide = continuation().f(*range(10), k=1)
    assert repr(wide) == "continuation().f(0, 1, 2, 3, 4, 5, ...)"
    kw = continuation().f(1, a=1, b=2, c=3, d=4, e=5, g=6)
    assert repr(kw) == "continuation().f(1, a=1, b=2, c=3, d=4, e=5, ...)"


def test_chain_of_rejects_non_builders():
    with pytest.raises(TypeError, match="expected a continuation builder"):
        chain_of((Get("a"),))


# --- limits while recording -------------------------------------------------------------------


def test_builder_chain_length_limit():
    c = continuation()
    for i in range(MAX_CHAIN_LENGTH):
        c = getattr(c, f"a{i}")
    assert len(chain_of(c)) == MAX_CHAIN_LENGTH
    with pytest.raises(ChainError, match=rf"MAX_CHAIN_LENGTH.*{MAX_CHAIN_LENGTH + 1}"):
        c.one_more  # noqa: B018


def test_builder_argument_limit():
    c = continuation()
    args = list(range(MAX_ARGUMENTS - 1))
    assert len(chain_of(c(*args, k=1))[0].args) == MAX_ARGUMENTS - 1
    with pytest.raises(ChainError, match=rf"MAX_ARGUMENTS.*{MAX_ARGUMENTS + 1}"):
        c(*args, k=1, j=2)


# --- nesting ----------------------------------------------------------------------------------


def test_builder_nested_builder_becomes_marker():
    c = continuation()
    chain = chain_of(c.add(c.one(), 2))
    assert chain == (
        Get("add"),
        Apply((NestedChain((Get("one"), Apply((), {}))), 2), {}),
    )


def test_builder_nested_markers_at_any_depth():
    c = continuation()
    inner = c.x()
    chain = chain_of(c.f([1, (inner, {"k": [inner]})], key={"deep": [[inner]]}))
    marker = NestedChain(chain_of(inner))
    apply = chain[-1]
    assert apply.args == ([1, (marker, {"k": [marker]})],)
    assert apply.kwargs == {"key": {"deep": [[marker]]}}
    # The same builder object becomes one marker object, so it runs once.
    assert apply.args[0][1][0] is apply.args[0][1][1]["k"][0] is apply.kwargs["key"]["deep"][0][0]


def test_builder_nested_chains_nest_recursively():
    c = continuation()
    chain = chain_of(c.add(c.add(c.one(), 10), 100))
    inner = NestedChain((Get("one"), Apply((), {})))
    middle = NestedChain((Get("add"), Apply((inner, 10), {})))
    assert chain == (Get("add"), Apply((middle, 100), {}))


def test_builder_keeps_argument_identity_without_builders():
    """Arguments with no builder inside are recorded as the very same objects."""
    payload = {"a": [1, 2]}
    items = [payload]
    apply = chain_of(continuation().f(items, p=payload))[-1]
    assert apply.args[0] is items
    assert apply.kwargs["p"] is payload


def test_builder_copies_only_containers_holding_builders():
    c = continuation()
    untouched = [1, 2]
    holder = [untouched, c.x()]
    apply = chain_of(c.f(holder))[-1]
    assert apply.args[0] is not holder
    assert apply.args[0][0] is untouched
    assert holder[1].__class__ is Continuation  # the caller's list is not modified


def test_builder_handles_cyclic_arguments():
    c = continuation()
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    assert chain_of(c.f(cyclic))[-1].args[0] is cyclic
    with_marker: list[object] = [c.x()]
    with_marker.append(with_marker)
    copied = chain_of(c.f(with_marker))[-1].args[0]
    assert copied is not with_marker
    assert copied[1] is copied
    assert copied[0] == NestedChain((Get("x"), Apply((), {})))


def test_builder_verbatim_is_not_looked_into():
    c = continuation()
    inner = c.x()
    apply = chain_of(c.f(Verbatim([inner])))[-1]
    assert apply.args[0].value[0] is inner


def test_builder_rejects_empty_nested_builder():
    c = continuation()
    with pytest.raises(ChainError, match="at least one operation"):
        c.f(c)


@pytest.mark.parametrize("where", ["set", "frozenset", "key", "tuple key"])
def test_builder_rejects_builders_in_sets_and_keys(where):
    c = continuation()
    inner = c.x()
    value = {
        "set": lambda: {inner},
        "frozenset": lambda: frozenset([inner]),
        "key": lambda: {inner: 1},
        "tuple key": lambda: {(1, inner): 1},
    }[where]()
    with pytest.raises(TypeError, match="set or a dict key"):
        c.f([value])


def test_builder_rejects_absurdly_deep_arguments():
    deep: list[object] = []
    for _ in range(1000):
        deep = [deep]
    with pytest.raises(ChainError, match="deeper than"):
        continuation().f(deep)


# --- fill_result ------------------------------------------------------------------------------


def test_fill_result_replaces_every_top_level_marker():
    c = continuation()
    chain = chain_of(c.handle(1, RESULT, 2, named=RESULT, other=3))
    filled = fill_result(chain, "value")
    assert filled[:-1] == chain[:-1]
    assert filled[-1] == Apply(
        (1, Verbatim("value"), 2),
        {"named": Verbatim("value"), "other": 3},
    )
    assert chain[-1].args[1] is RESULT  # the input chain is unchanged


def test_fill_result_appends_without_marker():
    chain = chain_of(continuation().a.handle(1, k=2))
    filled = fill_result(chain, ValueError("boom"))
    (*args, last) = filled[-1].args
    assert args == [1]
    assert type(last) is Verbatim
    assert isinstance(last.value, ValueError)
    assert filled[-1].kwargs == {"k": 2}


def test_fill_result_only_touches_last_apply_top_level():
    c = continuation()
    chain = chain_of(c.first(RESULT).handle([RESULT], c.g(RESULT)))
    filled = fill_result(chain, 5)
    # No top-level marker in the last call: appended; the deeper markers stay as they were.
    assert filled[:-1] == chain[:-1]
    assert filled[-1].args[:2] == chain[-1].args
    assert filled[-1].args[2] == Verbatim(5)


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        ((), "empty chain"),
        ([Apply()], "got list"),
        ((Get("a"),), "must end with a well-formed Apply"),
        ((Apply(), Get("a")), "ends with .a"),
    ],
)
def test_fill_result_errors(chain, message):
    with pytest.raises(ChainError, match=message):
        fill_result(chain, 1)


def test_fill_result_builder_hint():
    with pytest.raises(ChainError, match=r"pass chain_of\(builder\)"):
        fill_result(continuation().f(), 1)  # type: ignore[arg-type]


def test_fill_result_respects_argument_limit():
    full = chain_of(continuation().f(*range(MAX_ARGUMENTS)))
    with pytest.raises(ChainError, match=rf"{MAX_ARGUMENTS + 1} arguments.*MAX_ARGUMENTS"):
        fill_result(full, 1)
    # With a marker the count does not grow, so a full call can still be filled.
    marked = chain_of(continuation().f(*range(MAX_ARGUMENTS - 1), RESULT))
    assert fill_result(marked, "x")[-1].args[-1] == Verbatim("x")


_arg = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.just(RESULT))


@given(
    args=st.lists(_arg, max_size=8),
    kwargs=st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), _arg, max_size=5),
    value=st.integers(),
)
def test_fill_result_substitutes_exactly_at_markers_property(args, kwargs, value):
    chain = (Get("x"), Apply(tuple(args), kwargs))
    filled = fill_result(chain, value)
    new = filled[-1]
    assert filled[0] is chain[0]
    markers = [a is RESULT for a in args] + [v is RESULT for v in kwargs.values()]
    if any(markers):
        assert len(new.args) == len(args)
        for old, got in zip(args, new.args, strict=True):
            assert got == (Verbatim(value) if old is RESULT else old)
    else:
        assert new.args == (*args, Verbatim(value))
    assert list(new.kwargs) == list(kwargs)
    for key, old in kwargs.items():
        assert new.kwargs[key] == (Verbatim(value) if old is RESULT else old)
    assert not any(a is RESULT for a in (*new.args, *new.kwargs.values()))
