"""Run by test_crash.py in a subprocess that is killed with SIGKILL at a random moment.

Writers hammer a few actors; each turn writes a pair of keys and sets an overdue alarm. After
every reply, the child prints ``ack <actor> <i>`` and flushes, so the parent knows exactly which
writes were acknowledged before the kill.
"""

from __future__ import annotations

import sys

import trio

from lumenize_trio import AlarmInfo, LumenizeDO, mesh, open_mesh


class Pairs(LumenizeDO):
    @mesh
    def write_pair(self, i: int) -> int:
        kv = self.ctx.storage.kv
        kv.put(f"a{i:05}", i)
        kv.put(f"b{i:05}", i)
        if i % 7 == 3:
            self.ctx.storage.set_alarm(self.env.clock.now() - 1)  # already due
        return i

    def on_alarm(self, info: AlarmInfo) -> None:
        kv = self.ctx.storage.kv
        kv.put("fired", kv.get("fired", 0) + 1)

    @mesh
    def snapshot(self) -> dict[str, object]:
        return {"keys": self.ctx.storage.kv.list(), "alarm": self.ctx.storage.get_alarm()}


async def main(data_dir: str) -> None:
    async with open_mesh({"PAIRS": Pairs}, data_dir=data_dir) as m:

        async def writer(actor: str) -> None:
            stub = m.get("PAIRS", actor)
            for i in range(100_000):
                await stub.write_pair(i)
                print(f"ack {actor} {i}", flush=True)

        async with trio.open_nursery() as nursery:
            for n in range(4):
                for _ in range(3):  # three concurrent writers per actor share group commits
                    nursery.start_soon(writer, f"w{n}")


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
