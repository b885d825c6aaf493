"""Order capture, customer-service commands and the order service's lifecycle events.

Topics: ``oms.channel-order-intake`` (channels), ``oms.order-commands`` (customer
service and operators) and ``oms.orders`` (the order service).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from oms_events._model import EventPayload, event, upcaster
from oms_events.values import (
    Actor,
    Address,
    CurrencyCode,
    DeliveryMethod,
    Email,
    Identifier,
    LineQuantity,
    Money,
    OrderLine,
    OrderTotals,
    UtcDatetime,
    ValueModel,
)

__all__ = [
    "CancelOrder",
    "ChangeShippingAddress",
    "Customer",
    "HoldOrder",
    "HoldReason",
    "OrderAccepted",
    "OrderAcceptedV1",
    "OrderCanceled",
    "OrderCancellationRequested",
    "OrderCommandRejected",
    "OrderCompleted",
    "OrderConfirmed",
    "OrderExtras",
    "OrderHeld",
    "OrderLinesCanceled",
    "OrderRejected",
    "OrderReleased",
    "OrderStuck",
    "OrderSubmitted",
    "OrderSubmittedV1",
    "OrderSubmittedV2",
    "PaymentInfo",
    "PaymentMethod",
    "RejectionReason",
    "ReleaseOrder",
    "ShippingAddressChanged",
    "upcast_order_accepted_v1_v2",
    "upcast_order_submitted_v1_v2",
    "upcast_order_submitted_v2_v3",
]

_Text = Annotated[str, StringConstraints(max_length=2000)]
_Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
_Lines = Annotated[tuple[OrderLine, ...], Field(min_length=1, max_length=500)]


class Customer(ValueModel):
    customer_id: Identifier | None = None
    """None for guest checkout."""
    email: Email


class PaymentMethod(StrEnum):
    CARD = "card"
    PAYPAL = "paypal"
    INVOICE = "invoice"
    GIFT_CARD = "gift_card"
    BANK_TRANSFER = "bank_transfer"
    CASH_ON_DELIVERY = "cash_on_delivery"


class PaymentInfo(ValueModel):
    """How the customer pays; card data arrives only as the provider's token."""

    method: PaymentMethod
    provider: Identifier
    provider_reference: Identifier | None = None
    card_token: Identifier | None = None
    amount: Money


class OrderExtras(ValueModel):
    flags: tuple[Annotated[str, StringConstraints(min_length=1, max_length=64)], ...] = ()
    comments: tuple[_Text, ...] = ()
    gift_note: _Text | None = None
    carrier_preference: Identifier | None = None


class RejectionReason(ValueModel):
    """One failed check: a stable ``code``, the offending ``field`` path, and prose."""

    code: _Code
    field: Annotated[str, StringConstraints(max_length=200)] | None = None
    message: _Text


class HoldReason(StrEnum):
    RISK_REVIEW = "risk_review"
    ADDRESS_VERIFICATION = "address_verification"
    PAYMENT_REVIEW = "payment_review"
    CUSTOMER_REQUEST = "customer_request"
    OTHER = "other"


# --- channel order intake ---------------------------------------------------------------


@event("OrderSubmitted", version=1)
class OrderSubmittedV1(EventPayload):
    """First intake format: home delivery only, the customer known by e-mail alone."""

    channel: Identifier
    external_order_id: Identifier
    placed_at: UtcDatetime
    customer_email: Email
    billing_address: Address
    shipping_address: Address
    currency: CurrencyCode
    lines: _Lines
    totals: OrderTotals
    payment: PaymentInfo
    extras: OrderExtras = OrderExtras()


class _SubmittedOrder(EventPayload):
    channel: Identifier
    external_order_id: Identifier
    placed_at: UtcDatetime
    customer: Customer
    billing_address: Address
    shipping_address: Address | None = None
    pickup_store_id: Identifier | None = None
    delivery_method: DeliveryMethod = DeliveryMethod.HOME_DELIVERY
    currency: CurrencyCode
    lines: _Lines
    totals: OrderTotals
    payment: PaymentInfo
    extras: OrderExtras = OrderExtras()


@event("OrderSubmitted", version=2)
class OrderSubmittedV2(_SubmittedOrder):
    """Second intake format: customers, delivery methods and pickup stores, no promise."""


@event("OrderSubmitted", version=3)
class OrderSubmitted(_SubmittedOrder):
    """A channel hands over an order. Deduplicated by (channel, external_order_id).

    ``shipping_address`` is required for home delivery, ``pickup_store_id`` for
    click & collect and ship-to-store; the order service rejects mismatches with a reason.
    ``promised_by``: the delivery date the channel already promised the customer, kept by
    every fulfilment order; without it orchestration makes the promise.
    """

    promised_by: UtcDatetime | None = None


@upcaster("OrderSubmitted", from_version=1)
def upcast_order_submitted_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1's ``customer_email`` becomes a guest ``customer``; v1 only knew home delivery."""
    out = {k: v for k, v in data.items() if k != "customer_email"}
    out["customer"] = {"customer_id": None, "email": data.get("customer_email")}
    out["delivery_method"] = DeliveryMethod.HOME_DELIVERY.value
    return out


