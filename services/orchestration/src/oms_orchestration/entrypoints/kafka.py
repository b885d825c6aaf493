"""The orchestration service's subscriptions: each event type of each topic to its use case,
translated from the contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from oms_events.fulfilment import FulfilmentOrderAccepted, FulfilmentOrderRejected
from oms_events.inventory import (
    AvailabilityChanged,
    ReservationExpired,
    ReservationFailed,
    StockReserved,
)
from oms_events.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderConfirmed,
    OrderLinesCanceled,
    ShippingAddressChanged,
)
from oms_events.sourcing import FulfilmentOrderCanceled, FulfilmentOrderCreated, SourcingDecided
from oms_events.values import DeliveryMethod
from oms_orchestration.adapters.orders import (
    AcceptedOrder,
    AvailabilitySeen,
    save_availability,
    save_orders,
    update_address,
)
from oms_orchestration.domain.geo import locate
from oms_orchestration.domain.sourcing import Line
from oms_orchestration.service_layer.recalled import RecalledDecisions
from oms_orchestration.service_layer.saga import Orchestrator
from oms_runtime import Received, Subscription, UnitOfWork

__all__ = ["OrchestrationHandlers", "recalled_decisions"]


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
            placed_at=order.placed_at,
            promised_by=order.promised_by,
        )

    async def address_changed(
        self, work: UnitOfWork, received: Received[ShippingAddressChanged]
    ) -> None:
        """Before release only (the order service refuses later changes): later sourcing and
        the fulfilment orders use the new address."""
        event = received.payload
        address = event.address
        await update_address(
            work.conn,
            event.order_id,
            address.model_dump(mode="json"),
            locate(self.orchestrator.config.zones(), address.country, address.postal_code),
        )

    async def lines_canceled(
        self, work: UnitOfWork, received: Received[OrderLinesCanceled]
    ) -> None:
        event = received.payload
        await self.orchestrator.lines_canceled(
            work,
            event.order_id,
            [(line.line_id, line.quantity) for line in event.lines],
            f"lines canceled: {event.reason}"[:2000],
        )

    async def orders_confirmed(
        self, work: UnitOfWork, confirmed: Sequence[Received[OrderConfirmed]]
    ) -> None:
        await self.orchestrator.confirmed(
            work, [(work.for_event(r.envelope), r.payload.order_id) for r in confirmed]
        )

    async def order_canceled(self, work: UnitOfWork, received: Received[OrderCanceled]) -> None:
        event = received.payload
        await self.orchestrator.canceled(work, event.order_id)

    async def stock_reserved(
        self, work: UnitOfWork, reserved: Sequence[Received[StockReserved]]
    ) -> None:
        await self.orchestrator.answered(
            work, [(work.for_event(r.envelope), r.payload.reservation_id, True) for r in reserved]
        )

    async def reservations_failed(
        self, work: UnitOfWork, failed: Sequence[Received[ReservationFailed]]
    ) -> None:
        await self.orchestrator.answered(
            work, [(work.for_event(r.envelope), r.payload.reservation_id, False) for r in failed]
        )

    async def reservations_expired(
        self, work: UnitOfWork, expired: Sequence[Received[ReservationExpired]]
    ) -> None:
        await self.orchestrator.lapsed(
            work, [(work.for_event(r.envelope), r.payload.reservation_id) for r in expired]
        )

    async def availability_changed(
        self, work: UnitOfWork, changes: Sequence[Received[AvailabilityChanged]]
    ) -> None:
        """Keep the newest picture (one statement for the run); where stock came back,
        waiting orders are sourced again."""
        seen = [
            AvailabilitySeen(
                r.payload.sku, r.payload.location_id, r.payload.available, r.envelope.sequence
            )
            for r in changes
        ]
        came_back = await save_availability(work.conn, seen)
        for sku in dict.fromkeys(sku for sku, _ in came_back):
            cause = next(r for r in changes if r.payload.sku == sku)
            await self.orchestrator.stock_back(work.for_event(cause.envelope), sku)

    async def fulfilment_accepted(
        self, work: UnitOfWork, received: Received[FulfilmentOrderAccepted]
    ) -> None:
        event = received.payload
        await self.orchestrator.accepted(work, event.fulfilment_order_id)

    async def fulfilment_rejected(
        self, work: UnitOfWork, received: Received[FulfilmentOrderRejected]
    ) -> None:
        event = received.payload
        reason = f"rejected by {event.location_id}: {event.cause.value}"
        await self.orchestrator.rejected(
            work, event.fulfilment_order_id, [line.line_id for line in event.lines], reason
        )

    async def expired_as_recorded(
        self, work: UnitOfWork, received: Received[FulfilmentOrderCanceled]
    ) -> None:
        """A rebuild only: the deadline sweep's call-offs, the only ones no input caused (a
        timer's events name no cause)."""
        if received.envelope.causationid is None:
            event = received.payload
            await self.orchestrator.expired_as_recorded(
                work, event.fulfilment_order_id, event.reason
            )

    def recorded_decisions(self) -> Subscription:
        """A rebuild only, at their place in time: the fulfilment orders the live deadline
        sweep moved on."""
        return Subscription("oms.sourcing").each(FulfilmentOrderCanceled, self.expired_as_recorded)

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
            .batch(OrderConfirmed, self.orders_confirmed)
            .each(OrderCanceled, self.order_canceled)
            .each(ShippingAddressChanged, self.address_changed)
            .each(OrderLinesCanceled, self.lines_canceled)
        )

    def inventory(self) -> Subscription:
        return (
            Subscription("oms.inventory")
            .batch(StockReserved, self.stock_reserved)
            .batch(ReservationFailed, self.reservations_failed)
            .batch(ReservationExpired, self.reservations_expired)
        )

    def availability(self) -> Subscription:
        return Subscription("oms.availability").batch(
            AvailabilityChanged, self.availability_changed
        )


def recalled_decisions(decisions: RecalledDecisions) -> Subscription:
    """A rebuild only, before the inputs: the plans and deadlines the live service decided,
    read back from its own topic."""
    return (
        Subscription("oms.sourcing")
        .batch(SourcingDecided, decisions.decided)
        .batch(FulfilmentOrderCreated, decisions.released)
    )
