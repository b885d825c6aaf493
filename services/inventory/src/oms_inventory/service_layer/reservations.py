"""``oms.reservation-requests`` (orchestration), ``oms.sourcing`` and ``oms.shipments``:
holding, giving back and committing stock for order lines.

A hold expires only while its order is not released: once orchestration hands the line to a
location's work (``FulfilmentOrderCreated``), the hold waits for that work however long it
takes (picking, the trip to a pickup store, the customer at the counter) and ends when the
work ships, is set aside for pickup, or orchestration gives it back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from oms_events.fulfilment import (
    FulfilmentOrderRejected,
    ReadyForPickup,
    RejectionCause,
    ShipmentShipped,
)
from oms_events.inventory import (
    InventoryDiscrepancyReported,
    ReduceReservations,
    ReleaseReservations,
    ReservationExpired,
    ReservationFailed,
    ReservationLine,
    ReservationReleased,
    ReserveStock,
    StockCommitted,
    StockReserved,
)
from oms_events.sourcing import FulfilmentOrderCreated
from oms_events.values import LineQuantity
from oms_inventory.adapters.projection import emit_for_order
from oms_inventory.adapters.reservations import Asked, Held, ToHold
from oms_inventory.adapters.stock import Movement
from oms_inventory.domain.reservations import ReservationStatus
from oms_inventory.service_layer.feed import not_in_future
from oms_inventory.service_layer.stores import ReferenceStore, ReservationStore, StockStore
from oms_runtime import Received, UnitOfWork

__all__ = ["ReservationHandlers"]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReservationHandlers:
    default_hold_s: int
    reservations: ReservationStore
    stock: StockStore
    references: ReferenceStore

    async def reserve(self, work: UnitOfWork, received: Sequence[Received[ReserveStock]]) -> None:
        """A run of requests: their lines claimed, held and recorded with one statement each;
        every line is answered. A run that repeats a reservation id takes its requests one at
        a time, as the later copy must find the earlier one's outcome."""
        ids = [line.reservation_id for r in received for line in r.payload.lines]
        if len(ids) != len(set(ids)) and len(received) > 1:
            for r in received:
                await self.reserve(work, [r])
            return
        requests = []
        for r in received:
            not_in_future(r.payload.requested_at, "requested_at")
            # One order of rows for every request, so two instances never deadlock on them.
            lines = sorted(r.payload.lines, key=lambda line: (line.sku, line.location_id))
            requests.append((work.for_event(r.envelope), r.payload, lines))
        fresh = await self.reservations.claim(
            work.conn,
            [Asked(p.order_id, p.request_id, line) for _, p, lines in requests for line in lines],
        )
        for event_work, request, lines in requests:
            repeated = [line for line in lines if line.reservation_id not in fresh]
            if repeated:
                await self._answer_repeats(event_work, request, repeated)
        to_hold = [
            (event_work, request, [ln for ln in lines if ln.reservation_id in fresh])
            for event_work, request, lines in requests
        ]
        to_hold = [(w, request, lines) for w, request, lines in to_hold if lines]
        tried = await self.reservations.hold_run(
            work.conn,
            work.notes,
            [
                ToHold(lines, request.all_or_nothing, self._expiry(request))
                for _, request, lines in to_hold
            ],
        )
        for event_work, request, lines in to_hold:
            for line in lines:
                outcome = tried[line.reservation_id]
                if outcome.held:
                    _reserved(event_work, request.order_id, line, self._expiry(request))
                else:
                    assert outcome.reason is not None
                    _failed(event_work, request.order_id, line, outcome.reason, outcome.available)

    def _expiry(self, request: ReserveStock) -> datetime:
        # From the request's own time, so a replay decides the same expiry.
        return request.requested_at + timedelta(seconds=request.hold_for_s or self.default_hold_s)

    async def _answer_repeats(
        self, work: UnitOfWork, request: ReserveStock, repeated: list[ReservationLine]
    ) -> None:
        """Every line gets an answer: a held one is confirmed again; an id that another order
        holds is refused without touching it. Committed, released and expired ones were
        answered when that happened."""
        known = await self.reservations.decided(
            work.conn, [line.reservation_id for line in repeated]
        )
        for line in repeated:
            found = known[line.reservation_id]
            if found.order_id != request.order_id:
                _failed(work, request.order_id, line, "reservation_id_in_use", 0)
            elif found.status is ReservationStatus.HELD and found.expires_at is not None:
                _reserved(work, request.order_id, line, found.expires_at)

    async def release(self, work: UnitOfWork, received: Received[ReleaseReservations]) -> None:
        request = received.payload
        released = await self.reservations.release(
            work.conn, work.notes, request.order_id, request.reservation_ids, request.reason
        )
        self._released(work, released, request.reason)

    async def reduce(self, work: UnitOfWork, received: Received[ReduceReservations]) -> None:
        """Units of released lines canceled: each reservation keeps what is still to ship."""
        request = received.payload
        released = await self.reservations.reduce(
            work.conn,
            work.notes,
            request.order_id,
            [(r.reservation_id, r.keep) for r in request.reservations],
            request.reason,
        )
        self._released(work, released, request.reason)

    def _released(self, work: UnitOfWork, released: Sequence[Held], reason: str) -> None:
        for held in released:
            emit_for_order(
                work.outbox,
                ReservationReleased(
                    sku=held.sku,
                    location_id=held.location_id,
                    reservation_id=held.reservation_id,
                    order_id=held.order_id,
                    quantity=held.quantity,
                    reason=reason,
                ),
                held.order_id,
            )
        _log.info("reservations_released", released=len(released))

    async def released(
        self, work: UnitOfWork, released: Sequence[Received[FulfilmentOrderCreated]]
    ) -> None:
        """Work released to locations: its holds stop expiring (one statement for the run;
        a replay finds them waiting already)."""
        holds = [
            (fo.order_id, reservation_id, fo.fulfilment_order_id)
            for fo in (r.payload for r in released)
            for reservation_id in fo.reservation_ids
        ]
        waiting = await self.reservations.released_to_work(work.conn, holds)
        _log.info("holds_released_to_work", waiting=waiting, asked=len(holds))

    async def expire(self, work: UnitOfWork, now: datetime, limit: int) -> int:
        """Give back up to ``limit`` reservations not committed by ``now``; how many."""
        expired = await self.reservations.expire_due(work.conn, work.notes, now, limit)
        for held in expired:
            emit_for_order(
                work.outbox,
                ReservationExpired(
                    sku=held.sku,
                    location_id=held.location_id,
                    reservation_id=held.reservation_id,
                    order_id=held.order_id,
                    quantity=held.quantity,
                    expired_at=now,
                ),
                held.order_id,
            )
        return len(expired)

    async def expired_as_recorded(
        self, work: UnitOfWork, received: Received[ReservationExpired]
    ) -> None:
        """A rebuild only: the expiry sweep's decision, read back from ``oms.inventory``,
        applied again to the same reservation at the moment it was taken."""
        expired = received.payload
        await self.reservations.expire_due(
            work.conn, work.notes, expired.expired_at, 1, only=[expired.reservation_id]
        )

    async def shipped(self, work: UnitOfWork, received: Received[ShipmentShipped]) -> None:
        """Commit at shipment: the shipped units leave on hand and their reservations."""
        shipment = received.payload
        await self._commit(
            work,
            shipment.order_id,
            shipment.location_id,
            shipment.shipment_id,
            shipment.lines,
            shipment.shipped_at,
        )

    async def ready_for_pickup(self, work: UnitOfWork, received: Received[ReadyForPickup]) -> None:
        """Click & collect commits when the work is set aside at the counter, not at collection:
        the units are out of sellable stock from then, however long they wait (the reservation
        would expire long before a week's hold ends)."""
        ready = received.payload
        if ready.shipment_id is None or not ready.lines:
            _log.warning("ready_for_pickup_without_units", order_id=ready.order_id)
            return
        at = ready.ready_at or received.envelope.time
        await self._commit(
            work, ready.order_id, ready.location_id, ready.shipment_id, ready.lines, at
        )

    async def _commit(
        self,
        work: UnitOfWork,
        order_id: str,
        location_id: str,
        shipment_id: str,
        lines: Sequence[LineQuantity],
        at: datetime,
    ) -> None:
        if not await self.references.first_time(work.conn, "shipment", shipment_id):
            return
        for line in sorted(lines, key=lambda line: line.sku):
            levels = await self.stock.lock_stock(work.conn, line.sku, location_id)
            committed, unreserved = await self.reservations.commit_line(
                work.conn,
                work.notes,
                order_id=order_id,
                line_id=line.line_id,
                sku=line.sku,
                location_id=location_id,
                quantity=line.quantity,
                shipment_id=shipment_id,
                shipped_at=at,
                counted=levels.counted(at),
            )
            if unreserved:
                _log.warning("shipped_without_reservation", line_id=line.line_id)
            for held in committed:
                emit_for_order(
                    work.outbox,
                    StockCommitted(
                        sku=held.sku,
                        location_id=held.location_id,
                        reservation_id=held.reservation_id,
                        order_id=held.order_id,
                        shipment_id=shipment_id,
                        quantity=held.quantity,
                    ),
                    held.order_id,
                )

    async def rejected(self, work: UnitOfWork, received: Received[FulfilmentOrderRejected]) -> None:
        """A location could not find (or found damaged) units it was asked to ship: they are
        taken off on hand (damaged ones into quarantine) and reported for a human to check.
        The holds themselves are given back by orchestration, which sources the lines again."""
        rejection = received.payload
        if rejection.cause not in (RejectionCause.NO_STOCK, RejectionCause.DAMAGED):
            return
        reference = f"{rejection.fulfilment_order_id}/" + ",".join(
            sorted(line.line_id for line in rejection.lines)
        )
        if not await self.references.first_time(work.conn, "rejection", reference):
            return
        damaged = rejection.cause is RejectionCause.DAMAGED
        for line in sorted(rejection.lines, key=lambda line: line.sku):
            levels = await self.stock.lock_stock(work.conn, line.sku, rejection.location_id)
            missing = min(line.quantity, levels.on_hand)
            after = await self.stock.move(
                work.conn,
                work.notes,
                line.sku,
                rejection.location_id,
                Movement(
                    f"rejected:{rejection.cause.value}",
                    rejection.fulfilment_order_id,
                    on_hand=-missing,
                    quarantined=missing if damaged else 0,
                    at=received.envelope.time,
                ),
            )
            emit_for_order(
                work.outbox,
                InventoryDiscrepancyReported(
                    sku=line.sku,
                    location_id=rejection.location_id,
                    expected_on_hand=levels.on_hand,
                    reported_on_hand=after.on_hand,
                    source=f"fulfilment:{rejection.location_id}",
                    note=(
                        f"fulfilment order {rejection.fulfilment_order_id} rejected"
                        f" {line.quantity} of line {line.line_id}: {rejection.cause.value}"
                    ),
                ),
                rejection.order_id,
            )


def _reserved(work: UnitOfWork, order_id: str, line: ReservationLine, expires_at: datetime) -> None:
    emit_for_order(
        work.outbox,
        StockReserved(
            sku=line.sku,
            location_id=line.location_id,
            reservation_id=line.reservation_id,
            order_id=order_id,
            line_id=line.line_id,
            quantity=line.quantity,
            expires_at=expires_at,
        ),
        order_id,
    )


def _failed(
    work: UnitOfWork, order_id: str, line: ReservationLine, reason: str, available: int
) -> None:
    emit_for_order(
        work.outbox,
        ReservationFailed(
            sku=line.sku,
            location_id=line.location_id,
            reservation_id=line.reservation_id,
            order_id=order_id,
            line_id=line.line_id,
            requested=line.quantity,
            available=available,
            reason=reason,
        ),
        order_id,
    )
