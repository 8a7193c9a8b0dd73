"""``lumenize-trio demo``: a chat room actor served over RPC, with clients that talk and listen.

The demo opens a mesh with one ``ChatRoom`` actor on SQLite files, serves it with the edge (RPC
over WebSocket), and connects a few RPC clients. Each joins (getting the history so far: the
catch-up pattern), posts a few messages, and receives every message of every client as a server
push. It prints the transcript as one client saw it, and a few live figures, then stops cleanly.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import trio

from ..edge import create_app, serve
from ..node import LumenizeDO, mesh
from ..rpc import RpcPolicy, open_rpc_client, send_downstream
from ..runtime import open_mesh

if TYPE_CHECKING:
    from ..rpc import RpcProxy

NAMES = ("ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances")


class ChatRoom(LumenizeDO):
    """A chat room: messages in a SQL table, every post pushed to every connected client."""

    def on_start(self) -> None:
        self.ctx.storage.sql.exec(
            "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, text TEXT NOT NULL)"
        )

    @mesh
    def join(self, name: str) -> list[tuple[int, str, str]]:
        """Say hello to the room; returns the last 50 messages (catch-up)."""
        send_downstream(None, self, ("joined", name))
        return self.history(0)

    @mesh
    def post(self, name: str, text: str) -> int:
        """Store a message and push it to every client; returns its sequence number."""
        cursor = self.ctx.storage.sql.exec(
            "INSERT INTO messages (name, text) VALUES (?, ?) RETURNING seq", name, text
        )
        seq = int(cursor.one()["seq"])  # type: ignore[arg-type]
        send_downstream(None, self, ("message", seq, name, text, time.perf_counter()), seq=seq)
        return seq

    @mesh
    def history(self, after: int) -> list[tuple[int, str, str]]:
        """Messages after *after*, oldest first (at most 50)."""
        rows = self.ctx.storage.sql.exec(
            "SELECT seq, name, text FROM messages WHERE seq > ? ORDER BY seq LIMIT 50", after
        ).raw()
        return [(int(seq), str(name), str(text)) for seq, name, text in rows]  # type: ignore[arg-type]


async def run_demo(
    *, data_dir: Path | None, clients: int = 3, messages: int = 3, out: TextIO
) -> dict[str, float]:
    """Run the demo; print the transcript and figures to *out*; return the figures.

    Args:
        data_dir: where the actors' SQLite files go (a temporary folder when ``None``).
        clients: how many RPC clients join (1 to 8).
        messages: how many messages each posts.

    Raises:
        ValueError: *clients* or *messages* out of range.
        trio.TooSlowError: the pushes did not all arrive within 30 s.
    """
    if not 1 <= clients <= len(NAMES):
        raise ValueError(f"clients must be 1 to {len(NAMES)}, not {clients}")
    if not 1 <= messages <= 1000:
        raise ValueError(f"messages must be 1 to 1000, not {messages}")
    if data_dir is not None:
        return await _run(data_dir, clients, messages, out)
    with tempfile.TemporaryDirectory(prefix="lumenize-demo-") as folder:
        return await _run(Path(folder), clients, messages, out)


async def _run(data_dir: Path, clients: int, messages: int, out: TextIO) -> dict[str, float]:
    names = NAMES[:clients]
    expected = clients * messages
    received: dict[str, list[tuple[object, ...]]] = {name: [] for name in names}
    push_latency: list[float] = []
    everyone_has_all = trio.Event()

    def listener(name: str) -> object:
        def on_downstream(payload: object) -> None:
            assert isinstance(payload, tuple)
            if payload[0] == "message":
                received[name].append(payload)
                push_latency.append(time.perf_counter() - float(payload[4]))
                if all(len(got) == expected for got in received.values()):
                    everyone_has_all.set()

        return on_downstream

    print(f"lumenize-trio demo: a chat room on SQLite under {data_dir}", file=out)
    async with open_mesh({"CHAT_ROOM": ChatRoom}, data_dir=data_dir) as m, trio.open_nursery() as nursery:
        host, port = await nursery.start(partial(serve, m, create_app(m, rpc=RpcPolicy()), port=0))
        url = f"http://{host}:{port}/__rpc/chat-room/lobby"
        print(f"serving {url} ({clients} clients, {messages} messages each)", file=out)
        started = time.perf_counter()
        round_trips: list[float] = []
        async with contextlib.AsyncExitStack() as stack:
            proxies: dict[str, RpcProxy] = {}
            for name in names:
                proxies[name] = await stack.enter_async_context(
                    open_rpc_client(url, client_id=name, on_downstream=listener(name))  # type: ignore[arg-type]
                )
            for name, proxy in proxies.items():
                backlog = await proxy.join(name)
                assert isinstance(backlog, list)
                print(f"  {name} joined ({len(backlog)} earlier messages)", file=out)

            async def chat(name: str, proxy: RpcProxy) -> None:
                for i in range(messages):
                    sent = time.perf_counter()
                    await proxy.post(name, f"message {i + 1} from {name}")
                    round_trips.append(time.perf_counter() - sent)

            async with trio.open_nursery() as talkers:
                for name, proxy in proxies.items():
                    talkers.start_soon(chat, name, proxy)
            with trio.fail_after(30):
                await everyone_has_all.wait()
            elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    print(f"transcript as {names[0]} saw it:", file=out)
    for message in sorted(received[names[0]], key=lambda message: str(message[1]).zfill(12)):
        _, seq, who, text, _sent = message
        print(f"  #{seq!s:<3} {who!s:>9}: {text}", file=out)
    figures = {
        "messages": float(expected),
        "deliveries": float(sum(len(got) for got in received.values())),
        "seconds": elapsed,
        "post_round_trip_ms": statistics.median(round_trips) * 1000,
        "push_latency_ms": statistics.median(push_latency) * 1000,
    }
    print(
        f"{int(figures['messages'])} messages, {int(figures['deliveries'])} pushes delivered in "
        f"{elapsed:.2f} s; median post round trip {figures['post_round_trip_ms']:.2f} ms, "
        f"median push latency {figures['push_latency_ms']:.2f} ms",
        file=out,
    )
    return figures
