"""Returns, exchanges and claims (written by the order service on ``oms.returns``), and the
commands that ask for a return's steps (on ``oms.order-commands``, from customer service,
channels and staff apps; the order API publishes each one it takes there too)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from oms_events._model import EventPayload, event
from oms_events.values import (
    Actor,
    Identifier,
    LineQuantity,
    Money,
    Quantity,
    Sku,
    UtcDatetime,
    ValueModel,
)

__all__ = [
    "ClaimKind",
    "ClaimOpened",
    "Disposition",
    "ExchangeCreated",
    "InspectReturn",
    "InspectedLine",
    "InspectedUnits",
    "ReceiveReturn",
    "RequestReturn",
    "ReturnAuthorized",
    "ReturnInspected",
    "ReturnLine",
    "ReturnReason",
    "ReturnReceived",
    "ReturnRequested",
    "ReturnedUnits",
    "UnitsArrived",
]

_Text = Annotated[str, StringConstraints(max_length=2000)]
_MAX_LINES = 500


class ReturnReason(StrEnum):
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    SIZE_OR_FIT = "size_or_fit"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


class Disposition(StrEnum):
    RESTOCK = "restock"
    QUARANTINE = "quarantine"
    DISPOSE = "dispose"


class ClaimKind(StrEnum):
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    NOT_DELIVERED = "not_delivered"
    MISSING_ITEM = "missing_item"
    WRONG_ITEM = "wrong_item"


class ReturnLine(ValueModel):
    line_id: Identifier
    sku: Sku
    quantity: Quantity
    reason: ReturnReason
    comment: _Text | None = None


class InspectedLine(ValueModel):
    line_id: Identifier
    sku: Sku
    quantity: Quantity
    disposition: Disposition
    note: _Text | None = None


@event("ReturnRequested")
class ReturnRequested(EventPayload):
    """Returns are omnichannel: ``channel`` is where the return started, not where it was bought."""

    order_id: Identifier
    return_id: Identifier
    channel: Identifier
    lines: Annotated[tuple[ReturnLine, ...], Field(min_length=1)]
    drop_off_location_id: Identifier | None = None
    exchange_requested: bool = False
    requested_at: UtcDatetime


@event("ReturnAuthorized")
class ReturnAuthorized(EventPayload):
    order_id: Identifier
    return_id: Identifier
    rma_number: Identifier
    lines: Annotated[tuple[LineQuantity, ...], Field(min_length=1)]
    return_label_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    expires_at: UtcDatetime | None = None


@event("ReturnReceived")
class ReturnReceived(EventPayload):
    order_id: Identifier
    return_id: Identifier
    location_id: Identifier
    lines: Annotated[tuple[LineQuantity, ...], Field(min_length=1)]
    received_at: UtcDatetime


@event("ReturnInspected")
class ReturnInspected(EventPayload):
    """Restocked lines go back on hand, quarantined ones into the quarantine bucket."""

    order_id: Identifier
    return_id: Identifier
    location_id: Identifier
    lines: Annotated[tuple[InspectedLine, ...], Field(min_length=1)]
    refund_amount: Money
    inspected_at: UtcDatetime


@event("ExchangeCreated")
class ExchangeCreated(EventPayload):
    order_id: Identifier
    return_id: Identifier
    exchange_order_id: Identifier
    lines: Annotated[tuple[LineQuantity, ...], Field(min_length=1)]
    """The replacement lines, as ordered on the exchange order."""


@event("ClaimOpened")
class ClaimOpened(EventPayload):
    order_id: Identifier
    claim_id: Identifier
    kind: ClaimKind
    shipment_id: Identifier | None = None
    lines: tuple[LineQuantity, ...] = ()
    description: _Text
    amount_claimed: Money | None = None
    opened_at: UtcDatetime


# --- commands (oms.order-commands) ----------------------------------------------------------


class ReturnedUnits(ValueModel):
    """Delivered units of an order line the customer sends back, and why."""

    line_id: Identifier
    quantity: Quantity
    reason: ReturnReason
    comment: _Text | None = None


class UnitsArrived(ValueModel):
    line_id: Identifier
    quantity: Quantity


class InspectedUnits(ValueModel):
    line_id: Identifier
    quantity: Quantity
    disposition: Disposition
    note: _Text | None = None


@event("RequestReturn")
class RequestReturn(EventPayload):
    """Open a return of delivered units, authorised at once with its RMA number; the
    return's id is derived from this command's id. ``channel``: where the return is asked
    (a channel, a store's id), not where the order was bought."""

    order_id: Identifier
    channel: Identifier
    lines: Annotated[tuple[ReturnedUnits, ...], Field(min_length=1, max_length=_MAX_LINES)]
    drop_off_location_id: Identifier | None = None
    requested_by: Actor


@event("ReceiveReturn")
class ReceiveReturn(EventPayload):
    """Units of a return arrived at ``location_id`` (a return may arrive in parcels)."""

    order_id: Identifier
    return_id: Identifier
    location_id: Identifier
    lines: Annotated[tuple[UnitsArrived, ...], Field(min_length=1, max_length=_MAX_LINES)]
    received_by: Actor


@event("InspectReturn")
class InspectReturn(EventPayload):
    """Received units inspected at ``location_id`` and refunded: what they were paid, or
    ``refund_minor`` (in the order's currency) when less is granted."""

    order_id: Identifier
    return_id: Identifier
    location_id: Identifier
    lines: Annotated[tuple[InspectedUnits, ...], Field(min_length=1, max_length=_MAX_LINES)]
    refund_minor: Annotated[int, Field(strict=True, ge=0)] | None = None
    inspected_by: Actor
