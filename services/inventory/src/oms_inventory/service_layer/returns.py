"""``oms.returns``: inspected returns go back into stock at the location that received them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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
            after = await self.stock.move(
                work.conn,
                work.notes,
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
            if restock:
                emit_for_order(
                    work.outbox,
                    StockAdjusted(
                        sku=line.sku,
                        location_id=location,
                        delta=restock,
                        reason=AdjustmentReason.RETURN_RESTOCKED,
                        on_hand=after.on_hand,
                        source_event_id=str(received.envelope.id),
                    ),
                    inspected.order_id,
                )
