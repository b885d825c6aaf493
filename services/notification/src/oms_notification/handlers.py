"""The notification service's event handlers, registered in one place."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from oms_events.notifications import NotificationChannel
from oms_notification.domain.templates import TEMPLATES, TOPICS_NOTIFIED
from oms_notification.store.notifications import queue_notification
from oms_runtime import Handler, HandlerContext

__all__ = ["handlers_for"]

_log = structlog.get_logger(__name__)
_DEFAULT_LOCALE = "en"


async def customer_visible_change(ctx: HandlerContext, event: Any) -> None:
    """One e-mail per customer-visible change: keyed by the event, so never twice."""
    trigger = ctx.envelope
    notification_id = f"ntf_{uuid.uuid5(trigger.id, NotificationChannel.EMAIL.value).hex}"
    queued = await queue_notification(
        ctx.conn,
        notification_id=notification_id,
        order_id=event.order_id,
        trigger_event_id=trigger.id,
        trigger_type=trigger.type,
        channel=NotificationChannel.EMAIL.value,
        template=TEMPLATES[trigger.type],
        locale=_DEFAULT_LOCALE,
    )
    _log.info(
        "notification_queued" if queued else "notification_exists",
        order_id=event.order_id,
        template=TEMPLATES[trigger.type],
    )


def handlers_for(topic: str) -> dict[str, Handler]:
    return {event_type: customer_visible_change for event_type in TOPICS_NOTIFIED[topic]}
