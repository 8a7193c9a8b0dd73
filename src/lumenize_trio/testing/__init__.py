"""Tools for testing code built on lumenize_trio, and backends that plug into it.

``check_storage_backend(factory)`` is the conformance check every actor storage backend must
pass (run it in your own test suite against your backend).

This package does not import Trio (yet): everything in it is synchronous.
"""

from __future__ import annotations

from ._storage_conformance import (
    StorageFactory as StorageFactory,
    check_storage_backend as check_storage_backend,
)

__all__ = [
    "StorageFactory",
    "check_storage_backend",
]

# Tracebacks and docs should show the public path, not the private module.
for _obj in (StorageFactory, check_storage_backend):
    _obj.__module__ = __name__
del _obj
