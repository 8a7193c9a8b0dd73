"""The exception hierarchy of lumenize_trio.

Every error the library raises on purpose is a :class:`LumenizeError`; leaves also subclass the
builtin they resemble, so ``except TypeError`` keeps working for code that does not know us::

    LumenizeError(Exception)
    ├── DataCloneError(LumenizeError, TypeError)   a value cannot be cloned, or bytes cannot be decoded
    ├── RemoteError(LumenizeError)                 stands in for an exception class this side does not know
    ├── ChainError(LumenizeError, ValueError)      an operation chain is malformed or over a limit
    ├── NotMeshCallableError(LumenizeError, AttributeError)   a name a chain may not reach
    ├── StorageError(LumenizeError)                actor storage failed or was misused
    │   ├── StorageClosedError                     the storage was closed
    │   ├── StorageCommitError                     a commit failed; everything since the last commit is gone
    │   ├── StorageLimitError(…, ValueError)       a key, value, batch or statement is over a platform limit
    │   ├── ReservedNameError(…, ValueError)       a KV key uses the reserved ``__lmz`` prefix
    │   └── SqlError                               a statement given to ``sql.exec`` failed
    │       └── SqlNotAllowedError                 a statement kind or object user SQL may not touch
    ├── OverloadedError                            an actor's queue is full: the call is refused at once
    ├── ActorResetError                            an outcome was lost because the actor was reset
    ├── UnknownBindingError(…, LookupError)        the mesh has no such binding
    ├── InvalidActorIdError(…, ValueError)         a malformed actor name or id, or another binding's id
    ├── BlockConcurrencyError(…, RuntimeError)     block_concurrency_while misused or nested too deeply
    ├── MeshCallError(…, ValueError)               a mesh call made wrongly, refused at the call site
    ├── NoCallContextError(…, LookupError)         call_context read outside a mesh call
    ├── ServiceError(…, RuntimeError)              a service cannot be built for this node
    │   └── UnknownServiceError(…, AttributeError) ``self.svc.<name>`` names no service
    ├── RedirectError                              a Browser would not follow a redirect
    ├── FetchError(…, ConnectionError)             a fetch definitely did not complete: safe to retry
    │   └── FetchRefusedError(…, PermissionError)  the outbound policy refused the URL
    └── FetchTimeoutError(…, TimeoutError)         no response before the deadline: the remote side may have acted

Lifecycles of resources reuse Trio's ``ClosedResourceError`` and ``BrokenResourceError``; timeouts
are the caller's own ``trio.TooSlowError``, except that a proxy fetch, whose outcome arrives later as
a value, reports its deadline as a :class:`FetchTimeoutError`.
"""

from __future__ import annotations


class LumenizeError(Exception):
    """Root of every error that lumenize_trio raises on purpose.

    Never raised directly; catch it to handle any library error.

    .. versionadded:: 0.1
    """


class DataCloneError(LumenizeError, TypeError):
    """A value cannot be structured-cloned, or bytes are not a valid clone.

    Raised by :func:`lumenize_trio.clone.dumps` for a type that cannot cross an actor boundary
    (the message names the path inside the value, like ``$.a[3].b``, and the type), and by
    :func:`lumenize_trio.clone.loads` for malformed, truncated or hostile input (the message says
    what was wrong; the underlying decoder error, if any, is the ``__cause__``).

    .. versionadded:: 0.1
    """


class RemoteError(LumenizeError):
    """An exception whose class the receiving side has not registered.

    Decoding never imports anything by name, so an exception of an unknown class arrives as an
    instance of a subclass of ``RemoteError`` made for the occasion. That subclass carries the
    sender's class name as its ``__name__`` (and also inherits from the nearest builtin or
    registered base the sender reported, when it can), so tracebacks read naturally. ``args``,
    attributes, ``__cause__`` and ``remote_traceback`` are kept.

    Attributes:
        remote_class_name: the class name the sender reported.
        remote_traceback: the sender's traceback as text, or ``None``.

    .. versionadded:: 0.1
    """

    remote_class_name: str = "RemoteError"
    remote_traceback: str | None = None


class ChainError(LumenizeError, ValueError):
    """An operation chain is malformed, over a limit, or cannot be applied to its target.

    Raised by :func:`lumenize_trio.ocan.execute` and :func:`lumenize_trio.ocan.validate_chain`
    before any operation runs when a chain (or any chain nested in its arguments) is not a
    non-empty tuple of ``Get``/``Apply`` operations, has more than ``MAX_CHAIN_LENGTH``
    operations or an ``Apply`` with more than ``MAX_ARGUMENTS`` arguments (the message names the
    limit and the count), still holds an unfilled ``RESULT``, or nests itself; during the walk when
    an ``Apply`` meets a value that is not callable; by :func:`lumenize_trio.ocan.fill_result` for a
    chain that does not end with an ``Apply``; and by the continuation builder when a recording
    would break one of these rules.

    .. versionadded:: 0.1
    """


