"""``lumenize-trio serve``: load the user's factory, open the mesh, serve it until a signal."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TextIO, final

import attrs
import trio

from ..edge import create_app, serve
from ..runtime import open_mesh

if TYPE_CHECKING:
    from pathlib import Path


class FactoryError(Exception):
    """The target cannot be loaded, or its factory returned something unusable."""


@final
@attrs.frozen
class ServerSpec:
    """What a factory returned: the bindings and the options of ``create_app`` and ``open_mesh``.

    .. versionadded:: 0.1
    """

    bindings: Mapping[str, type]
    """Binding name -> node class."""
    app_options: Mapping[str, Any] = attrs.field(factory=dict)
    """Keyword arguments of :func:`~lumenize_trio.create_app`."""
    mesh_options: Mapping[str, Any] = attrs.field(factory=dict)
    """Keyword arguments of :func:`~lumenize_trio.open_mesh` (not ``data_dir``)."""


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as ``(host, port)``.

    Raises:
        FactoryError: not of that form.
    """
    host, sep, port = bind.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise FactoryError(f"--bind must be HOST:PORT (like 127.0.0.1:8787 or [::1]:8787), not {bind!r}")
    return host, int(port)


def load_factory(target: str, data_dir: Path) -> ServerSpec:
    """Import ``module:factory`` (the current directory first on the path) and call
    ``factory(data_dir)``.

    The factory returns the bindings (a mapping), or ``(bindings, app_options)``, or
    ``(bindings, app_options, mesh_options)``.

    Raises:
        FactoryError: the target is malformed or cannot be imported, the factory is not
            callable or raised, or returned another shape.
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise FactoryError(f"TARGET must be 'module:factory', not {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FactoryError(f"cannot import {module_name!r}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise FactoryError(f"{target!r} is not a callable factory")
    try:
        made = factory(data_dir)
    except Exception as exc:
        raise FactoryError(f"{target}({str(data_dir)!r}) raised {exc!r}") from exc
    parts = (made,) if isinstance(made, Mapping) else made
    if not (isinstance(parts, tuple) and 1 <= len(parts) <= 3 and all(isinstance(p, Mapping) for p in parts)):
        raise FactoryError(
            f"{target} must return bindings (a mapping), (bindings, app_options) or "
            f"(bindings, app_options, mesh_options), not {type(made).__name__}"
        )
    return ServerSpec(*parts)


async def run_server(
    spec: ServerSpec,
    *,
    host: str,
    port: int,
    data_dir: Path,
    out: TextIO,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the mesh under *data_dir*, serve it on *host*:*port*, and stop at SIGINT or SIGTERM.

    Writes ``serving on http://HOST:PORT`` to *out* once listening (and gives ``(host, port)``
    to ``nursery.start``), and a line naming the signal when stopping. Must run in the main
    thread (it receives signals).

    Cancellation: returns when cancelled, after the server and the mesh have stopped.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_mesh(spec.bindings, data_dir=data_dir, **spec.mesh_options) as mesh:
            app = create_app(mesh, **spec.app_options)
            async with trio.open_nursery() as nursery:
                bound = await nursery.start(partial(serve, mesh, app, host=host, port=port))
                shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                print(
                    f"lumenize-trio: serving on http://{shown}:{bound[1]} (data in {data_dir})",
                    file=out,
                    flush=True,
                )
                task_status.started(bound)
                signum = await signals.__anext__()
                print(f"lumenize-trio: {signal.Signals(signum).name}, stopping", file=out, flush=True)
                nursery.cancel_scope.cancel()
