"""``oms.inventory-feed``: counts, adjustments, receipts and transfers from WMS, ERP and POS.

Hostile input: a record for an unknown SKU or location, or one that would make a bucket
negative, is dead-lettered with that reason and the partition goes on.
"""

from __future__ import annotations

import structlog

from oms_events.inventory import (
    AdjustmentReason,
    InventoryDiscrepancyReported,
    StockAdjusted,
    StockAdjustment,
    StockReceived,
    StockSnapshot,
    TransferReceived,
    TransferShipped,
)
from oms_inventory.store.projection import stock_key
from oms_inventory.store.references import first_time
from oms_inventory.store.stock import Movement, StockLevels, ensure_stock, lock_stock, move
from oms_inventory.store.transfers import record_received, record_shipped
from oms_runtime import Handler, HandlerContext, RejectedEvent

__all__ = ["feed_handlers"]

_log = structlog.get_logger(__name__)


def feed_handlers() -> dict[str, Handler]:
    return {
        "StockSnapshot": stock_snapshot,
        "StockAdjustment": stock_adjustment,
        "StockReceived": stock_received,
        "TransferShipped": transfer_shipped,
        "TransferReceived": transfer_received,
    }


def _source(ctx: HandlerContext) -> str:
    return ctx.envelope.source[:200]


def _adjusted(
    ctx: HandlerContext, after: StockLevels, delta: int, reason: AdjustmentReason
) -> None:
    ctx.emit(
        StockAdjusted(
            sku=after.sku,
            location_id=after.location_id,
            delta=delta,
            reason=reason,
            on_hand=after.on_hand,
            source_event_id=str(ctx.envelope.id),
        ),
        subject=stock_key(after.sku, after.location_id),
    )


def _discrepancy(
    ctx: HandlerContext, levels: StockLevels, expected: int, reported: int, note: str
) -> None:
    ctx.emit(
        InventoryDiscrepancyReported(
            sku=levels.sku,
            location_id=levels.location_id,
            expected_on_hand=expected,
            reported_on_hand=reported,
            source=_source(ctx),
            note=note,
        ),
        subject=stock_key(levels.sku, levels.location_id),
    )


async def stock_snapshot(ctx: HandlerContext, snapshot: StockSnapshot) -> None:
    """An absolute count; one older than the newest applied, by (as_of, source_sequence), is
    ignored so a late feed never overwrites a newer count."""
    levels = await lock_stock(ctx.conn, snapshot.sku, snapshot.location_id)
    if levels.snapshot_as_of is not None and (snapshot.as_of, snapshot.source_sequence) <= (
        levels.snapshot_as_of,
        levels.snapshot_sequence or 0,
    ):
        _log.info("stale_snapshot_ignored", sku=snapshot.sku, location_id=snapshot.location_id)
        return
    delta = snapshot.on_hand - levels.on_hand
    after = await move(
        ctx.conn,
        ctx.batch,
        snapshot.sku,
        snapshot.location_id,
        Movement("snapshot", str(ctx.envelope.id), on_hand=delta),
        snapshot_as_of=snapshot.as_of,
        snapshot_sequence=snapshot.source_sequence,
    )
    if delta:
        _adjusted(ctx, after, delta, AdjustmentReason.SNAPSHOT)
    if after.on_hand < after.reserved:
        _discrepancy(
            ctx, after, levels.on_hand, snapshot.on_hand, "counted fewer units than are reserved"
        )


