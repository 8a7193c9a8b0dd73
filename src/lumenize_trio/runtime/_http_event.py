"""HTTP requests as turns: ``on_request(request) -> Response`` on actors and workers.

An HTTP request to an actor is an event like a call: it runs as a turn (holding the input gate,
inside a storage savepoint), and its response is an *output*: it leaves only once the writes the
turn made before it are durable. If that commit fails, the response is dropped, the actor is
reset, and the sender hears :class:`ActorResetError`.

The handler's failures never cross as exceptions: an exception, or a return value that is not a
:class:`Response`, is logged and becomes a ``500`` with a generic body (its writes rolled back).
The errors :func:`request_actor` raises are about delivery (overload, a reset, a failed start, a
closed mesh); the edge turns them into status codes.

HTTP requests carry no call context: inside ``on_request``, ``self.lmz.call_context`` raises
:class:`NoCallContextError`.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Final, final

import trio

from .. import clone
from ..http import Request, Response
from ._activation import Activation, Event
from ._call_context import current_call_context
from ._context import WorkerContext
from ._outcome import Reply
from ._turns import current_turn

if TYPE_CHECKING:
    from ._ids import ActorId
    from ._mesh import Mesh
    from ._turns import Turn

log = logging.getLogger("lumenize_trio")

_DONE: Final = clone.dumps(None)  # the reply only says "ready": the response is on the event


def plain_response(status: int, text: str) -> Response:
    """A ``text/plain`` response (UTF-8) with *status* and *text*. Not a checkpoint."""
    return Response(status, headers={"content-type": "text/plain; charset=utf-8"}, content=text)


def internal_error() -> Response:
    """The generic ``500`` sent when a handler fails: it says nothing about the failure."""
    return plain_response(500, "Internal Server Error")


async def handle_request(node: object, request: Request) -> Response:
    """Run ``node.on_request(request)`` (sync or async) and check that it returned a Response.

    A node without ``on_request`` answers ``501``.

    Raises:
        TypeError: the handler returned something that is not a :class:`Response`.
        Exception: whatever the handler raises.

    Cancellation: a checkpoint only if the handler is async.
    """
    handler = getattr(node, "on_request", None)
    if handler is None:
        return plain_response(501, "Not Implemented")
    result = handler(request)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, Response):
        raise TypeError(
            f"{type(node).__name__}.on_request() returned {type(result).__name__}, not a Response"
        )
    return result


@final
class RequestEvent(Event):
    """Run ``on_request`` on the actor as a turn; its response leaves through the output gate."""

    __slots__ = ("reply", "request", "response")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.response: Response | None = None  # set when the reply says it is ready
        self.reply = Reply()

    async def run(self, activation: Activation, turn: Turn) -> None:
        token = current_call_context.set(None)  # HTTP requests carry no call context
        try:
            response = await activation.run_segment(turn, handle_request, activation.instance, self.request)
        except Exception:
            # Its writes were rolled back; the client gets a generic 500, the log the reason.
            log.exception(
                "on_request of %s/%s failed", activation.id.binding, activation.id.name or activation.id.hex
            )
            response = internal_error()
        finally:
            current_call_context.reset(token)
        assert isinstance(response, Response)
        activation.output(_Held(self, response))

    def fail(self, error: BaseException) -> None:
        self.reply.fail(error)


@final
class _Held:
    """A response waiting for the commit of the writes before it."""

    __slots__ = ("event", "response")

    def __init__(self, event: RequestEvent, response: Response) -> None:
        self.event, self.response = event, response

    def __call__(self) -> None:
        self.event.response = self.response
        self.event.reply.set(True, _DONE)

    def fail(self, error: BaseException) -> None:
        self.event.reply.fail(error)


async def request_actor(mesh: Mesh, actor_id: ActorId, request: Request) -> Response:
    """Deliver *request* to the actor *actor_id* as a turn and return its committed response.

    The actor is activated if needed. The response is returned only after the writes the turn
    made are durable; a handler that raised, or returned something other than a Response, gives
    a generic ``500`` (logged), not an exception.

    Raises:
        OverloadedError: the actor's queue is full (nothing ran).
        ActorResetError: the turn's writes could not be committed (the actor was reset and its
            writes rolled back), or the actor was evicted or reset before the request ran.
        trio.ClosedResourceError: the mesh is closed, or closed before the request was answered.
        Exception: the actor failed to start (its ``on_start`` error, or an identity mismatch).

    Cancellation: a checkpoint. Cancelling stops the waiting only: a request already queued
    still runs as a turn, and its response is dropped.
    """
    event = RequestEvent(request)
    reply = event.reply
    mesh._pending.add(reply)  # failed by the mesh if it stops first
    try:
        mesh.activate(actor_id).submit(event)
        try:
            await reply.wait()
        except Exception as exc:
            if mesh.stopping:
                raise trio.ClosedResourceError("the mesh closed before the request was answered") from exc
            raise
    finally:
        mesh._pending.discard(reply)
    assert event.response is not None
    return event.response


async def request_worker(mesh: Mesh, binding: str, request: Request) -> Response:
    """Deliver *request* to ``on_request`` of a fresh instance of the worker *binding*.

    The handler runs in the calling task (workers have no gate and no storage, so there is
    nothing to hold the response for), outside any turn and with no call context. A handler that
    raised, or returned something other than a Response, gives a generic ``500`` (logged).

    Raises:
        trio.ClosedResourceError: the mesh is closed.

    Cancellation: a checkpoint only if the handler is async; cancelling cancels the handler.
    """
    if mesh.stopping:
        raise trio.ClosedResourceError("the mesh is closed")
    turn_token = current_turn.set(None)  # never part of the caller's turn, if it has one
    context_token = current_call_context.set(None)
    try:
        node = mesh.bindings[binding](WorkerContext(binding), mesh)
        return await handle_request(node, request)
    except Exception:
        log.exception("on_request of worker %s failed", binding)
        return internal_error()
    finally:
        current_call_context.reset(context_token)
        current_turn.reset(turn_token)
