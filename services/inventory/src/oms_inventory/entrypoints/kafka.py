"""The inventory service's subscriptions: which topic's events reach which use case.

Every topic changes stock, so each batch projects what it changed once, at its end.
"""

from __future__ import annotations

from oms_events.fulfilment import (
    FulfilmentOrderRejected,
    PickupExpired,
    ReadyForPickup,
    ShipmentShipped,
)
from oms_events.inventory import (
    ReduceReservations,
    ReleaseReservations,
    ReservationExpired,
    ReserveStock,
    StockAdjustment,
    StockDayClosed,
    StockReceived,
    StockSnapshot,
    TransferReceived,
    TransferShipped,
)
from oms_events.returns import ReturnInspected
from oms_events.sourcing import FulfilmentOrderCreated
from oms_inventory.adapters.projection import publish_changes
from oms_inventory.service_layer.day_close import DayClose
from oms_inventory.service_layer.feed import FeedHandlers
from oms_inventory.service_layer.reservations import ReservationHandlers
from oms_inventory.service_layer.returns import ReturnHandlers
from oms_runtime import Subscription

__all__ = ["recorded_decisions", "subscriptions"]


def subscriptions(
    reservations: ReservationHandlers, feed: FeedHandlers, returns: ReturnHandlers
) -> list[Subscription]:
    topics = [
        Subscription("oms.reservation-requests")
        .batch(ReserveStock, reservations.reserve)
        .each(ReleaseReservations, reservations.release)
        .each(ReduceReservations, reservations.reduce),
        Subscription("oms.sourcing").batch(FulfilmentOrderCreated, reservations.released),
        Subscription("oms.shipments")
        .each(ShipmentShipped, reservations.shipped)
        .each(ReadyForPickup, reservations.ready_for_pickup)
        .each(FulfilmentOrderRejected, reservations.rejected)
        .each(PickupExpired, returns.pickup_expired),
        Subscription("oms.inventory-feed")
        .batch(StockSnapshot, feed.stock_snapshot)
        .batch(StockAdjustment, feed.stock_adjustment)
        .batch(StockReceived, feed.stock_received)
        .batch(TransferShipped, feed.transfer_shipped)
        .batch(TransferReceived, feed.transfer_received),
        Subscription("oms.returns").each(ReturnInspected, returns.return_inspected),
    ]
    return [topic.finish(publish_changes) for topic in topics]


def recorded_decisions(
    reservations: ReservationHandlers, day_close: DayClose
) -> tuple[Subscription, ...]:
    """A rebuild only: the expiry sweep's and the day close's decisions, read back from the
    service's own topic."""
    return (
        Subscription("oms.inventory")
        .each(ReservationExpired, reservations.expired_as_recorded)
        .batch(StockDayClosed, day_close.closed_as_recorded)
        .finish(publish_changes),
    )
