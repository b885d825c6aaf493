"""The notification service's subscriptions: which events reach which use case."""

from __future__ import annotations

from oms_events.fulfilment import Delivered, ShipmentShipped
from oms_events.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderConfirmed,
    OrderHeld,
    OrderLinesCanceled,
    ShippingAddressChanged,
)
from oms_events.payments import PaymentCaptured, PaymentFailed, RefundIssued
from oms_events.sourcing import FulfilmentOrderCreated, OrderBackordered
from oms_notification.service_layer.messages import CustomerMessages
from oms_runtime import Subscription

__all__ = ["subscriptions"]


def subscriptions(messages: CustomerMessages) -> list[Subscription]:
    changes = messages.changes
    return [
        Subscription("oms.orders")
        .batch(OrderAccepted, messages.accepted)
        .batch(ShippingAddressChanged, messages.address_changed)
        .batch(OrderConfirmed, changes)
        .batch(OrderHeld, changes)
        .batch(OrderCanceled, changes)
        .batch(OrderLinesCanceled, changes),
        Subscription("oms.payments")
        .batch(PaymentCaptured, messages.captured)
        .batch(PaymentFailed, changes)
        .batch(RefundIssued, changes),
        Subscription("oms.sourcing")
        .batch(OrderBackordered, changes)
        .batch(FulfilmentOrderCreated, changes),
        Subscription("oms.shipments").batch(ShipmentShipped, changes).batch(Delivered, changes),
    ]
