"""What customers are told, decided from the events: the order as its messages show it, and
one queued message per customer-visible change and channel, written in the handler's
transaction with one statement per table for the whole run."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import asyncpg
import structlog

from oms_events.fulfilment import (
    Delivered,
    OutForDelivery,
    PickedUpByCustomer,
    ReadyForPickup,
    ShipmentShipped,
)
from oms_events.orders import (
    HoldReason,
    OrderAccepted,
    OrderCanceled,
    OrderConfirmed,
    OrderHeld,
    OrderLinesCanceled,
    ShippingAddressChanged,
)
from oms_events.payments import PaymentCaptured, PaymentFailed, RefundIssued
from oms_events.registry import EventPayload
from oms_events.returns import ReturnAuthorized, ReturnReceived
from oms_events.sourcing import FulfilmentOrderCreated, OrderBackordered
from oms_notification.adapters.messages import CustomerOrder, MessageToQueue
from oms_notification.domain.messages import Channel, MessageKind, change_key
from oms_runtime import Received, UnitOfWork, Wakeup

__all__ = ["TOLD_HOLDS", "CustomerMessages", "MessageStore", "Told"]

_log = structlog.get_logger(__name__)


class MessageStore(Protocol):
    async def upsert_orders(
        self, conn: asyncpg.Connection, orders: Sequence[CustomerOrder]
    ) -> None: ...

    async def change_shipping_addresses(
        self, conn: asyncpg.Connection, changes: Sequence[tuple[str, dict[str, Any]]]
    ) -> None: ...

    async def raise_amounts(
        self, conn: asyncpg.Connection, column: str, totals: Sequence[tuple[str, int]]
    ) -> None: ...

    async def queue_messages(
        self, conn: asyncpg.Connection, messages: Sequence[MessageToQueue]
    ) -> int: ...


TOLD_HOLDS = frozenset({HoldReason.ADDRESS_VERIFICATION, HoldReason.PAYMENT_REVIEW})
"""Holds the customer must act on. A risk review is the shop's own business (and telling a
fraudster helps no one); a hold the customer asked for needs no message."""

Told = (
    OrderConfirmed
    | PaymentFailed
    | OrderHeld
    | OrderBackordered
    | FulfilmentOrderCreated
    | ShipmentShipped
    | OutForDelivery
    | Delivered
    | ReadyForPickup
    | PickedUpByCustomer
    | OrderCanceled
    | OrderLinesCanceled
    | RefundIssued
    | ReturnAuthorized
    | ReturnReceived
)


def _lines(lines: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"line_id": ln.line_id, "sku": ln.sku, "quantity": ln.quantity} for ln in lines]


def _money(value: Any) -> dict[str, Any] | None:
    return (
        None if value is None else {"amount_minor": value.amount_minor, "currency": value.currency}
    )


def _notification_id(key: str, channel: Channel) -> str:
    """Derived from the change and the channel: the same on every replay."""
    return f"ntf_{uuid.uuid5(uuid.NAMESPACE_URL, f'{key}/{channel.value}').hex}"


def _order(accepted: OrderAccepted) -> CustomerOrder:
    address = accepted.shipping_address or accepted.billing_address
    details = {
        "customer_name": address.name,
        "delivery_method": accepted.delivery_method.value,
        "pickup_store_id": accepted.pickup_store_id,
        "shipping_address": accepted.shipping_address.model_dump(
            mode="json", exclude={"email", "phone"}
        )
        if accepted.shipping_address
        else None,
        "lines": [
            {
                "line_id": ln.line_id,
                "sku": ln.sku,
                "name": ln.name or ln.sku,
                "quantity": ln.quantity,
                "total": _money(ln.line_total),
            }
            for ln in accepted.lines
        ],
        "totals": accepted.totals.model_dump(mode="json"),
    }
    return CustomerOrder(
        order_id=accepted.order_id,
        customer_id=accepted.customer.customer_id,
        email=accepted.customer.email,
        phone=address.phone,
        country=address.country,
        reference=accepted.external_order_id,
        placed_at=accepted.placed_at,
        details=details,
    )


@dataclass(frozen=True)
class CustomerMessages:
    """The handlers of the events customers hear about."""

    store: MessageStore
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    tracking_urls: Mapping[str, str] = field(default_factory=dict)
    """Carrier -> tracking page with ``{tracking_number}``."""
    carrier_names: Mapping[str, str] = field(default_factory=dict)
    pickup_stores: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Store id -> ``name`` and ``hours`` as pickup messages show them."""
    due: Wakeup = field(default_factory=Wakeup)
    """The dispatcher's: woken when messages are queued or their order becomes known."""

    async def accepted(self, work: UnitOfWork, run: Sequence[Received[OrderAccepted]]) -> None:
        """Keep what the order's messages show; a replayed acceptance rewrites the same row."""
        await self.store.upsert_orders(work.conn, [_order(r.payload) for r in run])
        work.wake_on_commit(self.due)  # messages waiting for their order can leave

    async def address_changed(
        self, work: UnitOfWork, run: Sequence[Received[ShippingAddressChanged]]
    ) -> None:
        await self.store.change_shipping_addresses(
            work.conn,
            [
                (r.payload.order_id, r.payload.address.model_dump(mode="json", exclude={"email"}))
                for r in run
            ],
        )

    async def captured(self, work: UnitOfWork, run: Sequence[Received[PaymentCaptured]]) -> None:
        """What was charged: a whole-order cancellation refunds it."""
        await self.store.raise_amounts(
            work.conn,
            "captured_minor",
            [(r.payload.order_id, r.payload.captured_total.amount_minor) for r in run],
        )

    async def changes(self, work: UnitOfWork, run: Sequence[Received[Told]]) -> None:
        """One queued message per customer-visible change and channel, the whole run in one
        statement: keyed by the change, so never twice."""
        messages: list[MessageToQueue] = []
        for change in run:
            described = self.describe(change.payload)
            if described is None:
                continue
            kind, facts = described
            trigger = str(change.envelope.id)
            key = change_key(kind, change.payload.order_id, trigger)
            messages.extend(
                MessageToQueue(
                    notification_id=_notification_id(key, channel),
                    order_id=change.payload.order_id,
                    trigger_event_id=change.envelope.id,
                    trigger_type=change.envelope.type,
                    change_key=key,
                    channel=channel.value,
                    kind=kind.value,
                    facts=facts,
                    correlation_id=change.envelope.correlationid,
                )
                for channel in self.channels
            )
        if messages:
            queued = await self.store.queue_messages(work.conn, messages)
            if queued:
                work.wake_on_commit(self.due)
            _log.info("messages_queued", queued=queued, existing=len(messages) - queued)

    def describe(self, event: EventPayload) -> tuple[MessageKind, dict[str, Any]] | None:
        """The message an event calls for and the facts it shows, or None."""
        match event:
            case OrderConfirmed():
                return MessageKind.ORDER_CONFIRMED, {}
            case PaymentFailed():
                return MessageKind.PAYMENT_FAILED, {
                    "amount": _money(event.amount),
                    "code": event.code,
                    "retryable": event.retryable,
                }
            case OrderHeld() if event.reason in TOLD_HOLDS:
                return MessageKind.ON_HOLD, {"reason": event.reason.value}
            case OrderBackordered():
                return MessageKind.BACKORDERED, {
                    "lines": _lines(event.lines),
                    "expected_at": event.expected_at.isoformat() if event.expected_at else None,
                    "pre_order": event.pre_order,
                }
            case FulfilmentOrderCreated():
                pickup = event.location_id == event.pickup_store_id
                return MessageKind.IN_PREPARATION, (
                    {"pickup": True, **self._store(event.location_id)} if pickup else {}
                )
            case ReadyForPickup():
                return MessageKind.READY_FOR_PICKUP, {
                    **self._store(event.location_id),
                    "pickup_code": event.pickup_code,
                    "hold_until": event.hold_until.isoformat(),
                    "lines": _lines(event.lines),
                }
            case PickedUpByCustomer():
                return MessageKind.COLLECTED, {
                    **self._store(event.location_id),
                    "collected_at": event.collected_at.isoformat(),
                }
            case ShipmentShipped():
                return MessageKind.SHIPPED, {
                    **self._carrier(event.carrier, event.tracking_number),
                    "lines": _lines(event.lines),
                    "shipped_at": event.shipped_at.isoformat(),
                }
            case OutForDelivery():
                return MessageKind.OUT_FOR_DELIVERY, {
                    **self._carrier(event.carrier, event.tracking_number),
                    "estimated_delivery": event.estimated_delivery.isoformat()
                    if event.estimated_delivery
                    else None,
                }
            case Delivered():
                return MessageKind.DELIVERED, {
                    **self._carrier(event.carrier, event.tracking_number),
                    "delivered_at": event.occurred_at.isoformat(),
                }
            case OrderCanceled():
                return MessageKind.ORDER_CANCELED, {"reason": event.reason}
            case OrderLinesCanceled():
                return MessageKind.LINES_CANCELED, {
                    "lines": _lines(event.lines),
                    "reason": event.reason,
                    "refund": _money(event.refund_due),
                }
            case RefundIssued() if event.return_id is not None:
                # A refund without a return is a cancellation's: its message says so.
                return MessageKind.REFUND_ISSUED, {
                    "amount": _money(event.amount),
                    "refunded_total": _money(event.refunded_total),
                }
            case ReturnAuthorized():
                return MessageKind.RETURN_AUTHORIZED, {
                    "return_id": event.return_id,
                    "rma_number": event.rma_number,
                    "lines": _lines(event.lines),
                    "expires_at": event.expires_at.isoformat() if event.expires_at else None,
                }
            case ReturnReceived():
                return MessageKind.RETURN_RECEIVED, {
                    "return_id": event.return_id,
                    "lines": _lines(event.lines),
                    "received_at": event.received_at.isoformat(),
                }
        return None

    def _store(self, location_id: str) -> dict[str, Any]:
        """The pickup store as the customer knows it: its name and opening hours when the
        store directory has them, else its id."""
        store = self.pickup_stores.get(location_id, {})
        return {
            "store_id": location_id,
            "store_name": store.get("name", location_id),
            "store_hours": store.get("hours"),
        }

    def _carrier(self, carrier: str, tracking_number: str) -> dict[str, Any]:
        page = self.tracking_urls.get(carrier)
        return {
            "carrier": carrier,
            "carrier_name": self.carrier_names.get(carrier, carrier.upper()),
            "tracking_number": tracking_number,
            "tracking_url": page.replace("{tracking_number}", quote(tracking_number, safe=""))
            if page
            else None,
        }