class NotMeshCallableError(LumenizeError, AttributeError):
    """A name in an operation chain may not be reached through the mesh.

    Raised by :func:`lumenize_trio.ocan.execute` (before any operation runs) for attribute names
    starting with ``_``, and during the walk for the interpreter internals that would bypass that
    rule (frame, code and traceback objects, ``gi_``/``cr_``/``ag_`` attributes, ``str.format``);
    by the continuation builder when such a name is recorded; and by the runtime's access check
    for methods that are not marked ``@mesh``. The message names the attribute.

    .. versionadded:: 0.1
    """


class StorageError(LumenizeError):
    """Actor storage failed, or was used in a way it does not allow.

    Raised by :mod:`lumenize_trio.storage` when SQLite fails underneath an operation (the SQLite
    error is the ``__cause__``), when the runtime breaks the turn protocol (``end_turn()`` without
    ``begin_turn()``, ``commit()`` inside a turn, ...), and after a failing statement made SQLite
    throw away the whole open transaction (then every operation but ``end_turn()``, ``commit()``,
    ``rollback()`` and ``close()`` raises until one of the last three runs). It is also the base
    of the more specific storage errors.

    .. versionadded:: 0.1
    """


class StorageClosedError(StorageError):
    """An operation was attempted on actor storage that has been closed.

    Raised by every method of :class:`lumenize_trio.storage.ActorStorage` (and of its ``kv`` and
    ``sql`` views) after :meth:`~lumenize_trio.storage.ActorStorage.close`; ``close()`` itself may
    be called again.

    .. versionadded:: 0.1
    """


class StorageCommitError(StorageError):
    """A commit could not make the pending writes durable.

    Raised by :meth:`lumenize_trio.storage.ActorStorage.commit` when the ``before_commit`` hook
    raises, when SQLite's ``COMMIT`` fails (an unresolved deferred foreign key, a full disk, an I/O
    error), or when the transaction had already been lost to a failing statement. By then every
    write since the last successful commit has been rolled back and the storage is usable again;
    the original error is the ``__cause__``. The runtime answers this by dropping the outputs it
    held back and resetting the actor.

    .. versionadded:: 0.1
    """


class StorageLimitError(StorageError, ValueError):
    """A key, value, batch or SQL statement is over one of the platform's storage limits.

    Raised by the KV API for a key longer than 2,048 UTF-8 bytes, a key plus encoded value larger
    than 2 MiB, or more than 128 keys in one batch call, and by ``sql.exec`` for a statement longer
    than 100,000 UTF-8 bytes or with more than 100 parameters. Nothing is written. The message
    names the limit and the size that was found.

    .. versionadded:: 0.1
    """


class ReservedNameError(StorageError, ValueError):
    """A KV key starts with the reserved prefix ``__lmz``.

    Raised by every KV method given such a key: the prefix belongs to the runtime. Nothing is
    read or written.

    .. versionadded:: 0.1
    """


class SqlError(StorageError):
    """A statement given to ``sql.exec`` failed, or a result did not have the expected shape.

    Raised by :meth:`lumenize_trio.storage.SqlStorage.exec` for syntax errors, constraint
    violations, bad parameters and the like (the message carries SQLite's message and error name;
    the SQLite exception, if any, is the ``__cause__``), and by
    :meth:`lumenize_trio.storage.SqlCursor.one` when the result is not exactly one row. A failing
    ``exec`` call changes nothing; earlier writes of the turn are kept.

    Attributes:
        sqlite_errorname: SQLite's name for the error (like ``"SQLITE_CONSTRAINT_UNIQUE"``), or
            ``None`` when the error did not come from SQLite.

    .. versionadded:: 0.1
    """

    sqlite_errorname: str | None = None


class SqlNotAllowedError(SqlError):
    """A statement given to ``sql.exec`` does something user SQL may not do.

    Raised before anything is changed for ``BEGIN``/``COMMIT``/``ROLLBACK``,
    ``SAVEPOINT``/``RELEASE`` (use ``transaction_sync``), ``ATTACH``/``DETACH``/``VACUUM``, a
    ``PRAGMA`` outside the allowed list, and any access to a table, index, view or trigger whose
    name starts with ``__lmz`` (in any letter case). The message names the statement kind or the
    object.

    .. versionadded:: 0.1
    """


class OverloadedError(LumenizeError):
    """An actor has too many events queued (``max_queue``); the call was refused at once.

    Retrying immediately makes things worse; back off, or shed the work.

    .. versionadded:: 0.1
    """


