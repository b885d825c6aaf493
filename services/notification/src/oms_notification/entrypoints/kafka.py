"""The notification service's subscriptions: which events reach which use case.

Every event of the order-lifecycle topics is noted for the webhook subscriptions (one
queueing statement per batch, the subscription's finish step); the customer-visible ones
also become customer messages. Low and out of stock, orders stuck in a status and records
any service dead-lettered become operations alerts (an ``OrderStuck`` is also offered to the
webhook subscriptions, like every event of ``oms.orders``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_events.fulfilment import (
    Delivered,
    OutForDelivery,
    PickedUpByCustomer,
    ReadyForPickup,
    ShipmentShipped,
)
from oms_events.inventory import LowStock, OutOfStock
from oms_events.notifications import NotificationFailed, NotificationSent, NotificationSuppressed
from oms_events.operations import RecordDeadLettered
from oms_events.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderConfirmed,
    OrderHeld,
    OrderLinesCanceled,
    OrderStuck,
    ShippingAddressChanged,
)
from oms_events.payments import PaymentCaptured, PaymentFailed, RefundIssued
from oms_events.registry import latest_model
from oms_events.returns import ReturnAuthorized, ReturnReceived
from oms_events.sourcing import FulfilmentOrderCreated, OrderBackordered
from oms_events.topics import topic
from oms_notification.service_layer.alerts import Alerts
from oms_notification.service_layer.messages import CustomerMessages
from oms_notification.service_layer.outcomes import RecordedOutcomes
from oms_notification.service_layer.webhooks import WEBHOOK_TOPICS, WebhookQueue
from oms_runtime import BatchHandler, Received, Subscription, UnitOfWork

__all__ = ["recorded_outcomes", "subscriptions"]


def _both(first: BatchHandler, second: BatchHandler) -> BatchHandler:
    async def handle(work: UnitOfWork, run: Sequence[Received[Any]]) -> None:
        await first(work, run)
        await second(work, run)

    return handle


def _customer_handlers(messages: CustomerMessages) -> dict[str, BatchHandler]:
    """The events customers hear of, and the use case each goes to."""
    changes = messages.changes
    handlers: dict[type[Any], BatchHandler] = {
        OrderAccepted: messages.accepted,
        ShippingAddressChanged: messages.address_changed,
        PaymentCaptured: messages.captured,
        **dict.fromkeys(
            (
                OrderConfirmed,
                OrderHeld,
                OrderCanceled,
                OrderLinesCanceled,
                PaymentFailed,
                RefundIssued,
                OrderBackordered,
                FulfilmentOrderCreated,
                ShipmentShipped,
                OutForDelivery,
                Delivered,
                ReadyForPickup,
                PickedUpByCustomer,
                ReturnAuthorized,
                ReturnReceived,
            ),
            changes,
        ),
    }
    return {t.event_type: h for t, h in handlers.items()}


def subscriptions(
    messages: CustomerMessages, webhooks: WebhookQueue, alerts: Alerts
) -> list[Subscription]:
    customer = _customer_handlers(messages)
    found = []
    for name in WEBHOOK_TOPICS:
        subscription = Subscription(name).finish(webhooks.queue)
        for event_type in topic(name).event_types:
            handler: BatchHandler = webhooks.note
            if event_type in customer:
                handler = _both(customer[event_type], webhooks.note)
            elif event_type == OrderStuck.event_type:
                handler = _both(alerts.alerts, webhooks.note)
            subscription.batch(latest_model(event_type), handler)
        found.append(subscription)
    found.append(
        Subscription("oms.inventory")
        .batch(LowStock, alerts.alerts)
        .batch(OutOfStock, alerts.alerts)
    )
    found.append(Subscription("oms.operations").batch(RecordDeadLettered, alerts.alerts))
    return found


def recorded_outcomes(outcomes: RecordedOutcomes) -> tuple[Subscription, ...]:
    """A rebuild only: what became of each customer message, read back from the service's
    own topic (a rebuild sends nothing). Webhook outcomes need no reading back: the rebuild
    copies the deliveries from the live database."""
    return (
        Subscription("oms.notifications")
        .batch(NotificationSent, outcomes.apply)
        .batch(NotificationFailed, outcomes.apply)
        .batch(NotificationSuppressed, outcomes.apply),
    )
