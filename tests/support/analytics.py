"""Order-lifecycle events with chosen event times, as the analytics service reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import partial

from oms_events.codec import encode, new_event
from oms_events.envelope import Envelope
from oms_events.fulfilment import (
    FulfilmentOrderRejected,
    RejectionCause,
    ShipmentShipped,
    ShippedParcel,
)
from oms_events.inventory import BackInStock, OutOfStock, StockCommitted, StockDayClosed
from oms_events.orders import (
    Customer,
    HoldReason,
    OrderAccepted,
    OrderCanceled,
    OrderCompleted,
    OrderConfirmed,
    OrderHeld,
    OrderRejected,
    OrderReleased,
    PaymentInfo,
    PaymentMethod,
    RejectionReason,
)
from oms_events.payments import PaymentAuthorized, PaymentCaptured, PaymentVoided, RefundIssued
from oms_events.registry import EventPayload
from oms_events.returns import ReturnLine, ReturnReason, ReturnRequested
from oms_events.sourcing import (
    Allocation,
    BackorderReason,
    FulfilmentOrderCreated,
    FulfilmentOrderRerouted,
    OrderAllocated,
    OrderBackordered,
)
from oms_events.values import (
    Actor,
    ActorRole,
    Address,
    DeliveryMethod,
    LineQuantity,
    LocationType,
    Money,
    OrderLine,
    OrderTotals,
)
from tests.support.kafka import produce
from tests.support.world import Env

_ADDRESS = Address(name="Erika", line1="Heide 17", city="Koeln", postal_code="51147", country="DE")


def at(hhmm: str, day: int = 24) -> datetime:
    """A moment on 2026-11-<day>, e.g. ``at("09:05:10")``."""
    parts = [int(p) for p in hhmm.split(":")]
    return datetime(2026, 11, day, *parts, tzinfo=UTC)


def accepted(order_id: str, channel: str, total_minor: int, currency: str = "EUR") -> OrderAccepted:
    """One line whose price is the whole ``total_minor`` (no tax, discount or shipping)."""
    money = partial(_money, currency=currency)
    return OrderAccepted(
        order_id=order_id,
        channel=channel,
        external_order_id=f"ext-{order_id}",
        placed_at=at("09:00"),
        customer=Customer(customer_id="cus-1", email="erika@example.com"),
        billing_address=_ADDRESS,
        shipping_address=_ADDRESS,
        delivery_method=DeliveryMethod.HOME_DELIVERY,
        currency=currency,
        lines=(
            OrderLine(
                line_id="1",
                sku="SKU-1",
                quantity=1,
                unit_price=money(total_minor),
                tax=money(0),
                discount=money(0),
                line_total=money(total_minor),
            ),
        ),
        totals=OrderTotals(
            subtotal=money(total_minor),
            discount_total=money(0),
            tax_total=money(0),
            shipping_total=money(0),
            grand_total=money(total_minor),
        ),
        payment=PaymentInfo(
            method=PaymentMethod.CARD, provider="sandbox", amount=money(total_minor)
        ),
    )


def rejected(order_id: str, channel: str) -> OrderRejected:
    return OrderRejected(
        order_id=order_id,
        channel=channel,
        external_order_id=f"ext-{order_id}",
        reasons=(RejectionReason(code="totals_mismatch", message="totals do not add up"),),
    )


def canceled(order_id: str, when: datetime) -> OrderCanceled:
    return OrderCanceled(
        order_id=order_id,
        reason="customer asked",
        canceled_by=Actor(actor_id="cs-1", role=ActorRole.CUSTOMER_SERVICE),
        canceled_at=when,
    )


def shipped(order_id: str, when: datetime, location: str = "WH-HAMBURG") -> ShipmentShipped:
    return ShipmentShipped(
        order_id=order_id,
        fulfilment_order_id=f"fo-{order_id}",
        location_id=location,
        shipment_id=f"sh-{order_id}-{location}",
        carrier="dhl",
        tracking_number=f"TRK-{order_id}",
        parcels=(ShippedParcel(carrier="dhl", tracking_number=f"TRK-{order_id}"),),
        lines=_ONE_LINE,
        shipped_at=when,
    )


def confirmed(order_id: str, when: datetime) -> OrderConfirmed:
    return OrderConfirmed(order_id=order_id, confirmed_at=when)


def held(order_id: str) -> OrderHeld:
    return OrderHeld(order_id=order_id, reason=HoldReason.RISK_REVIEW)


def released(order_id: str) -> OrderReleased:
    return OrderReleased(
        order_id=order_id, released_by=Actor(actor_id="cs-1", role=ActorRole.CUSTOMER_SERVICE)
    )


_ONE_LINE = (LineQuantity(line_id="1", sku="SKU-1", quantity=1),)


def allocated(order_id: str, location: str) -> OrderAllocated:
    return OrderAllocated(
        order_id=order_id,
        decision_id=f"dec-{order_id}",
        allocations=(
            Allocation(location_id=location, location_type=LocationType.WAREHOUSE, lines=_ONE_LINE),
        ),
    )


def fulfilment_created(
    order_id: str, location: str = "WH-HAMBURG", promised_by: datetime | None = None
) -> FulfilmentOrderCreated:
    """The order released to ``location``, promised by ``promised_by``."""
    return FulfilmentOrderCreated(
        order_id=order_id,
        fulfilment_order_id=f"fo-{order_id}",
        location_id=location,
        location_type=LocationType.WAREHOUSE,
        delivery_method=DeliveryMethod.HOME_DELIVERY,
        lines=_ONE_LINE,
        shipping_address=_ADDRESS,
        promised_by=promised_by,
        accept_by=at("23:00"),
    )


def fulfilment_rejected(order_id: str, location: str) -> FulfilmentOrderRejected:
    """The order's work at ``location`` (``fo-<order id>-<location>``) rejected for no stock."""
    return FulfilmentOrderRejected(
        order_id=order_id,
        fulfilment_order_id=f"fo-{order_id}-{location}",
        location_id=location,
        cause=RejectionCause.NO_STOCK,
        lines=_ONE_LINE,
    )


