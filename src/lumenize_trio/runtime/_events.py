"""The events a turn can handle: a call (an operation chain with a reply), a reply handler, an alarm.

Also how any node (actor or worker) receives a call: :func:`decode_call` and :func:`receive`.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, TypeAlias, final

import attrs

from .. import clone
from .._exceptions import ChainError
from ..ocan import OperationChain, execute, fill_result, from_wire
from ._activation import Activation, Event
from ._call_context import CallContext, current_call_context, from_wire as context_from_wire
from ._outcome import Reply, encode_error, encode_outcome
from ._turns import current_turn

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..storage import ActorStorage
    from ._turns import Turn

log = logging.getLogger("lumenize_trio")

#: Alarm retries after a handler raised: 6, the first after 2 s, doubling, with up to 25 % jitter.
ALARM_MAX_RETRIES = 6
ALARM_FIRST_RETRY = 2.0
ALARM_JITTER = 0.25


#: A call as it travels to its node: ``clone([wire chain, wire context])``, or, for a simple chain
#: (every argument a scalar, see :func:`lumenize_trio.ocan.is_simple`) sent with no call context,
#: the chain itself. A chain is an immutable tuple and scalars are immutable, so handing it over
#: is exactly what a clone would give the callee, minus the encoding and decoding.
CallPayload: TypeAlias = "bytes | OperationChain"


@final
class CallEvent(Event):
    """Run an operation chain (a :data:`CallPayload`) on the actor and reply with the cloned outcome."""

    __slots__ = ("payload", "reply")

    def __init__(self, payload: CallPayload, reply: Reply) -> None:
        self.payload = payload
        self.reply = reply

    async def run(self, activation: Activation, turn: Turn) -> None:
        try:
            chain, context = decode_call(self.payload)
            token = current_call_context.set(context)
            try:
                result = await activation.run_segment(turn, receive, activation.instance, chain)
            finally:
                current_call_context.reset(token)
        except Exception as exc:
            ok, payload = False, encode_error(exc)
        else:
            ok, payload = encode_outcome(result)
        reply = self.reply
        activation.output(_Held(reply, ok, payload))

    def fail(self, error: BaseException) -> None:
        self.reply.fail(error)


def decode_call(payload: CallPayload) -> tuple[OperationChain, CallContext | None]:
    """The chain and the call context of a call's payload (see :data:`CallPayload`).

    Raises:
        DataCloneError, ChainError, ValueError: the payload is malformed.
    """
    if isinstance(payload, tuple):
        return payload, None
    data = clone.loads(payload)
    if type(data) is not list or len(data) != 2:
        raise ChainError("a mesh call's payload must be [chain, context]")
    return from_wire(data[0]), context_from_wire(data[1])


async def receive(node: object, chain: OperationChain) -> object:
    """Run a chain that arrived from outside *node*: ``on_before_call``, then the checked chain.

    The access check (``@mesh`` and guards, the node class's ``_lmz_check_access``) covers the
    chain and every chain nested in its arguments, before anything runs.

    Raises:
        TypeError: ``on_before_call`` is not synchronous or returned a value, or the node's class
            has no access check (refused rather than run unchecked).
        Exception: whatever ``on_before_call``, a guard or the method raises.
    """
    check_access = getattr(type(node), "_lmz_check_access", None)
    if not callable(check_access):
        # Fail closed: a class that looks like a node without being one must not run any chain.
        raise TypeError(
            f"{type(node).__name__} has no access check (_lmz_check_access): node classes must "
            "subclass LumenizeDO or LumenizeWorker"
        )
    hook = getattr(node, "on_before_call", None)
    if hook is not None:
        call_sync(hook, "on_before_call()")
    return await execute(node, chain, check_access=check_access)


def call_sync(fn: Callable[[], object], what: str) -> None:
    """Call a hook that must be synchronous and raises to refuse; refuse (and close) a coroutine
    it returns, and refuse any other return value (``return False`` must not read as a pass)."""
    result = fn()
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()
        raise TypeError(f"{what} must be synchronous (a plain def, not async def)")
    if result is not None:
        raise TypeError(
            f"{what} returned {type(result).__name__}, so the call is refused: it must raise to "
            "refuse a call and return None to allow it"
        )


def filled_handler(handler: OperationChain, payload: bytes, what: str) -> OperationChain | None:
    """*handler* with the call's outcome (decoded from *payload*) put in; ``None`` (logged) if
    the outcome cannot be decoded."""
    try:
        return fill_result(handler, clone.loads(payload))
    except Exception:
        log.exception("the outcome of %s could not be given to its handler", what)
        return None


async def run_worker_handler(
    node: object, handler: OperationChain, payload: bytes, context: CallContext | None, what: str
) -> None:
    """Run a worker's reply handler locally (no ``@mesh`` check) inside *context*.

    Never raises an ``Exception``: a handler that raises is logged at error level.
    """
    current_turn.set(None)  # spawned from whatever task delivered the reply: not its turn
    chain = filled_handler(handler, payload, what)
    if chain is None:
        return
    token = current_call_context.set(context)
    try:
        await execute(node, chain)
    except Exception:
        log.exception("the reply handler of %s raised", what)
    finally:
        current_call_context.reset(token)


@final
class HandlerEvent(Event):
    """Deliver a call's outcome to its reply handler: a new turn of the caller."""

    __slots__ = ("context", "handler", "payload", "what")

    def __init__(
        self, handler: OperationChain, payload: bytes, context: CallContext | None, what: str
    ) -> None:
        self.handler, self.payload, self.context, self.what = handler, payload, context, what

    async def run(self, activation: Activation, turn: Turn) -> None:
        chain = filled_handler(self.handler, self.payload, self.what)
        if chain is None:
            return
        token = current_call_context.set(self.context)
        try:
            await activation.run_segment(turn, execute, activation.instance, chain)
        except Exception:
            # Its writes were rolled back; nobody waits for a handler, so say it loudly.
            log.exception("the reply handler of %s raised", self.what)
        finally:
            current_call_context.reset(token)

    def fail(self, error: BaseException) -> None:
        log.error("the reply handler of %s could not run: %r", self.what, error)


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
