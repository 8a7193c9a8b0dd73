"""Nodes of the mesh: ``LumenizeDO`` (stateful actors), ``LumenizeWorker`` (stateless), ``@mesh``
(what is callable), ``self.lmz`` (calls and call context) and ``self.svc`` (services, among them
``alarms``, whose entries are :class:`Schedule` values)."""

from __future__ import annotations

from ._alarms_service import Alarms as Alarms, Schedule as Schedule
from ._broadcast import Broadcast as Broadcast
from ._do import LumenizeDO as LumenizeDO
from ._fetch import Fetch as Fetch
from ._lmz import Lmz as Lmz
from ._mesh_decorator import check_mesh_access as check_mesh_access, mesh as mesh
from ._services import Services as Services
from ._worker import LumenizeWorker as LumenizeWorker

__all__ = [
    "Alarms",
    "Broadcast",
    "Fetch",
    "Lmz",
    "LumenizeDO",
    "LumenizeWorker",
    "Schedule",
    "Services",
    "check_mesh_access",
    "mesh",
]
