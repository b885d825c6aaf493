"""How long the broker may hold a fetch: short while batches are slow, long otherwise.

aiokafka keeps one fetch in flight per broker. A partition whose fetched records have waited
in its buffer longer than the prefetch backoff (0.1 s) is left out of the next fetch, which
then carries only the other partitions: while a slow batch is processed, those are the idle
ones (every topic a worker subscribes to that has no traffic just then), and the broker
holds that fetch for the whole wait. The busy partitions, drained when the batch ends, cannot
be fetched before it returns: at 1,000 reservations/s records waited up to 500 ms in the
broker between two batches, the worker idle. So after a batch slower than the backoff, and
for a while after the last such batch, the wait is short; otherwise it stays long, so that a
quiet worker does not fetch many times a second for nothing (a fetch is held until a record
comes, at most the long wait).

aiokafka has no public setting for this after start: the wait is its fetcher's attribute,
read each time it builds a fetch request (aiokafka 0.14; a test checks it is there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["FetchWait"]

_PREFETCH_BACKOFF_S = 0.1  # aiokafka's default, which the runtime keeps


class FetchWait:
    """Sets a started consumer's fetch wait from how long its batches take."""

    def __init__(
        self,
        consumer: Any,
        *,
        idle_ms: int,
        busy_ms: int,
        busy_for_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._idle_ms = idle_ms
        self._busy_ms = min(busy_ms, idle_ms)
        self._busy_for_s = busy_for_s
        self._clock = clock
        self._busy_until = float("-inf")
        self.busy = False

    def after_poll(self, batch_s: float | None) -> None:
        """After each batch, how long it took to process; after a poll that brought none,
        None."""
        now = self._clock()
        if batch_s is not None and batch_s >= _PREFETCH_BACKOFF_S:
            self._busy_until = now + self._busy_for_s
        busy = now < self._busy_until
        if busy == self.busy:
            return
        fetcher = getattr(self._consumer, "_fetcher", None)
        if fetcher is None:  # not started, or stopped
            return
        fetcher._fetch_max_wait_ms = self._busy_ms if busy else self._idle_ms
        self.busy = busy
