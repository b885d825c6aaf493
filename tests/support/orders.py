"""Realistic orders for tests, as a sales channel would submit them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from oms_events.codec import encode, new_event
from oms_events.envelope import Envelope
from oms_events.orders import Customer, OrderSubmitted, PaymentInfo, PaymentMethod
from oms_events.values import Address, Money, OrderLine, OrderTotals

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
