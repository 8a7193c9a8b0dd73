"""The events a turn can handle: a call (an operation chain with a reply) and an alarm."""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, final

import attrs

from .. import clone
from ..ocan import from_wire
from ._activation import Activation, Event
from ._outcome import Reply, encode_error, encode_outcome

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..storage import ActorStorage
    from ._turns import Turn

log = logging.getLogger("lumenize_trio")

#: Alarm retries after a handler raised: 6, the first after 2 s, doubling, with up to 25 % jitter.
ALARM_MAX_RETRIES = 6
ALARM_FIRST_RETRY = 2.0
ALARM_JITTER = 0.25


@final
class CallEvent(Event):
    """Run an operation chain (cloned bytes) on the actor and reply with the cloned outcome."""

    __slots__ = ("payload", "reply")

    def __init__(self, payload: bytes, reply: Reply) -> None:
        self.payload = payload
        self.reply = reply

    async def run(self, activation: Activation, turn: Turn) -> None:
        try:
            chain = from_wire(clone.loads(self.payload))
            result = await activation.run_segment(turn, activation.mesh.execute, activation.instance, chain)
        except Exception as exc:
            ok, payload = False, encode_error(exc)
        else:
            ok, payload = encode_outcome(result)
        reply = self.reply
        activation.output(_Held(reply, ok, payload))

    def fail(self, error: BaseException) -> None:
        self.reply.fail(error)


@final
class _Held:
    """A reply waiting for the commit of the writes before it."""

    __slots__ = ("ok", "payload", "reply")

    def __init__(self, reply: Reply, ok: bool, payload: bytes) -> None:
        self.reply, self.ok, self.payload = reply, ok, payload

    def __call__(self) -> None:
        self.reply.set(self.ok, self.payload)

    def fail(self, error: BaseException) -> None:
        self.reply.fail(error)


@final
@attrs.frozen
class AlarmInfo:
    """What ``on_alarm(info)`` is told about this run of the alarm.

    .. versionadded:: 0.1
    """

    retry_count: int
    """How many times this alarm has already been retried after its handler raised (0 at first)."""

    @property
    def is_retry(self) -> bool:
        """Whether this run is a retry."""
        return self.retry_count > 0


@final
class AlarmEvent(Event):
    """Run the actor's alarm handler if its alarm is due (the stored alarm is the truth)."""

    __slots__ = ("retry_count",)

    def __init__(self, retry_count: int) -> None:
        self.retry_count = retry_count

    async def run(self, activation: Activation, turn: Turn) -> None:
        mesh = activation.mesh
        storage = activation.storage
        due = storage.get_alarm()
        if due is None or due > mesh.clock.now():
            mesh.alarms.committed(activation)  # nothing due: just bring the schedule up to date
            return
        handler = getattr(activation.instance, "on_alarm", None)
        try:
            await activation.run_segment(turn, _fire, storage, handler, AlarmInfo(self.retry_count))
        except Exception as exc:
            # The handler's writes were rolled back, the alarm row with them: it is still set.
            if self.retry_count >= ALARM_MAX_RETRIES:
                log.error(
                    "alarm of %s/%s failed %d times; dropping it: %r",
                    activation.id.binding, activation.id.name or activation.id.hex, self.retry_count + 1, exc,
                )  # fmt: skip
                await activation.run_segment(turn, storage.delete_alarm)
                return
            delay = ALARM_FIRST_RETRY * 2**self.retry_count * (1 + mesh.random.uniform(0, ALARM_JITTER))
            log.warning(
                "alarm of %s/%s raised %r; retry %d in %.1f s",
                activation.id.binding, activation.id.name or activation.id.hex, exc, self.retry_count + 1, delay,
            )  # fmt: skip
            mesh.alarms.retry(activation.id, due, mesh.clock.now() + delay, self.retry_count + 1)

    def fail(self, error: BaseException) -> None:
        log.error("an alarm could not run: %r", error)


async def _fire(
    storage: ActorStorage, handler: Callable[[AlarmInfo], object] | None, info: AlarmInfo
) -> None:
    storage.delete_alarm()  # inside the handler, get_alarm() is None
    if handler is None:
        log.warning("an alarm fired on an actor with no on_alarm(); it is dropped")
        return
    result = handler(info)
    if inspect.isawaitable(result):
        await result
