"""The day close: once a UTC day has ended, one ``StockDayClosed`` per SKU and location that
had a stock row as it ended, with the row's levels as the sweep reads them.

Only the most recent ended day is closed (a service down for days closes the last one when
it comes back, never the ones it missed). Each batch of rows is closed in one transaction
that records them in ``stock_days_closed`` and emits their events: a row is published by
whoever inserts it, so two workers, a restart or a batch retried after a failure never
publish a day of a row twice. Once a worker has seen a day fully closed it does not look at
the database again until the next day ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime

import structlog

from oms_events.inventory import StockDayClosed
from oms_inventory.adapters.days_closed import ClosedBatch, ClosedStock
from oms_inventory.adapters.projection import stock_key
from oms_inventory.domain.days import EndedDay, last_ended_day
from oms_inventory.service_layer.stores import DayCloseStore
from oms_runtime import Received, UnitOfWork

__all__ = ["DayClose"]

_log = structlog.get_logger(__name__)
_FIRST_KEY = ("", "")  # before every (SKU, location): neither may be empty


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DayClose:
    """The sweep (``sweep``, run by a timer) and, in a rebuild, its events read back
    (``closed_as_recorded``)."""

    def __init__(
        self, days: DayCloseStore, batch: int, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.days = days
        self.batch = batch
        self.clock = clock
        self._closed: date | None = None
        """The last day this worker saw fully closed."""

    async def sweep(
        self, unit_of_work: Callable[[], AbstractAsyncContextManager[UnitOfWork]]
    ) -> int:
        """Close the last ended day for every stock row not closed for it yet, ``batch`` rows
        per transaction; how many rows this call closed."""
        ended = last_ended_day(self.clock())
        if ended.day == self._closed:
            return 0
        after, closed = _FIRST_KEY, 0
        while True:
            async with unit_of_work() as work:
                batch = await self.close_batch(work, ended, after)
            closed += len(batch.closed)
            if batch.scanned < self.batch:
                break
            after = batch.last
        self._closed = ended.day
        _log.info("stock_day_closed", day=ended.day.isoformat(), closed=closed)
        return closed

    async def close_batch(
        self, work: UnitOfWork, ended: EndedDay, after: tuple[str, str]
    ) -> ClosedBatch:
        """One batch after the key ``after``, its events emitted in ``work``'s transaction."""
        batch = await self.days.close_next(
            work.conn, ended.day, ended.ended_at, self.clock(), after, self.batch
        )
        for row in batch.closed:
            key = stock_key(row.sku, row.location_id)
            work.outbox.emit(
                StockDayClosed(
                    sku=row.sku,
                    location_id=row.location_id,
                    day=row.day,
                    on_hand=row.on_hand,
                    reserved=row.reserved,
                    in_transit=row.in_transit,
                    quarantined=row.quarantined,
                    taken_at=row.taken_at,
                ),
                subject=key,
                correlation_id=f"day-close-{row.day.isoformat()}",
            )
        return batch

    async def closed_as_recorded(
        self, work: UnitOfWork, received: Sequence[Received[StockDayClosed]]
    ) -> None:
        """A rebuild only: the sweep's closes, read back from ``oms.inventory``, recorded as
        their events say (the sweep does not run in a rebuild)."""
        await self.days.record_closed(work.conn, [ClosedStock.said_by(r.payload) for r in received])
