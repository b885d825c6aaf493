"""The order service's event and command handlers, registered in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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
from oms_events.registry import EventPayload
from oms_events.sourcing import FulfilmentOrderCreated, OrderAllocated, OrderBackordered
from oms_events.values import Actor
from oms_order.adapters.orders import Timeline
from oms_order.domain.identity import order_id_for
from oms_order.domain.order import TransitionRefused
from oms_order.domain.status import OrderStatus
from oms_order.service_layer.actions import (
    OrderActions,
    OrderNotFound,
    Progress,
    Work,
    unreadable_order_identity,
    unreadable_order_reasons,
)
from oms_runtime import HandlerContext, Received, Subscription, UnitOfWork, bound_to

__all__ = ["OrderHandlers"]

_log = structlog.get_logger(__name__)


P = TypeVar("P", bound=EventPayload)


def _per_event(
    handler: Callable[[Work, P], Awaitable[None]],
) -> Callable[[UnitOfWork, Sequence[Received[P]]], Awaitable[None]]:
    """A run's events one at a time, each with its own cause; the timeline entries of the
    whole run are written with one statement at its end."""

    async def run(uow: UnitOfWork, received: Sequence[Received[P]]) -> None:
        timeline = Timeline()
        for r in received:
            with bound_to(r.envelope):
                await handler(_work(uow, r, timeline), r.payload)
        await timeline.flush(uow.conn)

    return run


def _work(uow: UnitOfWork, received: Received[EventPayload], timeline: Timeline) -> Work:
    """The order service's unit of work for one event of a run, sharing the run's timeline."""
    return Work(
        conn=uow.conn,
        outbox=uow.caused_by(received.envelope),
        caused_by=received.envelope.id,
        timeline=timeline,
    )


SourcingProgress = OrderAllocated | OrderBackordered | FulfilmentOrderCreated


@dataclass
class OrderHandlers:
    actions: OrderActions

    # -- intake ----------------------------------------------------------------------------

    async def orders_submitted(
        self, uow: UnitOfWork, received: Sequence[Received[OrderSubmitted]]
    ) -> None:
        """A run of orders taken together: one statement per table for the run."""
        timeline = Timeline()
        submitted = [(_work(uow, r, timeline), r.payload) for r in received]
        await self.actions.submit_all(submitted)
        await timeline.flush(uow.conn)

    async def order_unreadable(self, ctx: HandlerContext, error: InvalidPayload) -> bool:
        """An order the contract cannot read is still an order: kept as REJECTED, with why.

        Without a channel and external id there is no order to speak of: dead-lettered.
        """
        identity = unreadable_order_identity(error.envelope.data if error.envelope else {})
        if identity is None:
            return False
        reasons = unreadable_order_reasons(error.errors, str(error))
        work = Work(conn=ctx.conn, outbox=ctx.outbox, caused_by=ctx.envelope.id)
        await self.actions.reject_unreadable(work, *identity, reasons)
        await work.flush()
        return True

    async def cancellation_requested(self, work: Work, request: OrderCancellationRequested) -> None:
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

    async def cancel_order(self, work: Work, command: CancelOrder) -> None:
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

    async def hold_order(self, work: Work, command: HoldOrder) -> None:
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

    async def release_order(self, work: Work, command: ReleaseOrder) -> None:
        await self._command(
            work,
            "ReleaseOrder",
            command.requested_by,
            self.actions.release(
                work, command.order_id, note=command.note, actor=command.requested_by
            ),
            order_id=command.order_id,
        )

    async def change_shipping_address(self, work: Work, command: ChangeShippingAddress) -> None:
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
        work: Work,
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
                command_id=str(work.caused_by),
                actor=actor,
            )

    # -- sourcing progress -------------------------------------------------------------------

    def _progress(
        self, status: OrderStatus
    ) -> Callable[[UnitOfWork, Sequence[Received[SourcingProgress]]], Awaitable[None]]:
        """A run of sourcing events moving their orders to ``status``, taken together."""

        async def run(uow: UnitOfWork, received: Sequence[Received[SourcingProgress]]) -> None:
            timeline = Timeline()
            await self.actions.progress(
                [
                    Progress(_work(uow, r, timeline), r.payload.order_id, status, r.envelope.type)
                    for r in received
                ]
            )
            await timeline.flush(uow.conn)

        return run

    def sourcing(self) -> Subscription:
        return (
            Subscription("oms.sourcing")
            .batch(OrderAllocated, self._progress(OrderStatus.ALLOCATED))
            .batch(OrderBackordered, self._progress(OrderStatus.BACKORDERED))
            .batch(FulfilmentOrderCreated, self._progress(OrderStatus.RELEASED))
        )

    # -- shipments -------------------------------------------------------------------------

    async def shipment_shipped(self, work: Work, event: ShipmentShipped) -> None:
        await self.actions.shipment_shipped(
            work, event.order_id, event.shipment_id, event.lines, event.shipped_at
        )

    async def delivered(self, work: Work, event: Delivered) -> None:
        await self.actions.shipment_delivered(
            work, event.order_id, event.shipment_id, event.occurred_at
        )

    def shipments(self) -> Subscription:
        return (
            Subscription("oms.shipments")
            .batch(ShipmentShipped, _per_event(self.shipment_shipped))
            .batch(Delivered, _per_event(self.delivered))
        )

    def intake(self) -> Subscription:
        return (
            Subscription("oms.channel-order-intake")
            .batch(OrderSubmitted, self.orders_submitted)
            .batch(OrderCancellationRequested, _per_event(self.cancellation_requested))
            .invalid(OrderSubmitted, self.order_unreadable)
        )

    def commands(self) -> Subscription:
        return (
            Subscription("oms.order-commands")
            .batch(CancelOrder, _per_event(self.cancel_order))
            .batch(HoldOrder, _per_event(self.hold_order))
            .batch(ReleaseOrder, _per_event(self.release_order))
            .batch(ChangeShippingAddress, _per_event(self.change_shipping_address))
        )
