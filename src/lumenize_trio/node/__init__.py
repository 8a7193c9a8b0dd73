"""Nodes of the mesh: ``LumenizeDO`` (stateful actors) and ``@mesh`` (what is callable)."""

from __future__ import annotations

from ._do import LumenizeDO as LumenizeDO
from ._mesh_decorator import check_mesh_access as check_mesh_access, mesh as mesh

__all__ = ["LumenizeDO", "check_mesh_access", "mesh"]
