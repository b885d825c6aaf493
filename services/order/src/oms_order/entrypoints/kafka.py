"""The order service's subscriptions: each event and command type of each topic to its use
case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from oms_events.codec import InvalidPayload
from oms_events.fulfilment import (
    Delivered,
    PickedUpByCustomer,
    PickupExpired,
    ReadyForPickup,
    ShipmentShipped,
)
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
from oms_order.domain.identity import order_id_for
from oms_order.domain.order import TransitionRefused
from oms_order.domain.status import OrderStatus
from oms_order.service_layer.actions import (
    OrderActions,
    OrderNotFound,
    Progress,
    unreadable_order_identity,
    unreadable_order_reasons,
)
from oms_order.service_layer.timeline import flush_timeline
from oms_runtime import Received, Subscription, UnitOfWork

__all__ = ["OrderHandlers"]

_log = structlog.get_logger(__name__)


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

    # -- intake ----------------------------------------------------------------------------

    async def orders_submitted(
        self, uow: UnitOfWork, received: Sequence[Received[OrderSubmitted]]
    ) -> None:
        """A run of orders taken together: one statement per table for the run."""
        await self.actions.submit_all([(uow.for_event(r.envelope), r.payload) for r in received])

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
        await self._command(
            work,
            "OrderCancellationRequested",
            None,
            self.actions.request_cancellation(
                work,
                channel=request.channel,
                external_order_id=request.external_order_id,
                lines=request.lines,
                reason=request.reason,
                requested_at=request.requested_at,
            ),
            order_id=order_id_for(request.channel, request.external_order_id),
        )

    # -- customer-service commands ---------------------------------------------------------

    async def cancel_order(self, work: UnitOfWork, received: Received[CancelOrder]) -> None:
        command = received.payload
        await self._command(
            work,
            "CancelOrder",
            command.requested_by,
            self.actions.cancel(
                work,
                command.order_id,
                lines=command.lines,
                reason=command.reason,
                actor=command.requested_by,
            ),
            order_id=command.order_id,
        )

    async def hold_order(self, work: UnitOfWork, received: Received[HoldOrder]) -> None:
        command = received.payload
        await self._command(
            work,
            "HoldOrder",
            command.requested_by,
            self.actions.hold(
                work,
                command.order_id,
                reason=command.reason,
                note=command.note,
                actor=command.requested_by,
            ),
            order_id=command.order_id,
        )

    async def release_order(self, work: UnitOfWork, received: Received[ReleaseOrder]) -> None:
        command = received.payload
        await self._command(
            work,
            "ReleaseOrder",
            command.requested_by,
            self.actions.release(
                work, command.order_id, note=command.note, actor=command.requested_by
            ),
            order_id=command.order_id,
        )

    async def change_shipping_address(
        self, work: UnitOfWork, received: Received[ChangeShippingAddress]
    ) -> None:
        command = received.payload
        await self._command(
            work,
            "ChangeShippingAddress",
            command.requested_by,
            self.actions.change_shipping_address(
                work, command.order_id, address=command.address, actor=command.requested_by
            ),
            order_id=command.order_id,
        )

    async def _command(
        self,
        work: UnitOfWork,
        command_type: str,
        actor: Actor | None,
        action: Any,
        *,
        order_id: str,
    ) -> None:
        """Run an action; a refused one changes nothing and is answered with the reason."""
        try:
            await action
        except (TransitionRefused, OrderNotFound) as refusal:
            await self.actions.refused(
                work,
                refusal,
                order_id=order_id,
                command_type=command_type,
                command_id=str(work.cause),
                actor=actor,
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
            work, event.order_id, event.shipment_id, event.lines, event.hold_until
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

    def commands(self) -> Subscription:
        return (
            Subscription("oms.order-commands")
            .each(CancelOrder, self.cancel_order)
            .each(HoldOrder, self.hold_order)
            .each(ReleaseOrder, self.release_order)
            .each(ChangeShippingAddress, self.change_shipping_address)
        )

    def subscriptions(self) -> list[Subscription]:
        """Every topic the order service reads; each batch writes its timeline once, at its
        end."""
        topics = (self.intake(), self.commands(), self.sourcing(), self.shipments())
        return [topic.finish(flush_timeline) for topic in topics]
