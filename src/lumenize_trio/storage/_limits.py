"""The platform's storage limits, and the names reserved for the runtime.

The figures are those of SQLite-backed Durable Objects (``reference/platform-and-peers.md``
§1.7 "Limits"); ``docs/storage.md#limits`` lists them for users. Where the platform says "2 MB"
we read 2 MiB.
"""

from __future__ import annotations

from typing import Final

#: Longest KV key, in UTF-8 bytes.
MAX_KEY_BYTES: Final = 2048

#: Largest KV entry: UTF-8 key plus structured-clone encoded value, in bytes ("key + value ≤ 2 MB").
#: Runtime metadata values (``put_meta``) are held to the same figure.
MAX_ENTRY_BYTES: Final = 2 * 1024 * 1024

#: Most keys (or entries) one ``get_many``/``put_many``/``delete_many`` call may name.
MAX_BATCH_KEYS: Final = 128

#: Longest text one ``sql.exec`` call accepts, in UTF-8 bytes (all its statements together).
MAX_SQL_BYTES: Final = 100_000

#: Most bound parameters one ``sql.exec`` call accepts.
MAX_SQL_PARAMS: Final = 100

#: Longest string or BLOB, and largest row, that SQLite accepts (``SQLITE_LIMIT_LENGTH``). The
#: platform's figure is 2 MiB; the extra 4 KiB leaves room for the record header of a KV row whose
#: key plus value is exactly :data:`MAX_ENTRY_BYTES`, so the KV limit is the one users meet.
SQLITE_MAX_LENGTH: Final = MAX_ENTRY_BYTES + 4096

#: Most columns in a table, index, result set, ``ORDER BY`` or ``GROUP BY`` (``SQLITE_LIMIT_COLUMN``).
SQLITE_MAX_COLUMNS: Final = 100

#: Most arguments to one SQL function call (``SQLITE_LIMIT_FUNCTION_ARG``).
SQLITE_MAX_FUNCTION_ARGS: Final = 32

#: Longest ``LIKE``/``GLOB`` pattern, in bytes (``SQLITE_LIMIT_LIKE_PATTERN_LENGTH``).
SQLITE_MAX_LIKE_PATTERN: Final = 50

#: Prefix of every KV key, table, index, view and trigger name the runtime keeps for itself.
#: KV keys compare it case-sensitively (keys are data); SQL names case-insensitively (SQL does).
RESERVED_PREFIX: Final = "__lmz"
