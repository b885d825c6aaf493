"""The notification service's event handlers, registered in one place."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog

from oms_events.notifications import NotificationChannel
from oms_events.orders import OrderAccepted, OrderCanceled, OrderRejected
from oms_events.payments import PaymentFailed
from oms_notification.domain.templates import TEMPLATES
from oms_notification.store.notifications import QueuedMessage, queue_notifications
from oms_runtime import Received, Subscription, UnitOfWork

__all__ = ["subscriptions"]

_log = structlog.get_logger(__name__)
_DEFAULT_LOCALE = "en"

CustomerVisibleChange = OrderAccepted | OrderRejected | OrderCanceled | PaymentFailed


async def customer_visible_changes(
    work: UnitOfWork, changes: Sequence[Received[CustomerVisibleChange]]
) -> None:
    """One e-mail per customer-visible change, the whole run in one statement: keyed by the
    event, so never twice."""
    email = NotificationChannel.EMAIL.value
    messages = [
        QueuedMessage(
            notification_id=f"ntf_{uuid.uuid5(change.envelope.id, email).hex}",
            order_id=change.payload.order_id,
            trigger_event_id=change.envelope.id,
            trigger_type=change.envelope.type,
            channel=email,
            template=TEMPLATES[change.envelope.type],
            locale=_DEFAULT_LOCALE,
        )
        for change in changes
    ]
    queued = await queue_notifications(work.conn, messages)
    _log.info("notifications_queued", queued=queued, existing=len(messages) - queued)


def subscriptions() -> list[Subscription]:
    return [
        Subscription("oms.orders")
        .batch(OrderAccepted, customer_visible_changes)
        .batch(OrderRejected, customer_visible_changes)
        .batch(OrderCanceled, customer_visible_changes),
        Subscription("oms.payments").batch(PaymentFailed, customer_visible_changes),
    ]