async def stock_adjustment(ctx: HandlerContext, adjustment: StockAdjustment) -> None:
    """A relative change. One that happened before the newest applied count is already in
    that count and is not applied again. ``quarantined`` moves units between on hand and
    quarantine (a negative delta quarantines them)."""
    if not await first_time(ctx.conn, "adjustment", adjustment.adjustment_id):
        return
    levels = await lock_stock(ctx.conn, adjustment.sku, adjustment.location_id)
    if levels.snapshot_as_of is not None and adjustment.occurred_at <= levels.snapshot_as_of:
        _log.info("adjustment_before_count_ignored", sku=adjustment.sku)
        return
    delta = adjustment.delta
    quarantine = -delta if adjustment.reason is AdjustmentReason.QUARANTINED else 0
    if levels.on_hand + delta < 0 or levels.quarantined + quarantine < 0:
        raise RejectedEvent(
            "negative_stock",
            f"adjustment {adjustment.adjustment_id!r} of {delta} would leave"
            f" {levels.on_hand + delta} on hand and {levels.quarantined + quarantine}"
            f" quarantined at {adjustment.location_id!r}",
        )
    after = await move(
        ctx.conn,
        ctx.batch,
        adjustment.sku,
        adjustment.location_id,
        Movement(
            f"adjusted:{adjustment.reason.value}",
            adjustment.adjustment_id,
            on_hand=delta,
            quarantined=quarantine,
        ),
    )
    _adjusted(ctx, after, delta, adjustment.reason)


async def stock_received(ctx: HandlerContext, receipt: StockReceived) -> None:
    if not await first_time(ctx.conn, "receipt", receipt.receipt_id):
        return
    await lock_stock(ctx.conn, receipt.sku, receipt.location_id)
    await move(
        ctx.conn,
        ctx.batch,
        receipt.sku,
        receipt.location_id,
        Movement("received", receipt.receipt_id, on_hand=receipt.quantity),
    )


async def transfer_shipped(ctx: HandlerContext, transfer: TransferShipped) -> None:
    """Units leave the sender; they are in transit at the receiver until it receives them."""
    if not await first_time(ctx.conn, "transfer-shipped", transfer.transfer_id):
        return
    if transfer.to_location_id == transfer.location_id:
        raise RejectedEvent("invalid_transfer", "a transfer must go to another location")
    await ensure_stock(ctx.conn, transfer.sku, transfer.to_location_id)
    sender = await lock_stock(ctx.conn, transfer.sku, transfer.location_id)
    if sender.on_hand < transfer.quantity:
        raise RejectedEvent(
            "negative_stock",
            f"transfer {transfer.transfer_id!r} ships {transfer.quantity} but"
            f" {transfer.location_id!r} has {sender.on_hand} on hand",
        )
    already_received = await record_shipped(
        ctx.conn,
        transfer_id=transfer.transfer_id,
        sku=transfer.sku,
        from_location_id=transfer.location_id,
        to_location_id=transfer.to_location_id,
        quantity=transfer.quantity,
        shipped_at=transfer.shipped_at,
    )
    await move(
        ctx.conn,
        ctx.batch,
        transfer.sku,
        transfer.location_id,
        Movement("transfer_out", transfer.transfer_id, on_hand=-transfer.quantity),
    )
    if not already_received:
        await lock_stock(ctx.conn, transfer.sku, transfer.to_location_id)
        await move(
            ctx.conn,
            ctx.batch,
            transfer.sku,
            transfer.to_location_id,
            Movement("transfer_in_transit", transfer.transfer_id, in_transit=transfer.quantity),
        )


async def transfer_received(ctx: HandlerContext, transfer: TransferReceived) -> None:
    """Units arrive: on hand at the receiver; what was in transit for the transfer clears."""
    if not await first_time(ctx.conn, "transfer-received", transfer.transfer_id):
        return
    receiver = await lock_stock(ctx.conn, transfer.sku, transfer.location_id)
    shipped = await record_received(
        ctx.conn,
        transfer_id=transfer.transfer_id,
        sku=transfer.sku,
        from_location_id=transfer.from_location_id,
        to_location_id=transfer.location_id,
        quantity=transfer.quantity,
        received_at=transfer.received_at,
    )
    cleared = min(shipped or 0, receiver.in_transit)
    after = await move(
        ctx.conn,
        ctx.batch,
        transfer.sku,
        transfer.location_id,
        Movement(
            "transfer_received",
            transfer.transfer_id,
            on_hand=transfer.quantity,
            in_transit=-cleared,
        ),
    )
    if shipped is not None and shipped != transfer.quantity:
        _discrepancy(
            ctx,
            after,
            receiver.on_hand + shipped,
            after.on_hand,
            f"transfer {transfer.transfer_id} shipped {shipped}, received {transfer.quantity}",
        )
