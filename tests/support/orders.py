"""Realistic orders for tests, as a sales channel would submit them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from oms_events.codec import encode, new_event
from oms_events.envelope import Envelope
from oms_events.fulfilment import (
    Delivered,
    PickedUpByCustomer,
    ReadyForPickup,
    ShipmentShipped,
    ShippedParcel,
)
from oms_events.orders import CancelOrder, Customer, OrderSubmitted, PaymentInfo, PaymentMethod
from oms_events.registry import EventPayload
from oms_events.values import (
    Actor,
    ActorRole,
    Address,
    LineQuantity,
    Money,
    OrderLine,
    OrderTotals,
)
from tests.support.kafka import produce
from tests.support.waiting import wait_for
from tests.support.world import Env

CHANNEL = "web-de"


def _eur(amount_minor: int) -> Money:
    return Money(amount_minor=amount_minor, currency="EUR")


def order_submitted(
    external_order_id: str,
    *,
    unit_price: int = 2500,
    quantity: int = 2,
    lines: Sequence[tuple[str, int]] | None = None,
    postal_code: str = "51147",
    city: str = "Koeln",
) -> OrderSubmitted:
    """Two units of one SKU (or ``lines`` of (sku, quantity)), 19% VAT, standard shipping:
    totals that add up."""
    wanted = list(lines) if lines is not None else [("SKU-TSHIRT-M", quantity)]
    order_lines = []
    for n, (sku, qty) in enumerate(wanted, start=1):
        net = unit_price * qty
        order_lines.append(
            OrderLine(
                line_id=str(n),
                sku=sku,
                quantity=qty,
                unit_price=_eur(unit_price),
                tax=_eur(net * 19 // 100),
                discount=_eur(0),
                line_total=_eur(net + net * 19 // 100),
            )
        )
    subtotal = sum(line.unit_price.amount_minor * line.quantity for line in order_lines)
    tax = sum(line.tax.amount_minor for line in order_lines)
    shipping = 495
    address = Address(
        name="Erika Mustermann",
        line1="Heidestrasse 17",
        city=city,
        postal_code=postal_code,
        country="DE",
        email="erika@example.com",
    )
    return OrderSubmitted(
        channel=CHANNEL,
        external_order_id=external_order_id,
        placed_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        customer=Customer(customer_id="cus-1001", email="erika@example.com"),
        billing_address=address,
        shipping_address=address,
        currency="EUR",
        lines=tuple(order_lines),
        totals=OrderTotals(
            subtotal=_eur(subtotal),
            discount_total=_eur(0),
            tax_total=_eur(tax),
            shipping_total=_eur(shipping),
            grand_total=_eur(subtotal + tax + shipping),
        ),
        payment=PaymentInfo(
            method=PaymentMethod.CARD,
            provider="sandbox",
            card_token="tok_approve",
            amount=_eur(subtotal + tax + shipping),
        ),
    )


def channel_event(payload: Any, **kwargs: Any) -> Envelope:
    """An envelope as a channel publishes it to the intake topic."""
    subject = f"{payload.channel}:{payload.external_order_id}"
    return new_event(
        payload,
        subject=subject,
        source=f"channel/{payload.channel}",
        correlation_id=subject,
        **kwargs,
    )


def encoded(payload: Any, **kwargs: Any) -> bytes:
    return encode(channel_event(payload, **kwargs))


async def customer_service_cancels(
    env: Env, order_id: str, reason: str, *lines: LineQuantity
) -> None:
    """``CancelOrder`` from customer service on oms.order-commands: ``lines``, or the whole
    order when none are given."""
    cancel = CancelOrder(
        order_id=order_id,
        lines=lines,
        reason=reason,
        requested_by=Actor(actor_id="cs-1", role=ActorRole.CUSTOMER_SERVICE),
    )
    command = new_event(cancel, subject=order_id, source="cs", correlation_id=order_id)
    await produce(
        env.bootstrap, env.topic("oms.order-commands"), [encode(command)], key=order_id.encode()
    )


# --- what the shipping service reports of an order's units -----------------------------------


async def report_shipping(env: Env, payload: EventPayload, order_id: str) -> None:
    """Publish ``payload`` on oms.shipments as the shipping service would, and wait until the
    order service has processed it."""
    envelope = new_event(payload, subject=order_id, source="oms/shipping", correlation_id=order_id)
    await produce(
        env.bootstrap, env.topic("oms.shipments"), [encode(envelope)], key=order_id.encode()
    )
    await wait_for(
        lambda: env.fetch("order", "SELECT 1 FROM oms_inbox WHERE event_id = $1", envelope.id),
        what=f"{envelope.type} to be processed",
    )


def _units(quantity: int) -> tuple[LineQuantity, ...]:
    return (LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=quantity),)


def shipped(order_id: str, shipment_id: str, quantity: int) -> ShipmentShipped:
    """``quantity`` units of line 1 handed to DHL, tracked as ``00340<shipment_id>``."""
    return ShipmentShipped(
        order_id=order_id,
        fulfilment_order_id="fo-1",
        location_id="wh-koeln",
        shipment_id=shipment_id,
        carrier="dhl",
        tracking_number=f"00340{shipment_id}",
        parcels=(ShippedParcel(carrier="dhl", tracking_number=f"00340{shipment_id}"),),
        lines=_units(quantity),
        shipped_at=datetime.now(UTC),
    )


def delivered(order_id: str, shipment_id: str) -> Delivered:
    return Delivered(
        order_id=order_id,
        shipment_id=shipment_id,
        carrier="dhl",
        tracking_number=f"00340{shipment_id}",
        occurred_at=datetime.now(UTC),
    )


def ready_for_pickup(order_id: str, shipment_id: str, quantity: int) -> ReadyForPickup:
    now = datetime.now(UTC)
    return ReadyForPickup(
        order_id=order_id,
        fulfilment_order_id="fo-1",
        location_id="store-berlin",
        pickup_code="K7P2M9QX",
        hold_until=now.replace(year=now.year + 1),
        shipment_id=shipment_id,
        lines=_units(quantity),
        ready_at=now,
    )


def picked_up(order_id: str, shipment_id: str) -> PickedUpByCustomer:
    return PickedUpByCustomer(
        order_id=order_id,
        fulfilment_order_id="fo-1",
        location_id="store-berlin",
        collected_at=datetime.now(UTC),
        shipment_id=shipment_id,
    )


async def order_in_status(env: Env, order_id: str, status: str) -> dict[str, Any]:
    """The order service's status, payment status and captured amount of ``order_id``, once
    it is ``status``."""

    async def probe() -> dict[str, Any] | None:
        rows = await env.fetch(
            "order",
            "SELECT status, payment_status, captured_minor FROM orders WHERE order_id = $1",
            order_id,
        )
        return dict(rows[0]) if rows and rows[0]["status"] == status else None

    return await wait_for(probe, timeout=60, what=f"{order_id} to be {status}")
