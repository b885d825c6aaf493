"""The order service's event and command handlers, registered in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from oms_events.codec import InvalidPayload
from oms_events.fulfilment import Delivered, ShipmentShipped
from oms_events.orders import (
    CancelOrder,
    ChangeShippingAddress,
    HoldOrder,
    OrderCancellationRequested,
    OrderSubmitted,
    ReleaseOrder,
)
from oms_events.sourcing import FulfilmentOrderCreated, OrderAllocated, OrderBackordered
from oms_events.values import Actor
from oms_order.actions import (
    OrderActions,
    OrderNotFound,
    Work,
    unreadable_order_identity,
    unreadable_order_reasons,
)
from oms_order.domain.identity import order_id_for
from oms_order.domain.order import TransitionRefused
from oms_order.domain.status import OrderStatus
from oms_runtime import HandlerContext, Subscription

__all__ = ["OrderHandlers"]

_log = structlog.get_logger(__name__)


def _work(ctx: HandlerContext) -> Work:
    return Work(conn=ctx.conn, outbox=ctx.outbox, caused_by=ctx.envelope.id)


@dataclass
class OrderHandlers:
    actions: OrderActions

    # -- intake ----------------------------------------------------------------------------

    async def order_submitted(self, ctx: HandlerContext, order: OrderSubmitted) -> None:
        await self.actions.submit(_work(ctx), order)

    async def order_unreadable(self, ctx: HandlerContext, error: InvalidPayload) -> bool:
        """An order the contract cannot read is still an order: kept as REJECTED, with why.

        Without a channel and external id there is no order to speak of: dead-lettered.
        """
        identity = unreadable_order_identity(error.envelope.data if error.envelope else {})
        if identity is None:
            return False
        reasons = unreadable_order_reasons(error.errors, str(error))
        await self.actions.reject_unreadable(_work(ctx), *identity, reasons)
        return True

    async def cancellation_requested(
        self, ctx: HandlerContext, request: OrderCancellationRequested
    ) -> None:
        await self._command(
            ctx,
            "OrderCancellationRequested",
            None,
            self.actions.request_cancellation(
                _work(ctx),
                channel=request.channel,
                external_order_id=request.external_order_id,
                lines=request.lines,
                reason=request.reason,
                requested_at=request.requested_at,
            ),
            order_id=order_id_for(request.channel, request.external_order_id),
        )

    # -- customer-service commands ---------------------------------------------------------

    async def cancel_order(self, ctx: HandlerContext, command: CancelOrder) -> None:
        await self._command(
            ctx,
            "CancelOrder",
            command.requested_by,
            self.actions.cancel(
                _work(ctx),
                command.order_id,
                lines=command.lines,
                reason=command.reason,
                actor=command.requested_by,
            ),
            order_id=command.order_id,
        )

    async def hold_order(self, ctx: HandlerContext, command: HoldOrder) -> None:
        await self._command(
            ctx,
            "HoldOrder",
            command.requested_by,
            self.actions.hold(
                _work(ctx),
                command.order_id,
                reason=command.reason,
                note=command.note,
                actor=command.requested_by,
            ),
            order_id=command.order_id,
        )

    async def release_order(self, ctx: HandlerContext, command: ReleaseOrder) -> None:
        await self._command(
            ctx,
            "ReleaseOrder",
            command.requested_by,
            self.actions.release(
                _work(ctx), command.order_id, note=command.note, actor=command.requested_by
            ),
            order_id=command.order_id,
        )

    async def change_shipping_address(
        self, ctx: HandlerContext, command: ChangeShippingAddress
    ) -> None:
        await self._command(
            ctx,
            "ChangeShippingAddress",
            command.requested_by,
            self.actions.change_shipping_address(
                _work(ctx), command.order_id, address=command.address, actor=command.requested_by
            ),
            order_id=command.order_id,
        )

    async def _command(
        self,
        ctx: HandlerContext,
        command_type: str,
        actor: Actor | None,
        action: Any,
        *,
        order_id: str | None = None,
    ) -> None:
        """Run an action; a refused one changes nothing and is answered with the reason."""
        try:
            await action
        except (TransitionRefused, OrderNotFound) as refusal:
            await self.actions.refused(
                _work(ctx),
                refusal,
                order_id=order_id or ctx.envelope.subject,
                command_type=command_type,
                command_id=str(ctx.envelope.id),
                actor=actor,
            )

    # -- sourcing progress -------------------------------------------------------------------

    async def order_allocated(self, ctx: HandlerContext, event: OrderAllocated) -> None:
        await self.actions.progress(
            _work(ctx), event.order_id, OrderStatus.ALLOCATED, "OrderAllocated"
        )

    async def order_backordered(self, ctx: HandlerContext, event: OrderBackordered) -> None:
        await self.actions.progress(
            _work(ctx), event.order_id, OrderStatus.BACKORDERED, "OrderBackordered"
        )

    async def fulfilment_order_created(
        self, ctx: HandlerContext, event: FulfilmentOrderCreated
    ) -> None:
        await self.actions.progress(
            _work(ctx), event.order_id, OrderStatus.RELEASED, "FulfilmentOrderCreated"
        )

    def sourcing(self) -> Subscription:
        return (
            Subscription("oms.sourcing")
            .each(OrderAllocated, self.order_allocated)
            .each(OrderBackordered, self.order_backordered)
            .each(FulfilmentOrderCreated, self.fulfilment_order_created)
        )

    # -- shipments -------------------------------------------------------------------------

    async def shipment_shipped(self, ctx: HandlerContext, event: ShipmentShipped) -> None:
        await self.actions.shipment_shipped(
            _work(ctx), event.order_id, event.shipment_id, event.lines, event.shipped_at
        )

    async def delivered(self, ctx: HandlerContext, event: Delivered) -> None:
        await self.actions.shipment_delivered(
            _work(ctx), event.order_id, event.shipment_id, event.occurred_at
        )

    def shipments(self) -> Subscription:
        return (
            Subscription("oms.shipments")
            .each(ShipmentShipped, self.shipment_shipped)
            .each(Delivered, self.delivered)
        )

    def intake(self) -> Subscription:
        return (
            Subscription("oms.channel-order-intake")
            .each(OrderSubmitted, self.order_submitted)
            .each(OrderCancellationRequested, self.cancellation_requested)
            .invalid(OrderSubmitted, self.order_unreadable)
        )

    def commands(self) -> Subscription:
        return (
            Subscription("oms.order-commands")
            .each(CancelOrder, self.cancel_order)
            .each(HoldOrder, self.hold_order)
            .each(ReleaseOrder, self.release_order)
            .each(ChangeShippingAddress, self.change_shipping_address)
        )
