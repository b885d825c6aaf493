"""The order commands of ``oms.order-commands`` (customer service, channels, staff apps):
each applied to its order, or refused with the reason, which changes nothing but the
order's timeline and is answered with ``OrderCommandRejected``.

The topic's consumer and the order API apply them alike: the API publishes each command it
takes to the topic under the request's id and applies it in the same transaction, so the
topic is the log of every command (the live consumer skips the API's; ``oms rebuild order``
applies them again).
"""

from __future__ import annotations

from dataclasses import dataclass

from oms_events.orders import (
    CancelOrder,
    ChangeShippingAddress,
    HoldOrder,
    OrderCommandRejected,
    ReleaseOrder,
)
from oms_events.returns import InspectReturn, ReceiveReturn, RequestReturn
from oms_events.values import Actor
from oms_order.domain.order import TransitionRefused
from oms_order.domain.returns import AskedLine
from oms_order.service_layer.actions import OrderActions, OrderNotFound
from oms_order.service_layer.returns import InspectedUnits, ReturnActions, return_id_for
from oms_order.service_layer.timeline import cause_of
from oms_runtime import UnitOfWork

__all__ = ["OrderCommand", "OrderCommands", "requested_by"]

OrderCommand = (
    CancelOrder
    | HoldOrder
    | ReleaseOrder
    | ChangeShippingAddress
    | RequestReturn
    | ReceiveReturn
    | InspectReturn
)


def requested_by(command: OrderCommand) -> Actor:
    """Who asked: the timeline names them, for the change or for its refusal."""
    match command:
        case ReceiveReturn():
            return command.received_by
        case InspectReturn():
            return command.inspected_by
        case _:
            return command.requested_by


@dataclass
class OrderCommands:
    actions: OrderActions
    returns: ReturnActions

    async def apply(self, work: UnitOfWork, command: OrderCommand) -> OrderCommandRejected | None:
        """Apply ``command``; the refusal when its order's (or return's) state refuses it."""
        try:
            await self._apply(work, command)
        except (TransitionRefused, OrderNotFound) as refusal:
            return await self.actions.refused(
                work,
                refusal,
                order_id=command.order_id,
                command_type=command.event_type,
                command_id=str(cause_of(work)),
                actor=requested_by(command),
            )
        return None

    async def _apply(self, work: UnitOfWork, command: OrderCommand) -> None:
        actions, order_id = self.actions, command.order_id
        match command:
            case CancelOrder():
                await actions.cancel(
                    work,
                    order_id,
                    lines=command.lines,
                    reason=command.reason,
                    actor=command.requested_by,
                )
            case HoldOrder():
                await actions.hold(
                    work,
                    order_id,
                    reason=command.reason,
                    note=command.note,
                    actor=command.requested_by,
                )
            case ReleaseOrder():
                await actions.release(work, order_id, note=command.note, actor=command.requested_by)
            case ChangeShippingAddress():
                await actions.change_shipping_address(
                    work, order_id, address=command.address, actor=command.requested_by
                )
            case RequestReturn():
                opened = return_id_for(cause_of(work))
                if await self.returns.returns.load_return(work.conn, opened) is not None:
                    raise TransitionRefused(
                        "return_exists", f"the command's id names return {opened!r} already"
                    )
                await self.returns.request(
                    work,
                    order_id,
                    [
                        AskedLine(line.line_id, line.quantity, line.reason.value, line.comment)
                        for line in command.lines
                    ],
                    channel=command.channel,
                    drop_off_location_id=command.drop_off_location_id,
                    actor=command.requested_by,
                )
            case ReceiveReturn():
                await self._of_order(work, order_id, command.return_id)
                await self.returns.receive(
                    work,
                    command.return_id,
                    [(line.line_id, line.quantity) for line in command.lines],
                    location_id=command.location_id,
                    actor=command.received_by,
                )
            case InspectReturn():
                await self._of_order(work, order_id, command.return_id)
                await self.returns.inspect(
                    work,
                    command.return_id,
                    [
                        InspectedUnits(line.line_id, line.quantity, line.disposition, line.note)
                        for line in command.lines
                    ],
                    location_id=command.location_id,
                    refund_minor=command.refund_minor,
                    actor=command.inspected_by,
                )

    async def _of_order(self, work: UnitOfWork, order_id: str, return_id: str) -> None:
        """A command names an order there is and a return of it, or is refused."""
        await self.actions.load(work, order_id)
        found = await self.returns.returns.load_return(work.conn, return_id)
        if found is None or found.order_id != order_id:
            raise TransitionRefused(
                "return_not_found", f"order {order_id!r} has no return {return_id!r}"
            )
