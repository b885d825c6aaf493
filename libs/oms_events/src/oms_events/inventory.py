"""Stock: the inventory service's decisions, the availability projection and the feeds.

Topics: ``oms.inventory`` and ``oms.availability`` (inventory service, keyed
``sku@location``), ``oms.inventory-feed`` (WMS, ERP and POS) and
``oms.reservation-requests`` (orchestration asks for and gives back stock, keyed by order).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from oms_events._model import EventPayload, event, upcaster
from oms_events.values import (
    Identifier,
    LocationType,
    Quantity,
    Sku,
    StockQuantity,
    UtcDatetime,
    ValueModel,
)

__all__ = [
    "AdjustmentReason",
    "AtLocation",
    "AvailabilityChanged",
    "BackInStock",
    "InventoryDiscrepancyReported",
    "LowStock",
    "NetworkAvailabilityChanged",
    "OutOfStock",
    "ReduceReservations",
    "ReleaseReservations",
    "ReservationExpired",
    "ReservationFailed",
    "ReservationKept",
    "ReservationLine",
    "ReservationReleased",
    "ReserveStock",
    "StockAdjusted",
    "StockAdjustment",
    "StockCommitted",
    "StockDayClosed",
    "StockReceived",
    "StockReserved",
    "StockSnapshot",
    "StockSnapshotV1",
    "TransferReceived",
    "TransferShipped",
    "upcast_stock_snapshot_v1_v2",
]

_Text = Annotated[str, StringConstraints(max_length=2000)]
_Delta = Annotated[int, Field(strict=True)]


class AdjustmentReason(StrEnum):
    CYCLE_COUNT = "cycle_count"
    DAMAGED = "damaged"
    LOST = "lost"
    FOUND = "found"
    RETURN_RESTOCKED = "return_restocked"
    QUARANTINED = "quarantined"
    CORRECTION = "correction"
    SNAPSHOT = "snapshot"


class AtLocation(EventPayload):
    """Every stock fact is about one SKU at one location (the record key)."""

    sku: Sku
    location_id: Identifier


# --- reservation requests (orchestration) -----------------------------------------------

_MAX_HOLD_S = 90 * 24 * 60 * 60


class ReservationLine(ValueModel):
    """Units of one order line at one location; ``reservation_id`` makes asking idempotent."""

    reservation_id: Identifier
    line_id: Identifier
    sku: Sku
    location_id: Identifier
    quantity: Annotated[int, Field(strict=True, gt=0, le=1_000_000)]


@event("ReserveStock")
class ReserveStock(EventPayload):
    """Orchestration asks for stock; every line is answered with StockReserved or
    ReservationFailed.

    A reservation id that is already held, committed or released is never reserved again, so
    redelivered and replayed requests reserve nothing twice; one that failed may be asked
    for again (stock may have arrived since).
    """

    order_id: Identifier
    request_id: Identifier
    lines: Annotated[tuple[ReservationLine, ...], Field(min_length=1, max_length=500)]
    all_or_nothing: bool = False
    """Reserve every line or none (a ship-together group)."""
    hold_for_s: Annotated[int, Field(strict=True, ge=1, le=_MAX_HOLD_S)] | None = None
    """How long the units are held unless committed; the service's default when absent."""
    requested_at: UtcDatetime

    @model_validator(mode="after")
    def _distinct_reservations(self) -> ReserveStock:
        ids = [line.reservation_id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("each line needs its own reservation_id")
        return self


@event("ReleaseReservations")
class ReleaseReservations(EventPayload):
    """Give stock back (cancellation, payment failure, re-sourcing).

    No ids releases every reservation of the order still held.
    """

    order_id: Identifier
    reservation_ids: Annotated[tuple[Identifier, ...], Field(max_length=500)] = ()
    reason: _Text


class ReservationKept(ValueModel):
    """What is left of one reservation: ``keep`` units, fewer than it holds."""

    reservation_id: Identifier
    keep: Quantity


@event("ReduceReservations")
class ReduceReservations(EventPayload):
    """Give back part of held reservations (some units of a released line canceled): each
    keeps ``keep`` units and the rest go back to stock (``ReservationReleased`` with the units
    given back). The target is absolute, so a repeated or replayed request gives nothing back
    twice; a reservation that holds no more than ``keep`` (or no longer holds) is left as it
    is, and units already committed are never given back.
    """

    order_id: Identifier
    reservations: Annotated[tuple[ReservationKept, ...], Field(min_length=1, max_length=500)]
    reason: _Text

    @model_validator(mode="after")
    def _distinct_reservations(self) -> ReduceReservations:
        ids = [r.reservation_id for r in self.reservations]
        if len(set(ids)) != len(ids):
            raise ValueError("each reservation appears once")
        return self


# --- reservations ------------------------------------------------------------------------


@event("StockReserved")
class StockReserved(AtLocation):
    reservation_id: Identifier
    order_id: Identifier
    line_id: Identifier
    quantity: Quantity
    expires_at: UtcDatetime


@event("ReservationFailed")
class ReservationFailed(AtLocation):
    reservation_id: Identifier
    order_id: Identifier
    line_id: Identifier
    requested: Quantity
    available: _Delta
    reason: _Text


@event("ReservationReleased")
class ReservationReleased(AtLocation):
    reservation_id: Identifier
    order_id: Identifier
    quantity: Quantity
    reason: _Text


@event("ReservationExpired")
class ReservationExpired(AtLocation):
    reservation_id: Identifier
    order_id: Identifier
    quantity: Quantity
    expired_at: UtcDatetime


@event("StockCommitted")
class StockCommitted(AtLocation):
    """Reserved units left the building: on hand and reserved both drop."""

    reservation_id: Identifier
    order_id: Identifier
    shipment_id: Identifier
    quantity: Quantity


# --- levels and alerts -------------------------------------------------------------------


@event("StockAdjusted")
class StockAdjusted(AtLocation):
    """On hand changed for a reason other than a reservation; applied from a feed or a return."""

    delta: _Delta
    reason: AdjustmentReason
    on_hand: StockQuantity
    """On hand after the adjustment."""
    source_event_id: Identifier | None = None


@event("LowStock")
class LowStock(AtLocation):
    available: _Delta
    threshold: StockQuantity


@event("OutOfStock")
class OutOfStock(AtLocation):
    since: UtcDatetime


@event("BackInStock")
class BackInStock(AtLocation):
    available: Quantity


@event("StockDayClosed")
class StockDayClosed(AtLocation):
    """The stock of one SKU at one location as a UTC day closed, once per day: the history of
    stock levels that the compacted availability topic does not keep (inventory turnover
    divides the units moved by the average of these).

    Read by the inventory service's day-close sweep at most one sweep interval after
    midnight (``taken_at``); units that moved in between are in the next day's figures."""

    day: date
    on_hand: StockQuantity
    reserved: StockQuantity
    in_transit: StockQuantity
    quarantined: StockQuantity
    taken_at: UtcDatetime


@event("InventoryDiscrepancyReported")
class InventoryDiscrepancyReported(AtLocation):
    """A feed disagrees with what the OMS expected; raised for a human to look at."""

    expected_on_hand: _Delta
    reported_on_hand: StockQuantity
    source: Identifier
    note: _Text | None = None


@event("AvailabilityChanged")
class AvailabilityChanged(AtLocation):
    """Latest stock picture of one SKU at one location (compacted topic: last one wins).

    ``available`` = on_hand - reserved - safety_stock; it may be negative after a
    downward correction, and channels should treat that as zero.
    """

    location_type: LocationType
    on_hand: StockQuantity
    reserved: StockQuantity
    safety_stock: StockQuantity
    in_transit: StockQuantity
    quarantined: StockQuantity
    available: _Delta
    as_of: UtcDatetime


@event("NetworkAvailabilityChanged")
class NetworkAvailabilityChanged(EventPayload):
    """Network-wide stock of one SKU: the sums over every location (key ``sku@*``).

    ``available`` counts only positive per-location availability: a location short of
    stock cannot lend units to another.
    """

    sku: Sku
    on_hand: StockQuantity
    reserved: StockQuantity
    in_transit: StockQuantity
    quarantined: StockQuantity
    available: StockQuantity
    locations_in_stock: StockQuantity
    as_of: UtcDatetime


# --- feeds from WMS / ERP / POS ----------------------------------------------------------


@event("StockSnapshot", version=1)
class StockSnapshotV1(AtLocation):
    """First feed format: ordered by ``as_of`` alone, which ties when clocks are coarse."""

    on_hand: StockQuantity
    as_of: UtcDatetime


@event("StockSnapshot", version=2)
class StockSnapshot(AtLocation):
    """The source's count of one SKU at one location.

    A snapshot older than the last applied one, by (as_of, source_sequence), is
    ignored, so a late feed never overwrites a newer count.
    """

    on_hand: StockQuantity
    as_of: UtcDatetime
    source_sequence: Annotated[int, Field(strict=True, ge=0)]
    """Monotonic per feed source; 0 for snapshots upcast from v1."""


@upcaster("StockSnapshot", from_version=1)
def upcast_stock_snapshot_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 had no sequence; 0 sorts before any real one, so as_of alone decides."""
    return {**data, "source_sequence": 0}


@event("StockAdjustment")
class StockAdjustment(AtLocation):
    adjustment_id: Identifier
    delta: _Delta
    reason: AdjustmentReason
    occurred_at: UtcDatetime
    source: Identifier


@event("StockReceived")
class StockReceived(AtLocation):
    receipt_id: Identifier
    quantity: Quantity
    purchase_order_id: Identifier | None = None
    received_at: UtcDatetime


@event("TransferShipped")
class TransferShipped(AtLocation):
    """Keyed by the sending location (``location_id``); the units become in transit."""

    transfer_id: Identifier
    to_location_id: Identifier
    quantity: Quantity
    shipped_at: UtcDatetime


@event("TransferReceived")
class TransferReceived(AtLocation):
    """Keyed by the receiving location (``location_id``)."""

    transfer_id: Identifier
    from_location_id: Identifier
    quantity: Quantity
    received_at: UtcDatetime
