"""``oms.returns`` and ``oms.shipments``: inspected returns go back into stock at the location
that received them, pickups nobody collected back on the shelf of the store that held them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from oms_events.fulfilment import PickupExpired
from oms_events.inventory import AdjustmentReason, StockAdjusted
from oms_events.returns import Disposition, ReturnInspected
from oms_inventory.adapters.projection import emit_for_order
from oms_inventory.adapters.stock import Movement
from oms_inventory.service_layer.feed import not_in_future
from oms_inventory.service_layer.stores import ReferenceStore, StockStore
from oms_runtime import Received, UnitOfWork

__all__ = ["ReturnHandlers"]


@dataclass(frozen=True)
class ReturnHandlers:
    stock: StockStore
    references: ReferenceStore

    async def return_inspected(self, work: UnitOfWork, received: Received[ReturnInspected]) -> None:
        """Restocked units become sellable, quarantined ones wait in quarantine, disposed ones
        only enter the ledger. An inspection is applied once, whatever its event id: it is known
        by its return and the digest of its lines (a return may be inspected in several parts)."""
        inspected = received.payload
        not_in_future(inspected.inspected_at, "inspected_at")
        lines = "\n".join(line.model_dump_json() for line in inspected.lines)
        digest = hashlib.sha256(lines.encode()).hexdigest()
        if not await self.references.first_time(
            work.conn, "return", f"{inspected.return_id}/{digest}"
        ):
            return
        location = inspected.location_id
        for line in sorted(inspected.lines, key=lambda line: line.sku):
            levels = await self.stock.lock_stock(work.conn, line.sku, location)
            if levels.counted(inspected.inspected_at):
                continue
            restock = line.quantity if line.disposition is Disposition.RESTOCK else 0
            quarantine = line.quantity if line.disposition is Disposition.QUARANTINE else 0
            await self._move(
                work,
                received,
                inspected.order_id,
                line.sku,
                location,
                Movement(
                    f"returned:{line.disposition.value}",
                    inspected.return_id,
                    on_hand=restock,
                    quarantined=quarantine,
                    at=inspected.inspected_at,
                ),
            )

    async def pickup_expired(self, work: UnitOfWork, received: Received[PickupExpired]) -> None:
        """Units set aside for a customer who never came (committed when set aside, or at
        the warehouse that shipped them to the store) are sellable again at the store: on hand
        there grows, once per shipment."""
        expired = received.payload
        if not await self.references.first_time(work.conn, "uncollected", expired.shipment_id):
            return
        location = expired.location_id
        for line in sorted(expired.lines, key=lambda line: line.sku):
            levels = await self.stock.lock_stock(work.conn, line.sku, location)
            if levels.counted(expired.expired_at):
                continue  # a count taken since already has them
            await self._move(
                work,
                received,
                expired.order_id,
                line.sku,
                location,
                Movement(
                    "uncollected", expired.shipment_id, on_hand=line.quantity, at=expired.expired_at
                ),
            )

    async def _move(
        self,
        work: UnitOfWork,
        cause: Received[ReturnInspected] | Received[PickupExpired],
        order_id: str,
        sku: str,
        location: str,
        movement: Movement,
    ) -> None:
        """``movement`` of ``sku`` at ``location``; units back on the shelf are announced."""
        after = await self.stock.move(work.conn, work.notes, sku, location, movement)
        if movement.on_hand:
            emit_for_order(
                work.outbox,
                StockAdjusted(
                    sku=sku,
                    location_id=location,
                    delta=movement.on_hand,
                    reason=AdjustmentReason.RETURN_RESTOCKED,
                    on_hand=after.on_hand,
                    source_event_id=str(cause.envelope.id),
                ),
                order_id,
            )
