"""Staff actions and the shipping service's fulfilment and shipment events.

Topics: ``oms.staff-actions`` (store and warehouse apps; hostile input),
``oms.shipments`` (shipping service) and ``oms.carrier-tracking`` (carriers).
The staff's packing action is ``ParcelPacked``; ``Packed`` is the shipping
service's fact, so every event type name stays unique.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from oms_events._model import EventPayload, event, upcaster
from oms_events.values import Identifier, LineQuantity, Money, UtcDatetime, ValueModel

__all__ = [
    "Collected",
    "Delivered",
    "DeliveryException",
    "FulfilmentAccepted",
    "FulfilmentOrderAccepted",
    "FulfilmentOrderRejected",
    "FulfilmentRejected",
    "HandedOver",
    "HandedOverV1",
    "HandedOverV2",
    "InTransit",
    "LabelledParcel",
    "OutForDelivery",
    "Packed",
    "Parcel",
    "ParcelPacked",
    "PickStarted",
    "PickedUpByCustomer",
    "PickedUpByCustomerV1",
    "PickupExpired",
    "RateAlternative",
    "ReadyForPickup",
    "ReadyForPickupV1",
    "ReadyToShip",
    "ReadyToShipV1",
    "ReceivedAtStore",
    "RejectionCause",
    "ReturnedToSender",
    "ShipmentShipped",
    "ShipmentShippedV1",
    "ShippedParcel",
    "TrackingUpdateReceived",
    "upcast_handed_over_v1_v2",
    "upcast_handed_over_v2_v3",
    "upcast_picked_up_by_customer_v1_v2",
    "upcast_ready_for_pickup_v1_v2",
    "upcast_ready_to_ship_v1_v2",
    "upcast_shipment_shipped_v1_v2",
]

_Text = Annotated[str, StringConstraints(max_length=2000)]
_Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
_Lines = Annotated[tuple[LineQuantity, ...], Field(min_length=1)]


class RejectionCause(StrEnum):
    NO_STOCK = "no_stock"
    DAMAGED = "damaged"
    NO_CAPACITY = "no_capacity"
    OTHER = "other"


class Parcel(ValueModel):
    parcel_id: Identifier
    box: Identifier
    """Box type chosen for the parcel, e.g. ``M-30x20x15``."""
    weight_grams: Annotated[int, Field(strict=True, gt=0)]
    lines: _Lines


class _FulfilmentOrderEvent(EventPayload):
    order_id: Identifier
    fulfilment_order_id: Identifier
    location_id: Identifier


class _StaffAction(_FulfilmentOrderEvent):
    staff_id: Identifier
    performed_at: UtcDatetime


class _ShipmentEvent(EventPayload):
    order_id: Identifier
    shipment_id: Identifier
    carrier: Identifier
    tracking_number: Identifier
    occurred_at: UtcDatetime


# --- staff actions -----------------------------------------------------------------------


@event("FulfilmentAccepted")
class FulfilmentAccepted(_StaffAction):
    pass


@event("FulfilmentRejected")
class FulfilmentRejected(_StaffAction):
    cause: RejectionCause
    lines: tuple[LineQuantity, ...] = ()
    """Empty = the whole fulfilment order."""
    note: _Text | None = None


@event("PickStarted")
class PickStarted(_StaffAction):
    pass


@event("ParcelPacked")
class ParcelPacked(_StaffAction):
    parcels: Annotated[tuple[Parcel, ...], Field(min_length=1)]


@event("HandedOver")
class HandedOverV1(_StaffAction):
    """First form: the staff typed the carrier and every tracking number."""

    carrier: Identifier
    tracking_numbers: Annotated[tuple[Identifier, ...], Field(min_length=1)]


@event("HandedOver", version=2)
class HandedOverV2(_StaffAction):
    """Second form: every parcel of the work leaves in one hand-over."""

    carrier: Identifier | None = None
    tracking_numbers: Annotated[tuple[Identifier, ...], Field(max_length=100)] = ()


@upcaster("HandedOver", from_version=1)
def upcast_handed_over_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 always named both: nothing to change."""
    return dict(data)


@event("HandedOver", version=3)
class HandedOver(_StaffAction):
    """Parcels handed to the carrier's driver: ``parcel_ids`` (none = every packed parcel
    still at the location), the rest later. Work the shipping service labelled needs neither
    carrier nor tracking numbers (the labels name them); given, they must be those of the
    parcels' labels. Work without labels needs both, and leaves whole."""

    carrier: Identifier | None = None
    tracking_numbers: Annotated[tuple[Identifier, ...], Field(max_length=100)] = ()
    parcel_ids: Annotated[tuple[Identifier, ...], Field(max_length=100)] = ()


