"""Routing ``[prefix]/{binding}/{instance}[/rest]`` to a binding and an actor.

Theory of operation
-------------------
The path is split on ``/`` *before* percent-decoding, so an instance name may hold an encoded
slash (``/room/a%2Fb`` is the actor ``"a/b"``). Each segment is then decoded as UTF-8.

*Binding.* A segment matches a binding whose name it is exactly (``MY_DO``); failing that, a
segment matches, case-insensitively, the kebab-case form of a binding name (``my-do`` for
``MY_DO``, ``MyDo``, ``MyDO`` and ``myDo``). A segment that matches no binding is not ours: the
request falls through (404, or the fallback app). If several bindings have that kebab form and
none is named exactly by the segment, the request is ambiguous (400). Bindings the runtime keeps
for itself (``LMZ_``) are never routed.

*Instance.* Actor bindings need one: a missing or empty segment is a 400. Sixty-four hex digits
are an id (``namespace.id_from_string``: one of another binding, or a typo, is a 400 naming the
reason); anything else is a name. Worker bindings have no instance: everything after the binding
is the rest of the path.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, final
from urllib.parse import unquote

import attrs

from .._exceptions import InvalidActorIdError
from ..runtime._mesh import RESERVED_BINDING_PREFIX

if TYPE_CHECKING:
    from ..runtime import ActorId, Mesh

_HEX_ID: Final = re.compile(r"[0-9a-fA-F]{64}")
# Word boundaries of a binding name: before an upper-case letter that follows a lower-case letter
# or a digit (myDo), and before the last capital of a run followed by a lower-case letter (HTTPServer).
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@final
@attrs.frozen
class Route:
    """Where a request goes, as the router read it from the path (given to the hooks).

    ``mesh.get(route.binding, route.instance)`` is the stub of the node it addresses.

    .. versionadded:: 0.1
    """

    binding: str
    """The binding name (as registered: ``"MY_DO"``), whatever form the URL used."""
    instance: str | ActorId | None
    """The actor's name (percent-decoded), its :class:`~lumenize_trio.ActorId` when the URL gave
    a 64-hex id, or ``None`` for a worker binding."""
    rest: str
    """The rest of the path after the instance (or, for a worker, after the binding), as it was
    sent (percent-encoded), starting with ``/``; ``""`` when there is none."""


@final
class RoutingError(Exception):
    """The path names a binding but cannot be routed; ``status`` is 400 and ``str()`` says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def kebab(name: str) -> str:
    """The kebab-case form of a binding name: ``MY_DO``, ``MyDo``, ``MyDO`` -> ``my-do``."""
    words = _CAMEL.sub("-", name).replace("_", "-").lower().split("-")
    return "-".join(word for word in words if word)


def check_prefix(prefix: object) -> tuple[str, ...]:
    """The segments of a routing prefix: ``""`` (none) or ``"/api"``, ``"/api/v1"``.

    Raises:
        TypeError: *prefix* is not a str.
        ValueError: it does not start with ``/``, or has an empty segment or a ``?``/``#``.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str like '/api', not {type(prefix).__name__}")
    stripped = prefix.rstrip("/")
    if not stripped:
        return ()
    segments = stripped.split("/")
    if segments[0] or not all(segments[1:]) or any(c in prefix for c in "?#"):
        raise ValueError(f"prefix must be '' or a path like '/api' or '/api/v1', not {prefix!r}")
    return tuple(segments[1:])


@final
class Router:
    """The routing table of one app: built once from the mesh's bindings."""

    __slots__ = ("_exact", "_kebab", "mesh", "prefix")

    def __init__(self, mesh: Mesh, prefix: tuple[str, ...]) -> None:
        self.mesh = mesh
        self.prefix = prefix
        names = [name for name in mesh.bindings if not name.startswith(RESERVED_BINDING_PREFIX)]
        self._exact = frozenset(names)
        kebabs: dict[str, list[str]] = {}
        for name in names:
            kebabs.setdefault(kebab(name), []).append(name)
        self._kebab = {key: tuple(sorted(found)) for key, found in kebabs.items()}

    def binding(self, segment: str) -> str | None:
        """The binding *segment* names, or ``None`` if it names none.

        Raises:
            RoutingError: several bindings have that kebab-case form (and none is *segment*).
        """
        if segment in self._exact:
            return segment
        found = self._kebab.get(segment.lower(), ())
        if len(found) > 1:
            raise RoutingError(f"{segment!r} matches several bindings ({', '.join(found)}): name one exactly")
        return found[0] if found else None

    def route(self, raw_path: bytes) -> Route | None:
        """Read the route of a request path (raw, percent-encoded, without the query).

        Returns:
            The route, or ``None`` when the path is not under the prefix or names no binding
            (the request falls through).

        Raises:
            RoutingError: a binding is named, but the path cannot be routed (a missing instance,
                a malformed id or name, an ambiguous binding, undecodable percent-encoding).
        """
        text = raw_path.decode("latin-1")
        if not text.startswith("/"):
            return None
        raw = text[1:].split("/")
        n = len(self.prefix)
        if len(raw) <= n or [_lenient(s) for s in raw[:n]] != list(self.prefix):
            return None
        binding = self.binding(_lenient(raw[n]))
        if binding is None:
            return None
        if binding in self.mesh.workers:
            return Route(binding, None, _rest(raw[n + 1 :]))
        if len(raw) <= n + 1 or not raw[n + 1]:
            raise RoutingError(f"{binding!r} is an actor binding: the path needs /{raw[n]}/{{instance}}")
        segment = _decode(raw[n + 1])
        namespace = self.mesh.namespace(binding)
        try:
            if _HEX_ID.fullmatch(segment):
                instance: str | ActorId = namespace.id_from_string(segment)
            else:
                namespace.id_from_name(segment)  # checks the name (non-empty, length)
                instance = segment
        except InvalidActorIdError as exc:
            raise RoutingError(str(exc)) from None
        return Route(binding, instance, _rest(raw[n + 2 :]))


def _decode(segment: str) -> str:
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise RoutingError(f"path segment {segment!r} is not percent-encoded UTF-8") from None


def _lenient(segment: str) -> str:
    # Undecodable bytes become U+FFFD, which no prefix or binding name holds: not ours.
    return unquote(segment, errors="replace")


def _rest(segments: list[str]) -> str:
    return "".join("/" + segment for segment in segments)
