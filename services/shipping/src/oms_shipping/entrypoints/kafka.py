"""The shipping service's subscriptions: which events reach which use case.

Released work arrives in runs (``.batch``), carrier scans too; staff actions are rare and
each touches one fulfilment order (``.each``).
"""

from __future__ import annotations

from oms_events.fulfilment import (
    Collected,
    FulfilmentAccepted,
    FulfilmentRejected,
    HandedOver,
    ParcelPacked,
    PickStarted,
    PickupExpired,
    ReadyForPickup,
    ReadyToShip,
    ReceivedAtStore,
    TrackingUpdateReceived,
)
from oms_events.sourcing import (
    FulfilmentOrderCanceled,
    FulfilmentOrderCreated,
    FulfilmentOrderLinesCanceled,
)
from oms_runtime import Subscription
from oms_shipping.service_layer.fulfilment import FulfilmentHandlers
from oms_shipping.service_layer.recalled import RecalledDecisions
from oms_shipping.service_layer.tracking import TrackingHandlers
from oms_shipping.service_layer.uncollected import RecordedExpiries

__all__ = ["recalled_decisions", "recorded_decisions", "subscriptions"]


def subscriptions(fulfilment: FulfilmentHandlers, tracking: TrackingHandlers) -> list[Subscription]:
    return [
        Subscription("oms.sourcing")
        .batch(FulfilmentOrderCreated, fulfilment.created)
        .each(FulfilmentOrderCanceled, fulfilment.called_off)
        .each(FulfilmentOrderLinesCanceled, fulfilment.lines_canceled),
        Subscription("oms.staff-actions")
        .each(FulfilmentAccepted, fulfilment.staff_action)
        .each(FulfilmentRejected, fulfilment.staff_action)
        .each(PickStarted, fulfilment.staff_action)
        .each(ParcelPacked, fulfilment.staff_action)
        .each(HandedOver, fulfilment.staff_action)
        .each(ReceivedAtStore, fulfilment.staff_action)
        .each(Collected, fulfilment.staff_action),
        Subscription("oms.carrier-tracking").batch(TrackingUpdateReceived, tracking.updates),
    ]


def recalled_decisions(decisions: RecalledDecisions) -> tuple[Subscription, ...]:
    """A rebuild only, before the inputs: the tracking numbers and pickup codes the live
    service drew, read back from its own topic."""
    return (
        Subscription("oms.shipments")
        .batch(ReadyToShip, decisions.labels_issued)
        .batch(ReadyForPickup, decisions.codes_drawn),
    )


def recorded_decisions(expiries: RecordedExpiries) -> tuple[Subscription, ...]:
    """A rebuild only, at their place in time: the pickups the live sweep expired."""
    return (Subscription("oms.shipments").each(PickupExpired, expiries.expired),)
