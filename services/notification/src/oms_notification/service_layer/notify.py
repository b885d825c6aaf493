"""Tell customers about the changes they can see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import structlog

from oms_events.notifications import NotificationChannel
from oms_events.orders import OrderAccepted, OrderCanceled, OrderRejected
from oms_events.payments import PaymentFailed
from oms_notification.adapters.notifications import QueuedMessage
from oms_notification.domain.templates import TEMPLATES
from oms_runtime import Received, UnitOfWork

__all__ = ["CustomerVisibleChange", "NotificationStore", "Notifier"]

_log = structlog.get_logger(__name__)
_DEFAULT_LOCALE = "en"

CustomerVisibleChange = OrderAccepted | OrderRejected | OrderCanceled | PaymentFailed


class NotificationStore(Protocol):
    async def queue_notifications(
        self, conn: asyncpg.Connection, messages: Sequence[QueuedMessage]
    ) -> int:
        """Queue each message once per (trigger event, channel); how many were new."""
        ...


@dataclass(frozen=True)
class Notifier:
    store: NotificationStore

    async def customer_visible_changes(
        self, work: UnitOfWork, changes: Sequence[Received[CustomerVisibleChange]]
    ) -> None:
        """One e-mail per customer-visible change, the whole run in one statement: keyed by
        the event, so never twice."""
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
        queued = await self.store.queue_notifications(work.conn, messages)
        _log.info("notifications_queued", queued=queued, existing=len(messages) - queued)
