"""``self.svc``: services built per node on first use, from the mesh's registry and the built-ins.

A service is looked up by name (``self.svc.alarms``), built once per node instance by its
:class:`~lumenize_trio.Service` factory, and cached. Its requirements are built first; a missing
or circular requirement, or a service that does not apply to this kind of node, is an error
when it is first built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast, final

from .._exceptions import ServiceError, UnknownServiceError

if TYPE_CHECKING:
    from ..runtime import Service
    from ._alarms_service import Alarms
    from ._broadcast import Broadcast
    from ._fetch import Fetch
    from ._node import Node

#: Services every mesh has (a mesh's own services of the same name replace them).
BUILTIN_SERVICES: dict[str, Service] = {}


@final
class Services:
    """The services of one node: ``self.svc.<name>``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_building", "_built", "_node")

    def __init__(self, node: Node) -> None:
        self._node = node
        self._built: dict[str, object] = {}
        self._building: list[str] = []

    @property
    def alarms(self) -> Alarms:
        """Durable delay, datetime and cron schedules on the actor's alarm (actors only;
        ``docs/alarms.md``)."""
        return cast("Alarms", self.get("alarms"))

    @property
    def broadcast(self) -> Broadcast:
        """Fan-out of one continuation to many nodes (``docs/mesh.md#broadcast``)."""
        return cast("Broadcast", self.get("broadcast"))

    @property
    def fetch(self) -> Fetch:
        """Outbound HTTP off the actor's turn, its outcome delivered as a continuation (actors
        only; ``docs/fetch.md``)."""
        return cast("Fetch", self.get("fetch"))

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def get(self, name: str) -> object:
        """The service *name*, built on first use.

        Raises:
            UnknownServiceError: no such service (the message lists the ones there are).
            ServiceError: a requirement is missing or circular, or the service does not apply
                to this kind of node.
        """
        built = self._built.get(name)
        if built is not None:
            return built
        registry = self._registry()
        spec = registry.get(name)
        if spec is None:
            raise UnknownServiceError(
                f"no service named {name!r}; this mesh has: {', '.join(sorted(registry)) or 'none'}"
            )
        node_type = self._node._lmz_type
        if node_type not in spec.node_types:
            raise ServiceError(f"the {name!r} service is not available to a {node_type}")
        if name in self._building:
            cycle = " -> ".join((*self._building[self._building.index(name) :], name))
            raise ServiceError(f"services require each other in a circle: {cycle}")
        self._building.append(name)
        try:
            for requirement in spec.requires:
                if requirement not in registry:
                    raise ServiceError(
                        f"the {name!r} service requires {requirement!r}, which this mesh does not have"
                    )
                self.get(requirement)
            service = spec.factory(self._node)
        finally:
            self._building.pop()
        self._built[name] = service
        return service

    def __dir__(self) -> list[str]:
        return sorted(self._registry())

    def _registry(self) -> dict[str, Service]:
        mesh = self._node._lmz_mesh()
        return {**BUILTIN_SERVICES, **(mesh.services if mesh is not None else {})}

    def __repr__(self) -> str:
        return f"<svc {sorted(self._registry())}>"


# The built-in services are registered last: their modules import the node classes' helpers, and
# the node classes import this module.
from ..runtime import Service  # noqa: E402
from ._alarms_service import Alarms  # noqa: E402

BUILTIN_SERVICES["alarms"] = Service(Alarms, node_types="LumenizeDO")


def _broadcast(node: Node) -> object:
    # Imported late: the broadcast service builds on the node classes, which import this module.
    from ._broadcast import Broadcast

    return Broadcast(node)


BUILTIN_SERVICES["broadcast"] = Service(_broadcast)


def _fetch(node: Node) -> object:
    from ._fetch import Fetch

    return Fetch(node)  # type: ignore[arg-type]


BUILTIN_SERVICES["fetch"] = Service(_fetch, requires="alarms", node_types="LumenizeDO")
