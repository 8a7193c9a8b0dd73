"""An actor's identity (binding and instance name), kept in its storage; first write wins.

The runtime knows the binding of every actor and the name of every actor addressed by name. When
an actor starts, the identity stored in its database (if any) is checked against how it was
reached: a stored value that differs is an error (the file was moved to another binding, or an
id was forged) and the actor refuses to start. What is not stored yet is written with the actor's
next commit of its own writes: an actor that never writes keeps nothing, and costs nothing, and
an actor first reached by id learns its name when it is first reached by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._exceptions import InvalidActorIdError

if TYPE_CHECKING:
    from ..storage import ActorStorage

BINDING_KEY: Final = "__lmz_do_binding_name"
INSTANCE_KEY: Final = "__lmz_do_instance_name"


def check_identity(
    storage: ActorStorage, binding: str, name: str | None
) -> tuple[str | None, list[tuple[str, str]]]:
    """Check the stored identity against how the actor was reached (*binding*, *name*).

    Returns:
        The actor's instance name (``None`` if unknown), and the ``(key, value)`` metadata still
        to write (see :func:`write_identity`).

    Raises:
        InvalidActorIdError: the stored binding or name differs.
    """
    fresh = storage.fresh  # nothing was ever committed: nothing to read
    missing: list[tuple[str, str]] = []
    known: list[object] = []
    for key, value, what in (
        (BINDING_KEY, binding, "binding name"),
        (INSTANCE_KEY, name, "instance name"),
    ):
        stored = None if fresh else storage.get_meta(key)
        if stored is None:
            if value is not None:
                missing.append((key, value))
            stored = value
        elif value is not None and stored != value:
            raise InvalidActorIdError(
                f"{what} mismatch: this actor's storage says {stored!r}, but it was reached as {value!r}"
            )
        known.append(stored)
    stored_name = known[1]
    return (stored_name if isinstance(stored_name, str) else None), missing


def write_identity(storage: ActorStorage, missing: list[tuple[str, str]]) -> None:
    """Write what :func:`check_identity` found missing (in the caller's transaction), unless
    something was stored meanwhile (the first write wins)."""
    for key, value in missing:
        if storage.get_meta(key) is None:
            storage.put_meta(key, value)
