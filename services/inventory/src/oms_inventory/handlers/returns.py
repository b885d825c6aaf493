"""``oms.returns``: inspected returns go back into stock at the location that received them."""

from __future__ import annotations

from oms_events.inventory import AdjustmentReason, StockAdjusted
from oms_events.returns import Disposition, ReturnInspected
from oms_inventory.store.projection import stock_key
from oms_inventory.store.references import first_time
from oms_inventory.store.stock import Movement, lock_stock, move
from oms_runtime import Handler, HandlerContext

__all__ = ["return_handlers"]


def return_handlers() -> dict[str, Handler]:
    return {"ReturnInspected": return_inspected}


async def return_inspected(ctx: HandlerContext, inspected: ReturnInspected) -> None:
    """Restocked units become sellable, quarantined ones wait in quarantine, disposed ones
    only enter the ledger."""
    location = inspected.location_id
    for line in inspected.lines:
        if not await first_time(ctx.conn, "return", f"{inspected.return_id}:{line.line_id}"):
            continue
        await lock_stock(ctx.conn, line.sku, location)
        restock = line.quantity if line.disposition is Disposition.RESTOCK else 0
        quarantine = line.quantity if line.disposition is Disposition.QUARANTINE else 0
        after = await move(
            ctx.conn,
            ctx.batch,
            line.sku,
            location,
            Movement(
                f"returned:{line.disposition.value}",
                inspected.return_id,
                on_hand=restock,
                quarantined=quarantine,
            ),
        )
        if restock:
            ctx.outbox.emit(
                StockAdjusted(
                    sku=line.sku,
                    location_id=location,
                    delta=restock,
                    reason=AdjustmentReason.RETURN_RESTOCKED,
                    on_hand=after.on_hand,
                    source_event_id=str(ctx.envelope.id),
                ),
                subject=inspected.order_id,
                key=stock_key(line.sku, location),
            )
