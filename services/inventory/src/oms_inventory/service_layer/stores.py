"""What the inventory service's use cases need from storage, as ports.

The PostgreSQL modules satisfy them as they are (``oms_inventory.adapters.stock``,
``.references``, ``.transfers``, ``.reservations`` and ``.days_closed``); unit tests pass
in-memory fakes. Every method takes the unit of work's connection first, so one transaction
spans everything a use case does. The rule that holds stock (never oversell) stays one
database function behind ``ReservationStore.hold_run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal, Protocol

import asyncpg

from oms_inventory.adapters.days_closed import ClosedBatch, ClosedStock
from oms_inventory.adapters.reservations import Asked, Decided, Held, ToHold, Tried
from oms_inventory.adapters.stock import Movement, StockLevels, StockRun
from oms_inventory.adapters.transfers import TransferEnd
from oms_runtime import Notes

__all__ = [
    "DayCloseStore",
    "ReferenceStore",
    "ReservationStore",
    "StockStore",
    "TransferStore",
]


class StockStore(Protocol):
    """Stock rows of SKUs at locations; every change is a movement in the ledger, noted for
    the batch's availability projection."""

    async def lock_stock(self, conn: asyncpg.Connection, sku: str, location_id: str) -> StockLevels:
        """The row, created when the SKU and the location are known, locked; an unknown
        one is rejected (``unknown_sku``, ``unknown_location``)."""
        ...

    async def move(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        sku: str,
        location_id: str,
        movement: Movement,
        **columns: Any,
    ) -> StockLevels:
        """``movement`` applied to a locked row (and ``columns`` set): the row after it."""
        ...

    async def lock_run(self, conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> StockRun:
        """The rows of these (SKU, location) keys, each as ``lock_stock`` gives it, to be moved
        in memory (``StockRun.move``); the first unknown one is rejected as there."""
        ...

    async def write_run(self, conn: asyncpg.Connection, notes: Notes, run: StockRun) -> None:
        """A run's movements written at once: the rows as the run left them, the ledger in
        the run's order."""
        ...


class ReferenceStore(Protocol):
    async def first_time(self, conn: asyncpg.Connection, kind: str, reference: str) -> bool:
        """Record that ``reference`` of ``kind`` is applied; False when it already was."""
        ...

    async def first_times(
        self, conn: asyncpg.Connection, kind: str, references: Sequence[str]
    ) -> set[str]:
        """Record that ``references`` of ``kind`` are applied: those that were not yet."""
        ...


class TransferStore(Protocol):
    async def record_ends(
        self,
        conn: asyncpg.Connection,
        end: Literal["shipped", "received"],
        ends: Sequence[TransferEnd],
    ) -> dict[str, int | None]:
        """One end of each of these transfers recorded: by transfer id, the other end's
        quantity, None when unknown; an end that describes another transfer is rejected
        (``transfer_mismatch``)."""
        ...


class ReservationStore(Protocol):
    async def claim(self, conn: asyncpg.Connection, asked: Sequence[Asked]) -> set[str]:
        """The reservation ids that are new, or failed before for the same order: only those
        are tried."""
        ...

    async def decided(
        self, conn: asyncpg.Connection, reservation_ids: Sequence[str]
    ) -> dict[str, Decided]: ...

    async def hold_run(
        self, conn: asyncpg.Connection, notes: Notes, requests: Sequence[ToHold]
    ) -> dict[str, Tried]:
        """Every claimed line held or refused (with why), by reservation id."""
        ...

    async def release(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        order_id: str,
        reservation_ids: Sequence[str],
        reason: str,
    ) -> list[Held]:
        """The order's held reservations given back (all of them when no ids are given)."""
        ...

    async def reduce(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        order_id: str,
        kept: Sequence[tuple[str, int]],
        reason: str,
    ) -> list[Held]:
        """The order's held reservations keep only ``kept`` ((id, units)): the units given
        back of each that held more (never committed ones, never twice)."""
        ...

    async def released_to_work(
        self, conn: asyncpg.Connection, released: Sequence[tuple[str, str, str]]
    ) -> int:
        """Held reservations ((order id, reservation id, fulfilment order id)) no longer
        expire: their work waits for them; how many were held."""
        ...

    async def expire_due(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        now: datetime,
        limit: int,
        only: Sequence[str] | None = None,
    ) -> list[Held]:
        """Held reservations past their time, not released to work, given back (``only``:
        of these reservations)."""
        ...

    async def commit_line(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        *,
        order_id: str,
        line_id: str,
        sku: str,
        location_id: str,
        quantity: int,
        shipment_id: str,
        shipped_at: datetime,
        counted: bool,
    ) -> tuple[list[Held], int]:
        """Shipped units off on hand and the line's reservations there: what was committed,
        and how many units shipped unreserved."""
        ...


class DayCloseStore(Protocol):
    async def close_next(
        self,
        conn: asyncpg.Connection,
        day: date,
        ended_at: datetime,
        taken_at: datetime,
        after: tuple[str, str],
        limit: int,
    ) -> ClosedBatch:
        """``day`` closed for up to ``limit`` stock rows after the key ``after`` that existed
        before ``ended_at`` and were not closed for it yet: the rows this call closed (each
        once, whoever else closes at the same time), how many it looked at, the last key."""
        ...

    async def record_closed(self, conn: asyncpg.Connection, closed: Sequence[ClosedStock]) -> None:
        """Closed rows recorded as their events say; one already recorded stays as it is."""
        ...