@upcaster("HandedOver", from_version=2)
def upcast_handed_over_v2_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v2 handed over every parcel: no ``parcel_ids`` says the same."""
    return dict(data)


@event("ReceivedAtStore")
class ReceivedAtStore(_StaffAction):
    """Ship-to-store: the pickup store (``location_id``) received the parcels of work another
    location shipped to it, and sets them aside for the customer."""


@event("Collected")
class Collected(_StaffAction):
    """The customer collected a click & collect or ship-to-store order at the counter."""

    pickup_code: Identifier


# --- fulfilment and shipments ------------------------------------------------------------


@event("FulfilmentOrderAccepted")
class FulfilmentOrderAccepted(_FulfilmentOrderEvent):
    accepted_at: UtcDatetime


@event("FulfilmentOrderRejected")
class FulfilmentOrderRejected(_FulfilmentOrderEvent):
    """Triggers re-sourcing of the rejected lines."""

    cause: RejectionCause
    lines: _Lines
    note: _Text | None = None


@event("Packed")
class Packed(_FulfilmentOrderEvent):
    parcels: Annotated[tuple[Parcel, ...], Field(min_length=1)]
    packed_at: UtcDatetime


@event("ReadyToShip")
class ReadyToShipV1(_FulfilmentOrderEvent):
    """First form, never published by the shipping service: one carrier for the shipment."""

    shipment_id: Identifier
    carrier: Identifier
    service_level: Identifier
    tracking_number: Identifier
    label_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    shipping_cost: Money
    promised_by: UtcDatetime | None = None


class RateAlternative(ValueModel):
    """A carrier service rate shopping did not choose, and why."""

    carrier: Identifier
    service: Identifier
    lost_because: _Code
    """``no_zone``, ``overweight``, ``misses_promise``, ``over_budget``, ``more_expensive``,
    ``slower``, ``lower_score`` or ``ranked_lower``."""
    cost: Money | None = None
    """None when the service made no offer (``no_zone``, ``overweight``)."""
    estimated_delivery: date | None = None


class LabelledParcel(ValueModel):
    """One parcel's carrier choice and its label's tracking number."""

    parcel_id: Identifier
    carrier: Identifier
    service: Identifier
    tracking_number: Identifier
    cost: Money
    billable_weight_grams: Annotated[int, Field(strict=True, gt=0)] | None = None
    """The larger of actual and dimensional weight; None only in records upcast from v1."""
    estimated_delivery: date | None = None
    meets_promise: bool | None = None
    """None when nothing was promised."""
    alternatives: Annotated[tuple[RateAlternative, ...], Field(max_length=200)] = ()


@event("ReadyToShip", version=2)
class ReadyToShip(_FulfilmentOrderEvent):
    """Rate shopping chose a carrier service per parcel and its label was printed: every
    alternative with why it lost. ``promise_at_risk``: some parcel's best option arrives
    after ``promised_by``."""

    shipment_id: Identifier
    policy: _Code | None = None
    """The delivery method's policy (``cheapest_meeting_promise``, ``fastest``,
    ``best_score_within_budget``); None only in records upcast from v1."""
    parcels: Annotated[tuple[LabelledParcel, ...], Field(min_length=1, max_length=100)]
    promised_by: UtcDatetime | None = None
    promise_at_risk: bool = False
    ready_at: UtcDatetime | None = None


@upcaster("ReadyToShip", from_version=1)
def upcast_ready_to_ship_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1's one carrier and tracking number become one parcel named by that number; its
    ``label_url`` has no place (labels are downloaded from the shipping service)."""
    common = ("order_id", "fulfilment_order_id", "location_id", "shipment_id", "promised_by")
    upcast = {k: data[k] for k in common if k in data}
    upcast["parcels"] = [
        {
            "parcel_id": data.get("tracking_number"),
            "carrier": data.get("carrier"),
            "service": data.get("service_level"),
            "tracking_number": data.get("tracking_number"),
            "cost": data.get("shipping_cost"),
        }
    ]
    return upcast


@event("ReadyForPickup")
class ReadyForPickupV1(_FulfilmentOrderEvent):
    """First form, never published by the shipping service: without the units set aside."""

    pickup_code: Identifier
    hold_until: UtcDatetime


