"""``oms.reservation-requests`` (orchestration) and ``oms.shipments``: holding, giving back and
committing stock for order lines."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from oms_events.fulfilment import FulfilmentOrderRejected, RejectionCause, ShipmentShipped
from oms_events.inventory import (
    InventoryDiscrepancyReported,
    ReleaseReservations,
    ReservationFailed,
    ReservationLine,
    ReservationReleased,
    ReserveStock,
    StockCommitted,
    StockReserved,
)
from oms_inventory.handlers.feed import not_in_future
from oms_inventory.store import reservations as store
from oms_inventory.store.projection import emit_for_order
from oms_inventory.store.references import first_time
from oms_inventory.store.stock import Movement, lock_stock, move
from oms_runtime import HandlerContext, Subscription

__all__ = ["ReservationHandlers"]

_log = structlog.get_logger(__name__)
_ALL_OR_NOTHING = "all_or_nothing: another line of the set cannot be reserved"


@dataclass(frozen=True)
class ReservationHandlers:
    default_hold_s: int

    def requests(self) -> Subscription:
        return (
            Subscription("oms.reservation-requests")
            .each(ReserveStock, self.reserve)
            .each(ReleaseReservations, self.release)
        )

    def shipments(self) -> Subscription:
        return (
            Subscription("oms.shipments")
            .each(ShipmentShipped, self.shipped)
            .each(FulfilmentOrderRejected, self.rejected)
        )

    async def reserve(self, ctx: HandlerContext, request: ReserveStock) -> None:
        not_in_future(request.requested_at, "requested_at")
        # From the request's own time, so a replay decides the same expiry.
        expires_at = request.requested_at + timedelta(
            seconds=request.hold_for_s or self.default_hold_s
        )
        # One order of rows for every request, so two instances never deadlock on them.
        ordered = sorted(request.lines, key=lambda line: (line.sku, line.location_id))
        lines = await store.claim(ctx.conn, request.order_id, request.request_id, ordered)
        if len(lines) < len(ordered):
            await self._answer_repeats(ctx, request, [ln for ln in ordered if ln not in lines])
        if not lines:
            return
        if request.all_or_nothing:
            await self._reserve_all(ctx, request.order_id, lines, expires_at)
            return
        for line in lines:
            if await store.try_hold(ctx.conn, ctx.batch, line, expires_at):
                _reserved(ctx, request.order_id, line, expires_at)
            else:
                short = await store.shortfall(ctx.conn, line.sku, line.location_id)
                await _failed(ctx, request.order_id, line, short.reason, short.available)

    async def _answer_repeats(
        self, ctx: HandlerContext, request: ReserveStock, repeated: list[ReservationLine]
    ) -> None:
        """Every line gets an answer: a held one is confirmed again; an id that another order
        holds is refused without touching it. Committed, released and expired ones were
        answered when that happened."""
        known = await store.decided(ctx.conn, [line.reservation_id for line in repeated])
        for line in repeated:
            found = known[line.reservation_id]
            if found.order_id != request.order_id:
                await _failed(ctx, request.order_id, line, "reservation_id_in_use", 0, record=False)
            elif found.status == "held" and found.expires_at is not None:
                _reserved(ctx, request.order_id, line, found.expires_at)

    async def _reserve_all(
        self,
        ctx: HandlerContext,
        order_id: str,
        lines: list[ReservationLine],
        expires_at: datetime,
    ) -> None:
        """Lock every row of the set (in one order, so sets never deadlock), then hold all
        lines or none."""
        needed: dict[tuple[str, str], int] = defaultdict(int)
        for line in lines:
            needed[(line.sku, line.location_id)] += line.quantity
        rows = await ctx.conn.fetch(
            "SELECT sku, location_id, on_hand::bigint - reserved - safety_stock AS available"
            " FROM stock WHERE (sku, location_id) IN"
            " (SELECT * FROM unnest($1::text[], $2::text[]))"
            " ORDER BY sku, location_id FOR UPDATE",
            [sku for sku, _ in needed],
            [location for _, location in needed],
        )
        available = {(r["sku"], r["location_id"]): r["available"] for r in rows}
        short = {key for key, quantity in needed.items() if available.get(key, 0) < quantity}
        if not short:
            for line in lines:
                await store.hold(ctx.conn, ctx.batch, line, expires_at)
                _reserved(ctx, order_id, line, expires_at)
            return
        for line in lines:
            key = (line.sku, line.location_id)
            if key in short:
                why = await store.shortfall(ctx.conn, line.sku, line.location_id)
                await _failed(ctx, order_id, line, why.reason, why.available)
            else:
                await _failed(ctx, order_id, line, _ALL_OR_NOTHING, available.get(key, 0))

    async def release(self, ctx: HandlerContext, request: ReleaseReservations) -> None:
        released = await store.release(
            ctx.conn, ctx.batch, request.order_id, request.reservation_ids, request.reason
        )
        for held in released:
            emit_for_order(
                ctx.outbox,
                ReservationReleased(
                    sku=held.sku,
                    location_id=held.location_id,
                    reservation_id=held.reservation_id,
                    order_id=held.order_id,
                    quantity=held.quantity,
                    reason=request.reason,
                ),
                held.order_id,
            )
        _log.info("reservations_released", released=len(released))

    async def shipped(self, ctx: HandlerContext, shipment: ShipmentShipped) -> None:
        """Commit at shipment: the shipped units leave on hand and their reservations."""
        if not await first_time(ctx.conn, "shipment", shipment.shipment_id):
            return
        for line in sorted(shipment.lines, key=lambda line: line.sku):
            levels = await lock_stock(ctx.conn, line.sku, shipment.location_id)
            committed, unreserved = await store.commit_line(
                ctx.conn,
                ctx.batch,
                order_id=shipment.order_id,
                line_id=line.line_id,
                sku=line.sku,
                location_id=shipment.location_id,
                quantity=line.quantity,
                shipment_id=shipment.shipment_id,
                shipped_at=shipment.shipped_at,
                counted=levels.counted(shipment.shipped_at),
            )
            if unreserved:
                _log.warning("shipped_without_reservation", line_id=line.line_id)
            for held in committed:
                emit_for_order(
                    ctx.outbox,
                    StockCommitted(
                        sku=held.sku,
                        location_id=held.location_id,
                        reservation_id=held.reservation_id,
                        order_id=held.order_id,
                        shipment_id=shipment.shipment_id,
                        quantity=held.quantity,
                    ),
                    held.order_id,
                )

    async def rejected(self, ctx: HandlerContext, rejection: FulfilmentOrderRejected) -> None:
        """A location could not find (or found damaged) units it was asked to ship: they are
        taken off on hand (damaged ones into quarantine) and reported for a human to check.
        The holds themselves are given back by orchestration, which sources the lines again."""
        if rejection.cause not in (RejectionCause.NO_STOCK, RejectionCause.DAMAGED):
            return
        reference = f"{rejection.fulfilment_order_id}/" + ",".join(
            sorted(line.line_id for line in rejection.lines)
        )
        if not await first_time(ctx.conn, "rejection", reference):
            return
        damaged = rejection.cause is RejectionCause.DAMAGED
        for line in sorted(rejection.lines, key=lambda line: line.sku):
            levels = await lock_stock(ctx.conn, line.sku, rejection.location_id)
            missing = min(line.quantity, levels.on_hand)
            after = await move(
                ctx.conn,
                ctx.batch,
                line.sku,
                rejection.location_id,
                Movement(
                    f"rejected:{rejection.cause.value}",
                    rejection.fulfilment_order_id,
                    on_hand=-missing,
                    quarantined=missing if damaged else 0,
                    at=ctx.envelope.time,
                ),
            )
            emit_for_order(
                ctx.outbox,
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


def _reserved(
    ctx: HandlerContext, order_id: str, line: ReservationLine, expires_at: datetime
) -> None:
    emit_for_order(
        ctx.outbox,
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


async def _failed(
    ctx: HandlerContext,
    order_id: str,
    line: ReservationLine,
    reason: str,
    available: int,
    *,
    record: bool = True,
) -> None:
    if record:
        await store.mark_failed(ctx.conn, line.reservation_id, reason)
    emit_for_order(
        ctx.outbox,
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
