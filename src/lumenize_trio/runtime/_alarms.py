"""The mesh's alarm schedule: which actor's alarm fires when, kept durable in a small index.

Theory of operation
-------------------
Each actor's alarm lives in its own storage; that row is the truth. The mesh keeps an *index*
(binding, id, name -> time) so that after a restart it knows whom to wake without opening every
database, and an in-memory heap of what to fire next.

The index may be early but never late: before an actor commits an alarm that is *earlier* than
the indexed one, the index is updated first (``before_commit``); after an actor commits a *later*
alarm or none, the index is updated after (``committed``). A crash in between leaves an index
entry that is too early, which only wakes the actor to find nothing due; the alarm turn then
reschedules from the truth. So alarms are at-least-once and never lost.

A handler that raises is retried from the heap (2 s, 4 s, ... with jitter); the stored alarm stays
set meanwhile, so a restart retries it too.
"""

from __future__ import annotations

import heapq
import logging
import math
from typing import TYPE_CHECKING, final

import trio

from .._exceptions import OverloadedError
from ._ids import ActorId

if TYPE_CHECKING:
    from ..storage import ActorStorage
    from ._activation import Activation
    from ._mesh import Mesh

log = logging.getLogger("lumenize_trio")

_Key = tuple[str, str]  # (binding, hex)
_PREFIX = "alarm/"


@final
class AlarmScheduler:
    """The heap of alarms to fire, and the durable index behind it."""

    __slots__ = ("_heap", "_index", "_indexed", "_mesh", "_names", "_planned", "_retrying", "_seq", "_wake")

    def __init__(self, mesh: Mesh, index: ActorStorage) -> None:
        self._mesh = mesh
        self._index = index
        self._indexed: dict[_Key, float] = {}  # what the durable index says
        self._names: dict[_Key, str | None] = {}
        self._planned: dict[_Key, tuple[float, int]] = {}  # the live heap entry: (when, retry count)
        self._retrying: dict[_Key, float] = {}  # key -> the due time being retried
        self._heap: list[tuple[float, int, _Key]] = []
        self._seq = 0
        self._wake = trio.Event()

    def load(self) -> None:
        """Read the index (at mesh start) and plan every alarm in it."""
        for key, value in self._index.kv.list(prefix=_PREFIX).items():
            _, binding, hex_id = key.split("/", 2)
            if not isinstance(value, list) or len(value) != 2:
                continue  # pragma: no cover - written only by us
            when, name = value
            if binding not in self._mesh.bindings:
                log.warning("alarm index names unknown binding %r; ignoring it", binding)
                continue
            k = (binding, hex_id)
            self._indexed[k] = when
            self._names[k] = name
            self._plan(k, when, 0)

    # -- keeping the index and the plan in step with the actors' storage ------------------------

    def before_commit(self, activation: Activation) -> None:
        """Called inside the actor's commit, before COMMIT: move the index earlier first."""
        pending = activation.storage.get_alarm()
        key = _key(activation.id)
        indexed = self._indexed.get(key)
        if pending is not None and (indexed is None or pending < indexed):
            self._write(key, pending, activation.id.name)

    def committed(self, activation: Activation) -> None:
        """Called after the actor's commit: bring the index and the plan to the stored truth."""
        truth = activation.storage.get_alarm()
        key = _key(activation.id)
        if truth is not None and self._retrying.get(key) == truth:
            return  # still the alarm being retried: keep its retry time
        self._retrying.pop(key, None)
        if truth != self._indexed.get(key):
            self._write(key, truth, activation.id.name)
        if truth is None:
            self._planned.pop(key, None)
        elif self._planned.get(key, (None, 0))[0] != truth:
            self._plan(key, truth, 0)

    def reset(self, activation: Activation) -> None:
        """After the actor was reset (its uncommitted writes rolled back): plan its stored alarm.

        The alarm may have been taken off the plan to fire, and the turn that fired it did not
        commit; without this it would wait for the actor's next commit. It is planned no sooner
        than a second from now, so a storage that keeps failing is not hammered.
        """
        key = _key(activation.id)
        self._retrying.pop(key, None)
        try:
            truth = activation.storage.get_alarm()
        except Exception:  # pragma: no cover - the storage closed itself after a failed rollback
            return
        if truth is None:
            self._planned.pop(key, None)
        elif key not in self._planned:
            self._plan(key, max(truth, self._mesh.clock.now() + 1.0), 0)

    def retry(self, actor_id: ActorId, due: float, when: float, retry_count: int) -> None:
        """Plan a retry of the alarm due at *due* (its handler raised)."""
        key = _key(actor_id)
        self._retrying[key] = due
        self._plan(key, when, retry_count)

    def _write(self, key: _Key, when: float | None, name: str | None) -> None:
        index = self._index
        index.begin_turn()
        try:
            if when is None:
                index.kv.delete(_PREFIX + "/".join(key))
            else:
                index.kv.put(_PREFIX + "/".join(key), [when, name])
        except BaseException:
            index.end_turn(False)
            raise
        index.end_turn(True)
        index.commit()
        if when is None:
            self._indexed.pop(key, None)
        else:
            self._indexed[key] = when
            self._names[key] = name

    def close(self) -> None:
        self._index.close()

    def _plan(self, key: _Key, when: float, retry_count: int) -> None:
        self._planned[key] = (when, retry_count)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, key))
        self._wake.set()

    # -- firing ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Fire alarms as they come due, for the life of the mesh."""
        clock = self._mesh.clock
        while True:
            self._wake = trio.Event()
            deadline = clock.to_trio(self._heap[0][0]) if self._heap else math.inf
            with trio.move_on_at(deadline):
                await self._wake.wait()
                continue
            now = clock.now()
            while self._heap and self._heap[0][0] <= now:
                when, _, key = heapq.heappop(self._heap)
                planned = self._planned.get(key)
                if planned is None or planned[0] != when:
                    continue  # superseded by a later plan
                del self._planned[key]
                self._fire(key, planned[1])

    def _fire(self, key: _Key, retry_count: int) -> None:
        from ._events import AlarmEvent

        binding, hex_id = key
        actor_id = ActorId(binding, hex_id, self._names.get(key))
        try:
            self._mesh.activate(actor_id).submit(AlarmEvent(retry_count))
        except OverloadedError:
            self._plan(key, self._mesh.clock.now() + 1.0, retry_count)  # the queue is full: try again soon


def _key(actor_id: ActorId) -> _Key:
    return (actor_id.binding, actor_id.hex)
