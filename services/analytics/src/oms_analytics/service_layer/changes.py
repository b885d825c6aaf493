"""Which keys the history in PostgreSQL may not hold as they stand: changed since the last
write, or handed out for a write not confirmed yet (one under way, one that failed). The
expiry deletes no key that is pending here."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["Changes"]

K = TypeVar("K", bound=Hashable)


class Changes(Generic[K]):
    def __init__(self) -> None:
        self._changed: set[K] = set()
        self._unconfirmed: set[K] = set()

    def add(self, key: K) -> None:
        self._changed.add(key)

    def take(self, everything: Iterable[K] | None = None) -> set[K]:
        """The keys changed since the last call (or ``everything`` given), now unconfirmed
        until ``written`` or handed back with ``keep``."""
        taken = set(everything) if everything is not None else self._changed
        self._changed = set()
        self._unconfirmed |= taken
        return taken

    def keep(self, keys: Iterable[K]) -> None:
        """Keys whose write failed: changed again, for the next write."""
        self._changed.update(keys)

    def written(self, keys: Iterable[K]) -> None:
        """Keys the history holds as they were taken (unless changed since)."""
        self._unconfirmed.difference_update(keys)

    def pending(self, key: K) -> bool:
        return key in self._changed or key in self._unconfirmed
