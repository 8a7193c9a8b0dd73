"""The public surface: sorted __all__, every public name documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

import lumenize_trio

PUBLIC_MODULES = [
    "lumenize_trio",
    "lumenize_trio.clone",
    "lumenize_trio.http",
    "lumenize_trio.ocan",
    "lumenize_trio.protocol",
    "lumenize_trio.storage",
    "lumenize_trio.runtime",
    "lumenize_trio.node",
    "lumenize_trio.edge",
    "lumenize_trio.rpc",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    public = {n for n in vars(module) if not n.startswith("_") and not inspect.ismodule(getattr(module, n))}
    public |= {n for n in vars(module) if inspect.ismodule(getattr(module, n)) and n in exported}
    assert public - {"annotations"} == set(exported) - {"__version__"}, (
        f"{name}: __all__ differs from its names"
    )


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_export_is_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__
    for export in module.__all__:
        value = getattr(module, export)
        if export.isupper() or export == "__version__":
            continue  # constants: documented where they are defined
        assert inspect.getdoc(value), f"{name}.{export} has no docstring"


def test_version() -> None:
    assert lumenize_trio.__version__
