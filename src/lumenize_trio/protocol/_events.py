"""The events the connections report and accept: plain frozen values, compared by value."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, final

import attrs

if TYPE_CHECKING:
    from ..ocan import OperationChain


@final
@attrs.frozen
class Call:
    """One call of a received batch, checked and ready to plan (see :func:`plan_batch`).

    Attributes:
        call_id: the id the client chose; unique within the batch.
        chain: the operation chain, validated by :func:`lumenize_trio.ocan.validate_chain`.
            May hold :class:`CallRef` markers (listed in *refs*); ``()`` when *refused*.
        refs: the ids of the earlier calls of the batch whose results the chain uses, each once,
            in order of first appearance.
        refused: ``None`` for a call that may run; otherwise the error to answer it with, because
            its chain could not be decoded (``DataCloneError``) or was refused by the chain checks
            (``ChainError``, ``NotMeshCallableError``). A refused call never runs.

    .. versionadded:: 0.1
    """

    call_id: int
    chain: OperationChain
    refs: tuple[int, ...] = ()
    refused: BaseException | None = None


@final
@attrs.frozen
class BatchReceived:
    """The server received a batch: run its calls in order (see :func:`plan_batch`).

    Attributes:
        calls: the calls, in the order the client sent them (a pipelined reference always points
            to an earlier one).

    .. versionadded:: 0.1
    """

    calls: tuple[Call, ...]


@final
@attrs.frozen
class CallResult:
    """A call returned *value*: sent by the server, reported by the client.

    Attributes:
        call_id: the call's id.
        value: the value returned (a structured clone of it, once it crossed the wire).

    .. versionadded:: 0.1
    """

    call_id: int
    value: object


@final
@attrs.frozen
class CallError:
    """A call raised *error* (or was refused, or its result could not be sent or decoded).

    Attributes:
        call_id: the call's id.
        error: the exception, with its class, attributes and ``__cause__`` chain as the clone
            carries them (an unregistered class arrives as a :class:`~lumenize_trio.clone.RemoteError`).

    .. versionadded:: 0.1
    """

    call_id: int
    error: BaseException


@final
@attrs.frozen
class EncodedOutcome:
    """A call's outcome already cloned, for a server that holds it encoded (the runtime's
    replies are clone bytes): :meth:`RpcServerConnection.send_results` puts *data* in the frame
    as it is, without decoding and encoding it again.

    Attributes:
        call_id: the call's id.
        ok: whether the call returned (*data* is the clone of its value) or raised (*data* is
            the clone of the exception).
        data: ``clone.dumps`` of the value or of the exception.

    .. versionadded:: 0.1
    """

    call_id: int
    ok: bool
    data: bytes


@final
@attrs.frozen
class Downstream:
    """The server pushed *payload* to the client, unasked.

    Attributes:
        payload: any cloneable value.
        seq: the sender's sequence number, or ``None``; the protocol only carries it (catching up
            on a gap is the application's business).

    .. versionadded:: 0.1
    """

    payload: object
    seq: int | None = None


@final
@attrs.frozen
class Ping:
    """The peer asks for a :class:`Pong`: answer with ``send_pong()``.

    .. versionadded:: 0.1
    """


@final
@attrs.frozen
class Pong:
    """The peer answered a ping.

    .. versionadded:: 0.1
    """


@final
@attrs.frozen
class Close:
    """The peer is closing the connection, with a code and a reason.

    Attributes:
        code: one of :class:`CloseCode` or another code from 1000 to 4999.
        reason: why, for people and logs.

    .. versionadded:: 0.1
    """

    code: int
    reason: str


@final
@attrs.frozen
class ProtocolError:
    """The peer sent bytes that break the protocol; nothing in them was acted on.

    The connection cannot be trusted after this: send ``send_close(code, message)`` and close the
    transport.

    Attributes:
        code: the close code to answer with (:attr:`CloseCode.PROTOCOL_ERROR`,
            :attr:`CloseCode.TOO_LARGE` or :attr:`CloseCode.VERSION_MISMATCH`).
        message: what was wrong, in words (the frame kind and the item, where known).

    .. versionadded:: 0.1
    """

    code: int
    message: str


#: What ``RpcServerConnection.send_results`` takes per call (the client reports the first two).
Outcome: TypeAlias = CallResult | CallError | EncodedOutcome

#: What :meth:`RpcClientConnection.receive_data` returns.
ClientEvent: TypeAlias = CallResult | CallError | Downstream | Ping | Pong | Close | ProtocolError

#: What :meth:`RpcServerConnection.receive_data` returns.
ServerEvent: TypeAlias = BatchReceived | Ping | Pong | Close | ProtocolError
