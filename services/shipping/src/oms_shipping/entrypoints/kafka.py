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
from oms_shipping.service_layer.tracking import TrackingHandlers

__all__ = ["subscriptions"]


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
