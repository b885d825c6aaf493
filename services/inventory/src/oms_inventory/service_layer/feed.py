"""``oms.inventory-feed``: counts, adjustments, receipts and transfers from WMS, ERP and POS.

Every kind of record goes by runs (``Subscription.batch``): a run's references are
claimed with one statement, its rows locked with two, moved in memory in the records' order,
and written with one, whatever the run's length; the result is the one-at-a-time result.

Hostile input: a record for an unknown SKU or location, or one that would make a bucket
negative, is dead-lettered with that reason and the partition goes on. A run that holds one
raises its rejection: the runtime rolls the batch back and applies it again one record at a
time, each in a savepoint, so the bad record alone is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

import structlog

from oms_events.envelope import Envelope
from oms_events.inventory import (
    AdjustmentReason,
    AtLocation,
    InventoryDiscrepancyReported,
    StockAdjusted,
    StockAdjustment,
    StockReceived,
    StockSnapshot,
    TransferReceived,
    TransferShipped,
)
from oms_inventory.adapters.projection import stock_key
from oms_inventory.adapters.stock import Movement, StockLevels, StockRun
from oms_inventory.adapters.transfers import TransferEnd
from oms_inventory.service_layer.stores import ReferenceStore, StockStore, TransferStore
from oms_runtime import Received, RejectedEvent, UnitOfWork

__all__ = ["FeedHandlers", "not_in_future"]

_log = structlog.get_logger(__name__)
_CLOCK_SKEW = timedelta(minutes=5)
P = TypeVar("P", bound=AtLocation)
T = TypeVar("T", TransferShipped, TransferReceived)


def not_in_future(at: datetime, what: str) -> None:
    """A source's clock may be a little ahead; a time far ahead would freeze the key."""
    if at > datetime.now(UTC) + _CLOCK_SKEW:
        raise RejectedEvent("future_timestamp", f"{what} {at.isoformat()} is in the future")


def _adjusted(
    work: UnitOfWork, cause: Envelope, after: StockLevels, delta: int, reason: AdjustmentReason
) -> None:
    work.for_event(cause).emit(
        StockAdjusted(
            sku=after.sku,
            location_id=after.location_id,
            delta=delta,
            reason=reason,
            on_hand=after.on_hand,
            source_event_id=str(cause.id),
        ),
        subject=stock_key(after.sku, after.location_id),
    )


def _discrepancy(
    work: UnitOfWork, cause: Envelope, levels: StockLevels, expected: int, reported: int, note: str
) -> None:
    work.for_event(cause).emit(
        InventoryDiscrepancyReported(
            sku=levels.sku,
            location_id=levels.location_id,
            expected_on_hand=expected,
            reported_on_hand=reported,
            source=cause.source[:200],
            note=note,
        ),
        subject=stock_key(levels.sku, levels.location_id),
    )


def _at(record: AtLocation) -> tuple[str, str]:
    return record.sku, record.location_id


async def _first_times(
    references: ReferenceStore,
    work: UnitOfWork,
    kind: str,
    received: Sequence[Received[P]],
    reference: Callable[[P], str],
) -> list[Received[P]]:
    """The run's records applied for the first time, in order; of a reference repeated in
    the run, the first copy (each later one finds it applied, as one at a time would)."""
    new = await references.first_times(work.conn, kind, [reference(r.payload) for r in received])
    fresh = []
    for r in received:
        if reference(r.payload) in new:
            new.discard(reference(r.payload))
            fresh.append(r)
    return fresh