class ActorResetError(LumenizeError):
    """A call's outcome was lost because the actor was reset.

    Raised to callers whose replies (or outbound calls) were held for a commit that failed, to
    turns that were waiting when their actor was reset, and to events queued for an actor that
    was evicted before they ran. The actor itself is re-created from storage by its next event.

    .. versionadded:: 0.1
    """


class UnknownBindingError(LumenizeError, LookupError):
    """A binding name that the mesh does not have; the message lists the ones it does.

    .. versionadded:: 0.1
    """


class InvalidActorIdError(LumenizeError, ValueError):
    """A malformed actor name or id, or an id that belongs to another binding.

    .. versionadded:: 0.1
    """


class BlockConcurrencyError(LumenizeError, RuntimeError):
    """``block_concurrency_while`` was used outside the actor's own turn, or nested over 64 deep.

    .. versionadded:: 0.1
    """


class MeshCallError(LumenizeError, ValueError):
    """A mesh call was made wrongly, so it was not sent: raised at the call site.

    The target does not fit its binding (an instance name for a worker, none for an actor), or
    the caller does not know its own binding. Failures of a call that was sent never raise here:
    they reach the reply handler as a value.

    .. versionadded:: 0.1
    """


class NoCallContextError(LumenizeError, LookupError):
    """``self.lmz.call_context`` was read outside the handling of a mesh call.

    .. versionadded:: 0.1
    """


class ServiceError(LumenizeError, RuntimeError):
    """A service could not be built: a dependency is missing or circular, or it does not
    apply to this kind of node (``alarms`` on a worker).

    .. versionadded:: 0.1
    """


class UnknownServiceError(ServiceError, AttributeError):
    """``self.svc.<name>`` names no registered service; the message lists the ones there are.

    .. versionadded:: 0.1
    """


class RedirectError(LumenizeError):
    """A :class:`~lumenize_trio.http.Browser` would not follow a redirect.

    Raised by ``Browser.fetch`` after 20 redirects in a row (the message says "too many
    redirects"), for any redirect when called with ``redirect="error"``, and for a ``Location``
    that does not resolve to an absolute http(s) URL. The message names the status and the
    location. Cookies set by the responses received so far are kept.

    .. versionadded:: 0.1
    """


class FetchError(LumenizeError, ConnectionError):
    """A fetch definitely did not complete: no response was delivered, and retrying is safe.

    Raised (or delivered as the outcome of a proxy fetch) when the host could not be resolved,
    the connection could not be made, the outbound policy refused the URL
    (:class:`FetchRefusedError`), or the response could not be taken: over the size limit, cut
    off while it was read, a body that does not decode, an invalid status. In the first cases
    the request never reached the remote side; when a response was being received, the remote
    side did answer, so a request that is not idempotent may have had its effect. The message
    says which; the underlying error, if any, is the ``__cause__``.

    Args:
        message: what went wrong.
        url: the URL of the fetch (without user name and password).

    Attributes:
        url: the URL of the fetch (without user name and password), or ``None`` when unknown.

    .. versionadded:: 0.1
    """

    url: str | None = None

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class FetchRefusedError(FetchError, PermissionError):
    """The outbound policy refused the URL, so nothing was sent (SSRF defence).

    Raised before any connection is made for a scheme other than ``http``/``https``, a URL
    without a host, and a host that is, or resolves to, a loopback, private, link-local,
    metadata or otherwise non-public address that the mesh's ``fetch_allow`` list does not
    allow. The message names the host, the address and why, and says how to allow it.

    Args:
        message: what was refused and why.
        url: the URL of the fetch (without user name and password).
        host: the host of the URL.
        address: the refused address, as text, when an address was refused.
        reason: why, like ``"a private address (RFC 1918)"``.

    Attributes:
        host: the host of the URL, or ``None``.
        address: the refused address as text (``"10.0.0.5"``), or ``None`` when the URL itself
            was refused (a scheme, a missing host).
        reason: why it was refused, or ``None``.

    .. versionadded:: 0.1
    """

    host: str | None = None
    address: str | None = None
    reason: str | None = None

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        host: str | None = None,
        address: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.host = host
        self.address = address
        self.reason = reason


class FetchTimeoutError(LumenizeError, TimeoutError):
    """The deadline of a fetch passed before a response arrived.

    The request may have been sent, so the remote side may have acted on it: retry only
    idempotent requests. (Compare :class:`FetchError`, which promises nothing was done.)

    Args:
        message: what timed out.
        url: the URL of the fetch (without user name and password).

    Attributes:
        url: the URL of the fetch (without user name and password), or ``None`` when unknown.

    .. versionadded:: 0.1
    """

    url: str | None = None

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url
