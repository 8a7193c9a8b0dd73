"""Make Hypercorn tell the app the client's close code and reason.

Hypercorn 0.18 answers a client's close frame itself (the reciprocated close), but then reports
``websocket.disconnect`` with 1006 (abnormal closure) and no reason, whatever the client sent,
so ``on_close`` could never see the client's code or ``was_clean=True``. The ASGI spec says the
disconnect carries the close code (and, since 2.3, the reason). :func:`report_close_codes`
keeps the client's close frame on the stream and puts its code and reason in that disconnect.
It is applied once by :func:`serve`, and only if Hypercorn still has the methods it wraps.
"""

from __future__ import annotations

import functools
from typing import Any


def report_close_codes() -> bool:
    """Patch Hypercorn's WebSocket stream (once). Returns whether it is patched."""
    try:
        from hypercorn.protocol import ws_stream
        from hypercorn.protocol.events import StreamClosed
        from wsproto.connection import ConnectionState
        from wsproto.events import CloseConnection
    except ImportError:  # pragma: no cover - Hypercorn is a dependency
        return False
    cls: Any = ws_stream.WSStream
    if getattr(cls, "_lmz_close_codes", False):
        return True
    handle, send_event = getattr(cls, "handle", None), getattr(cls, "_send_wsproto_event", None)
    if handle is None or send_event is None:  # pragma: no cover - another Hypercorn
        return False

    @functools.wraps(send_event)
    async def _send_wsproto_event(self: Any, event: object) -> None:
        # Hypercorn reciprocates a client's close with event.response(): the same code and
        # reason, sent while the connection is REMOTE_CLOSING. Remember them.
        if isinstance(event, CloseConnection) and self.connection.state == ConnectionState.REMOTE_CLOSING:
            self._lmz_close = (event.code, event.reason or "")
        await send_event(self, event)

    @functools.wraps(handle)
    async def _handle(self: Any, event: object) -> None:
        close = getattr(self, "_lmz_close", None)
        put = self.app_put
        if close is not None and isinstance(event, StreamClosed) and put is not None and not self.closed:

            async def app_put(message: dict[str, Any]) -> None:
                if message.get("type") == "websocket.disconnect":
                    message = {**message, "code": close[0], "reason": close[1]}
                await put(message)

            self.app_put = app_put
        await handle(self, event)

    cls._send_wsproto_event = _send_wsproto_event
    cls.handle = _handle
    cls._lmz_close_codes = True
    return True