def rerouted(order_id: str, from_location: str, to_location: str) -> FulfilmentOrderRerouted:
    return FulfilmentOrderRerouted(
        order_id=order_id,
        fulfilment_order_id=f"fo-{order_id}-{from_location}",
        from_location_id=from_location,
        new_fulfilment_order_id=f"fo-{order_id}-{to_location}",
        to_location_id=to_location,
        lines=_ONE_LINE,
        reason="rejected",
    )


def out_of_stock(sku: str, location: str, since: datetime) -> OutOfStock:
    return OutOfStock(sku=sku, location_id=location, since=since)


def back_in_stock(sku: str, location: str, available: int = 5) -> BackInStock:
    return BackInStock(sku=sku, location_id=location, available=available)


def day_closed(sku: str, location: str, day: int, on_hand: int) -> StockDayClosed:
    """The stock of 2026-11-<day> as the day closed (read a second after midnight)."""
    return StockDayClosed(
        sku=sku,
        location_id=location,
        day=date(2026, 11, day),
        on_hand=on_hand,
        reserved=0,
        in_transit=0,
        quarantined=0,
        taken_at=at("00:00:01", day + 1),
    )


def stock_committed(sku: str, location: str, order_id: str, quantity: int) -> StockCommitted:
    """The reservation ``res-<order id>`` committed by shipment ``sh-<order id>``."""
    return StockCommitted(
        sku=sku,
        location_id=location,
        reservation_id=f"res-{order_id}",
        order_id=order_id,
        shipment_id=f"sh-{order_id}",
        quantity=quantity,
    )


def completed(order_id: str, when: datetime) -> OrderCompleted:
    return OrderCompleted(order_id=order_id, completed_at=when)


def backordered(order_id: str) -> OrderBackordered:
    return OrderBackordered(
        order_id=order_id,
        decision_id=f"dec-{order_id}",
        lines=_ONE_LINE,
        reason=BackorderReason.OUT_OF_STOCK,
        detail="no eligible location has the units",
    )


def _money(amount: int, currency: str) -> Money:
    return Money(amount_minor=amount, currency=currency)


def authorized(order_id: str, amount: int, currency: str = "EUR") -> PaymentAuthorized:
    """The order's one payment, ``pay-<order id>``."""
    return PaymentAuthorized(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        provider="sandbox",
        provider_reference=f"psp-{order_id}",
        amount=_money(amount, currency),
        authorized_at=at("09:00"),
    )


def captured(
    order_id: str, capture_id: str, amount: int, total: int, currency: str = "EUR"
) -> PaymentCaptured:
    """``total``: the running ``captured_total`` the capture states."""
    return PaymentCaptured(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        capture_id=capture_id,
        amount=_money(amount, currency),
        captured_total=_money(total, currency),
        captured_at=at("09:00"),
    )


def voided(order_id: str, amount: int, currency: str = "EUR") -> PaymentVoided:
    return PaymentVoided(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        amount=_money(amount, currency),
        reason="order canceled",
        voided_at=at("09:00"),
    )


def refunded(
    order_id: str, refund_id: str, amount: int, total: int, currency: str = "EUR"
) -> RefundIssued:
    """``total``: the running ``refunded_total`` the refund states."""
    return RefundIssued(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        refund_id=refund_id,
        amount=_money(amount, currency),
        refunded_total=_money(total, currency),
        reason="returned",
        refunded_at=at("09:00"),
    )


def return_requested(
    order_id: str, return_id: str, channel: str, units: dict[ReturnReason, int]
) -> ReturnRequested:
    """One line per reason, ``units`` of it."""
    return ReturnRequested(
        order_id=order_id,
        return_id=return_id,
        channel=channel,
        lines=tuple(
            ReturnLine(line_id=str(n), sku=f"SKU-{n}", quantity=quantity, reason=reason)
            for n, (reason, quantity) in enumerate(units.items(), start=1)
        ),
        requested_at=at("09:00"),
    )


def envelope(payload: EventPayload, when: datetime) -> Envelope:
    """Its subject the order id, or for a stock fact without one, ``<sku>@<location>``."""
    subject = getattr(payload, "order_id", None) or "{}@{}".format(
        getattr(payload, "sku"),  # noqa: B009  (a stock fact)
        getattr(payload, "location_id"),  # noqa: B009
    )
    return new_event(payload, subject=subject, source="oms/test", correlation_id=subject, time=when)


async def send_timed(env: Env, topic: str, events: Sequence[tuple[EventPayload, datetime]]) -> None:
    """Send in this order, all to partition 0 so the order of reading is the order sent."""
    await produce(
        env.bootstrap,
        env.topic(topic),
        [encode(envelope(payload, when)) for payload, when in events],
        partition=0,
    )
