"""The protocol's fixed numbers: its version, frame and batch limits, the default deadline, close codes."""

from __future__ import annotations

import enum
from typing import Final, final

#: The version every frame carries as its first item. A peer that receives another version answers
#: with a CLOSE frame of code :attr:`CloseCode.VERSION_MISMATCH` (see ``docs/protocol.md``).
PROTOCOL_VERSION: Final = 1

#: Largest frame, in bytes, either side sends or accepts: the message limit of a hibernatable
#: WebSocket on the platform (32 MiB), so a frame that fits here fits one WebSocket message there.
MAX_FRAME_SIZE: Final = 32 * 1024 * 1024

#: Most calls one batch may carry (a client opens a new batch past it).
MAX_CALLS_PER_BATCH: Final = 100

#: Seconds a client waits for the results of a batch before it gives its calls up.
DEFAULT_BATCH_TIMEOUT: Final = 30.0

#: Largest call id and downstream sequence number: 2**53 - 1, the largest
#: integer a JavaScript peer holds exactly.
MAX_ID: Final = 2**53 - 1

#: Room left in a frame for everything but the encoded chains or values (headers, ids, flags).
FRAME_OVERHEAD: Final = 64 * 1024


@final
class CloseCode(enum.IntEnum):
    """Codes of the CLOSE frame (and of the WebSocket close frame an I/O shell sends with it).

    The 44xx codes follow HTTP statuses, as upstream Lumenize documents them. Any code from 1000
    to 4999 may be sent; these are the ones lumenize_trio gives a meaning.

    .. versionadded:: 0.1
    """

    #: The connection is done; nothing went wrong.
    NORMAL = 1000
    #: The server is shutting down or the client is leaving.
    GOING_AWAY = 1001
    #: The peer sent a frame that breaks this protocol (the reason says what); do not retry as is.
    PROTOCOL_ERROR = 4002
    #: No access token was presented.
    NO_TOKEN = 4400
    #: The access token has expired: refresh it and reconnect.
    TOKEN_EXPIRED = 4401
    #: The token is valid but does not allow this.
    FORBIDDEN = 4403
    #: A frame was larger than :data:`MAX_FRAME_SIZE`.
    TOO_LARGE = 4413
    #: The peer speaks another protocol version (the reason names both).
    VERSION_MISMATCH = 4426
    #: Too many requests: back off before reconnecting.
    RATE_LIMITED = 4429