@upcaster("OrderSubmitted", from_version=2)
def upcast_order_submitted_v2_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v2 could not carry the channel's promise."""
    return {**data, "promised_by": None}


@event("OrderCancellationRequested")
class OrderCancellationRequested(EventPayload):
    """A channel asks to cancel; may arrive before its order, which is then canceled on arrival."""

    channel: Identifier
    external_order_id: Identifier
    requested_at: UtcDatetime
    lines: tuple[LineQuantity, ...] = ()
    """Empty = the whole order."""
    reason: _Text | None = None


# --- order commands ----------------------------------------------------------------------


@event("CancelOrder")
class CancelOrder(EventPayload):
    order_id: Identifier
    lines: tuple[LineQuantity, ...] = ()
    """Empty = the whole order."""
    reason: _Text
    requested_by: Actor


@event("HoldOrder")
class HoldOrder(EventPayload):
    order_id: Identifier
    reason: HoldReason
    note: _Text | None = None
    requested_by: Actor


@event("ReleaseOrder")
class ReleaseOrder(EventPayload):
    """Lift a hold."""

    order_id: Identifier
    note: _Text | None = None
    requested_by: Actor


@event("ChangeShippingAddress")
class ChangeShippingAddress(EventPayload):
    """Only honoured before the order is released to a location."""

    order_id: Identifier
    address: Address
    requested_by: Actor


# --- order lifecycle ---------------------------------------------------------------------


class _AcceptedOrder(EventPayload):
    order_id: Identifier
    channel: Identifier
    external_order_id: Identifier
    placed_at: UtcDatetime
    customer: Customer
    billing_address: Address
    shipping_address: Address | None = None
    pickup_store_id: Identifier | None = None
    delivery_method: DeliveryMethod
    currency: CurrencyCode
    lines: _Lines
    totals: OrderTotals
    payment: PaymentInfo
    extras: OrderExtras = OrderExtras()


@event("OrderAccepted")
class OrderAcceptedV1(_AcceptedOrder):
    """First format: no promise."""


@event("OrderAccepted", version=2)
class OrderAccepted(_AcceptedOrder):
    """The order passed validation and now exists in the OMS (status PENDING).

    Carries the whole accepted order so that downstream systems need no intake topic;
    ``promised_by`` is the channel's promise, if it sent one.
    """

    promised_by: UtcDatetime | None = None


@upcaster("OrderAccepted", from_version=1)
def upcast_order_accepted_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 could not carry the channel's promise."""
    return {**data, "promised_by": None}


@event("OrderRejected")
class OrderRejected(EventPayload):
    order_id: Identifier
    channel: Identifier
    external_order_id: Identifier
    reasons: Annotated[tuple[RejectionReason, ...], Field(min_length=1)]


@event("OrderConfirmed")
class OrderConfirmed(EventPayload):
    """Payment is authorised and no hold applies: the order may be sourced."""

    order_id: Identifier
    confirmed_at: UtcDatetime
    payment_id: Identifier | None = None


@event("OrderHeld")
class OrderHeld(EventPayload):
    """ON_HOLD sits beside the status; ``held_by`` is None when a risk rule held it."""

    order_id: Identifier
    reason: HoldReason
    rule: Identifier | None = None
    note: _Text | None = None
    held_by: Actor | None = None


@event("OrderReleased")
class OrderReleased(EventPayload):
    """The hold is lifted. (Release to locations is signalled by FulfilmentOrderCreated.)"""

    order_id: Identifier
    released_by: Actor
    note: _Text | None = None


@event("OrderLinesCanceled")
class OrderLinesCanceled(EventPayload):
    order_id: Identifier
    lines: Annotated[tuple[LineQuantity, ...], Field(min_length=1)]
    reason: _Text
    canceled_by: Actor
    refund_due: Money | None = None


@event("OrderCanceled")
class OrderCanceled(EventPayload):
    order_id: Identifier
    reason: _Text
    canceled_by: Actor
    canceled_at: UtcDatetime


@event("ShippingAddressChanged")
class ShippingAddressChanged(EventPayload):
    order_id: Identifier
    previous_address: Address | None = None
    address: Address
    changed_by: Actor


@event("OrderCommandRejected")
class OrderCommandRejected(EventPayload):
    """A customer-service command that was refused, and why; nothing changed.

    ``order_id`` is as given in the command, which may name no order (``order_not_found``).
    """

    order_id: Identifier
    command_type: Identifier
    command_id: Identifier
    code: _Code
    message: _Text
    requested_by: Actor | None = None


@event("OrderCompleted")
class OrderCompleted(EventPayload):
    """Every line is delivered, collected, canceled or returned; nothing is left to do."""

    order_id: Identifier
    completed_at: UtcDatetime


@event("OrderStuck")
class OrderStuck(EventPayload):
    """The order has sat in ``status`` since ``since``, longer than the operations threshold
    for that status. Published once per time the order entered the status, with the
    sequence of its entry in the order's timeline; the status itself does not change."""

    order_id: Identifier
    status: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z_]{0,39}$")]
    since: UtcDatetime
    threshold_s: Annotated[int, Field(strict=True, ge=1)]
    detected_at: UtcDatetime
