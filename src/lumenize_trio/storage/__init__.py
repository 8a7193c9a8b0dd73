"""Per-actor SQLite storage: KV, SQL, one alarm, and the turn/commit protocol the runtime drives.

``open_actor_storage(path)`` opens one actor's database (a file, or ``None`` for memory) and
returns an :class:`ActorStorage` with ``.kv`` (:class:`KvStorage`), ``.sql``
(:class:`SqlStorage`), ``transaction_sync``, ``delete_all`` and the alarm methods, all
synchronous, as on SQLite-backed Durable Objects. See ``docs/storage.md``.

This package never imports Trio: the runtime decides when turns begin and end and when to commit.
"""

from __future__ import annotations

from .._exceptions import (
    ReservedNameError as ReservedNameError,
    SqlError as SqlError,
    SqlNotAllowedError as SqlNotAllowedError,
    StorageClosedError as StorageClosedError,
    StorageCommitError as StorageCommitError,
    StorageError as StorageError,
    StorageLimitError as StorageLimitError,
)
from ._actor_storage import ActorStorage as ActorStorage, open_actor_storage as open_actor_storage
from ._authorizer import ALLOWED_PRAGMAS as ALLOWED_PRAGMAS
from ._kv import KvStorage as KvStorage
from ._limits import (
    MAX_BATCH_KEYS as MAX_BATCH_KEYS,
    MAX_ENTRY_BYTES as MAX_ENTRY_BYTES,
    MAX_KEY_BYTES as MAX_KEY_BYTES,
    MAX_SQL_BYTES as MAX_SQL_BYTES,
    MAX_SQL_PARAMS as MAX_SQL_PARAMS,
    RESERVED_PREFIX as RESERVED_PREFIX,
)
from ._sql import (
    SqlCursor as SqlCursor,
    SqlParam as SqlParam,
    SqlStorage as SqlStorage,
    SqlValue as SqlValue,
)

__all__ = [
    "ALLOWED_PRAGMAS",
    "ActorStorage",
    "KvStorage",
    "MAX_BATCH_KEYS",
    "MAX_ENTRY_BYTES",
    "MAX_KEY_BYTES",
    "MAX_SQL_BYTES",
    "MAX_SQL_PARAMS",
    "RESERVED_PREFIX",
    "ReservedNameError",
    "SqlCursor",
    "SqlError",
    "SqlNotAllowedError",
    "SqlParam",
    "SqlStorage",
    "SqlValue",
    "StorageClosedError",
    "StorageCommitError",
    "StorageError",
    "StorageLimitError",
    "open_actor_storage",
]

# Tracebacks and docs should show the public path, not the private module.
for _obj in (ActorStorage, KvStorage, SqlCursor, SqlStorage, open_actor_storage):
    _obj.__module__ = __name__
del _obj
