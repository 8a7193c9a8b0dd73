"""The ``lumenize-trio`` command: ``lumenize-trio serve module:factory`` serves a mesh's actors
over HTTP (``demo`` and ``bench`` arrive later). ``main(argv)`` is its entry point. See
``docs/edge.md#the-command-line``.
"""

from __future__ import annotations

from ._main import main as main
from ._serve import ServerSpec as ServerSpec, load_factory as load_factory, run_server as run_server

__all__ = ["ServerSpec", "load_factory", "main", "run_server"]
