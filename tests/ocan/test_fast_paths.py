"""The fast paths of chain handling agree with the general ones.

``execute`` runs simple chains (scalar arguments only) without the planner, the wire decoder and
the builder make operations without attrs' validators: each must accept exactly what the general
path accepts, and do the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st

from lumenize_trio.ocan import (
    MAX_ARGUMENTS,
    Apply,
    ChainError,
    Get,
    NestedChain,
    NotMeshCallableError,
    OperationChain,
    execute,
    from_wire,
    to_wire,
    validate_chain,
)
from lumenize_trio.ocan._execute import _Run
from lumenize_trio.ocan._operations import make_apply, make_get
from lumenize_trio.ocan._plan import is_simple, make_plan


class Target:
    """Logs reads and calls; ``slow=True`` returns a coroutine; ``frame`` returns a frame."""

    def __init__(self, log: list[object]) -> None:
        self._log = log

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._log.append(("get", name))
        if name == "text":
            return "a string"
        if name == "number":
            return 3
        return Target(self._log)

    def __call__(self, *args: object, slow: bool = False, **kwargs: object) -> object:
        self._log.append(("call", args, kwargs))
        if slow:
            return self._later()
        return Target(self._log)

    async def _later(self) -> Target:
        return Target(self._log)


def _decoded(kind: type, **fields: object) -> object:
    """An operation as the clone decodes one: fields set without validation (maybe missing)."""
    op = object.__new__(kind)
    for name, value in fields.items():
        object.__setattr__(op, name, value)
    return op


names = st.one_of(
    st.sampled_from(["a", "text", "number", "format", "_private", "__class__", "not-an-id", "1x", ""]),
    st.from_regex(r"[a-z][a-z0-9_]{0,4}", fullmatch=True),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3), st.binary(max_size=3))
arguments = st.one_of(scalars, st.lists(scalars, max_size=2), st.floats(allow_nan=False))
operations = st.one_of(
    names.map(lambda name: _decoded(Get, name=name)),
    st.builds(
        lambda args, kwargs, slow: _decoded(
            Apply, args=tuple(args), kwargs={**kwargs, **({"slow": True} if slow else {})}
        ),
        st.lists(arguments, max_size=4),
        st.dictionaries(names.filter(lambda n: n != "slow"), arguments, max_size=2),
        st.booleans(),
    ),
    st.sampled_from(
        [
            lambda: _decoded(Get),
            lambda: _decoded(Get, name=1),
            lambda: _decoded(Apply, args=()),
            lambda: _decoded(Apply, args=[], kwargs={}),
            lambda: _decoded(Apply, args=(), kwargs={1: 2}),
            lambda: _decoded(Apply, args=(0,) * (MAX_ARGUMENTS + 1), kwargs={}),
            lambda: _decoded(Apply, args=(), kwargs=[]),
            lambda: "not an operation",
        ]
    ).map(lambda make: make()),
)
chains = st.one_of(
    st.lists(operations, min_size=0, max_size=6).map(tuple),
    st.lists(operations, max_size=2),
)


async def _outcome(run: Any) -> tuple[str, object]:
    try:
        return "ok", type(await run)
    except Exception as exc:
        return type(exc).__name__, str(exc)


async def _general(target: object, chain: Any) -> object:
    plan = make_plan(chain)
    return await _Run(target, plan).chain(plan.root)


@given(chains)
async def test_simple_chains_are_valid_and_run_as_the_general_path_runs_them(chain: Any) -> None:
    if not is_simple(chain):
        return
    validate_chain(chain)  # the general validation accepts everything the fast check accepts
    fast_log: list[object] = []
    general_log: list[object] = []
    fast = await _outcome(execute(Target(fast_log), chain))
    general = await _outcome(_general(Target(general_log), chain))
    assert fast == general
    assert fast_log == general_log


@given(chains)
async def test_execute_refuses_what_validation_refuses(chain: Any) -> None:
    try:
        validate_chain(chain)
    except (ChainError, NotMeshCallableError) as exc:
        assert not is_simple(chain)
        log: list[object] = []
        with pytest.raises(type(exc)):
            await execute(Target(log), chain)
        assert log == []


async def test_fast_walk_refuses_interpreter_internals_and_non_callables() -> None:
    log: list[object] = []
    with pytest.raises(NotMeshCallableError, match=r"operation 1 `.format`.*of a str"):
        await execute(Target(log), (Get("text"), Get("format")))
    with pytest.raises(ChainError, match=r"operation 2 `\(\)`: cannot call a int"):
        await execute(Target(log), (Get("a"), Get("number"), Apply()))
    checked: list[OperationChain] = []
    await execute(
        Target(log), (Get("a"), Apply((1,), {"k": "v"})), check_access=lambda t, c: checked.append(c)
    )
    assert checked == [(Get("a"), Apply((1,), {"k": "v"}))]


@given(
    st.text(max_size=5),
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=3), scalars, max_size=2),
)
def test_unvalidated_constructors_equal_the_attrs_ones(
    name: str, args: list[object], kwargs: dict[str, object]
) -> None:
    assert make_get(name) == Get(name)
    assert hash(make_get(name)) == hash(Get(name))
    assert make_apply(tuple(args), kwargs) == Apply(tuple(args), kwargs)
    chain = (Get(name), Apply(tuple(args), kwargs))
    decoded = from_wire(to_wire(chain))
    assert decoded == chain
    assert all(type(op) in (Get, Apply) for op in decoded)


async def test_general_walk_refuses_non_callables() -> None:
    log: list[object] = []
    nested = NestedChain((Get("a"),))
    with pytest.raises(ChainError, match=r"operation 3 `\(.*\)`: cannot call a int"):
        await execute(Target(log), (Get("a"), Apply(([nested],), {}), Get("number"), Apply((nested,), {})))
