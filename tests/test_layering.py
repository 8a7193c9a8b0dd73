"""The layering rules of docs/design.md, checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lumenize_trio"


# The synchronous layers: they never import Trio (the list grows as layers land).
PURE_LAYERS = [
    f"lumenize_trio.{name}" for name in ("clone", "ocan", "protocol", "storage") if (SRC / name).is_dir()
]


@pytest.mark.parametrize("module", PURE_LAYERS)
def test_pure_layers_do_not_import_trio(module: str) -> None:
    code = f"import sys, {module}; print('trio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"importing {module} imported trio"


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
