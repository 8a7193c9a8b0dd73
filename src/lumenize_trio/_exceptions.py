"""The exception hierarchy of lumenize_trio.

Every error the library raises on purpose is a :class:`LumenizeError`; leaves also subclass the
builtin they resemble, so ``except TypeError`` keeps working for code that does not know us::

    LumenizeError(Exception)
    ├── DataCloneError(LumenizeError, TypeError)   a value cannot be cloned, or bytes cannot be decoded
    └── RemoteError(LumenizeError)                 stands in for an exception class this side does not know

Lifecycles of resources reuse Trio's ``ClosedResourceError`` and ``BrokenResourceError``; timeouts
are the caller's own ``trio.TooSlowError``.
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
