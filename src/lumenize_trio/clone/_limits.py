"""Limits that keep encoding and decoding bounded (documented in docs/clone.md#limits)."""

from __future__ import annotations

from typing import Final

#: Deepest container nesting that :func:`dumps` produces and :func:`loads` accepts. Both sides
#: use the same figure, so anything that encodes also decodes.
MAX_DEPTH: Final = 200
