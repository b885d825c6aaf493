"""The notification service's subscriptions: which events reach which use case."""

from __future__ import annotations

from oms_events.orders import OrderAccepted, OrderCanceled, OrderRejected
from oms_events.payments import PaymentFailed
from oms_notification.service_layer.notify import customer_visible_changes
from oms_runtime import Subscription

__all__ = ["subscriptions"]


def subscriptions() -> list[Subscription]:
    return [
        Subscription("oms.orders")
        .batch(OrderAccepted, customer_visible_changes)
        .batch(OrderRejected, customer_visible_changes)
        .batch(OrderCanceled, customer_visible_changes),
        Subscription("oms.payments").batch(PaymentFailed, customer_visible_changes),
    ]
