"""``self.svc.fetch``: outbound HTTP off the actor's turn, its outcome delivered as a continuation.

Theory of operation
-------------------
``svc.fetch(request, handler)`` writes the request and its handler chain into the actor's storage
(a metadata row ``__lmz_fetch/<id>``) in the caller's turn, and hands the request to the mesh's
executors as an *output*: only once that turn has committed (the output gate), so a request that
leaves is always one that is recorded. The actor goes on serving other turns.

*Exactly once.* Every way a request can end — its outcome arriving, its deadline found passed by
the liveness check, ``cancel()`` — first removes the row, atomically, in a turn of the actor
(``DELETE``, which reports whether the row was there). Only the remover acts: it runs the handler
(in that same turn, so the removal and the handler's writes commit together) or, for ``cancel``,
nothing. A loser finds no row and does nothing.

*Liveness, separate from the deadline.* While requests are pending, the actor keeps an alarm
schedule (``svc.alarms``, id ``lmz-fetch-liveness``) every ``fetch_liveness`` seconds. It checks
every stored request against the executors that hold requests now. A request no executor holds
was lost with a process (a crash, a restart): an idempotent one (GET, HEAD, OPTIONS, PUT, DELETE)
is sent again, another gets :class:`FetchTimeoutError` unless its caller allowed re-sending
(``retries > 0``). So a lost executor is noticed within ``fetch_liveness`` seconds, whatever the
deadline, and a slow success is never thrown away by the liveness check: only by its own
deadline.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import TYPE_CHECKING, Final, final

import httpx
import trio

from .._exceptions import ChainError, FetchTimeoutError
from ..http import Request, Response
from ..ocan import Apply, Continuation, OperationChain, chain_of, execute, fill_result, from_wire, to_wire
from ..runtime._activation import Activation, Event
from ..runtime._fetcher import IDEMPOTENT

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..runtime import ActorId, Mesh
    from ..runtime._turns import Turn
    from ..storage import ActorStorage
    from ._do import LumenizeDO

log = logging.getLogger("lumenize_trio")

_PREFIX: Final = "__lmz_fetch/"
LIVENESS_ID: Final = "lmz-fetch-liveness"


@final
class Fetch:
    """An actor's outbound HTTP: ``self.svc.fetch`` (actors only).

    .. versionadded:: 0.1
    """

    __slots__ = ("_node",)

    def __init__(self, node: LumenizeDO) -> None:
        self._node = node

    def __call__(
        self,
        request: Request | str | httpx.URL,
        handler: object,
        *,
        timeout: float = 30.0,
        retries: int = 0,
        retry_backoff: float = 1.0,
    ) -> str:
        """Fetch *request* off the actor's turn; its outcome goes to *handler* later. Returns its id.

        The request is recorded in the actor's storage in this turn and leaves once the turn has
        committed. The outcome arrives as a new turn of the actor, exactly once: a
        :class:`~lumenize_trio.Response` (any status: check ``.ok``) or an exception —
        :class:`FetchError` (nothing completed: safe to retry), :class:`FetchTimeoutError` (the
        deadline passed: the remote side may have acted). It goes where ``RESULT`` is in the
        handler's last call, or is appended as its last argument. The handler runs locally (it
        need not be ``@mesh``), with no call context; if it raises, the error is logged.

        Args:
            request: a :class:`~lumenize_trio.Request`, or a URL to GET.
            handler: a continuation of this actor, e.g. ``self.ctn().fetched(RESULT, key)``.
            timeout: seconds until :class:`FetchTimeoutError`, retries included.
            retries: extra attempts after a network error or a 5xx response, for idempotent
                methods only (never after a 4xx); also allows re-sending a non-idempotent
                request that a restart interrupted.
            retry_backoff: seconds before the first retry; each further retry waits twice as
                long, plus up to 25 % jitter.

        Raises:
            TypeError: *handler* is not a continuation, or *request* is neither a Request nor a URL.
            ChainError: *handler* records nothing or does not end with a call.
            ValueError: a malformed URL, or an option out of range.
        """
        checked = _request(request)
        chain = _handler(handler)
        _check_options(timeout, retries, retry_backoff)
        request_id = uuid.uuid4().hex
        now = self._mesh.clock.now()
        record = [checked, to_wire(chain), now + timeout, retries, retry_backoff]
        self._storage.put_meta(_PREFIX + request_id, record)
        self._ensure_liveness()
        # Until its turn commits, the request is held by no executor: its key is reserved, so a
        # liveness check in the same group commit does not take it for lost.
        reservation = self._mesh.fetcher().in_flight[(self._actor_id, request_id)] = trio.CancelScope()
        submit = _Submit(self, request_id, checked, now + timeout, retries, retry_backoff, reservation)
        self._activation.output(submit)
        return request_id

    async def send(self, request: Request) -> Response:
        """Send *request* and return the response (any status): the awaitable form.

        Not durable: if the process stops, the request is forgotten. A mesh await: from inside
        a turn, the turn's writes so far commit first and other turns may run while it waits.
        It has no deadline of its own; bound it with ``trio.fail_after``. Usable as the
        ``fetch`` of a :class:`~lumenize_trio.Browser`.

        Raises:
            FetchError: nothing completed (refused by the outbound policy, a network error, a
                body over ``fetch_max_body``).

        Cancellation: a checkpoint; cancelled, the request is abandoned (it may have been sent).
        """
        checked = _request(request)
        mesh = self._mesh
        return await mesh.mesh_await(mesh.fetcher().perform, checked, math.inf, 0, 1.0)

    async def request(self, method: str, url: str | httpx.URL, **kwargs: object) -> Response:
        """``await self.svc.fetch.request("GET", url, params=..., headers=..., json=...)``: build a
        request httpx-style (``params``, ``headers``, ``content``, ``data``, ``files``, ``json``,
        ``cookies``) and :meth:`send` it.

        Raises:
            TypeError: an argument httpx does not take.
            FetchError: as :meth:`send`.
        """
        built = httpx.Request(method, url, **kwargs)  # type: ignore[arg-type]
        return await self.send(Request.from_httpx(built))

    def cancel(self, request_id: str) -> bool:
        """Forget a pending request: its handler will not run. Whether it was pending.

        A request already sent may still reach the remote side.
        """
        if not self._storage.delete_meta(_PREFIX + _check_id(request_id)):
            return False
        self._mesh.fetcher().cancel((self._actor_id, request_id))
        return True

    def pending(self) -> list[str]:
        """The ids of the requests whose outcome has not been delivered yet."""
        return [key.removeprefix(_PREFIX) for key in self._storage.list_meta(_PREFIX)]

    def check_liveness(self) -> None:
        """Run by the liveness schedule (not for user code): resume or fail lost requests.

        A request no executor holds was lost with a process: idempotent ones (and ones whose
        caller allowed retries) are sent again, others get :class:`FetchTimeoutError`; one whose
        deadline passed gets :class:`FetchTimeoutError`.
        """
        storage = self._storage
        fetcher = self._mesh.fetcher()
        now = self._mesh.clock.now()
        for key, record in storage.list_meta(_PREFIX).items():
            request_id = key.removeprefix(_PREFIX)
            if (self._actor_id, request_id) in fetcher.in_flight:
                continue
            request, _chain, deadline, retries, backoff = _record(record)
            url = str(request.url.copy_with(userinfo=b""))
            if deadline <= now:
                self._fail_later(
                    request_id, FetchTimeoutError(f"no response from {url} before the deadline", url=url)
                )
            elif request.method in IDEMPOTENT or retries > 0:
                log.warning(
                    "fetch %s of %s was lost with its executor; sending it again", request_id[:8], url
                )
                _Submit(self, request_id, request, deadline, retries, backoff)()
            else:
                self._fail_later(
                    request_id,
                    FetchTimeoutError(
                        f"{request.method} {url} was interrupted (the process stopped while it was in flight); "
                        "it may or may not have reached the server, so it is not sent again",
                        url=url,
                    ),
                )
        if storage.list_meta(_PREFIX):
            self._ensure_liveness(again=True)

    # -- delivery --------------------------------------------------------------------------------

    def _fail_later(self, request_id: str, error: BaseException) -> None:
        self._mesh.activate(self._actor_id).submit(_Outcome(request_id, error))

    async def deliver(self, request_id: str, outcome: Response | BaseException) -> None:
        """In a turn of the actor: if the request is still pending, remove it and run its handler."""
        storage = self._storage
        key = _PREFIX + request_id
        record = storage.get_meta(key)
        if record is None or not storage.delete_meta(key):
            return  # delivered, cancelled or timed out already: the winner acted
        _, wire, *_ = _record(record)
        chain = fill_result(from_wire(wire), outcome)
        await execute(self._node, chain)

    # -- helpers ----------------------------------------------------------------------------------

    def _ensure_liveness(self, *, again: bool = False) -> None:
        alarms = self._node.svc.alarms
        if again or alarms.get(LIVENESS_ID) is None:
            liveness = self._mesh.fetch_options.liveness
            alarms.schedule(liveness, self._node.ctn().svc.fetch.check_liveness(), id=LIVENESS_ID)

    @property
    def _mesh(self) -> Mesh:
        return self._node.env

    @property
    def _activation(self) -> Activation:
        return self._node.ctx._activation

    @property
    def _storage(self) -> ActorStorage:
        return self._node.ctx._activation.storage

    @property
    def _actor_id(self) -> ActorId:
        return self._node.ctx.id

    def __repr__(self) -> str:
        return f"<svc.fetch of {self._actor_id.binding}/{self._actor_id.name or self._actor_id.hex[:12]}>"


@final
class _Submit:
    """The output that hands a recorded request to the executors once its turn has committed."""

    __slots__ = ("_backoff", "_deadline", "_fetch", "_id", "_request", "_reservation", "_retries")

    def __init__(
        self,
        fetch: Fetch,
        request_id: str,
        request: Request,
        deadline: float,
        retries: int,
        backoff: float,
        reservation: trio.CancelScope | None = None,
    ) -> None:
        self._fetch, self._id, self._request = fetch, request_id, request
        self._deadline, self._retries, self._backoff = deadline, retries, backoff
        self._reservation = reservation

    def _unreserve(self) -> None:
        in_flight = self._fetch._mesh.fetcher().in_flight
        key = (self._fetch._actor_id, self._id)
        if self._reservation is not None and in_flight.get(key) is self._reservation:
            del in_flight[key]

    def __call__(self) -> None:
        fetch = self._fetch
        mesh, actor_id, request_id = fetch._mesh, fetch._actor_id, self._id
        self._unreserve()
        if fetch._storage.get_meta(_PREFIX + request_id) is None:
            # Its turn raised after recording it (the record was rolled back, the output is
            # still released), or it was cancelled before it left: there is nothing to send.
            return

        def release() -> None:
            mesh.fetcher().delivered((actor_id, request_id))

        def deliver(outcome: Response | BaseException) -> None:
            try:
                mesh.activate(actor_id).submit(_Outcome(request_id, outcome, release=release))
            except Exception as exc:  # overloaded or closing: the liveness check will act
                log.warning("the outcome of fetch %s could not be delivered yet: %r", request_id[:8], exc)
                release()

        mesh.fetcher().submit(
            (actor_id, request_id),
            self._request,
            deadline=self._deadline,
            retries=self._retries,
            backoff=self._backoff,
            deliver=deliver,
        )

    def fail(self, error: BaseException) -> None:
        self._unreserve()  # the turn that recorded the request did not commit: there is no request


@final
class _Outcome(Event):
    """A fetch's outcome, delivered in a turn of its actor (exactly once, by row removal)."""

    __slots__ = ("outcome", "release", "request_id")

    def __init__(
        self,
        request_id: str,
        outcome: Response | BaseException,
        *,
        release: Callable[[], None] | None = None,
    ) -> None:
        self.request_id = request_id
        self.outcome = outcome
        #: For an executor's outcome: stops listing the request as held once the outcome was
        #: acted on or cannot be (until then the liveness check must not take it for lost).
        self.release = release

    async def run(self, activation: Activation, turn: Turn) -> None:
        try:
            node = activation.instance
            fetch = getattr(getattr(node, "svc", None), "fetch", None)
            if not isinstance(fetch, Fetch):  # pragma: no cover - only LumenizeDO records fetches
                return
            try:
                await activation.run_segment(turn, fetch.deliver, self.request_id, self.outcome)
            except Exception:
                log.exception("the handler of fetch %s raised", self.request_id[:8])
                # Its writes were rolled back, the removal with them: remove it for good.
                await activation.run_segment(turn, fetch._storage.delete_meta, _PREFIX + self.request_id)
        finally:
            # The record's removal is in this turn's writes: a liveness check (a later turn)
            # sees it gone, or, if the commit fails, sees the request pending and acts.
            if self.release is not None:
                self.release()

    def fail(self, error: BaseException) -> None:
        log.warning("the outcome of fetch %s could not be delivered yet: %r", self.request_id[:8], error)
        if self.release is not None:
            self.release()


