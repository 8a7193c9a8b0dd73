"""Structured clone over CBOR: the one format every actor boundary, stored value and frame uses.

``dumps(value) -> bytes`` and ``loads(bytes) -> value`` round-trip rich Python values exactly
(type, value and sharing: an object reached twice comes back as one object, cycles included).
``register`` lets exception classes and your own value types cross by a stable name.
See ``docs/clone.md`` for the type table and ``docs/protocol.md#values`` for the wire format.

This package never imports Trio, and it is the only place that imports cbor2.
"""

from __future__ import annotations

from .._exceptions import DataCloneError as DataCloneError, RemoteError as RemoteError
from ._decode import loads as loads
from ._encode import dumps as dumps
from ._limits import MAX_DEPTH as MAX_DEPTH
from ._registry import register as register
from ._values import UNDEFINED as UNDEFINED, IdentityMap as IdentityMap

__all__ = [
    "DataCloneError",
    "IdentityMap",
    "MAX_DEPTH",
    "RemoteError",
    "UNDEFINED",
    "dumps",
    "loads",
    "register",
]
