"""The notification service's subscriptions: which events reach which use case."""

from __future__ import annotations

from oms_events.orders import OrderAccepted, OrderCanceled, OrderRejected
from oms_events.payments import PaymentFailed
from oms_notification.service_layer.notify import Notifier
from oms_runtime import Subscription

__all__ = ["subscriptions"]


def subscriptions(notifier: Notifier) -> list[Subscription]:
    customer_visible_changes = notifier.customer_visible_changes
    return [
        Subscription("oms.orders")
        .batch(OrderAccepted, customer_visible_changes)
        .batch(OrderRejected, customer_visible_changes)
        .batch(OrderCanceled, customer_visible_changes),
        Subscription("oms.payments").batch(PaymentFailed, customer_visible_changes),
    ]
