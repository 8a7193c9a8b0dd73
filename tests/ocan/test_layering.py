"""Tests that `lumenize_trio.ocan` stays a pure layer: no Trio, no cbor2, nothing above it.

The package root imports the clone layer (which owns cbor2) and, later, the Trio runtime, so
importing ``lumenize_trio.ocan`` the ordinary way loads whatever the root loads. These tests
therefore load the ocan package under a stand-in root package that does not run the real
``lumenize_trio/__init__.py``, so that what they observe is what ocan itself pulls in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import lumenize_trio.ocan as ocan

OCAN_DIR = Path(ocan.__file__).parent

# Runs in a fresh interpreter. Installs a bare `lumenize_trio` package object with the real
# search path (so submodules resolve to the real files) without executing its __init__.
_PRELUDE = """
import importlib.util, json, sys, types
spec = importlib.util.find_spec("lumenize_trio")
root = types.ModuleType("lumenize_trio")
root.__path__ = list(spec.submodule_search_locations)
sys.modules["lumenize_trio"] = root
"""

# Also stands in for the clone layer, so that nothing but ocan's own imports can load anything.
_STUB_CLONE = """
clone = types.ModuleType("lumenize_trio.clone")
clone.register = lambda cls, *, name=None: cls
clone.MAX_DEPTH = 200
sys.modules["lumenize_trio.clone"] = clone
root.clone = clone
"""

_REPORT = """
import lumenize_trio.ocan
print(json.dumps(sorted(sys.modules)))
"""


def _modules_loaded(script: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout))


def _top_level(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_ocan_alone_imports_neither_trio_nor_cbor2():
    loaded = _modules_loaded(_PRELUDE + _STUB_CLONE + _REPORT)
    assert "lumenize_trio.ocan" in loaded
    assert "trio" not in _top_level(loaded)
    assert "cbor2" not in _top_level(loaded)


def test_ocan_with_real_clone_imports_no_trio_and_nothing_above_it():
    loaded = _modules_loaded(_PRELUDE + _REPORT)
    assert "trio" not in _top_level(loaded)
    ours = {name for name in loaded if name.startswith("lumenize_trio.")}
    allowed = ("lumenize_trio._exceptions", "lumenize_trio.clone", "lumenize_trio.ocan")
    assert ours
    assert all(name.startswith(allowed) for name in ours), sorted(ours)


def test_ocan_sources_import_only_allowed_modules():
    """Statically: no module of the package imports trio, cbor2 or a higher layer."""
    allowed_external = {
        "__future__",
        "attrs",
        "collections",
        "enum",
        "inspect",
        "reprlib",
        "string",
        "types",
        "typing",
    }
    allowed_internal = {"_exceptions", "clone", ""}  # "" is `from .. import clone`
    files = sorted(OCAN_DIR.glob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.partition(".")[0] in allowed_external, (path.name, alias.name)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level == 0:
                    assert module.partition(".")[0] in allowed_external, (path.name, module)
                elif node.level == 2:
                    assert module.partition(".")[0] in allowed_internal, (path.name, module)
                    if not module:
                        assert [a.name for a in node.names] == ["clone"], path.name
                else:
                    assert node.level == 1, (path.name, module)


def test_ocan_public_surface():
    assert ocan.__all__ == sorted(ocan.__all__)  # plain order, as tests/test_exports.py pins
    for name in ocan.__all__:
        value = getattr(ocan, name)
        assert value is not None, name
    for name in ("Apply", "Continuation", "Get", "NestedChain", "Verbatim"):
        cls = getattr(ocan, name)
        assert cls.__doc__, name
        assert getattr(cls, "__final__", False), name
        assert cls.__module__ == "lumenize_trio.ocan"
    for name in ("chain_of", "continuation", "execute", "fill_result", "validate_chain"):
        assert getattr(ocan, name).__doc__, name
