"""Tests for chain execution and validation (`lumenize_trio.ocan._execute`, `._plan`)."""

from __future__ import annotations

import sys
import time
import types

import pytest
from hypothesis import given, strategies as st

from lumenize_trio.ocan import (
    MAX_ARGUMENTS,
    MAX_CHAIN_LENGTH,
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


class Calc:
    """A small target that logs every call, so tests can see what ran and in which order."""

    def __init__(self) -> None:
        self.log: list[object] = []
        self.value = 10
        self.name = "calc"

    def add(self, a: int, b: int = 0) -> int:
        self.log.append(("add", a, b))
        return a + b

    def one(self) -> int:
        self.log.append("one")
        return 1

    async def slow_one(self) -> int:
        self.log.append("slow_one")
        return 1

    def admin(self) -> Admin:
        self.log.append("admin")
        return Admin(self)

    def echo(self, *args: object, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
        self.log.append(("echo", args, kwargs))
        return args, kwargs

    def fail(self) -> None:
        self.log.append("fail")
        raise KeyError("from the method")

    def gen(self) -> object:
        yield 1

    @property
    def broken(self) -> int:
        raise RuntimeError("property failed")

    def _secret(self) -> str:
        self.log.append("_secret")
        return "secret"


class Admin:
    def __init__(self, calc: Calc) -> None:
        self.calc = calc

    def force_reset(self) -> str:
        self.calc.log.append("force_reset")
        return "reset"


class Awaitable:
    """An awaitable that is not a coroutine."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __await__(self):
        yield from ()
        return self.value


c = continuation(Calc)
C = continuation()


def _chain(builder: object) -> OperationChain:
    return chain_of(builder)


# --- the walk ---------------------------------------------------------------------------------


async def test_execute_simple_call():
    calc = Calc()
    assert await execute(calc, _chain(c.add(2, b=3))) == 5
    assert calc.log == [("add", 2, 3)]


async def test_execute_property_chain():
    calc = Calc()
    assert await execute(calc, _chain(C.name.upper())) == "CALC"
    assert await execute(calc, (Get("value"),)) == 10


async def test_execute_awaits_coroutines_and_awaitables():
    calc = Calc()
    assert await execute(calc, _chain(c.slow_one())) == 1
    calc.make = lambda v: Awaitable(v)  # type: ignore[attr-defined]
    assert await execute(calc, _chain(C.make(7))) == 7
    assert calc.log == ["slow_one"]


async def test_execute_chained_call_runs_each_call_once():
    """`admin().force_reset()` calls admin() once (the TypeScript original ran it twice)."""
    calc = Calc()
    assert await execute(calc, _chain(c.admin().force_reset())) == "reset"
    assert calc.log == ["admin", "force_reset"]


async def test_execute_chain_continues_on_awaited_result():
    calc = Calc()
    assert await execute(calc, _chain(C.slow_one().bit_length())) == 1
    assert calc.log == ["slow_one"]


async def test_execute_apply_on_target_itself():
    assert await execute(lambda x: x * 2, (Apply((21,), {}),)) == 42


async def test_execute_method_errors_propagate_unchanged():
    calc = Calc()
    with pytest.raises(KeyError, match="from the method"):
        await execute(calc, _chain(c.fail()))
    with pytest.raises(RuntimeError, match="property failed"):
        await execute(calc, (Get("broken"),))


async def test_execute_missing_attribute_is_plain_attribute_error():
    with pytest.raises(AttributeError, match="nope") as info:
        await execute(Calc(), _chain(C.nope()))
    assert not isinstance(info.value, ChainError | NotMeshCallableError)


async def test_execute_refuses_to_call_non_callable():
    calc = Calc()
    with pytest.raises(ChainError, match=r"operation 1 `\(\)`: cannot call a int"):
        await execute(calc, _chain(C.value()))


async def test_execute_keeps_argument_identity_without_markers():
    calc = Calc()
    payload = [1, {"a": 2}]
    (args, kwargs) = await execute(calc, _chain(C.echo(payload, k=payload)))
    assert args[0] is payload
    assert kwargs["k"] is payload


# --- nesting ----------------------------------------------------------------------------------


async def test_execute_nested_runs_before_outer_call():
    calc = Calc()
    assert await execute(calc, _chain(c.add(c.one(), c.add(c.one(), 10)))) == 12
    assert calc.log == ["one", "one", ("add", 1, 10), ("add", 1, 11)]


async def test_execute_nested_at_any_depth_and_in_kwargs():
    calc = Calc()
    one = C.one()
    result = await execute(calc, _chain(C.echo([1, (one, {"k": [C.slow_one()]})], kw={"x": one})))
    args, kwargs = result
    assert args == ([1, (1, {"k": [1]})],)
    assert kwargs == {"kw": {"x": 1}}
    # The same builder object is one marker: it ran once, and its result fills both places.
    assert calc.log[:2] == ["one", "slow_one"]
    assert calc.log.count("one") == 1


async def test_execute_nested_runs_after_earlier_operations():
    """A nested chain runs just before the call that holds it, not before the whole chain."""
    calc = Calc()
    await execute(calc, _chain(c.admin().calc.add(c.one())))
    assert calc.log == ["admin", "one", ("add", 1, 0)]


async def test_execute_shared_nested_chain_runs_once():
    """Different markers holding the same chain object share one run."""
    calc = Calc()
    shared = _chain(C.one())
    chain = (Get("add"), Apply((NestedChain(shared), NestedChain(shared)), {}))
    assert await execute(calc, chain) == 2
    assert calc.log == ["one", ("add", 1, 1)]


async def test_execute_distinct_nested_builders_run_separately():
    calc = Calc()
    assert await execute(calc, _chain(c.add(c.one(), c.one()))) == 2
    assert calc.log == ["one", "one", ("add", 1, 1)]


async def test_execute_copies_only_containers_with_markers():
    calc = Calc()
    plain = [1, 2]
    args, _ = await execute(calc, _chain(C.echo(plain, [plain, C.one()])))
    assert args[0] is plain
    assert args[1][0] is plain
    assert args[1][1] == 1


async def test_execute_cyclic_arguments():
    calc = Calc()
    loop: list[object] = [NestedChain(_chain(C.one()))]
    loop.append(loop)
    (args, _) = await execute(calc, (Get("echo"), Apply((loop,), {})))
    assert args[0][0] == 1
    assert args[0][1] is args[0]
    plain: list[object] = [1]
    plain.append(plain)
    (args, _) = await execute(calc, (Get("echo"), Apply((plain,), {})))
    assert args[0] is plain


async def test_execute_mutual_cycle_through_tuple():
    calc = Calc()
    holder: list[object] = []
    pair = (holder, NestedChain(_chain(C.one())))
    holder.append(pair)
    (args, _) = await execute(calc, (Get("echo"), Apply((pair,), {})))
    new_pair = args[0]
    assert new_pair[1] == 1
    assert new_pair[0][0][1] == 1
    assert new_pair[0][0][0] is new_pair[0]
    assert calc.log.count("one") == 1


async def test_execute_verbatim_is_unwrapped_not_executed():
    calc = Calc()
    hostile = NestedChain(_chain(C.fail()))
    (args, _) = await execute(calc, (Get("echo"), Apply((Verbatim([hostile, RESULT]),), {})))
    assert args == ([hostile, RESULT],)
    assert "fail" not in calc.log


async def test_execute_filled_result_is_data_even_if_it_holds_markers():
    """A hostile result carrying NestedChain markers is delivered, never run."""
    calc = Calc()
    hostile = {"x": NestedChain(_chain(C.fail()))}
    handler = fill_result(_chain(C.echo(RESULT, 1)), hostile)
    (args, _) = await execute(calc, handler)
    assert args[0] is hostile
    assert args[1] == 1
    assert calc.log == [("echo", (hostile, 1), {})]


async def test_execute_arguments_mutated_by_earlier_call_stay_data():
    """Markers that appear in arguments after validation are passed as data, never run."""
    calc = Calc()
    injected = NestedChain(_chain(C.fail()))
    clean: list[object] = []
    dirty: list[object] = [clean, NestedChain(_chain(C.one()))]

    def inject() -> None:
        clean.append(injected)
        dirty.append(injected)

    calc.inject = inject  # type: ignore[attr-defined]
    first = NestedChain((Get("inject"), Apply()))
    (args, _) = await execute(calc, (Get("echo"), Apply((first, dirty), {})))
    assert args[1] == [clean, 1, injected]
    assert args[1][0] is clean
    assert clean == [injected]
    assert "fail" not in calc.log


async def test_execute_same_apply_twice_prepares_arguments_once():
    """An Apply object repeated in a chain is validated and prepared once; its marker runs once."""
    calc = Calc()
    ns = types.SimpleNamespace()
    ns.f = lambda *args: (calc.log.append(args), ns.f)[1]
    ns.one = calc.one
    repeated = Apply((NestedChain((Get("one"), Apply())), [1]), {})
    assert await execute(ns, (Get("f"), repeated, repeated)) is ns.f
    assert calc.log == ["one", (1, [1]), (1, [1])]
    assert calc.log[1][1] is calc.log[2][1]


async def test_execute_sets_and_keys_without_markers_pass_through():
    calc = Calc()
    value = [{1, 2}, frozenset({(3, 4)}), {(5, "k"): "v"}]
    (args, _) = await execute(calc, (Get("echo"), Apply((value, NestedChain(_chain(C.one()))), {})))
    assert args[0] is value
    assert args[1] == 1


async def test_execute_exponential_alias_graph_is_linear():
    """60 levels of [x, x] is 2**60 paths but 60 objects: validation and execution stay fast."""
    calc = Calc()
    marker = NestedChain(_chain(C.one()))
    node: object = [marker]
    for _ in range(60):
        node = [node, node]
    start = time.perf_counter()
    (args, _) = await execute(calc, (Get("echo"), Apply((node,), {})))
    assert time.perf_counter() - start < 5
    assert calc.log.count("one") == 1
    assert args[0][0] is args[0][1]


async def test_execute_shared_chain_tree_runs_linearly():
    """100-way fan-out over 5 levels of shared chains runs each distinct chain once."""
    calc = Calc()
    chain: OperationChain = _chain(C.one())
    for _ in range(5):
        chain = (Get("echo"), Apply(tuple(NestedChain(chain) for _ in range(100)), {}))
    await execute(calc, chain)
    assert calc.log.count("one") == 1
    assert len(calc.log) == 6


# --- access checks ----------------------------------------------------------------------------


async def test_execute_check_access_sees_every_chain_before_anything_runs():
    calc = Calc()
    seen: list[tuple[object, OperationChain]] = []

    def check(target: object, chain: OperationChain) -> None:
        assert calc.log == []
        seen.append((target, chain))

    outer = _chain(c.add(c.one(), c.add(c.slow_one(), 1)))
    assert await execute(calc, outer, check_access=check) == 3
    assert [chain for _, chain in seen] == [
        outer,
        _chain(c.one()),
        _chain(c.add(c.slow_one(), 1)),
        _chain(c.slow_one()),
    ]
    assert all(target is calc for target, _ in seen)


async def test_execute_check_access_denial_prevents_everything():
    calc = Calc()

    class Denied(Exception):
        pass

    def deny_fail(target: object, chain: OperationChain) -> None:
        if chain[0] == Get("fail"):
            raise Denied("no")

    with pytest.raises(Denied, match="no"):
        await execute(calc, _chain(c.add(c.one(), C.echo(C.fail()))), check_access=deny_fail)
    assert calc.log == []


async def test_execute_without_check_access_runs_anything_public():
    assert await execute(Calc(), _chain(c.one()), check_access=None) == 1


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["_secret", "__class__", "__init__", "_Calc__x"])
async def test_execute_refuses_private_names(name):
    calc = Calc()
    with pytest.raises(NotMeshCallableError, match=repr(name)) as info:
        await execute(calc, (Get(name), Apply()))
    assert info.value.name == name
    assert calc.log == []


async def test_execute_refuses_private_names_in_nested_chains_before_running():
    calc = Calc()
    nested = NestedChain((Get("_secret"), Apply()))
    with pytest.raises(NotMeshCallableError, match=r"_secret.*nested in operation 3"):
        await execute(calc, (Get("one"), Apply(), Get("bit_length"), Apply((nested,), {})))
    assert calc.log == []


async def test_execute_refuses_generator_frames():
    calc = Calc()
    with pytest.raises(NotMeshCallableError, match="gi_frame"):
        await execute(calc, _chain(C.gen().gi_frame.f_globals))


async def test_execute_refuses_frame_and_code_attributes():
    def frame() -> types.FrameType:
        return sys._getframe()

    holder = types.SimpleNamespace(frame=frame, code=frame.__code__)
    with pytest.raises(NotMeshCallableError, match=r"f_globals.*frame"):
        await execute(holder, _chain(C.frame().f_globals))
    with pytest.raises(NotMeshCallableError, match="co_consts"):
        await execute(holder, (Get("code"), Get("co_consts")))


async def test_execute_refuses_str_format():
    calc = Calc()
    with pytest.raises(NotMeshCallableError, match="'format' of a str"):
        await execute(calc, _chain(C.name.format(C.admin())))
    assert calc.log == []
    with pytest.raises(NotMeshCallableError, match="format_map"):
        await execute(calc, _chain(C.name.format_map({})))


# --- validation errors ------------------------------------------------------------------------


def _broken(cls: type, **attributes: object) -> object:
    """An operation as decoding could produce it: no __init__, no validators."""
    op = object.__new__(cls)
    for name, value in attributes.items():
        object.__setattr__(op, name, value)
    return op


async def test_execute_chain_length_limit_boundary():
    target = types.SimpleNamespace()
    target.me = target
    ok = (Get("me"),) * MAX_CHAIN_LENGTH
    assert await execute(target, ok) is target
    with pytest.raises(
        ChainError, match=rf"{MAX_CHAIN_LENGTH + 1} operations.*MAX_CHAIN_LENGTH\) is {MAX_CHAIN_LENGTH}"
    ):
        await execute(target, (*ok, Get("me")))


async def test_execute_argument_limit_boundary():
    calc = Calc()
    ok = (Get("echo"), Apply(tuple(range(MAX_ARGUMENTS - 2)), {"a": 1, "b": 2}))
    (args, kwargs) = await execute(calc, ok)
    assert len(args) + len(kwargs) == MAX_ARGUMENTS
    over = (Get("echo"), Apply(tuple(range(MAX_ARGUMENTS - 1)), {"a": 1, "b": 2}))
    with pytest.raises(
        ChainError, match=rf"{MAX_ARGUMENTS + 1} arguments.*MAX_ARGUMENTS\) is {MAX_ARGUMENTS}"
    ):
        await execute(calc, over)
    assert len(calc.log) == 1


async def test_execute_nested_chain_length_limit():
    calc = Calc()
    target_ok = (Get("value"),) + (Get("real"),) * (MAX_CHAIN_LENGTH - 1)
    assert await execute(calc, (Get("echo"), Apply((NestedChain(target_ok),), {}))) == ((10,), {})
    too_long = (*target_ok, Get("real"))
    with pytest.raises(ChainError, match=rf"nested in operation 1.*{MAX_CHAIN_LENGTH + 1} operations"):
        await execute(calc, (Get("one"), Apply((NestedChain(too_long),), {})))
    assert calc.log == [("echo", (10,), {})]


async def test_execute_nested_argument_limit():
    calc = Calc()
    ok = NestedChain((Get("echo"), Apply(tuple(range(MAX_ARGUMENTS)), {})))
    await execute(calc, (Get("echo"), Apply(([ok],), {})))
    over = NestedChain((Get("echo"), Apply(tuple(range(MAX_ARGUMENTS)), {"x": 1})))
    with pytest.raises(ChainError, match=rf"{MAX_ARGUMENTS + 1} arguments"):
        await execute(calc, (Get("one"), Apply(({"k": over},), {})))
    deeper = NestedChain((Get("echo"), Apply((over,), {})))
    with pytest.raises(ChainError, match=rf"{MAX_ARGUMENTS + 1} arguments"):
        await execute(calc, (Get("one"), Apply((deeper,), {})))
    assert len(calc.log) == 2  # only the valid run: the inner and the outer echo


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        ((), "chain: the chain is empty"),
        ([Get("a")], "must be a tuple of operations, got list"),
        (None, "got NoneType"),
        ((Get("a"), "b"), "operation 1 `<\\?str>`: expected Get or Apply, got str"),
        ((Get("a b"),), "not an identifier"),
        ((Get("one"), Apply((NestedChain(()),), {})), "nested in operation 1.*the chain is empty"),
        (
            (Get("one"), Apply((_broken(NestedChain, chain=[]),), {})),
            "must be a tuple of operations, got list",
        ),
        ((Get("echo"), Apply((RESULT,), {})), "RESULT was never filled"),
        ((Get("echo"), Apply(([{"x": RESULT}],), {})), "RESULT was never filled"),
        ((Get("echo"), Apply(({NestedChain((Get("one"),))},), {})), "set member or part of a dict key"),
        ((Get("echo"), Apply(({(1, RESULT): 1},), {})), "set member or part of a dict key"),
    ],
)
async def test_execute_validation_errors(chain, message):
    calc = Calc()
    with pytest.raises(ChainError, match=message):
        await execute(calc, chain)
    with pytest.raises(ChainError, match=message):
        validate_chain(chain)
    assert calc.log == []


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (_broken(Get), "attribute name must be a str, got NoneType"),
        (_broken(Get, name=3), "must be a str, got int"),
        (_broken(Apply, kwargs={}), "Apply.args must be a tuple, got NoneType"),
        (_broken(Apply, args=[1], kwargs={}), "Apply.args must be a tuple, got list"),
        (_broken(Apply, args=()), "Apply.kwargs must be a dict, got NoneType"),
        (_broken(Apply, args=(), kwargs={1: 2}), "keyword argument names must be str, got int"),
    ],
)
def test_validate_malformed_decoded_operations(op, message):
    with pytest.raises(ChainError, match=message):
        validate_chain((op,))


def test_validate_builder_passed_as_chain_has_hint():
    with pytest.raises(ChainError, match=r"pass chain_of\(builder\)"):
        validate_chain(C.one())


def test_validate_nested_chain_containing_itself():
    marker = NestedChain((Get("x"),))
    object.__setattr__(marker, "chain", (Get("echo"), Apply((marker,), {})))
    with pytest.raises(ChainError, match="contains itself"):
        validate_chain(marker.chain)


def test_validate_absurdly_deep_arguments():
    deep: object = 1
    for _ in range(500):
        deep = [deep]
    with pytest.raises(ChainError, match="nest deeper than"):
        validate_chain((Get("echo"), Apply((deep,), {})))


def test_validate_deep_nesting_of_chains():
    chain: OperationChain = (Get("one"), Apply())
    for _ in range(100):
        chain = (Get("echo"), Apply((NestedChain(chain),), {}))
    with pytest.raises(ChainError, match="each nested chain counts"):
        validate_chain(chain)


def test_validate_reports_location_of_malformed_nested_chain():
    with pytest.raises(ChainError, match=r"nested in operation 1 `\(<chain <\?int>>\)`"):
        validate_chain((Get("echo"), Apply((_broken(NestedChain, chain=5),), {})))


def test_validate_accepts_well_formed_chain():
    validate_chain(_chain(c.add(c.one(), b=c.admin().force_reset())))


def test_operation_constructors_validate():
    with pytest.raises(ChainError, match=r"Get.name must be a str, got int"):
        Get(1)  # type: ignore[arg-type]
    with pytest.raises(ChainError, match=r"Apply.args must be a tuple, got list"):
        Apply([1])  # type: ignore[arg-type]
    with pytest.raises(ChainError, match=r"Apply.kwargs must be a dict"):
        Apply((), [])  # type: ignore[arg-type]
    with pytest.raises(ChainError, match=r"Apply.kwargs keys must be str"):
        Apply((), {1: 2})  # type: ignore[dict-item]
    with pytest.raises(ChainError, match=r"NestedChain.chain must be a tuple"):
        NestedChain([Get("a")])  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------


class Recorder:
    """Any public attribute read and any call is logged, and returns another Recorder.

    A call with ``slow=True`` returns a coroutine instead, to exercise awaiting.
    """

    def __init__(self, log: list[object]) -> None:
        self._log = log

    def __getattr__(self, name: str) -> Recorder:
        if name.startswith("_"):
            raise AttributeError(name)
        self._log.append(("get", name))
        return Recorder(self._log)

    def __call__(self, *args: object, slow: bool = False, **kwargs: object) -> object:
        self._log.append(("call", args, kwargs))
        if slow:
            return self._later()
        return Recorder(self._log)

    async def _later(self) -> Recorder:
        return Recorder(self._log)


_names = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
_values = st.one_of(st.integers(), st.text(max_size=4), st.none(), st.booleans())


def _apply(nested: st.SearchStrategy[NestedChain] | None = None) -> st.SearchStrategy[Apply]:
    arg = _values if nested is None else st.one_of(_values, nested, st.lists(nested, max_size=2))
    return st.builds(
        lambda args, kwargs, slow: Apply(tuple(args), {**kwargs, **({"slow": True} if slow else {})}),
        st.lists(arg, max_size=3),
        st.dictionaries(_names.filter(lambda n: n != "slow"), arg, max_size=2),
        st.booleans(),
    )


def _chains(apply: st.SearchStrategy[Apply]) -> st.SearchStrategy[OperationChain]:
    return st.lists(st.one_of(st.builds(Get, _names), apply), min_size=1, max_size=8).map(tuple)


def _expected(chain: OperationChain, done: set[int]) -> list[object]:
    """The log a single in-order walk must produce (nested chains first, each once)."""
    log: list[object] = []
    for op in chain:
        if type(op) is Get:
            log.append(("get", op.name))
            continue
        plain_kwargs = {k: v for k, v in op.kwargs.items() if k != "slow"}
        values: list[object] = []
        for arg in (*op.args, *plain_kwargs.values()):
            values.extend(arg if isinstance(arg, list) else [arg])
        for value in values:
            if type(value) is NestedChain and id(value.chain) not in done:
                done.add(id(value.chain))
                log.extend(_expected(value.chain, done))
        log.append(("call", _resolved(op.args), _resolved(plain_kwargs)))
    return log


def _resolved(value):
    """Nested results are Recorders; compare them by type only."""
    if isinstance(value, tuple):
        return tuple(_resolved(v) for v in value)
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    if type(value) is NestedChain or type(value) is Recorder:
        return Recorder
    return value


@given(_chains(_apply()))
async def test_execute_flat_chain_walks_once_in_order_property(chain):
    log: list[object] = []
    result = await execute(Recorder(log), chain)
    assert type(result) is Recorder
    assert [_resolved(entry) for entry in log] == _expected(chain, set())


@given(_chains(_apply(st.builds(NestedChain, _chains(_apply())))))
async def test_execute_nested_chain_runs_first_and_once_property(chain):
    log: list[object] = []
    await execute(Recorder(log), chain)
    assert [_resolved(entry) for entry in log] == _expected(chain, set())


async def test_formatting_methods_of_str_types_and_formatters_are_refused() -> None:
    import string

    from lumenize_trio.ocan import NotMeshCallableError, chain_of, continuation, execute

    class Target:
        def kind(self) -> type:
            return str

        def formatter(self) -> string.Formatter:
            return string.Formatter()

        def formatter_class(self) -> type:
            return string.Formatter

    for chain in (
        chain_of(continuation().kind().format("{0}", 1)),
        chain_of(continuation().kind().format_map("{x}", {})),
        chain_of(continuation().formatter().format("{0}", 1)),
        chain_of(continuation().formatter().vformat("{0}", (1,), {})),
        chain_of(continuation().formatter_class().format),
    ):
        with pytest.raises(NotMeshCallableError, match="interpreter internals"):
            await execute(Target(), chain)
