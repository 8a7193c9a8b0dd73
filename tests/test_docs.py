"""Every ```python block in docs/*.md and README.md runs, in order, one namespace per file."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"])
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text())


def test_docs_have_examples() -> None:
    assert any(blocks(path) for path in DOCS)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_doc_examples_run(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real module, so that dataclasses and pickling-style lookups of __module__ work.
    module = types.ModuleType(f"docs_{path.stem.lower()}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for number, source in enumerate(blocks(path), 1):
        code = compile(source, f"{path.name} (example {number})", "exec")
        exec(code, module.__dict__)
