"""The layering rules of docs/design.md, checked.

The package root imports every layer (the runtime included, which needs Trio), so a pure layer is
imported here under a stand-in root package that does not run ``lumenize_trio/__init__.py``: what
is loaded then is what the layer itself pulls in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lumenize_trio"

#: Layers in order; each may import only the layers before it (and the shared leaf modules).
LAYERS = [
    "clone",
    "http",
    "ocan",
    "protocol",
    "storage",
    "runtime",
    "node",
    "edge",
    "rpc",
    "clients",
    "auth",
    "testing",
    "cli",
]
SHARED = {"_exceptions", "_version"}
PURE = ["clone", "http", "ocan", "protocol", "storage"]

_PRELUDE = """
import importlib.util, json, sys, types
spec = importlib.util.find_spec("lumenize_trio")
root = types.ModuleType("lumenize_trio")
root.__path__ = list(spec.submodule_search_locations)
sys.modules["lumenize_trio"] = root
import lumenize_trio.{layer}
print(json.dumps(sorted(sys.modules)))
"""


def _present(names: list[str]) -> list[str]:
    return [name for name in names if (SRC / name).is_dir()]


@pytest.mark.parametrize("layer", _present(PURE))
def test_pure_layers_do_not_import_trio(layer: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PRELUDE.format(layer=layer)], capture_output=True, text=True, check=True
    )
    loaded = {name.partition(".")[0] for name in json.loads(out.stdout)}
    assert "trio" not in loaded, f"importing lumenize_trio.{layer} loads trio"


def _package_imports(layer: str) -> set[str]:
    """The lumenize_trio modules that *layer* imports (relative imports resolved)."""
    found: set[str] = set()
    for path in (SRC / layer).rglob("*.py"):
        depth = len(path.relative_to(SRC).parts) - 1
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = list(path.relative_to(SRC).parts[:depth])[: max(depth - node.level + 1, 0)]
                    target = [*base, *(node.module.split(".") if node.module else [])]
                    if target:
                        found.add(target[0])
                    else:
                        found.update(alias.name for alias in node.names)
                elif node.module and node.module.startswith("lumenize_trio."):
                    found.add(node.module.split(".")[1])
    return found - {layer}


@pytest.mark.parametrize("layer", _present(LAYERS))
def test_layers_import_only_downward(layer: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(layer)]) | SHARED
    upward = _package_imports(layer) - allowed
    assert not upward, f"lumenize_trio.{layer} imports {sorted(upward)}, which are not below it"


def test_only_clone_imports_cbor2() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "clone" not in path.relative_to(SRC).parts
        and any(
            line.strip().startswith(("import cbor2", "from cbor2")) for line in path.read_text().splitlines()
        )
    ]
    assert not offenders, f"cbor2 imported outside clone: {offenders}"
