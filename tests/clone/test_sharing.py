"""Tests for `lumenize_trio.clone`: aliases and cycles, the cases named in the design."""

from __future__ import annotations

import pytest

from lumenize_trio import DataCloneError, IdentityMap, clone

from .isomorphism import assert_isomorphic
from .strategies import GraphError, Point


def roundtrip(value: object) -> object:
    return clone.loads(clone.dumps(value))


def test_alias_in_list_is_one_object() -> None:
    shared = {"x": 1}
    result = roundtrip([shared, shared, [shared]])
    assert isinstance(result, list)
    assert result[0] is result[1] is result[2][0]


def test_equal_but_distinct_stay_distinct() -> None:
    result = roundtrip([[1], [1]])
    assert isinstance(result, list)
    assert result[0] is not result[1]


@pytest.mark.parametrize("make", ["list", "dict", "set-in-list", "tuple", "idmap", "point", "error"])
def test_self_cycles(make: str) -> None:
    value: object
    if make == "list":
        value = []
        value.append(value)  # type: ignore[attr-defined]
    elif make == "dict":
        value = {}
        value["self"] = value  # type: ignore[index]
    elif make == "set-in-list":
        value = [{1}]
        value.append(value)  # type: ignore[attr-defined]
    elif make == "tuple":
        inner: list[object] = []
        value = (inner,)
        inner.append(value)
    elif make == "idmap":
        value = IdentityMap()
        value[value] = value  # type: ignore[index]
    elif make == "point":
        value = Point(None, None)
        value.x = value  # type: ignore[attr-defined]
    else:
        value = GraphError("loop")
        value.me = value  # type: ignore[attr-defined]
    assert_isomorphic(value, roundtrip(value))


def test_tuple_key_cycle_through_dict() -> None:
    """A tuple reached again as a dict key while the tuple is still being built."""
    holder: dict[object, object] = {}
    key = ("k", 1)
    value = (key, holder)
    holder[key] = value
    holder["again"] = value
    assert_isomorphic(value, roundtrip(value))


def test_frozenset_shared_and_in_cycle_via_list() -> None:
    fs = frozenset({1, 2})
    lst: list[object] = [fs, fs]
    assert_isomorphic(lst, roundtrip(lst))


def test_cause_cycle_and_shared_cause() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__cause__, b.__cause__ = b, a
    shared = RuntimeError("shared")
    c, d = TypeError("c"), TypeError("d")
    c.__cause__ = d.__cause__ = shared
    result = roundtrip([a, c, d])
    assert isinstance(result, list)
    ra, rc, rd = result
    assert ra.__cause__.__cause__ is ra
    assert rc.__cause__ is rd.__cause__
    assert_isomorphic([a, c, d], result)


def test_exception_group_member_pointing_back_at_group() -> None:
    member = ValueError("member")
    group = ExceptionGroup("group", [member])
    member.group = group  # type: ignore[attr-defined]
    member.__cause__ = group
    result = roundtrip(group)
    assert isinstance(result, ExceptionGroup)
    assert result.exceptions[0].group is result
    assert result.exceptions[0].__cause__ is result


def test_cycle_through_two_immutables_is_refused_with_path() -> None:
    holder: list[object] = []
    outer = (holder,)
    holder.append((outer,))
    with pytest.raises(DataCloneError, match=r"^\$\[0\]\[0\]: refers back to \$, which contains it"):
        clone.dumps(outer)


def test_deep_sharing_stress() -> None:
    """A shared subtree used many times and a long ring both round-trip with one identity each."""
    subtree = [{"i": i} for i in range(200)]
    ring: list[object] = [[] for _ in range(100)]
    for i, node in enumerate(ring):
        node.append(ring[(i + 1) % len(ring)])  # type: ignore[attr-defined]
    value = {"copies": [subtree] * 50, "ring": ring}
    result = roundtrip(value)
    assert isinstance(result, dict)
    assert all(copy is result["copies"][0] for copy in result["copies"])
    assert_isomorphic(value, result)


def test_long_chains_and_rings_do_not_nest() -> None:
    """Shared objects are written once, at the top of the graph, so a 10,000-node ring is shallow."""
    people = [{"id": i, "friends": []} for i in range(10_000)]
    for i, person in enumerate(people):
        person["friends"].append(people[(i + 1) % len(people)])  # type: ignore[attr-defined]
    result = roundtrip(people)
    assert isinstance(result, list)
    n = len(result)
    assert n == len(people)
    assert all(result[i]["friends"] == [result[(i + 1) % n]] for i in range(n))
    assert all(result[i]["friends"][0] is result[(i + 1) % n] for i in range(n))
    assert [p["id"] for p in result] == list(range(n))


def test_long_chain_of_shared_tuples() -> None:
    """Immutable bodies are listed after what they contain, so decoding never recurses down the chain."""
    value: object = "end"
    for _ in range(5_000):
        value = (value, value)
    result = roundtrip(value)
    assert isinstance(result, tuple)
    assert result[0] is result[1]


def test_exception_args_cycle_through_a_list() -> None:
    """exc.args holds a list that holds exc: the list is written as a body so exc can be built first."""
    exc = ValueError()
    holder: list[object] = [exc]
    exc.args = (holder,)
    result = roundtrip(exc)
    assert isinstance(result, ValueError)
    assert result.args[0][0] is result


def test_shared_hashable_object_as_key_is_filled_before_hashing() -> None:
    from .strategies import Frozen

    key = Frozen("k", 1)
    value = {"a": {key: 1}, "b": {key: 2}, "c": [key]}
    result = roundtrip(value)
    assert isinstance(result, dict)
    assert next(iter(result["a"])) is result["c"][0]
    assert_isomorphic(value, result)


def test_identity_map_with_shared_unhashable_keys() -> None:
    key: list[object] = []
    m = IdentityMap([(key, 1)])
    key.append(m)
    result = roundtrip([m, key])
    assert isinstance(result, list)
    copy, copied_key = result
    assert copy[copied_key] == 1
    assert copied_key[0] is copy


def test_shared_sets_leaves_and_keys() -> None:
    """Every identity-bearing kind can be a body: sets, bytearrays, headers; tuple and frozenset keys inside graphs."""
    import httpx

    members = {1, 2}
    blob = bytearray(b"x")
    headers = httpx.Headers({"a": "b"})
    key = (1, frozenset({2}))
    value = {"s": [members, members], "b": [blob, blob], "h": [headers, headers], "k": {key: [members]}}
    value["again"] = value
    result = roundtrip(value)
    assert isinstance(result, dict)
    assert result["s"][0] is result["s"][1]
    assert result["b"][0] is result["b"][1]
    assert result["h"][0] is result["h"][1]
    assert result["again"] is result
    assert_isomorphic(value, result)
