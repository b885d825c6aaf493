"""One pass of the expiry over the tables: "now" per source partition read once, each
deletion counted per table, and a pause offered to the event loop every so many keys (a pass
over hundreds of thousands of minute windows would otherwise hold it for seconds)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping
from datetime import datetime
from typing import Any

__all__ = ["Delete", "Now", "Sweep"]

Now = Callable[[int | None], datetime | None]
""""Now" on a source partition: its watermark, as ``domain.expiry.partition_now`` takes it
(None: the latest of every partition held)."""
Delete = Callable[[MutableMapping[str, Any], str, int | None], None]
"""Deletes a key from a store whose changelog partition is the given source partition (None:
not known, every partition)."""


class Sweep:
    def __init__(self, now: Now, delete: Delete, pause_every: int = 2000) -> None:
        self.now: Now = functools.cache(now)
        """Read once per partition and pass: the watermarks move while the pass pauses,
        which only leaves a key for the next pass."""
        self._delete = delete
        self._pause_every = pause_every
        self._seen = 0
        self.deleted: Counter[str] = Counter()

    def tick(self) -> Iterator[None]:
        """``yield from`` before each key: a pause every ``pause_every`` keys, after which
        the key is read again (the agent may have changed or deleted it meanwhile)."""
        self._seen += 1
        if self._seen % self._pause_every == 0:
            yield

    def delete(
        self, table: str, store: MutableMapping[str, Any], key: str, partition: int | None
    ) -> None:
        self._delete(store, key, partition)
        self.deleted[table] += 1
