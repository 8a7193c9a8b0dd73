"""lumenize_trio: a structured-concurrency actor runtime for Trio.

The public surface is re-exported here; the modules behind it are private.
"""

from __future__ import annotations

from . import clone as clone
from ._exceptions import (
    DataCloneError as DataCloneError,
    LumenizeError as LumenizeError,
    RemoteError as RemoteError,
)
from ._version import __version__ as __version__
from .clone import UNDEFINED as UNDEFINED, IdentityMap as IdentityMap

__all__ = [
    "DataCloneError",
    "IdentityMap",
    "LumenizeError",
    "RemoteError",
    "UNDEFINED",
    "__version__",
    "clone",
]
