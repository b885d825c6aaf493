"""The order service's subscriptions: each event and command type of each topic to its use
case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, get_args
from uuid import UUID

import structlog

from oms_events.codec import InvalidPayload
from oms_events.fulfilment import (
    Delivered,
    PickedUpByCustomer,
    PickupExpired,
    ReadyForPickup,
    ShipmentShipped,
)
from oms_events.orders import OrderCancellationRequested, OrderRejected, OrderSubmitted
from oms_events.payments import PaymentAuthorized, PaymentCaptured, PaymentFailed
from oms_events.returns import ReturnRequested
from oms_events.sourcing import FulfilmentOrderCreated, OrderAllocated, OrderBackordered
from oms_order.domain.identity import order_id_for
from oms_order.domain.order import TransitionRefused
from oms_order.domain.status import OrderStatus
from oms_order.service_layer.actions import (
    OrderActions,
    OrderNotFound,
    Progress,
    unreadable,
    unreadable_order_identity,
    unreadable_order_reasons,
)
from oms_order.service_layer.commands import OrderCommand, OrderCommands
from oms_order.service_layer.recalled import Recalled
from oms_order.service_layer.timeline import flush_timeline
from oms_runtime import Received, Subscription, UnitOfWork

__all__ = ["ORDER_API_SOURCE", "OrderHandlers", "recalled_answers"]

_log = structlog.get_logger(__name__)

ORDER_API_SOURCE = "oms/order"
"""The source of what the order API publishes (the service's own outbox)."""


SourcingProgress = OrderAllocated | OrderBackordered | FulfilmentOrderCreated


def _why(event: SourcingProgress) -> dict[str, Any] | None:
    """Why an order waits, for its timeline: the reason, the rule's words, until when."""
    if not isinstance(event, OrderBackordered):
        return None
    return {
        "reason": event.reason.value,
        "detail": event.detail,
        "lines": [line.model_dump(mode="json") for line in event.lines],
        "expected_at": event.expected_at.isoformat() if event.expected_at else None,
    }


def _promise(event: SourcingProgress) -> datetime | None:
    return event.promised_by if isinstance(event, FulfilmentOrderCreated) else None


@dataclass
class OrderHandlers:
    actions: OrderActions
    commands: OrderCommands

    # -- intake ----------------------------------------------------------------------------

    async def orders_submitted(
        self, uow: UnitOfWork, received: Sequence[Received[OrderSubmitted]]
    ) -> None:
        """A run of orders taken together: one statement per table for the run. One the
        order API took was submitted in the transaction that published it: only a rebuild
        submits it again."""
        took = await self._taken_already(
            uow, received, lambda o: order_id_for(o.channel, o.external_order_id)
        )
        taken = [r for r in received if r.envelope.id not in took] if took else received
        if taken:
            await self.actions.submit_all([(uow.for_event(r.envelope), r.payload) for r in taken])

    async def order_unreadable(self, work: UnitOfWork, error: InvalidPayload) -> bool:
        """An order the contract cannot read is still an order: kept as REJECTED, with why.

        Without a channel and external id there is no order to speak of: dead-lettered.
        """
        identity = unreadable_order_identity(error.envelope.data if error.envelope else {})
        if identity is None:
            return False
        reasons = unreadable_order_reasons(error.errors, str(error))
        await self.actions.reject_unreadable(work, *identity, reasons)
        return True

    async def cancellation_requested(
        self, work: UnitOfWork, received: Received[OrderCancellationRequested]
    ) -> None:
        request = received.payload
        try:
            await self.actions.request_cancellation(
                work,
                channel=request.channel,
                external_order_id=request.external_order_id,
                lines=request.lines,
                reason=request.reason,
                requested_at=request.requested_at,
            )
        except (TransitionRefused, OrderNotFound) as refusal:
            await self.actions.refused(
                work,
                refusal,
                order_id=order_id_for(request.channel, request.external_order_id),
                command_type="OrderCancellationRequested",
                command_id=str(work.cause),
                actor=None,
            )

    # -- commands ------------------------------------------------------------------------

    async def command(self, work: UnitOfWork, received: Received[OrderCommand]) -> None:
        """A command from ``oms.order-commands``; one the order API published was applied in
        the transaction that published it: only a rebuild applies it again."""
        if not await self._taken_already(work, [received], lambda c: c.order_id):
            await self.commands.apply(work, received.payload)

    async def _taken_already(
        self,
        work: UnitOfWork,
        received: Sequence[Received[Any]],
        order_of: Callable[[Any], str],
    ) -> set[UUID]:
        """Of ``received``, those the order API took: published by it (source ``oms/order``)
        and named as a cause in their order's timeline (``order_of`` a payload's order id),
        so applied in the transaction that published them (an event that only claims that
        source is applied). A rebuild applies them all again."""
        if work.rebuilding:
            return set()
        own = [r for r in received if r.envelope.source == ORDER_API_SOURCE]
        if not own:
            return set()
        return await self.actions.orders.causes_recorded(
            work.conn, [order_of(r.payload) for r in own], [r.envelope.id for r in own]
        )

    # -- sourcing progress -------------------------------------------------------------------

    def _progress(
        self, status: OrderStatus
    ) -> Callable[[UnitOfWork, Sequence[Received[SourcingProgress]]], Awaitable[None]]:
        """A run of sourcing events moving their orders to ``status``, taken together."""

        async def run(uow: UnitOfWork, received: Sequence[Received[SourcingProgress]]) -> None:
            await self.actions.progress(
                [
                    Progress(
                        uow.for_event(r.envelope),
                        r.payload.order_id,
                        status,
                        r.envelope.type,
                        _why(r.payload),
                        _promise(r.payload),
                    )
                    for r in received
                ]
            )

        return run

    def sourcing(self) -> Subscription:
        return (
            Subscription("oms.sourcing")
            .batch(OrderAllocated, self._progress(OrderStatus.ALLOCATED))
            .batch(OrderBackordered, self._progress(OrderStatus.BACKORDERED))
            .batch(FulfilmentOrderCreated, self._progress(OrderStatus.RELEASED))
        )

    # -- shipments -------------------------------------------------------------------------

    async def shipment_shipped(self, work: UnitOfWork, received: Received[ShipmentShipped]) -> None:
        event = received.payload
        await self.actions.shipment_shipped(
            work,
            event.order_id,
            event.shipment_id,
            event.lines,
            event.shipped_at,
            carrier=event.carrier,
            tracking_numbers=tuple(p.tracking_number for p in event.parcels),
        )

    async def delivered(self, work: UnitOfWork, received: Received[Delivered]) -> None:
        event = received.payload
        await self.actions.shipment_delivered(
            work, event.order_id, event.shipment_id, event.occurred_at
        )

    async def ready_for_pickup(self, work: UnitOfWork, received: Received[ReadyForPickup]) -> None:
        """Click & collect work set aside at the counter counts as shipped: its value is
        captured and the order is fulfilled; collection completes it."""
        event = received.payload
        if event.shipment_id is None or not event.lines:
            _log.warning("ready_for_pickup_without_units", order_id=event.order_id)
            return
        await self.actions.shipment_shipped(
            work,
            event.order_id,
            event.shipment_id,
            event.lines,
            event.ready_at or received.envelope.time,
            for_pickup=True,
        )

    async def picked_up(self, work: UnitOfWork, received: Received[PickedUpByCustomer]) -> None:
        event = received.payload
        if event.shipment_id is None:
            _log.warning("pickup_without_shipment", order_id=event.order_id)
            return
        await self.actions.shipment_delivered(
            work, event.order_id, event.shipment_id, event.collected_at
        )

    async def pickup_expired(self, work: UnitOfWork, received: Received[PickupExpired]) -> None:
        event = received.payload
        await self.actions.pickup_expired(
            work, event.order_id, event.shipment_id, event.lines, event.hold_until, event.expired_at
        )

    def shipments(self) -> Subscription:
        return (
            Subscription("oms.shipments")
            .each(ShipmentShipped, self.shipment_shipped)
            .each(Delivered, self.delivered)
            .each(ReadyForPickup, self.ready_for_pickup)
            .each(PickedUpByCustomer, self.picked_up)
            .each(PickupExpired, self.pickup_expired)
        )

    def intake(self) -> Subscription:
        return (
            Subscription("oms.channel-order-intake")
            .batch(OrderSubmitted, self.orders_submitted)
            .each(OrderCancellationRequested, self.cancellation_requested)
            .invalid(OrderSubmitted, self.order_unreadable)
        )

    def order_commands(self) -> Subscription:
        subscription = Subscription("oms.order-commands")
        for command in get_args(OrderCommand):
            subscription = subscription.each(command, self.command)
        return subscription

    async def rejected_unreadable(
        self, work: UnitOfWork, received: Received[OrderRejected]
    ) -> None:
        """In a rebuild: an order the API could not read was kept REJECTED, and no topic
        carries its body; it is kept again from its ``OrderRejected``, under the request's
        id. Any other rejection comes again from its submission (this one does too when it
        came on the intake topic: kept once)."""
        rejected, cause = received.payload, received.envelope.causationid
        if cause is None or not unreadable(rejected.reasons):
            return
        await self.actions.reject_unreadable(
            replace(work, cause=UUID(cause)),
            rejected.channel,
            rejected.external_order_id,
            list(rejected.reasons),
        )

    def recorded(self) -> Subscription:
        """What a rebuild reads back of the service's own output at its place in time."""
        return (
            Subscription("oms.orders")
            .each(OrderRejected, self.rejected_unreadable)
            .finish(flush_timeline)
        )

    def subscriptions(self) -> list[Subscription]:
        """Every topic the order service reads; each batch writes its timeline once, at its
        end."""
        topics = (self.intake(), self.order_commands(), self.sourcing(), self.shipments())
        return [topic.finish(flush_timeline) for topic in topics]


def recalled_answers(recalled: Recalled) -> tuple[Subscription, ...]:
    """What a rebuild reads back before the inputs apply: the payment provider's answers and
    the moments returns were opened."""
    return (
        Subscription("oms.payments")
        .batch(PaymentAuthorized, recalled.authorized)
        .batch(PaymentFailed, recalled.authorized)
        .batch(PaymentCaptured, recalled.captured),
        Subscription("oms.returns").batch(ReturnRequested, recalled.return_requested),
    )
