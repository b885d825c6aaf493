"""In-memory stand-ins for the inventory service's stores, for unit tests of its service
layer with the runtime's in-memory unit of work.

They keep stock rows, applied references, transfers and reservations in dicts and answer as
the PostgreSQL adapters do: an unknown SKU or location is rejected, a bucket never goes below
zero (the tables' CHECKs), a reference or a claim counts once, and every change is noted for
the batch's projection. What they do not model is the rule that holds stock: PostgreSQL's
``inventory_reserve_run`` decides that, proven against overselling in the integration tests.
Here every claimed line is held unless a test refuses it in ``FakeReservationStore.refused``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, TypeVar

import asyncpg

from oms_events.codec import decode, new_event
from oms_events.registry import EventPayload
from oms_inventory.adapters.days_closed import ClosedBatch, ClosedStock
from oms_inventory.adapters.reservations import Asked, Decided, Held, ToHold, Tried
from oms_inventory.adapters.stock import Movement, StockLevels, StockRun, note_changed
from oms_inventory.adapters.transfers import TransferEnd
from oms_inventory.domain.reservations import ReservationStatus, shipped_from
from oms_runtime import ConsumedRecord, Notes, Received, RejectedEvent, UnitOfWork

P = TypeVar("P", bound=EventPayload)

_BUCKETS = ("on_hand", "reserved", "in_transit", "quarantined")


@dataclass
class FakeStockStore:
    """Stock rows by (SKU, location), for the SKUs and locations of the catalogue; the
    ledger of every movement applied, in order."""

    skus: set[str] = field(default_factory=set)
    locations: set[str] = field(default_factory=set)
    rows: dict[tuple[str, str], StockLevels] = field(default_factory=dict)
    ledger: list[tuple[str, str, Movement]] = field(default_factory=list)

    def put(self, sku: str, location_id: str, **levels: Any) -> StockLevels:
        """A known SKU at a known location with these levels (the rest zero or unset)."""
        self.skus.add(sku)
        self.locations.add(location_id)
        row = dataclasses.replace(_empty(sku, location_id), **levels)
        self.rows[(sku, location_id)] = row
        return row

    def levels(self, sku: str, location_id: str) -> tuple[int, int, int, int]:
        """(on hand, reserved, in transit, quarantined)."""
        row = self.rows[(sku, location_id)]
        return row.on_hand, row.reserved, row.in_transit, row.quarantined

    async def lock_stock(self, conn: asyncpg.Connection, sku: str, location_id: str) -> StockLevels:
        if sku not in self.skus:
            raise RejectedEvent("unknown_sku", f"SKU {sku!r} is not in the item catalogue")
        if location_id not in self.locations:
            raise RejectedEvent("unknown_location", f"location {location_id!r} is not known")
        return self.rows.setdefault((sku, location_id), _empty(sku, location_id))

    async def move(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        sku: str,
        location_id: str,
        movement: Movement,
        **columns: Any,
    ) -> StockLevels:
        row = self.rows[(sku, location_id)]  # locked or created by the caller
        moved = {b: getattr(row, b) + getattr(movement, b) for b in _BUCKETS}
        assert all(units >= 0 for units in moved.values()), f"CHECK violated: {moved}"
        times = [t for t in (row.last_movement_at, movement.at) if t is not None]
        after = dataclasses.replace(
            row, **moved, last_movement_at=max(times, default=None), **columns
        )
        self.rows[(sku, location_id)] = after
        self.ledger.append((sku, location_id, movement))
        note_changed(notes, sku, location_id)
        return after

    async def lock_run(self, conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> StockRun:
        return StockRun({key: await self.lock_stock(conn, *key) for key in keys})

    async def write_run(self, conn: asyncpg.Connection, notes: Notes, run: StockRun) -> None:
        for after, movement in run.moves:
            assert all(getattr(after, b) >= 0 for b in _BUCKETS), f"CHECK violated: {after}"
            self.rows[(after.sku, after.location_id)] = after
            self.ledger.append((after.sku, after.location_id, movement))
            note_changed(notes, after.sku, after.location_id)


def _empty(sku: str, location_id: str) -> StockLevels:
    return StockLevels(sku, location_id, 0, 0, 0, 0, 0, None, None, None)


@dataclass
class FakeReferenceStore:
    applied: set[tuple[str, str]] = field(default_factory=set)

    async def first_time(self, conn: asyncpg.Connection, kind: str, reference: str) -> bool:
        if (kind, reference) in self.applied:
            return False
        self.applied.add((kind, reference))
        return True

    async def first_times(
        self, conn: asyncpg.Connection, kind: str, references: Sequence[str]
    ) -> set[str]:
        return {r for r in dict.fromkeys(references) if await self.first_time(conn, kind, r)}


@dataclass
class FakeTransferStore:
    """By transfer id: its SKU, its two ends, and the quantity each end reported."""

    ends: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    quantities: dict[tuple[str, str], int] = field(default_factory=dict)

    async def record_ends(
        self,
        conn: asyncpg.Connection,
        end: Literal["shipped", "received"],
        ends: Sequence[TransferEnd],
    ) -> dict[str, int | None]:
        other = "received" if end == "shipped" else "shipped"
        found = {}
        for e in ends:
            said = (e.sku, e.from_location_id, e.to_location_id)
            known = self.ends.setdefault(e.transfer_id, said)
            if known != said:
                raise RejectedEvent("transfer_mismatch", f"transfer {e.transfer_id!r} is {known}")
            self.quantities[(e.transfer_id, end)] = e.quantity
            found[e.transfer_id] = self.quantities.get((e.transfer_id, other))
        return found


@dataclass
class Reservation:
    reservation_id: str
    order_id: str
    line_id: str
    sku: str
    location_id: str
    quantity: int
    status: ReservationStatus
    committed: int = 0
    expires_at: datetime | None = None
    fulfilment_order_id: str | None = None


@dataclass
class FakeReservationStore:
    """Reservations by id, in the order they were first claimed; the runs given to
    ``hold_run``, as given."""

    stock: FakeStockStore
    reservations: dict[str, Reservation] = field(default_factory=dict)
    refused: dict[str, Tried] = field(default_factory=dict)
    runs: list[list[ToHold]] = field(default_factory=list)

    async def claim(self, conn: asyncpg.Connection, asked: Sequence[Asked]) -> set[str]:
        ids = [a.line.reservation_id for a in asked]
        assert len(ids) == len(set(ids)), "ON CONFLICT DO UPDATE cannot affect a row twice"
        fresh = set()
        for a in asked:
            found = self.reservations.get(a.line.reservation_id)
            if found is not None and (
                found.status is not ReservationStatus.FAILED or found.order_id != a.order_id
            ):
                continue
            line = a.line
            self.reservations[line.reservation_id] = Reservation(
                line.reservation_id,
                a.order_id,
                line.line_id,
                line.sku,
                line.location_id,
                line.quantity,
                ReservationStatus.FAILED,
            )
            fresh.add(line.reservation_id)
        return fresh

    async def decided(
        self, conn: asyncpg.Connection, reservation_ids: Sequence[str]
    ) -> dict[str, Decided]:
        return {
            r.reservation_id: Decided(r.reservation_id, r.order_id, r.status, r.expires_at)
            for r in (self.reservations.get(i) for i in reservation_ids)
            if r is not None
        }

    async def hold_run(
        self, conn: asyncpg.Connection, notes: Notes, requests: Sequence[ToHold]
    ) -> dict[str, Tried]:
        if not requests:
            return {}
        self.runs.append(list(requests))
        tried = {}
        for request in requests:
            for line in request.lines:
                reservation = self.reservations[line.reservation_id]
                tried[line.reservation_id] = self.refused.get(
                    line.reservation_id, Tried(True, None, 0)
                )
                if not tried[line.reservation_id].held:
                    continue
                reservation.status = ReservationStatus.HELD
                reservation.expires_at = request.expires_at
                await self.stock.move(
                    conn,
                    notes,
                    line.sku,
                    line.location_id,
                    Movement("reserved", line.reservation_id, reserved=line.quantity),
                )
        return tried

    async def _unhold(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        leaving: Sequence[Reservation],
        kind: ReservationStatus,
    ) -> list[Held]:
        held = []
        for r in leaving:
            r.status = kind
            held.append(
                Held(r.reservation_id, r.order_id, r.sku, r.location_id, r.quantity - r.committed)
            )
        for h in sorted(held, key=lambda h: (h.sku, h.location_id, h.reservation_id)):
            await self.stock.move(
                conn,
                notes,
                h.sku,
                h.location_id,
                Movement(kind, h.reservation_id, reserved=-h.quantity),
            )
        return held

    async def release(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        order_id: str,
        reservation_ids: Sequence[str],
        reason: str,
    ) -> list[Held]:
        leaving = sorted(
            (
                r
                for r in self.reservations.values()
                if r.order_id == order_id
                and r.status is ReservationStatus.HELD
                and (not reservation_ids or r.reservation_id in reservation_ids)
            ),
            key=lambda r: r.reservation_id,
        )
        return await self._unhold(conn, notes, leaving, ReservationStatus.RELEASED)

    async def reduce(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        order_id: str,
        kept: Sequence[tuple[str, int]],
        reason: str,
    ) -> list[Held]:
        given_back = []
        for reservation_id, keep in sorted(kept):
            r = self.reservations.get(reservation_id)
            if r is None or r.order_id != order_id or r.status is not ReservationStatus.HELD:
                continue
            keeps = max(keep, r.committed)
            if r.quantity > keeps:
                given_back.append(
                    Held(r.reservation_id, r.order_id, r.sku, r.location_id, r.quantity - keeps)
                )
                r.quantity = keeps
                if keeps == r.committed:
                    r.status = ReservationStatus.COMMITTED
        for h in given_back:
            await self.stock.move(
                conn,
                notes,
                h.sku,
                h.location_id,
                Movement(ReservationStatus.RELEASED, h.reservation_id, reserved=-h.quantity),
            )
        return given_back

    async def released_to_work(
        self, conn: asyncpg.Connection, released: Sequence[tuple[str, str, str]]
    ) -> int:
        waiting = 0
        for order_id, reservation_id, fulfilment_order_id in released:
            r = self.reservations.get(reservation_id)
            if (
                r is not None
                and r.order_id == order_id
                and r.status is ReservationStatus.HELD
                and r.fulfilment_order_id is None
            ):
                r.fulfilment_order_id = fulfilment_order_id
                waiting += 1
        return waiting

    async def expire_due(
        self,
        conn: asyncpg.Connection,
        notes: Notes,
        now: datetime,
        limit: int,
        only: Sequence[str] | None = None,
    ) -> list[Held]:
        due = sorted(
            (
                r
                for r in self.reservations.values()
                if r.status is ReservationStatus.HELD
                and (only is None or r.reservation_id in only)
                and r.fulfilment_order_id is None
                and r.expires_at is not None
                and r.expires_at <= now
            ),
            key=lambda r: r.expires_at or now,
        )
        return await self._unhold(conn, notes, due[:limit], ReservationStatus.EXPIRED)

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
        open_ones = [  # held first, then expired, each in the order claimed
            r
            for status in (ReservationStatus.HELD, ReservationStatus.EXPIRED)
            for r in self.reservations.values()
            if (r.order_id, r.line_id, r.location_id, r.sku)
            == (order_id, line_id, location_id, sku)
            and r.status is status
            and r.quantity > r.committed
        ]
        taken, from_held, left = shipped_from(
            [(r.reservation_id, r.status, r.quantity - r.committed) for r in open_ones], quantity
        )
        for reservation_id, take in taken:
            r = self.reservations[reservation_id]
            r.committed += take
            if r.committed == r.quantity and r.status is ReservationStatus.HELD:
                r.status = ReservationStatus.COMMITTED
        on_hand = self.stock.rows[(sku, location_id)].on_hand
        leaving = 0 if counted else min(quantity, on_hand)
        if leaving or from_held:
            await self.stock.move(
                conn,
                notes,
                sku,
                location_id,
                Movement(
                    "shipped", shipment_id, on_hand=-leaving, reserved=-from_held, at=shipped_at
                ),
            )
        committed = [Held(i, order_id, sku, location_id, take) for i, take in taken]
        return committed, left


@dataclass
class FakeDayCloseStore:
    """Stock rows with the time each was created, and the rows closed per day, keyed as the
    table's primary key: a row is closed once whoever asks."""

    stock: FakeStockStore
    created: dict[tuple[str, str], datetime] = field(default_factory=dict)
    closed: dict[tuple[date, str, str], ClosedStock] = field(default_factory=dict)
    calls: int = 0

    def put(self, sku: str, location_id: str, created_at: datetime, **levels: Any) -> None:
        self.stock.put(sku, location_id, **levels)
        self.created[(sku, location_id)] = created_at

    async def close_next(
        self,
        conn: asyncpg.Connection,
        day: date,
        ended_at: datetime,
        taken_at: datetime,
        after: tuple[str, str],
        limit: int,
    ) -> ClosedBatch:
        self.calls += 1
        candidates = [
            row
            for key, row in sorted(self.stock.rows.items())
            if key > after and self.created[key] < ended_at and (day, *key) not in self.closed
        ][:limit]
        closed = []
        for row in candidates:
            levels = {b: getattr(row, b) for b in _BUCKETS}
            closed.append(ClosedStock(day, row.sku, row.location_id, **levels, taken_at=taken_at))
        await self.record_closed(conn, closed)
        last = (candidates[-1].sku, candidates[-1].location_id) if candidates else after
        return ClosedBatch(closed, len(candidates), last)

    async def record_closed(self, conn: asyncpg.Connection, closed: Sequence[ClosedStock]) -> None:
        for row in closed:
            self.closed.setdefault((row.day, row.sku, row.location_id), row)


def received(payload: P, topic: str = "oms.inventory-feed") -> Received[P]:
    """``payload`` as the runtime hands it to a handler: validated, in its envelope."""
    envelope = new_event(payload, subject="test", source="oms/test", correlation_id="c-1")
    return Received(payload, envelope, ConsumedRecord(topic, 0, 0, b"test", None))


def emitted(work: UnitOfWork, kind: type[P]) -> list[P]:
    """The events of ``kind`` the unit of work would publish, in order."""
    found = [decode(record.payload).payload for record in work.outbox.records]
    return [payload for payload in found if isinstance(payload, kind)]


def types(work: UnitOfWork) -> list[str]:
    return [decode(record.payload).envelope.type for record in work.outbox.records]