def _count(work: UnitOfWork, run: StockRun, received: Received[StockSnapshot]) -> None:
    snapshot = received.payload
    levels = run.levels(snapshot.sku, snapshot.location_id)
    older_count = levels.snapshot_as_of is not None and (
        snapshot.as_of,
        snapshot.source_sequence,
    ) <= (levels.snapshot_as_of, levels.snapshot_sequence or 0)
    older_than_movement = (
        levels.last_movement_at is not None and snapshot.as_of < levels.last_movement_at
    )
    if older_count or older_than_movement:
        _log.info("stale_snapshot_ignored", sku=snapshot.sku, location_id=snapshot.location_id)
        return
    delta = snapshot.on_hand - levels.on_hand
    after = run.move(
        snapshot.sku,
        snapshot.location_id,
        Movement("snapshot", str(received.envelope.id), on_hand=delta),
        snapshot_as_of=snapshot.as_of,
        snapshot_sequence=snapshot.source_sequence,
    )
    if delta:
        _adjusted(work, received.envelope, after, delta, AdjustmentReason.SNAPSHOT)
    if after.on_hand < after.reserved:
        _discrepancy(
            work,
            received.envelope,
            after,
            levels.on_hand,
            snapshot.on_hand,
            "counted fewer units than are reserved",
        )


def _adjust(work: UnitOfWork, run: StockRun, received: Received[StockAdjustment]) -> None:
    adjustment = received.payload
    levels = run.levels(adjustment.sku, adjustment.location_id)
    if levels.counted(adjustment.occurred_at):
        _log.info("movement_already_counted", sku=adjustment.sku)
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
    after = run.move(
        adjustment.sku,
        adjustment.location_id,
        Movement(
            f"adjusted:{adjustment.reason.value}",
            adjustment.adjustment_id,
            on_hand=delta,
            quarantined=quarantine,
            at=adjustment.occurred_at,
        ),
    )
    _adjusted(work, received.envelope, after, delta, adjustment.reason)


def _receive(work: UnitOfWork, run: StockRun, received: Received[StockReceived]) -> None:
    receipt = received.payload
    counted = run.levels(receipt.sku, receipt.location_id).counted(receipt.received_at)
    run.move(
        receipt.sku,
        receipt.location_id,
        Movement(
            "received",
            receipt.receipt_id,
            on_hand=0 if counted else receipt.quantity,
            at=receipt.received_at,
        ),
    )


