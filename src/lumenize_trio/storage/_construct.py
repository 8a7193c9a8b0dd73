"""A metaclass for classes whose instances only factories make (after trio's ``NoPublicConstructor``)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class NoPublicConstructor(type):
    """Refuses ``Cls(...)``; the library builds instances with ``Cls._create(...)``.

    ``ActorStorage`` and its views hold an open SQLite connection and a transaction state machine;
    a half-built one would break the invariants, so users get them from ``open_actor_storage()``.
    """

    def __call__(cls, *args: object, **kwargs: object) -> None:
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__} has no public constructor; "
            "use lumenize_trio.storage.open_actor_storage()"
        )

    def _create(cls: type[T], *args: object, **kwargs: object) -> T:
        return super().__call__(*args, **kwargs)  # type: ignore[misc,no-any-return]
