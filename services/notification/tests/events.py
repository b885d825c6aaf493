"""One order's life as the other services tell it, for the notification service's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from oms_events.codec import new_event
from oms_events.envelope import Envelope
from oms_events.fulfilment import (
    Delivered,
    OutForDelivery,
    PickedUpByCustomer,
    ReadyForPickup,
    ShipmentShipped,
    ShippedParcel,
)
from oms_events.orders import (
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
from oms_events.sourcing import BackorderReason, FulfilmentOrderCreated, OrderBackordered
from oms_events.values import (
    Actor,
    ActorRole,
    DeliveryMethod,
    LineQuantity,
    LocationType,
    Money,
)
from oms_runtime import ConsumedRecord, Received
from tests.support.orders import order_submitted

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CUSTOMER = "cus-1001"
EMAIL = "erika@example.com"


def eur(minor: int) -> Money:
    return Money(amount_minor=minor, currency="EUR")


def accepted(order_id: str, *, country: str = "DE", customer_id: str = CUSTOMER) -> OrderAccepted:
    """Two lines: 2 T-shirts and 1 mug, named, shipped to Cologne (or ``country``)."""
    submitted = order_submitted(order_id.upper(), lines=[("SKU-TSHIRT-M", 2), ("SKU-MUG", 1)])
    lines = (
        submitted.lines[0].model_copy(update={"name": "T-Shirt <Bio> & Fair"}),
        submitted.lines[1].model_copy(update={"name": "Tasse"}),
    )
    address = submitted.shipping_address
    assert address is not None
    address = address.model_copy(update={"country": country, "phone": "+49 221 1234567"})
    data: dict[str, Any] = submitted.model_dump()
    data.update(
        order_id=order_id,
        lines=lines,
        shipping_address=address,
        billing_address=address,
        customer=submitted.customer.model_copy(update={"customer_id": customer_id, "email": EMAIL}),
        delivery_method=DeliveryMethod.HOME_DELIVERY,
    )
    return OrderAccepted.model_validate(data)


def address_changed(order_id: str, line1: str) -> ShippingAddressChanged:
    address = accepted(order_id).shipping_address
    assert address is not None
    return ShippingAddressChanged(
        order_id=order_id,
        previous_address=address,
        address=address.model_copy(update={"line1": line1}),
        changed_by=CS,
    )


def confirmed(order_id: str) -> OrderConfirmed:
    return OrderConfirmed(order_id=order_id, confirmed_at=AT, payment_id=f"pay-{order_id}")


def payment_failed(order_id: str, *, retryable: bool = False) -> PaymentFailed:
    return PaymentFailed(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        provider="sandbox",
        amount=eur(6445),
        code="declined",
        message="card declined",
        retryable=retryable,
    )


def held(order_id: str, reason: str) -> OrderHeld:
    return OrderHeld.model_validate({"order_id": order_id, "reason": reason})


def backordered(order_id: str) -> OrderBackordered:
    return OrderBackordered(
        order_id=order_id,
        decision_id="dec-1",
        lines=(LineQuantity(line_id="2", sku="SKU-MUG", quantity=1),),
        reason=BackorderReason.OUT_OF_STOCK,
        detail="no eligible location has any of the lines: backorder",
        expected_at=AT + timedelta(days=10),
    )


def fulfilment_created(order_id: str, n: int = 1) -> FulfilmentOrderCreated:
    return FulfilmentOrderCreated(
        order_id=order_id,
        fulfilment_order_id=f"fo-{order_id}-{n}",
        location_id="HAMBURG",
        location_type=LocationType.WAREHOUSE,
        delivery_method=DeliveryMethod.HOME_DELIVERY,
        lines=(LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=2),),
        accept_by=AT + timedelta(hours=2),
    )


def pickup_released(order_id: str) -> FulfilmentOrderCreated:
    return fulfilment_created(order_id).model_copy(
        update={
            "location_id": "store-berlin",
            "location_type": LocationType.STORE,
            "delivery_method": DeliveryMethod.CLICK_AND_COLLECT,
            "pickup_store_id": "store-berlin",
        }
    )


def ready_for_pickup(order_id: str) -> ReadyForPickup:
    return ReadyForPickup(
        order_id=order_id,
        fulfilment_order_id=f"fo-{order_id}-1",
        location_id="store-berlin",
        pickup_code="K7P42QXY",
        hold_until=AT + timedelta(days=7),
        shipment_id=f"shp-fo-{order_id}-1",
        lines=(LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=2),),
        ready_at=AT,
    )


def collected(order_id: str) -> PickedUpByCustomer:
    return PickedUpByCustomer(
        order_id=order_id,
        fulfilment_order_id=f"fo-{order_id}-1",
        location_id="store-berlin",
        collected_at=AT + timedelta(days=1),
        shipment_id=f"shp-fo-{order_id}-1",
    )


def _shipment(order_id: str, tracking: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "shipment_id": f"shp-{order_id}",
        "carrier": "dhl",
        "tracking_number": tracking,
    }


def shipped(order_id: str, tracking: str = "00340434100001") -> ShipmentShipped:
    return ShipmentShipped(
        **_shipment(order_id, tracking),
        fulfilment_order_id=f"fo-{order_id}-1",
        location_id="HAMBURG",
        parcels=(ShippedParcel(carrier="dhl", tracking_number=tracking),),
        lines=(LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=2),),
        shipped_at=AT + timedelta(days=1),
    )


def out_for_delivery(order_id: str, tracking: str = "00340434100001") -> OutForDelivery:
    return OutForDelivery(**_shipment(order_id, tracking), occurred_at=AT + timedelta(days=2))


def delivered(order_id: str, tracking: str = "00340434100001") -> Delivered:
    return Delivered(**_shipment(order_id, tracking), occurred_at=AT + timedelta(days=2, hours=3))


def captured(order_id: str, minor: int) -> PaymentCaptured:
    return PaymentCaptured(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        capture_id="cap-1",
        amount=eur(minor),
        captured_total=eur(minor),
        captured_at=AT,
    )


CS = Actor(actor_id="agent-1", role=ActorRole.CUSTOMER_SERVICE)


def canceled(order_id: str) -> OrderCanceled:
    return OrderCanceled(order_id=order_id, reason="customer asked", canceled_by=CS, canceled_at=AT)


def lines_canceled(order_id: str, refund: int | None = 1190) -> OrderLinesCanceled:
    return OrderLinesCanceled(
        order_id=order_id,
        lines=(
            LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=1),
            LineQuantity(line_id="2", sku="SKU-MUG", quantity=1),
        ),
        reason="customer asked",
        canceled_by=CS,
        refund_due=eur(refund) if refund is not None else None,
    )


def refund(order_id: str, *, return_id: str | None) -> RefundIssued:
    return RefundIssued(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        refund_id="ref-1",
        return_id=return_id,
        amount=eur(1190),
        refunded_total=eur(1190),
        reason="returned",
        refunded_at=AT,
    )


def return_authorized(order_id: str) -> ReturnAuthorized:
    return ReturnAuthorized(
        order_id=order_id,
        return_id="ret-1",
        rma_number="RMA-7F3A",
        lines=(LineQuantity(line_id="1", sku="SKU-MUG", quantity=1),),
        expires_at=AT + timedelta(days=30),
    )


def return_received(order_id: str) -> ReturnReceived:
    return ReturnReceived(
        order_id=order_id,
        return_id="ret-1",
        location_id="store-berlin",
        lines=(LineQuantity(line_id="1", sku="SKU-MUG", quantity=1),),
        received_at=AT,
    )


def envelope(payload: EventPayload, order_id: str) -> Envelope:
    return new_event(payload, subject=order_id, source="oms/test", correlation_id=f"c-{order_id}")


def received(payload: EventPayload, order_id: str, offset: int = 0) -> Received[Any]:
    return Received(
        payload,
        envelope(payload, order_id),
        ConsumedRecord("oms.orders", 0, offset, order_id.encode(), None),
    )