@dataclass(frozen=True)
class FeedHandlers:
    """The feed's records, on the service's stock, applied-reference and transfer stores."""

    stock: StockStore
    references: ReferenceStore
    transfers: TransferStore

    async def stock_snapshot(
        self, work: UnitOfWork, received: Sequence[Received[StockSnapshot]]
    ) -> None:
        """Absolute counts, in order. One older than the newest applied count, by (as_of,
        source_sequence), or than the newest movement applied, is stale and changes nothing: a
        late feed never overwrites newer data."""
        await self._apply(work, received, "as_of", None, _count)

    async def stock_adjustment(
        self, work: UnitOfWork, received: Sequence[Received[StockAdjustment]]
    ) -> None:
        """Relative changes, in order, each applied once. One that happened before the newest
        applied count is already in that count and is not applied again. ``quarantined`` moves
        units between on hand and quarantine (a negative delta quarantines them)."""
        await self._apply(
            work, received, "occurred_at", ("adjustment", lambda p: p.adjustment_id), _adjust
        )

    async def stock_received(
        self, work: UnitOfWork, received: Sequence[Received[StockReceived]]
    ) -> None:
        """Received units add to on hand, unless a newer count already has them; each receipt
        once."""
        await self._apply(
            work, received, "received_at", ("receipt", lambda p: p.receipt_id), _receive
        )

    async def _apply(
        self,
        work: UnitOfWork,
        received: Sequence[Received[P]],
        time_field: str,
        reference: tuple[str, Callable[[P], str]] | None,
        apply: Callable[[UnitOfWork, StockRun, Received[P]], None],
    ) -> None:
        """A run of records of one SKU at one location each: checked against the clock (their
        ``time_field``), applied once by ``reference`` (kind, business id) when they have one,
        their rows locked, each applied in order to the rows as the run left them, and the rows
        written."""
        for r in received:
            at: datetime = getattr(r.payload, time_field)
            not_in_future(at, time_field)
        fresh = (
            list(received)
            if reference is None
            else await _first_times(self.references, work, reference[0], received, reference[1])
        )
        run = await self.stock.lock_run(work.conn, [_at(r.payload) for r in fresh])
        for r in fresh:
            apply(work, run, r)  # the batch's unit: an event emitted names its cause itself
        await self.stock.write_run(work.conn, work.notes, run)

    async def transfer_shipped(
        self, work: UnitOfWork, received: Sequence[Received[TransferShipped]]
    ) -> None:
        """Units leave the sender; they are in transit at the receiver until it receives them."""
        ends, run, received_ends = await self._transfer_run(work, "shipped", received, _shipped_end)
        for _, transfer in ends:
            sender = run.levels(transfer.sku, transfer.from_location_id)
            leaving = 0 if sender.counted(transfer.at) else transfer.quantity
            if sender.on_hand < leaving:
                raise RejectedEvent(
                    "negative_stock",
                    f"transfer {transfer.transfer_id!r} ships {transfer.quantity} but"
                    f" {transfer.from_location_id!r} has {sender.on_hand} on hand",
                )
            run.move(
                transfer.sku,
                transfer.from_location_id,
                Movement("transfer_out", transfer.transfer_id, on_hand=-leaving, at=transfer.at),
            )
            if received_ends[transfer.transfer_id] is None:
                run.move(
                    transfer.sku,
                    transfer.to_location_id,
                    Movement(
                        "transfer_in_transit", transfer.transfer_id, in_transit=transfer.quantity
                    ),
                )
        await self.stock.write_run(work.conn, work.notes, run)

    async def transfer_received(
        self, work: UnitOfWork, received: Sequence[Received[TransferReceived]]
    ) -> None:
        """Units arrive: on hand at the receiver; what was in transit for the transfer clears."""
        ends, run, shipped_ends = await self._transfer_run(
            work, "received", received, _received_end
        )
        for r, transfer in ends:
            receiver = run.levels(transfer.sku, transfer.to_location_id)
            shipped = shipped_ends[transfer.transfer_id]
            arriving = 0 if receiver.counted(transfer.at) else transfer.quantity
            after = run.move(
                transfer.sku,
                transfer.to_location_id,
                Movement(
                    "transfer_received",
                    transfer.transfer_id,
                    on_hand=arriving,
                    in_transit=-min(shipped or 0, receiver.in_transit),
                    at=transfer.at,
                ),
            )
            if shipped is not None and shipped != transfer.quantity:
                _discrepancy(
                    work,
                    r.envelope,
                    after,
                    receiver.on_hand + shipped,
                    after.on_hand,
                    f"transfer {transfer.transfer_id} shipped {shipped},"
                    f" received {transfer.quantity}",
                )
        await self.stock.write_run(work.conn, work.notes, run)

    async def _transfer_run(
        self,
        work: UnitOfWork,
        end: Literal["shipped", "received"],
        received: Sequence[Received[T]],
        end_of: Callable[[T], TransferEnd],
    ) -> tuple[list[tuple[Received[T], TransferEnd]], StockRun, dict[str, int | None]]:
        """The run's transfers applied for the first time, both ends' rows of each locked in
        one order (two instances never deadlock on a transfer), and each one's end recorded:
        the other end's quantity, if known."""
        for r in received:
            not_in_future(end_of(r.payload).at, f"{end}_at")
        fresh = await _first_times(
            self.references, work, f"transfer-{end}", received, lambda p: end_of(p).transfer_id
        )
        ends = [(r, end_of(r.payload)) for r in fresh]
        for _, transfer in ends:
            if transfer.from_location_id == transfer.to_location_id:
                raise RejectedEvent("invalid_transfer", "a transfer must go to another location")
        run = await self.stock.lock_run(
            work.conn,
            [
                (t.sku, location)
                for _, t in ends
                for location in sorted((t.from_location_id, t.to_location_id))
            ],
        )
        others = await self.transfers.record_ends(work.conn, end, [t for _, t in ends])
        return ends, run, others


def _shipped_end(p: TransferShipped) -> TransferEnd:
    return TransferEnd(
        p.transfer_id, p.sku, p.location_id, p.to_location_id, p.quantity, p.shipped_at
    )


def _received_end(p: TransferReceived) -> TransferEnd:
    return TransferEnd(
        p.transfer_id, p.sku, p.from_location_id, p.location_id, p.quantity, p.received_at
    )
