"""The order service's event handlers, registered in one place."""

from __future__ import annotations

import structlog

from oms_events.orders import OrderAccepted, OrderSubmitted
from oms_order.domain.identity import order_id_for
from oms_order.domain.status import OrderStatus
from oms_order.store.orders import append_timeline, insert_order
from oms_runtime import Handler, HandlerContext

__all__ = ["INTAKE_HANDLERS"]

_log = structlog.get_logger(__name__)


async def order_submitted(ctx: HandlerContext, order: OrderSubmitted) -> None:
    """A channel's order: stored once per (channel, external id) and announced as accepted."""
    order_id = order_id_for(order.channel, order.external_order_id)
    if not await insert_order(ctx.conn, order_id, order, OrderStatus.PENDING):
        _log.info("order_duplicate", order_id=order_id, channel=order.channel)
        return
    accepted = OrderAccepted(
        order_id=order_id,
        **order.model_dump(
            include={
                "channel",
                "external_order_id",
                "placed_at",
                "customer",
                "billing_address",
                "shipping_address",
                "pickup_store_id",
                "delivery_method",
                "currency",
                "lines",
                "totals",
                "payment",
                "extras",
            }
        ),
    )
    sequence = await append_timeline(
        ctx.conn,
        order_id,
        event_type="OrderAccepted",
        caused_by=ctx.envelope.id,
        actor=f"channel:{order.channel}",
    )
    ctx.emit(accepted, subject=order_id, sequence=sequence)
    _log.info("order_accepted", order_id=order_id, channel=order.channel)


INTAKE_HANDLERS: dict[str, Handler] = {"OrderSubmitted": order_submitted}
