"""The orchestration service's event handlers, registered in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from oms_events.fulfilment import FulfilmentOrderAccepted, FulfilmentOrderRejected
from oms_events.inventory import AvailabilityChanged, ReservationFailed, StockReserved
from oms_events.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderConfirmed,
    OrderLinesCanceled,
    ShippingAddressChanged,
)
from oms_events.values import DeliveryMethod
from oms_orchestration.domain.geo import locate
from oms_orchestration.domain.sourcing import Line
from oms_orchestration.saga import Orchestrator, Step
from oms_orchestration.store.orders import (
    AcceptedOrder,
    save_availability,
    save_orders,
    update_address,
)
from oms_runtime import HandlerContext, Received, Subscription, UnitOfWork

__all__ = ["OrchestrationHandlers"]


def _step(ctx: HandlerContext) -> Step:
    return Step(conn=ctx.conn, outbox=ctx.outbox)


@dataclass
class OrchestrationHandlers:
    orchestrator: Orchestrator

    async def orders_accepted(
        self, work: UnitOfWork, accepted: Sequence[Received[OrderAccepted]]
    ) -> None:
        """Keep what sourcing needs, a run of orders in one statement; the customer is placed
        at their postal zone's centre, a pickup order at its store."""
        await save_orders(work.conn, [self._to_source(r.payload) for r in accepted])

    def _to_source(self, order: OrderAccepted) -> AcceptedOrder:
        config = self.orchestrator.config
        destination = None
        if order.delivery_method is not DeliveryMethod.HOME_DELIVERY and order.pickup_store_id:
            store = config.location(order.pickup_store_id)
            destination = store.point if store else None
        elif order.shipping_address is not None:
            address = order.shipping_address
            destination = locate(config.zones(), address.country, address.postal_code)
        return AcceptedOrder(
            order_id=order.order_id,
            channel=order.channel,
            delivery_method=order.delivery_method.value,
            pickup_store_id=order.pickup_store_id,
            destination=destination,
            shipping_address=(
                order.shipping_address.model_dump(mode="json") if order.shipping_address else None
            ),
            lines=[Line(line.line_id, line.sku, line.quantity) for line in order.lines],
        )

    async def address_changed(self, ctx: HandlerContext, event: ShippingAddressChanged) -> None:
        """Before release only (the order service refuses later changes): later sourcing and
        the fulfilment orders use the new address."""
        address = event.address
        await update_address(
            ctx.conn,
            event.order_id,
            address.model_dump(mode="json"),
            locate(self.orchestrator.config.zones(), address.country, address.postal_code),
        )

    async def lines_canceled(self, ctx: HandlerContext, event: OrderLinesCanceled) -> None:
        await self.orchestrator.lines_canceled(
            _step(ctx),
            event.order_id,
            [(line.line_id, line.quantity) for line in event.lines],
            f"lines canceled: {event.reason}"[:2000],
        )

    async def order_confirmed(self, ctx: HandlerContext, event: OrderConfirmed) -> None:
        await self.orchestrator.confirmed(_step(ctx), event.order_id)

    async def order_canceled(self, ctx: HandlerContext, event: OrderCanceled) -> None:
        await self.orchestrator.canceled(_step(ctx), event.order_id)

    async def stock_reserved(self, ctx: HandlerContext, event: StockReserved) -> None:
        await self.orchestrator.answered(_step(ctx), event.reservation_id, held=True)

    async def reservation_failed(self, ctx: HandlerContext, event: ReservationFailed) -> None:
        await self.orchestrator.answered(_step(ctx), event.reservation_id, held=False)

    async def availability_changed(self, ctx: HandlerContext, event: AvailabilityChanged) -> None:
        previous = await save_availability(
            ctx.conn, event.sku, event.location_id, event.available, ctx.envelope.sequence
        )
        if previous is not None and previous <= 0 < event.available:
            await self.orchestrator.stock_back(_step(ctx), event.sku)

    async def fulfilment_accepted(
        self, ctx: HandlerContext, event: FulfilmentOrderAccepted
    ) -> None:
        await self.orchestrator.accepted(_step(ctx), event.fulfilment_order_id)

    async def fulfilment_rejected(
        self, ctx: HandlerContext, event: FulfilmentOrderRejected
    ) -> None:
        reason = f"rejected by {event.location_id}: {event.cause.value}"
        await self.orchestrator.rejected(
            _step(ctx), event.fulfilment_order_id, [line.line_id for line in event.lines], reason
        )

    def shipments(self) -> Subscription:
        return (
            Subscription("oms.shipments")
            .each(FulfilmentOrderAccepted, self.fulfilment_accepted)
            .each(FulfilmentOrderRejected, self.fulfilment_rejected)
        )

    def orders(self) -> Subscription:
        return (
            Subscription("oms.orders")
            .batch(OrderAccepted, self.orders_accepted)
            .each(OrderConfirmed, self.order_confirmed)
            .each(OrderCanceled, self.order_canceled)
            .each(ShippingAddressChanged, self.address_changed)
            .each(OrderLinesCanceled, self.lines_canceled)
        )

    def inventory(self) -> Subscription:
        return (
            Subscription("oms.inventory")
            .each(StockReserved, self.stock_reserved)
            .each(ReservationFailed, self.reservation_failed)
        )

    def availability(self) -> Subscription:
        return Subscription("oms.availability").each(AvailabilityChanged, self.availability_changed)
