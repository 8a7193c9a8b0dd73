"""Actor ids and namespaces: how an actor is named, and how a forged or foreign id is refused.

An id is 32 bytes shown as 64 lowercase hex characters: a 24-byte body and an 8-byte tag. The
body is a keyed hash of the name (``id_from_name``, deterministic) or random bytes
(``new_unique_id``); the tag is a keyed hash of the body, keyed by the namespace (the binding), so
``id_from_string`` can tell a well-formed id of *this* namespace from a typo or an id of another.
"""

from __future__ import annotations

import hashlib
import os
from typing import Final, final

from .._exceptions import InvalidActorIdError

_BODY: Final = 24
_TAG: Final = 8
MAX_NAME_BYTES: Final = 2048


@final
class ActorId:
    """The identity of one actor: its binding, its 64-hex id, and its name when known.

    Made by a :class:`Namespace`. Two ids are equal when binding and hex are; ``name`` is extra
    knowledge (an id made from a name knows it; one parsed from a string does not).

    .. versionadded:: 0.1
    """

    __slots__ = ("binding", "hex", "name")

    binding: str
    hex: str
    name: str | None

    def __init__(self, binding: str, hex: str, name: str | None = None) -> None:  # noqa: A002 - the platform's name
        object.__setattr__(self, "binding", binding)
        object.__setattr__(self, "hex", hex)
        object.__setattr__(self, "name", name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ActorId is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActorId):
            return NotImplemented
        return self.hex == other.hex and self.binding == other.binding

    def __hash__(self) -> int:
        return hash((self.binding, self.hex))

    def __str__(self) -> str:
        return self.hex

    def __repr__(self) -> str:
        named = f", name={self.name!r}" if self.name is not None else ""
        return f"ActorId({self.binding!r}, {self.hex[:12]}...{named})"


@final
class Namespace:
    """The ids of one binding: ``mesh.namespace("COUNTER")``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_key", "binding")

    def __init__(self, binding: str) -> None:
        self.binding = binding
        self._key = hashlib.blake2b(binding.encode("utf-8"), digest_size=32, person=b"lmz-namespace").digest()

    def id_from_name(self, name: str) -> ActorId:
        """The id for *name*: the same name always gives the same id in this namespace.

        Raises:
            InvalidActorIdError: *name* is not a non-empty str of at most 2048 UTF-8 bytes.
        """
        if not isinstance(name, str) or not name:
            raise InvalidActorIdError(f"an actor name must be a non-empty str, got {name!r}")
        try:
            raw = name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidActorIdError(f"actor name {name!r} is not valid Unicode text") from None
        if len(raw) > MAX_NAME_BYTES:
            raise InvalidActorIdError(
                f"an actor name may be at most {MAX_NAME_BYTES} UTF-8 bytes, got {len(raw)}"
            )
        body = hashlib.blake2b(raw, digest_size=_BODY, key=self._key, person=b"lmz-name").digest()
        return ActorId(self.binding, self._seal(body), name)

    def new_unique_id(self) -> ActorId:
        """A fresh random id (no name)."""
        return ActorId(self.binding, self._seal(os.urandom(_BODY)))

    def id_from_string(self, text: str) -> ActorId:
        """Parse the 64-hex form of an id of this namespace.

        Raises:
            InvalidActorIdError: *text* is not 64 lowercase hex characters, or is the id of
                another namespace (or no namespace at all).
        """
        if not isinstance(text, str) or len(text) != 2 * (_BODY + _TAG):
            raise InvalidActorIdError(f"an actor id is 64 hex characters, got {text!r}")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise InvalidActorIdError(f"an actor id is 64 hex characters, got {text!r}") from None
        if raw.hex() != text or self._seal(raw[:_BODY]) != text:
            raise InvalidActorIdError(f"{text[:16]}... is not an id of namespace {self.binding!r}")
        return ActorId(self.binding, text)

    def _seal(self, body: bytes) -> str:
        tag = hashlib.blake2b(body, digest_size=_TAG, key=self._key, person=b"lmz-tag").digest()
        return (body + tag).hex()

    def __repr__(self) -> str:
        return f"Namespace({self.binding!r})"
