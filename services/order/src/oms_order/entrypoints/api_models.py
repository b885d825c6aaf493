"""Request and response bodies of the order service's HTTP API.

Orders are submitted as the contract's own ``OrderSubmitted`` (v3) payload, so the intake
topic and HTTP accept exactly the same documents. The routes declare these models, so FastAPI
builds the OpenAPI document from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from oms_events import StrictModel
from oms_events.orders import HoldReason, RejectionReason
from oms_events.returns import Disposition, ReturnReason
from oms_events.values import Address, Identifier, LineQuantity, Quantity
from oms_order.domain.order import PaymentStatus
from oms_order.domain.returns import ReturnStatus
from oms_order.domain.status import OrderStatus
from oms_runtime import ProblemDetails

__all__ = [
    "AddressChangeRequest",
    "CancelRequest",
    "HoldRequest",
    "InspectionRequest",
    "OrderLineView",
    "OrderList",
    "OrderView",
    "ReceiptRequest",
    "RejectedOrderProblem",
    "ReleaseRequest",
    "ReturnList",
    "ReturnRequest",
    "ReturnView",
    "SubmitResponse",
    "TimelineEntry",
]

_Text = Annotated[str, StringConstraints(max_length=2000)]


class _Request(StrictModel):
    pass


class _Response(StrictModel):
    pass


# --- requests -------------------------------------------------------------------------------


class CancelRequest(_Request):
    """Cancel the whole order (no ``lines``) or some units of some lines."""

    lines: Annotated[tuple[LineQuantity, ...], Field(max_length=500)] = ()
    """Empty = the whole order."""
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class HoldRequest(_Request):
    reason: HoldReason
    note: _Text | None = None


class ReleaseRequest(_Request):
    """Lift the hold; an empty body is accepted."""

    note: _Text | None = None


class AddressChangeRequest(_Request):
    """Only honoured before the order is released to a location."""

    address: Address


class ReturnedUnits(_Request):
    line_id: Identifier
    quantity: Quantity
    reason: ReturnReason
    comment: _Text | None = None


class ReturnRequest(_Request):
    """Delivered units the customer sends back, on any channel (omnichannel returns)."""

    lines: Annotated[tuple[ReturnedUnits, ...], Field(min_length=1, max_length=500)]
    channel: Identifier | None = None
    """Where the return is asked, for customer service (default: the order's channel); a
    channel's key asks on its own channel, staff on their location's id."""
    drop_off_location_id: Identifier | None = None
    """Where the customer will bring the parcel, if known; staff: their location."""


class ArrivedUnits(_Request):
    line_id: Identifier
    quantity: Quantity


class ReceiptRequest(_Request):
    """Units of the return that arrived; a return may arrive in several parcels."""

    lines: Annotated[tuple[ArrivedUnits, ...], Field(min_length=1, max_length=500)]
    location_id: Identifier | None = None
    """Customer service names the location; staff receive at their own."""


class InspectedUnits(_Request):
    line_id: Identifier
    quantity: Quantity
    disposition: Disposition
    """``restock``: sellable again; ``quarantine``: kept aside; ``dispose``: written off."""
    note: _Text | None = None


class InspectionRequest(_Request):
    """Received units inspected; the inspection refunds them."""

    lines: Annotated[tuple[InspectedUnits, ...], Field(min_length=1, max_length=500)]
    location_id: Identifier | None = None
    """Customer service names the location; staff inspect at their own."""
    refund_minor: Annotated[int, Field(strict=True, ge=0)] | None = None
    """Less than the units were paid, e.g. for a unit the customer damaged; default: what
    they were paid. Never more than that, nor than is left of the order's captures."""


# --- responses ------------------------------------------------------------------------------


class SubmitResponse(_Response):
    order_id: str
    status: OrderStatus
    """REJECTED with ``reasons`` when the order failed validation (it is kept all the same)."""
    created: bool
    """False when the order was already known, submitted earlier over HTTP or the topic."""
    reasons: list[RejectionReason]


class OrderLineView(_Response):
    line_id: str
    sku: str
    ordered: int
    canceled: int
    shipped: int
    """Units handed to a carrier or set aside at a store for collection."""
    delivered: int
    """Units of delivered shipments."""
    collected: int
    """Units the customer collected at a store."""


class ShipmentUnits(_Response):
    line_id: str
    quantity: int


class ShipmentView(_Response):
    shipment_id: str
    kind: Literal["carrier", "pickup"]
    """``pickup``: set aside at a store for the customer to collect."""
    status: Literal["shipped", "delivered", "ready_for_pickup", "collected", "uncollected"]
    """``uncollected``: not collected in time; its lines were canceled and refunded."""
    carrier: str | None
    tracking_number: str | None
    """The shipment's first parcel's; null for pickups and shipments kept before carriers
    were recorded."""
    tracking_numbers: list[str]
    """Every parcel's of the shipment (one hand-over); empty when ``tracking_number`` is
    null."""
    shipped_at: datetime
    """When it was handed to the carrier, or set aside at the store."""
    delivered_at: datetime | None
    """When it was delivered, or collected."""
    lines: list[ShipmentUnits]


class TimelineEntry(_Response):
    sequence: int
    event_type: str
    actor: str
    """``role:id`` of who caused it, e.g. ``customer_service:cs-desk-1``."""
    at: datetime
    detail: dict[str, Any]


class OrderView(_Response):
    """An order as customer service sees it. Fields an unreadable (rejected) order never had
    are null."""

    order_id: str
    channel: str
    external_order_id: str
    status: OrderStatus
    payment_status: PaymentStatus
    on_hold: bool
    hold_reason: str | None
    delivery_method: str | None
    currency: str | None
    grand_total_minor: int | None
    placed_at: datetime | None
    promised_by: datetime | None
    """The delivery promise: the channel's, else the latest one orchestration made for the
    order's fulfilment orders (by then the customer has everything); null until released."""
    created_at: datetime
    updated_at: datetime
    lines: list[OrderLineView]
    shipments: list[ShipmentView]
    shipping_address: Address | None
    rejection_reasons: list[RejectionReason]
    timeline: list[TimelineEntry]


class OrderList(_Response):
    orders: list[OrderView]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; null on the last page."""


class RejectedOrderProblem(ProblemDetails):
    """A body that is not a valid OrderSubmitted."""

    order_id: str | None = None
    """Set when the order could be identified: it is kept as REJECTED under this id."""


class ReturnLineView(_Response):
    line_id: str
    sku: str
    quantity: int
    """Units asked back."""
    reason: ReturnReason
    comment: str | None
    received: int
    inspected: int
    value_minor: int
    """What the customer paid for the units asked back."""


class ReturnView(_Response):
    return_id: str
    order_id: str
    rma_number: str
    """Quoted on the parcel and by the customer."""
    status: ReturnStatus
    """REQUESTED until a unit arrives; RECEIVED while units wait for inspection; INSPECTED
    or REFUNDED once every unit received is inspected."""
    channel: str
    """Where the return was asked."""
    drop_off_location_id: str | None
    locations: list[str]
    """Where its parcels arrived."""
    currency: str
    refunded_minor: int
    requested_at: datetime
    updated_at: datetime
    lines: list[ReturnLineView]


class ReturnList(_Response):
    returns: list[ReturnView]
