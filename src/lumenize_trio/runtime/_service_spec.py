"""How a service is declared for ``open_mesh(services=...)``: a factory and what it needs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, final

import attrs

_KINDS = frozenset(("LumenizeDO", "LumenizeWorker"))


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _kinds(value: str | Iterable[str]) -> frozenset[str]:
    return frozenset((value,) if isinstance(value, str) else value)


def _check_requires(instance: object, attribute: object, value: tuple[str, ...]) -> None:
    for name in value:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Service(requires=...) takes service names, not {name!r}")


def _check_kinds(instance: object, attribute: object, value: frozenset[str]) -> None:
    if not value or not value <= _KINDS:
        raise ValueError(f"Service(node_types=...) takes some of {sorted(_KINDS)}, not {sorted(value)!r}")


@final
@attrs.frozen
class Service:
    """A service for ``self.svc``: how to build it, what it needs, which nodes may have it.

    Each node builds its own instance on first use (``factory(node)``) and keeps it for the
    life of the node's instance. Services named in ``requires`` are built first (a missing or
    circular requirement is an error when the service is first built).

    .. versionadded:: 0.1
    """

    factory: Callable[[Any], object] = attrs.field(validator=attrs.validators.is_callable())
    """Called as ``factory(node)``; returns the service object."""
    requires: tuple[str, ...] = attrs.field(default=(), converter=_names, validator=_check_requires)
    """Names of services this one uses (built before it)."""
    node_types: frozenset[str] = attrs.field(default=_KINDS, converter=_kinds, validator=_check_kinds)
    """``"LumenizeDO"`` and/or ``"LumenizeWorker"``: the nodes that may use it."""


def check_services(services: Mapping[str, Service | Callable[[Any], object]] | None) -> dict[str, Service]:
    """Validate ``open_mesh(services=...)``; plain factories become :class:`Service` values.

    Raises:
        TypeError: not a mapping, or a value that is neither a Service nor callable.
        ValueError: a name that is not an identifier.
    """
    if services is None:
        return {}
    if not isinstance(services, Mapping):
        raise TypeError(
            f"services must be a mapping of name to Service or factory, not {type(services).__name__}"
        )
    checked: dict[str, Service] = {}
    for name, spec in services.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"service names must be public identifiers like 'sql', not {name!r}")
        if isinstance(spec, Service):
            checked[name] = spec
        elif callable(spec):
            checked[name] = Service(spec)
        else:
            raise TypeError(f"service {name!r} must be a Service or a factory callable, not {spec!r}")
    return checked
