"""The mesh's fetch executors: outbound HTTP off the actors' turns (proxy fetch's engine).

Theory of operation
-------------------
A mesh has one :class:`Fetcher`, made on first use. It owns one ``httpx.AsyncClient`` (opened in
a task of the mesh's nursery, closed when the mesh stops) and a ``trio.CapacityLimiter`` of
``fetch_concurrency`` slots shared by every request of the mesh.

*Policy.* The client's connections go through :class:`_PolicyBackend`, an httpcore network
backend that checks every host against the mesh's :class:`FetchPolicy` when it connects, and
connects to the very address it checked. So the check cannot be raced by a DNS answer that
changes (rebinding), and the connection pool, which httpcore keys by the URL's host name, never
reuses a connection made for one name for another. TLS is verified against the host name.

*One request* (:meth:`Fetcher.perform`): up to ``retries`` more attempts after a network error
or a 5xx response, for idempotent methods only, with exponential backoff and jitter; never past
the deadline. The body is read in full, up to ``fetch_max_body`` bytes. The outcome is a
:class:`~lumenize_trio.Response` (any status) or an exception: :class:`FetchError` (nothing
completed), :class:`FetchTimeoutError` (the deadline passed: the remote side may have acted).

*Durable requests* (:meth:`Fetcher.submit`, used by ``svc.fetch``) run in their own task, are
listed in :attr:`Fetcher.in_flight` while they run and until their outcome is delivered
(``svc.fetch``'s liveness check looks there: a stored request that nothing holds was lost with a
process), and hand their outcome to a callback, which calls :meth:`Fetcher.delivered` once the
outcome has been acted on (or cannot be). Cancelling one (:meth:`Fetcher.cancel`) ends its task
without an outcome.
"""

from __future__ import annotations

import logging
import math
import random
import ssl
from typing import TYPE_CHECKING, Final, final

import httpcore
import httpx
import trio

from .._exceptions import FetchError, FetchRefusedError, FetchTimeoutError
from ..http import Request, Response
from ._fetch_policy import FetchPolicy, resolve_target

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ._mesh import Mesh

log = logging.getLogger("lumenize_trio")

#: Methods that may be sent again without changing the outcome (RFC 9110 §9.2.2).
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_JITTER: Final = 0.25