@event("ReadyForPickup", version=2)
class ReadyForPickup(_FulfilmentOrderEvent):
    """Click & collect: the work is packed at the store and set aside for its customer, who
    shows ``pickup_code`` at the counter until ``hold_until``; ship-to-store: its parcels
    reached the store and were set aside there. ``location_id`` is always the store that
    holds the work for the customer (for ship-to-store, not the location that shipped it).
    The units count as shipped (their value is captured, their stock committed, once per
    ``shipment_id``); ``shipment_id`` names them until collection. Empty ``lines`` and no
    ``shipment_id`` only in records upcast from v1."""

    pickup_code: Identifier
    hold_until: UtcDatetime
    shipment_id: Identifier | None = None
    lines: tuple[LineQuantity, ...] = ()
    ready_at: UtcDatetime | None = None


@upcaster("ReadyForPickup", from_version=1)
def upcast_ready_for_pickup_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 named no units: nothing to add, the new fields stay empty."""
    return dict(data)


@event("ShipmentShipped")
class ShipmentShippedV1(_FulfilmentOrderEvent):
    """First form: without its parcels."""

    shipment_id: Identifier
    carrier: Identifier
    tracking_number: Identifier
    lines: _Lines
    shipped_at: UtcDatetime


class ShippedParcel(ValueModel):
    """A parcel of a shipment, under the carrier and tracking number it travels with."""

    parcel_id: Identifier | None = None
    """None for work packed without labels (its numbers typed at the hand-over) and in
    records upcast from v1."""
    carrier: Identifier
    tracking_number: Identifier


@event("ShipmentShipped", version=2)
class ShipmentShipped(_FulfilmentOrderEvent):
    """Parcels of a fulfilment order left with a carrier: one hand-over, one shipment. A
    fulfilment order's parcels may leave in several hand-overs, each its own shipment
    (``shipment_id``) with the units of its parcels (``lines``). ``carrier`` and
    ``tracking_number`` are the first parcel's."""

    shipment_id: Identifier
    carrier: Identifier
    tracking_number: Identifier
    lines: _Lines
    parcels: Annotated[tuple[ShippedParcel, ...], Field(min_length=1, max_length=100)]
    shipped_at: UtcDatetime


@upcaster("ShipmentShipped", from_version=1)
def upcast_shipment_shipped_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 named one carrier and tracking number: one parcel under them, its id unknown."""
    upcast = dict(data)
    upcast["parcels"] = [
        {"carrier": data.get("carrier"), "tracking_number": data.get("tracking_number")}
    ]
    return upcast


@event("InTransit")
class InTransit(_ShipmentEvent):
    location_description: _Text | None = None


@event("OutForDelivery")
class OutForDelivery(_ShipmentEvent):
    estimated_delivery: UtcDatetime | None = None


@event("Delivered")
class Delivered(_ShipmentEvent):
    signed_by: Annotated[str, StringConstraints(max_length=200)] | None = None


@event("PickedUpByCustomer")
class PickedUpByCustomerV1(_FulfilmentOrderEvent):
    """First form, never published by the shipping service: without the shipment."""

    collected_at: UtcDatetime


@event("PickedUpByCustomer", version=2)
class PickedUpByCustomer(_FulfilmentOrderEvent):
    """The customer collected the work set aside by ``ReadyForPickup`` (same ``shipment_id``;
    none only in records upcast from v1)."""

    collected_at: UtcDatetime
    shipment_id: Identifier | None = None


@upcaster("PickedUpByCustomer", from_version=1)
def upcast_picked_up_by_customer_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 named no shipment: the new field stays empty."""
    return dict(data)


@event("PickupExpired")
class PickupExpired(_FulfilmentOrderEvent):
    """Work set aside for pickup (``ReadyForPickup``, same ``shipment_id``) that its customer
    did not collect by ``hold_until``: its lines are canceled. The order service refunds
    their value; inventory puts the units back on the shelf of the store (``location_id``)
    that held them."""

    shipment_id: Identifier
    lines: _Lines
    hold_until: UtcDatetime
    expired_at: UtcDatetime


@event("DeliveryException")
class DeliveryException(_ShipmentEvent):
    code: _Code
    """Normalised, e.g. ``address_not_found``, ``recipient_absent``, ``damaged``."""
    description: _Text


@event("ReturnedToSender")
class ReturnedToSender(_ShipmentEvent):
    reason: _Text


# --- carrier tracking (hostile input) ----------------------------------------------------


@event("TrackingUpdateReceived")
class TrackingUpdateReceived(EventPayload):
    """A raw carrier scan; the shipping service normalises it into a shipment event."""

    carrier: Identifier
    tracking_number: Identifier
    carrier_status_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    description: _Text | None = None
    location: _Text | None = None
    occurred_at: UtcDatetime
