"""An actor's identity (binding and instance name), stored on first contact; first write wins.

The runtime knows the binding of every actor and the name of every actor addressed by name, so
it stamps both into the actor's storage when it activates: an actor first reached by id learns
its name when it is first reached by name. A stored value that differs is an error (the file was
moved to another binding, or an id was forged) and the actor refuses to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._exceptions import InvalidActorIdError

if TYPE_CHECKING:
    from ..storage import ActorStorage
    from ._ids import ActorId

BINDING_KEY: Final = "__lmz_do_binding_name"
INSTANCE_KEY: Final = "__lmz_do_instance_name"


def stamp_identity(storage: ActorStorage, actor_id: ActorId) -> str | None:
    """Check and store the identity of *actor_id*; return its instance name (``None`` if unknown).

    Writes only what is not stored yet (the writes commit with the turn that activated the actor).

    Raises:
        InvalidActorIdError: the stored binding or name differs from *actor_id*'s.
    """
    known: list[object] = []
    for key, value, what in (
        (BINDING_KEY, actor_id.binding, "binding name"),
        (INSTANCE_KEY, actor_id.name, "instance name"),
    ):
        stored = storage.get_meta(key)
        if stored is None and value is not None:
            storage.put_meta(key, value)
            stored = value
        elif value is not None and stored != value:
            raise InvalidActorIdError(
                f"{what} mismatch: this actor's storage says {stored!r}, but it was reached as {value!r}"
            )
        known.append(stored)
    name = known[1]
    return name if isinstance(name, str) else None
