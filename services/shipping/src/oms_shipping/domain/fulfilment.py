"""A fulfilment order at its location: the work one location does for one order, moved by
its staff's actions and by orchestration calling it off.

CREATED -> ACCEPTED -> PICKING -> PACKED -> SHIPPED -> DELIVERED, the packed parcels handed
over all at once or in several hand-overs, each its own shipment (PARTIALLY_SHIPPED until the
last leaves); for click & collect the packed work waits at the store instead
(READY_FOR_PICKUP -> COLLECTED, against its pickup code); work shipped to a pickup store
waits there once the store receives it (SHIPPED -> READY_FOR_PICKUP -> COLLECTED); work its
customer did not collect in time is UNCOLLECTED;
REJECTED (the location gave the work back) or CANCELED (orchestration called it off).
An action that does not fit the status is refused with a specific reason; the aggregate is
then unchanged.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from oms_shipping.domain.dispatch import PostalAddress

__all__ = [
    "ActionRefused",
    "FulfilmentOrder",
    "FulfilmentStatus",
    "Line",
    "Parcel",
    "ParcelLabel",
    "Shipment",
    "ShippedParcel",
]


class FulfilmentStatus(StrEnum):
    CREATED = "CREATED"
    ACCEPTED = "ACCEPTED"
    PICKING = "PICKING"
    PACKED = "PACKED"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    """Some parcels left with a carrier, the others wait at the location."""
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    COLLECTED = "COLLECTED"
    UNCOLLECTED = "UNCOLLECTED"
    """Not collected by ``hold_until``: its lines are canceled, its units back on the shelf."""
    REJECTED = "REJECTED"
    CANCELED = "CANCELED"


_S = FulfilmentStatus
_OPEN = (_S.CREATED, _S.ACCEPTED, _S.PICKING, _S.PACKED)
"""Work not yet handed to a carrier: it can still be called off."""

# Why an action cannot apply in a status it does not expect, whatever the action.
_CLOSED_REASONS = {
    _S.PARTIALLY_SHIPPED: "partially_shipped",
    _S.SHIPPED: "already_shipped",
    _S.DELIVERED: "already_shipped",
    _S.READY_FOR_PICKUP: "ready_for_pickup",
    _S.COLLECTED: "already_collected",
    _S.UNCOLLECTED: "pickup_expired",
    _S.REJECTED: "already_rejected",
    _S.CANCELED: "fulfilment_canceled",
}


class ActionRefused(Exception):
    """The action does not fit the fulfilment order: ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Line:
    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class Parcel:
    parcel_id: str
    box: str
    weight_grams: int
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class ParcelLabel:
    """The label printed for a parcel: the carrier and tracking number it travels under."""

    parcel_id: str
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class ShippedParcel:
    """A parcel as it left: ``parcel_id`` None for work packed without labels, whose
    tracking numbers the staff typed for the parcels together."""

    parcel_id: str | None
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class Shipment:
    """One hand-over: the packed parcels that left together and the units in them."""

    shipment_id: str
    parcel_ids: tuple[str, ...]
    parcels: tuple[ShippedParcel, ...]
    lines: tuple[Line, ...]
    shipped_at: datetime