@final
class _PolicyBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the policy allows, and to exactly the address it checked."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        authority = f"[{host}]" if ":" in host else host
        target = await resolve_target(httpx.URL(f"http://{authority}:{port}/"), self._policy)
        return await self._inner.connect_tcp(
            str(target.address),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(  # pragma: no cover - the client is never given a socket path
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchError("fetching over a Unix socket is not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _client(policy: FetchPolicy, concurrency: int) -> httpx.AsyncClient:
    """An httpx client whose connections go through the policy backend."""
    context = ssl.create_default_context()
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
    # httpx has no public way to give its transport a network backend; its pool is replaced by
    # one made with the same settings and ours (tests/mesh/test_fetch.py checks this holds).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        keepalive_expiry=5.0,
        network_backend=_PolicyBackend(policy),
    )
    # No httpx timeouts (its default is 5 s): the deadline of each request is its only bound.
    return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, timeout=None)


@final
class Fetcher:
    """The fetch executors of one mesh. Made by :meth:`Mesh.fetcher`."""

    __slots__ = (
        "_client",
        "_mesh",
        "_ready",
        "_started",
        "in_flight",
        "limiter",
        "max_body",
        "policy",
        "random",
    )

    def __init__(self, mesh: Mesh, *, concurrency: int, policy: FetchPolicy, max_body: int) -> None:
        self._mesh = mesh
        self.limiter = trio.CapacityLimiter(concurrency)
        self.policy = policy
        self.max_body = max_body
        self.random = random.Random()
        #: (owner key, request id) -> the cancel scope of the task running it.
        self.in_flight: dict[tuple[object, str], trio.CancelScope] = {}
        self._client: httpx.AsyncClient | None = None
        self._ready = trio.Event()
        self._started = False

    async def _own_client(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with _client(self.policy, int(self.limiter.total_tokens)) as client:
            self._client = client
            self._ready.set()
            await trio.sleep_forever()

    async def client(self) -> httpx.AsyncClient:
        """The mesh's client, opened on first use. A checkpoint."""
        if not self._started:
            self._started = True
            self._mesh.spawn(self._own_client)
        await self._ready.wait()
        assert self._client is not None
        return self._client

    # -- one request ---------------------------------------------------------------------------

    async def perform(self, request: Request, deadline: float, retries: int, backoff: float) -> Response:
        """Send *request* and read its response, retrying as allowed, until the mesh time *deadline*.

        Returns:
            The response, whatever its status (a 5xx after the last retry included).

        Raises:
            FetchError: nothing completed (refused by the policy, a network error, a body over
                ``max_body``).
            FetchTimeoutError: the deadline passed first.

        Cancellation: a checkpoint; cancelled, the request is abandoned.
        """
        url = str(request.url.copy_with(userinfo=b""))
        attempt = 0
        with trio.move_on_at(self._mesh.clock.to_trio(deadline)):
            while True:
                try:
                    response = await self._send_once(request, url)
                except _Final as final:
                    raise final.error from None  # another attempt would end the same way
                except FetchRefusedError:
                    raise
                except FetchError:
                    if not self._retry(request, attempt, retries):
                        raise
                else:
                    if response.status < 500 or not self._retry(request, attempt, retries):
                        return response
                await trio.sleep(backoff * 2**attempt * (1 + self.random.uniform(0, _JITTER)))
                attempt += 1
        raise FetchTimeoutError(f"no response from {url} before the deadline", url=url)

    @staticmethod
    def _retry(request: Request, attempt: int, retries: int) -> bool:
        return attempt < retries and request.method in IDEMPOTENT

    async def _send_once(self, request: Request, url: str) -> Response:
        client = await self.client()
        async with self.limiter:
            try:
                # The policy backend's FetchError (refused, unresolvable) passes through httpx.
                response = await client.send(request.to_httpx(), stream=True)
            except httpx.TransportError as exc:
                raise FetchError(f"{request.method} {url} failed: {exc!r}", url=url) from _detached(exc)
            body = bytearray()
            over = False
            try:
                async for chunk in response.aiter_bytes():  # decoded: the cap bounds memory
                    body += chunk
                    if len(body) > self.max_body and not over:
                        # Not a raise or break out of the loop, which would leave httpx's nested
                        # stream generators suspended for the garbage collector (ResourceWarning):
                        # closed, the stream ends the loop (at its end, or with a read error).
                        over = True
                        await response.aclose()
            except httpx.RequestError as exc:  # a network error, or a body that does not decode
                if not over:
                    raise FetchError(
                        f"reading the response of {url} failed: {exc!r}", url=url
                    ) from _detached(exc)
            finally:
                await response.aclose()
        if over:
            raise _Final(
                FetchError(
                    f"the response from {url} is over fetch_max_body ({self.max_body} bytes); "
                    "the server did answer, so a request that is not idempotent may have had its effect",
                    url=url,
                )
            )
        try:
            return _value(response, bytes(body), url)
        except FetchError as exc:
            raise _Final(exc) from None

    # -- durable requests ----------------------------------------------------------------------

    def submit(
        self,
        key: tuple[object, str],
        request: Request,
        *,
        deadline: float,
        retries: int,
        backoff: float,
        deliver: Callable[[Response | BaseException], None],
    ) -> None:
        """Run a request in its own task and hand the outcome to *deliver* (not if cancelled).

        *key* names it in :attr:`in_flight` while it runs and after, until ``delivered(key)`` is
        called: an outcome on its way to its actor must not look like a lost request. Not a
        checkpoint.
        """
        scope = trio.CancelScope()
        self.in_flight[key] = scope
        self._mesh.spawn(self._run, key, scope, request, deadline, retries, backoff, deliver)

    async def _run(
        self,
        key: tuple[object, str],
        scope: trio.CancelScope,
        request: Request,
        deadline: float,
        retries: int,
        backoff: float,
        deliver: Callable[[Response | BaseException], None],
    ) -> None:
        outcome: Response | BaseException | None = None
        try:
            with scope:
                try:
                    outcome = await self.perform(request, deadline, retries, backoff)
                except (FetchError, FetchTimeoutError) as exc:
                    outcome = exc
                except Exception as exc:
                    # Whatever else a server or a library can provoke must not reach the mesh's
                    # nursery (it would stop every actor): it is this request's failure.
                    log.exception("fetch of %s failed unexpectedly", request.url)
                    url = str(request.url.copy_with(userinfo=b""))
                    outcome = FetchError(f"{request.method} {url} failed unexpectedly: {exc!r}", url=url)
        finally:
            if outcome is None and self.in_flight.get(key) is scope:
                del self.in_flight[key]  # cancelled (or the mesh is stopping): nothing to deliver
        if outcome is not None:
            deliver(outcome)

    def delivered(self, key: tuple[object, str]) -> None:
        """The outcome of the request under *key* was acted on, or could not be handed over (the
        liveness check takes it from here): stop listing it. Not a checkpoint."""
        self.in_flight.pop(key, None)

    def cancel(self, key: tuple[object, str]) -> bool:
        """Stop the request running under *key*; whether one was running."""
        scope = self.in_flight.pop(key, None)
        if scope is None:
            return False
        scope.cancel()
        return True


class _Final(Exception):
    """Carries a FetchError that another attempt could not change (a body over the cap, an
    invalid response) out of one attempt, past the retry loop."""

    def __init__(self, error: FetchError) -> None:
        super().__init__(error)
        self.error = error


def _value(response: httpx.Response, body: bytes, url: str) -> Response:
    """The :class:`Response` of a response read in full, or :class:`FetchError` if it cannot be one."""
    try:
        return Response(
            response.status_code,
            headers=response.headers,
            content=body,
            reason=response.reason_phrase or None,
            url=response.url,
        )
    except ValueError as exc:  # what h11 lets through and a Response refuses: a status over 599
        raise FetchError(f"the response from {url} is not valid: {exc}", url=url) from exc


def _detached(exc: httpx.RequestError) -> httpx.RequestError:
    """A copy of *exc* without the ``httpx.Request`` it holds, which cannot be cloned: so the
    :class:`FetchError` it causes can be stored and sent like any outcome."""
    copy = type(exc)(str(exc))
    copy.__cause__ = exc.__cause__
    return copy


def check_fetch_options(
    concurrency: object, allow: object, max_body: object, liveness: object
) -> FetchPolicy:
    """Validate the ``fetch_*`` options of ``open_mesh``; return the policy.

    Raises:
        ValueError, TypeError: an option is out of range or of the wrong type (the message says which).
    """
    for name, value in (("fetch_concurrency", concurrency), ("fetch_max_body", max_body)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    if not (isinstance(liveness, int | float) and not isinstance(liveness, bool) and 0 < liveness < math.inf):
        raise ValueError(f"fetch_liveness must be a positive number of seconds, not {liveness!r}")
    if isinstance(allow, FetchPolicy):
        return allow
    return FetchPolicy(allow)  # type: ignore[arg-type]