def _request(request: object) -> Request:
    if isinstance(request, str | httpx.URL):
        return Request("GET", request)
    if isinstance(request, Request):
        # Rebuilt, so a value decoded from a peer is validated like one made here.
        return Request(request.method, request.url, headers=request.headers, content=request.content)
    raise TypeError(f"svc.fetch needs a Request or a URL, not {type(request).__name__}")


def _handler(handler: object) -> OperationChain:
    if type(handler) is not Continuation:
        raise TypeError(
            f"the handler must be a continuation (like self.ctn().fetched(RESULT)), not {type(handler).__name__}"
        )
    chain = chain_of(handler)
    if not chain or type(chain[-1]) is not Apply:
        raise ChainError("the handler continuation must end with a call, e.g. self.ctn().fetched(RESULT)")
    return chain


def _check_options(timeout: object, retries: object, backoff: object) -> None:
    for name, value in (("timeout", timeout), ("retry_backoff", backoff)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
            raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, not {retries!r}")


def _check_id(request_id: object) -> str:
    if not isinstance(request_id, str) or not request_id:
        raise TypeError(f"a fetch id is a non-empty str, not {request_id!r}")
    return request_id


def _record(record: object) -> tuple[Request, object, float, int, float]:
    """The fields of a stored request (written by :meth:`Fetch.__call__`)."""
    assert isinstance(record, list)
    request, wire, deadline, retries, backoff = record
    assert isinstance(request, Request)
    return request, wire, float(deadline), int(retries), float(backoff)