@dataclass
class FulfilmentOrder:
    fulfilment_order_id: str
    order_id: str
    location_id: str
    lines: tuple[Line, ...]
    status: FulfilmentStatus = FulfilmentStatus.CREATED
    parcels: tuple[Parcel, ...] = ()
    carrier: str | None = None
    tracking_numbers: tuple[str, ...] = ()
    labels: tuple[ParcelLabel, ...] = ()
    """Printed at packing for work going to a carrier; the hand-over follows them."""
    pickup_store_id: str | None = None
    """Pickup orders: the store the customer collects from (this location for click &
    collect, another for ship-to-store)."""
    pickup_code: str | None = None
    hold_until: datetime | None = None
    delivery_method: str = "home_delivery"
    ship_to: PostalAddress | None = None
    """The customer's address (home delivery)."""
    promised_by: datetime | None = None
    policy: str | None = None
    """The rate-shopping policy that chose the labels' carriers."""
    promise_at_risk: bool = False
    """Some parcel's best carrier option arrives after ``promised_by``."""
    canceled: tuple[Line, ...] = ()
    """Units of its lines canceled after release (no longer in ``lines``), per line."""
    shipments: tuple[Shipment, ...] = ()
    """Each hand-over so far, in order."""
    changed: bool = field(default=False, compare=False)

    @property
    def shipment_id(self) -> str:
        """The first shipment's id: the only one of pickup work and of work whose parcels
        all leave together; later hand-overs are numbered after it."""
        return self._shipment_id(1)

    def _shipment_id(self, number: int) -> str:
        first = f"shp-{self.fulfilment_order_id}"
        return first if number == 1 else f"{first}-{number}"

    @property
    def shipped_parcel_ids(self) -> frozenset[str]:
        return frozenset(p for shipment in self.shipments for p in shipment.parcel_ids)

    @property
    def for_pickup(self) -> bool:
        """Click & collect: the customer collects the work where it is packed."""
        return self.pickup_store_id == self.location_id

    @property
    def ships_to_store(self) -> bool:
        """Ship-to-store: a carrier takes the work to the pickup store."""
        return self.pickup_store_id is not None and not self.for_pickup

    def check_location(self, location_id: str, *, at_counter: bool = False) -> None:
        """The action comes from the location that does the work, or for an action at the
        counter (receiving, collection) of a pickup order from the pickup store."""
        expected = (at_counter and self.pickup_store_id) or self.location_id
        if location_id != expected:
            owner = "is collected at" if at_counter else "belongs to"
            raise ActionRefused("wrong_location", f"the fulfilment order {owner} {expected}")

    def accept(self) -> None:
        self._expect(
            (_S.CREATED,),
            {
                _S.ACCEPTED: "already_accepted",
                _S.PICKING: "already_accepted",
                _S.PACKED: "already_accepted",
            },
        )
        self._move(_S.ACCEPTED)

    def start_picking(self) -> None:
        self._expect(
            (_S.ACCEPTED,),
            {
                _S.CREATED: "pick_before_accept",
                _S.PICKING: "already_picking",
                _S.PACKED: "already_packed",
            },
        )
        self._move(_S.PICKING)

    def pack(self, parcels: tuple[Parcel, ...]) -> None:
        self._expect(
            (_S.PICKING,),
            {
                _S.CREATED: "pack_before_pick",
                _S.ACCEPTED: "pack_before_pick",
                _S.PACKED: "already_packed",
            },
        )
        if len({p.parcel_id for p in parcels}) != len(parcels):
            raise ActionRefused("duplicate_parcel", "a parcel id appears twice")
        packed = _packed(parcels)
        ordered = {line.line_id: line.quantity for line in self.lines}
        canceled = {line.line_id: line.quantity for line in self.canceled}
        for line_id, quantity in sorted(packed.items()):
            if line_id not in ordered and line_id not in canceled:
                raise ActionRefused("unknown_line", f"line {line_id} is not in the work")
            if quantity > ordered.get(line_id, 0) and line_id in canceled:
                raise ActionRefused(
                    "units_canceled",
                    f"line {line_id}: {quantity} packed, {ordered.get(line_id, 0)} to ship;"
                    f" {canceled[line_id]} canceled",
                )
            if quantity > ordered[line_id]:
                raise ActionRefused(
                    "packed_more_than_ordered",
                    f"line {line_id}: {quantity} packed, {ordered[line_id]} to ship",
                )
        if packed != ordered:
            raise ActionRefused("incomplete_packing", "every unit of the work must be packed")
        self.parcels = parcels
        self._move(_S.PACKED)

    def hand_over(
        self,
        carrier: str | None,
        tracking_numbers: tuple[str, ...],
        at: datetime,
        parcel_ids: tuple[str, ...] = (),
    ) -> Shipment:
        """Parcels leave as one shipment: ``parcel_ids`` (none = every packed parcel still
        here), the rest later. Labelled parcels leave under their labels' carriers and
        numbers (the staff may name them, and then they must be the labels' own); work
        without labels under the carrier and numbers the staff typed, all at once. The work
        is SHIPPED once its last parcel left."""
        if self.for_pickup:
            raise ActionRefused(
                "collected_at_store", "the customer collects this work; no carrier takes it"
            )
        self._expect(
            (_S.PACKED, _S.PARTIALLY_SHIPPED, _S.SHIPPED, _S.DELIVERED),
            dict.fromkeys((_S.CREATED, _S.ACCEPTED, _S.PICKING), "hand_over_before_pack"),
        )
        leaving = self._leaving(parcel_ids)
        staying = len(self.parcels) - len(self.shipped_parcel_ids) - len(leaving)
        if staying and self.ships_to_store:
            raise ActionRefused(
                "ship_to_store_leaves_whole", "the pickup store receives the work in one"
            )
        if len(set(tracking_numbers)) != len(tracking_numbers):
            raise ActionRefused("duplicate_tracking_number", "a tracking number appears twice")
        handed = self._handed(leaving, carrier, tracking_numbers, partial=staying > 0)
        shipment = Shipment(
            shipment_id=self._shipment_id(len(self.shipments) + 1),
            parcel_ids=tuple(p.parcel_id for p in leaving),
            parcels=handed,
            lines=_units(self.lines, leaving),
            shipped_at=at,
        )
        self.shipments = (*self.shipments, shipment)
        self.carrier = self.carrier or handed[0].carrier
        self.tracking_numbers = (*self.tracking_numbers, *(p.tracking_number for p in handed))
        self._move(_S.PARTIALLY_SHIPPED if staying else _S.SHIPPED)
        return shipment

    def _leaving(self, parcel_ids: tuple[str, ...]) -> tuple[Parcel, ...]:
        """The packed parcels the hand-over names, in packing order; none named: those still
        at the location."""
        shipped = self.shipped_parcel_ids
        if not parcel_ids:
            if self.status in (_S.SHIPPED, _S.DELIVERED):
                raise ActionRefused("already_shipped", f"the fulfilment order is {self.status}")
            return tuple(p for p in self.parcels if p.parcel_id not in shipped)
        if len(set(parcel_ids)) != len(parcel_ids):
            raise ActionRefused("duplicate_parcel", "a parcel id appears twice")
        packed = {p.parcel_id for p in self.parcels}
        for parcel_id in parcel_ids:
            if parcel_id not in packed:
                raise ActionRefused("unknown_parcel", f"parcel {parcel_id} was not packed here")
            if parcel_id in shipped:
                raise ActionRefused("parcel_already_shipped", f"parcel {parcel_id} has left")
        return tuple(p for p in self.parcels if p.parcel_id in parcel_ids)

    def _handed(
        self,
        leaving: tuple[Parcel, ...],
        carrier: str | None,
        tracking_numbers: tuple[str, ...],
        *,
        partial: bool,
    ) -> tuple[ShippedParcel, ...]:
        if self.labels:
            by_parcel = {label.parcel_id: label for label in self.labels}
            handed = tuple(
                ShippedParcel(
                    p.parcel_id,
                    by_parcel[p.parcel_id].carrier,
                    by_parcel[p.parcel_id].tracking_number,
                )
                for p in leaving
            )
            if carrier is not None and {p.carrier for p in handed} != {carrier}:
                raise ActionRefused("not_the_labels", "the labels name another carrier")
            if tracking_numbers and set(tracking_numbers) != {p.tracking_number for p in handed}:
                raise ActionRefused(
                    "not_the_labels", "the tracking numbers are not those of the labels"
                )
            return handed
        if partial:
            # Typed numbers are not tied to parcels: such work leaves whole.
            raise ActionRefused(
                "partial_without_labels", "work packed without labels is handed over whole"
            )
        if carrier is None or not tracking_numbers:
            raise ActionRefused(
                "carrier_required", "work without labels needs a carrier and tracking numbers"
            )
        return tuple(ShippedParcel(None, carrier, number) for number in tracking_numbers)

    def label(self, labels: tuple[ParcelLabel, ...], policy: str, promise_at_risk: bool) -> None:
        """Packed work for a carrier got a label per parcel from rate shopping."""
        self._expect((_S.PACKED,), {})
        if self.for_pickup:
            raise ActionRefused("not_for_carrier", "the customer collects this work here")
        if {label.parcel_id for label in labels} != {p.parcel_id for p in self.parcels}:
            raise ActionRefused("unlabelled_parcel", "every parcel needs exactly one label")
        self.labels = labels
        self.policy = policy
        self.promise_at_risk = promise_at_risk
        self.changed = True

    def set_aside(self, pickup_code: str, hold_until: datetime) -> None:
        """Packed click & collect work waits at the counter for its customer."""
        if not self.for_pickup:
            raise ActionRefused("not_for_pickup", "this work goes to a carrier")
        self._expect((_S.PACKED,), {})
        self.pickup_code = pickup_code
        self.hold_until = hold_until
        self._move(_S.READY_FOR_PICKUP)

    def receive_at_store(self, pickup_code: str, hold_until: datetime) -> None:
        """Ship-to-store: the pickup store received the parcels and sets them aside."""
        if not self.ships_to_store:
            raise ActionRefused("not_shipped_to_store", "this work is not sent to a pickup store")
        self._expect(
            (_S.SHIPPED,),
            {
                **dict.fromkeys((_S.CREATED, _S.ACCEPTED, _S.PICKING, _S.PACKED), "not_shipped"),
                _S.READY_FOR_PICKUP: "already_received",
            },
        )
        self.pickup_code = pickup_code
        self.hold_until = hold_until
        self._move(_S.READY_FOR_PICKUP)

    def collect(self, pickup_code: str) -> None:
        """The customer shows the code and takes the work."""
        if self.pickup_store_id is None:
            raise ActionRefused("not_for_pickup", "this work goes to a carrier")
        self._expect(
            (_S.READY_FOR_PICKUP,),
            dict.fromkeys(
                (_S.CREATED, _S.ACCEPTED, _S.PICKING, _S.PACKED, _S.SHIPPED),
                "not_ready_for_pickup",
            ),
        )
        if not hmac.compare_digest(pickup_code.encode(), (self.pickup_code or "").encode()):
            raise ActionRefused("wrong_pickup_code", "the code does not match this work")
        self._move(_S.COLLECTED)

    def reject(self, rejected: tuple[Line, ...]) -> tuple[Line, ...]:
        """The location gives back the ``rejected`` lines, each whole (empty: all of them).
        Returns the lines given back; the work is REJECTED when nothing is left of it."""
        self._expect((_S.CREATED, _S.ACCEPTED, _S.PICKING), {_S.PACKED: "already_packed"})
        ordered = {line.line_id: line for line in self.lines}
        given_back: dict[str, Line] = {}
        for line in rejected or self.lines:
            kept = ordered.get(line.line_id)
            if kept is None or kept.sku != line.sku:
                raise ActionRefused("unknown_line", f"line {line.line_id} is not in the work")
            if line.quantity != kept.quantity:
                # Orchestration sources a given-back line again as a whole.
                raise ActionRefused(
                    "partial_line_rejection",
                    f"line {line.line_id}: {line.quantity} rejected, {kept.quantity} to ship;"
                    " a line is given back whole",
                )
            if line.line_id in given_back:
                raise ActionRefused("duplicate_line", f"line {line.line_id} appears twice")
            given_back[line.line_id] = line
        remaining = []
        for line in self.lines:
            back = given_back.get(line.line_id)
            left = line.quantity - (back.quantity if back else 0)
            if left > 0:
                remaining.append(Line(line.line_id, line.sku, left))
        self.lines = tuple(remaining)
        self.changed = True
        if not remaining:
            self.status = _S.REJECTED
        return tuple(given_back.values())

    def cancel_lines(self, lines: tuple[Line, ...]) -> bool:
        """Units of some lines canceled after release: the work keeps only the rest. Packed
        work is unpacked (its parcels and labels void) to be packed again without them;
        work left with nothing is CANCELED. False when there was nothing to cancel (called
        off or uncollected already); refused once the parcels left or wait at the counter."""
        if self.status in (_S.CANCELED, _S.UNCOLLECTED):
            return False
        if self.status not in _OPEN:
            raise ActionRefused(
                _CLOSED_REASONS[self.status], f"cannot cancel units of work that is {self.status}"
            )
        left = {line.line_id: line for line in self.lines}
        canceled = {line.line_id: line.quantity for line in self.canceled}
        for line in lines:
            kept = left.get(line.line_id)
            if kept is None or kept.sku != line.sku:
                raise ActionRefused("unknown_line", f"line {line.line_id} is not in the work")
            if line.quantity > kept.quantity:
                raise ActionRefused(
                    "canceled_more_than_left",
                    f"line {line.line_id}: {line.quantity} canceled, {kept.quantity} to ship",
                )
            left[line.line_id] = Line(line.line_id, line.sku, kept.quantity - line.quantity)
            canceled[line.line_id] = canceled.get(line.line_id, 0) + line.quantity
        skus = {line.line_id: line.sku for line in (*self.lines, *self.canceled)}
        self.lines = tuple(line for line in left.values() if line.quantity)
        self.canceled = tuple(Line(i, skus[i], q) for i, q in sorted(canceled.items()))
        if self.status is _S.PACKED:
            self.parcels, self.labels, self.policy, self.promise_at_risk = (), (), None, False
            self.status = _S.PICKING
        self._move(_S.CANCELED if not self.lines else self.status)
        return True

    def cancel(self) -> bool:
        """Orchestration called the work off. False when there was nothing to call off (it
        is canceled already, or ended uncollected, which cancels its lines); refused once the
        parcels left."""
        if self.status in (_S.CANCELED, _S.UNCOLLECTED):
            return False
        if self.status not in _OPEN:
            raise ActionRefused(
                _CLOSED_REASONS[self.status], f"cannot call off work that is {self.status}"
            )
        self._move(_S.CANCELED)
        return True

    def expire(self, now: datetime) -> bool:
        """Work set aside past its ``hold_until`` without its customer: UNCOLLECTED (True).
        A customer at the counter before the sweep still collects it."""
        if self.status is not _S.READY_FOR_PICKUP or not self.hold_until or self.hold_until > now:
            return False
        self._move(_S.UNCOLLECTED)
        return True

    def delivered(self) -> None:
        """Every parcel of the work was delivered: to the customer, unless the parcels
        went to a pickup store, where the work waits for the store to receive it."""
        if self.status is _S.SHIPPED and not self.ships_to_store:
            self._move(_S.DELIVERED)

    def _expect(
        self, wanted: tuple[FulfilmentStatus, ...], reasons: dict[FulfilmentStatus, str]
    ) -> None:
        """Refused unless the status is one of ``wanted``: with ``reasons``' code for the
        status, else why a closed order takes no action."""
        if self.status in wanted:
            return
        reason = reasons.get(self.status) or _CLOSED_REASONS.get(self.status, "out_of_order")
        raise ActionRefused(reason, f"the fulfilment order is {self.status}")

    def _move(self, status: FulfilmentStatus) -> None:
        self.status = status
        self.changed = True


def _packed(parcels: tuple[Parcel, ...]) -> dict[str, int]:
    """Units per line id in ``parcels``."""
    packed: dict[str, int] = {}
    for parcel in parcels:
        for line in parcel.lines:
            packed[line.line_id] = packed.get(line.line_id, 0) + line.quantity
    return packed


def _units(lines: tuple[Line, ...], parcels: tuple[Parcel, ...]) -> tuple[Line, ...]:
    """The units of ``lines`` in ``parcels``, in the lines' order."""
    packed = _packed(parcels)
    return tuple(
        Line(line.line_id, line.sku, packed[line.line_id])
        for line in lines
        if line.line_id in packed
    )
