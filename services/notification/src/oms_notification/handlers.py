"""The notification service's event handlers, registered in one place."""

from __future__ import annotations

import uuid

import structlog

from oms_events.notifications import NotificationChannel
from oms_events.orders import OrderAccepted
from oms_notification.domain.templates import TEMPLATES
from oms_notification.store.notifications import queue_notification
from oms_runtime import Handler, HandlerContext

__all__ = ["ORDER_HANDLERS"]

_log = structlog.get_logger(__name__)
_DEFAULT_LOCALE = "en"


async def order_accepted(ctx: HandlerContext, order: OrderAccepted) -> None:
    """Tell the customer their order was received: one e-mail per acceptance."""
    trigger = ctx.envelope
    notification_id = f"ntf_{uuid.uuid5(trigger.id, NotificationChannel.EMAIL.value).hex}"
    queued = await queue_notification(
        ctx.conn,
        notification_id=notification_id,
        order_id=order.order_id,
        trigger_event_id=trigger.id,
        trigger_type=trigger.type,
        channel=NotificationChannel.EMAIL.value,
        template=TEMPLATES[trigger.type],
        locale=_DEFAULT_LOCALE,
    )
    _log.info("notification_queued" if queued else "notification_exists", order_id=order.order_id)


ORDER_HANDLERS: dict[str, Handler] = {"OrderAccepted": order_accepted}
