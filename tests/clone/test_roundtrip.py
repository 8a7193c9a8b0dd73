"""Property tests for `lumenize_trio.clone`: loads(dumps(x)) is x, sharing included."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from lumenize_trio import clone

from .isomorphism import assert_isomorphic
from .strategies import graphs, trees


@given(trees)
def test_roundtrip_trees(value: Any) -> None:
    assert_isomorphic(value, clone.loads(clone.dumps(value)))


@given(graphs())
def test_roundtrip_graphs_keep_aliases_and_cycles(value: Any) -> None:
    assert_isomorphic(value, clone.loads(clone.dumps(value)))
