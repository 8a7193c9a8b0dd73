"""Run by test_fetch.py in a subprocess that is killed with SIGKILL while its fetches are in flight.

``python -m tests.mesh.fetch_crash_child DATA_DIR BASE_URL`` opens a mesh on *DATA_DIR*, records
three fetches to the parent's server in one turn — a ``GET`` and a ``POST`` of ``/delay/3``, and
a ``POST`` with ``retries=1`` — prints ``ready`` once that turn has returned, and waits to be
killed. The parent reopens the mesh on the same directory with the same actor class.
"""

from __future__ import annotations

import sys

import trio

from lumenize_trio import RESULT, LumenizeDO, Request, mesh, open_mesh

#: The fetches the child records: tag -> (method, query, retries).
FETCHES = {"get": ("GET", "get", 0), "post": ("POST", "post", 0), "post-retried": ("POST", "post-retried", 1)}
DELAY = 3


class Resumer(LumenizeDO):
    """Records fetches; its handler stores each outcome under the fetch's tag."""

    @mesh
    def record(self, base: str) -> list[str]:
        ids = []
        for tag, (method, query, retries) in FETCHES.items():
            request = Request(method, f"{base}/delay/{DELAY}?tag={query}")
            ids.append(self.svc.fetch(request, self.ctn().got(tag, RESULT), retries=retries))
        return ids

    def got(self, tag: str, outcome: object) -> None:
        kv = self.ctx.storage.kv
        kv.put("runs", [*kv.get("runs", []), tag])
        kv.put(f"outcome/{tag}", outcome)

    @mesh
    def outcomes(self) -> dict[str, object]:
        kv = self.ctx.storage.kv
        return {tag: kv.get(f"outcome/{tag}") for tag in kv.get("runs", [])}

    @mesh
    def runs(self) -> list[str]:
        return list(self.ctx.storage.kv.get("runs", []))

    @mesh
    def pending(self) -> list[str]:
        return self.svc.fetch.pending()


async def main(data_dir: str, base: str) -> None:
    async with open_mesh(
        {"RESUMER": Resumer}, data_dir=data_dir, fetch_allow=["127.0.0.1"], fetch_liveness=0.2
    ) as m:
        await m.get("RESUMER", "r").record(base)
        print("ready", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
