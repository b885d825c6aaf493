"""Packed parcels handed over in several hand-overs: each its own shipment with its parcels
and units, the work PARTIALLY_SHIPPED until its last parcel leaves; a parcel that left, or
one never packed, refused with its reason and the work unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from oms_shipping.domain.fulfilment import (
    ActionRefused,
    FulfilmentOrder,
    FulfilmentStatus,
    Line,
    Parcel,
    ParcelLabel,
    Shipment,
    ShippedParcel,
)

S = FulfilmentStatus
AT = datetime(2026, 12, 2, 16, tzinfo=UTC)
LATER = AT + timedelta(days=1)
TSHIRT = Line("1", "TSHIRT", 2)
MUG = Line("2", "MUG", 1)
LABELS = (ParcelLabel("p-1", "dhl", "DHL1"), ParcelLabel("p-2", "ups", "UPS2"))


def packed(
    *, labels: tuple[ParcelLabel, ...] = LABELS, pickup_store_id: str | None = None
) -> FulfilmentOrder:
    """Two T-shirts and a mug packed into two parcels: the shirts, then the mug."""
    return FulfilmentOrder(
        "fo-1",
        "ord-1",
        "wh-hamburg",
        (TSHIRT, MUG),
        status=S.PACKED,
        parcels=(
            Parcel("p-1", "M-30x20x15", 800, (TSHIRT,)),
            Parcel("p-2", "S", 400, (MUG,)),
        ),
        labels=labels,
        pickup_store_id=pickup_store_id,
    )


def test_parcels_leave_in_two_hand_overs_each_its_own_shipment() -> None:
    fo = packed()
    first = fo.hand_over(None, (), AT, ("p-2",))
    assert first == Shipment(
        "shp-fo-1", ("p-2",), (ShippedParcel("p-2", "ups", "UPS2"),), (MUG,), AT
    )
    assert (fo.status, fo.carrier, fo.tracking_numbers) == (S.PARTIALLY_SHIPPED, "ups", ("UPS2",))

    rest = fo.hand_over(None, (), LATER)  # none named: those still here
    assert rest == Shipment(
        "shp-fo-1-2", ("p-1",), (ShippedParcel("p-1", "dhl", "DHL1"),), (TSHIRT,), LATER
    )
    assert fo.status is S.SHIPPED
    assert fo.shipments == (first, rest)
    assert fo.tracking_numbers == ("UPS2", "DHL1")
    fo.delivered()
    assert fo.status is S.DELIVERED


def test_every_parcel_at_once_is_the_one_shipment_it_always_was() -> None:
    fo = packed()
    shipment = fo.hand_over(None, (), AT)
    assert shipment.shipment_id == fo.shipment_id == "shp-fo-1"
    assert shipment.parcel_ids == ("p-1", "p-2") and shipment.lines == (TSHIRT, MUG)
    assert fo.status is S.SHIPPED


def test_scanned_numbers_must_be_the_leaving_parcels_labels() -> None:
    fo = packed()
    shipment = fo.hand_over("dhl", ("DHL1",), AT, ("p-1",))
    assert shipment.parcels == (ShippedParcel("p-1", "dhl", "DHL1"),)
    assert fo.status is S.PARTIALLY_SHIPPED


def test_a_line_split_over_parcels_ships_its_units_per_parcel() -> None:
    one = Line("1", "TSHIRT", 1)
    fo = packed()
    fo.parcels = (Parcel("p-1", "S", 300, (one,)), Parcel("p-2", "M-30x20x15", 700, (one, MUG)))
    assert fo.hand_over(None, (), AT, ("p-1",)).lines == (one,)
    assert fo.hand_over(None, (), AT, ("p-2",)).lines == (one, MUG)


def _after_first(fo: FulfilmentOrder) -> FulfilmentOrder:
    fo.hand_over(None, (), AT, ("p-1",))
    return fo


@pytest.mark.parametrize(
    ("fo", "action", "reason"),
    [
        (
            _after_first(packed()),
            lambda fo: fo.hand_over(None, (), LATER, ("p-1",)),
            "parcel_already_shipped",
        ),
        (packed(), lambda fo: fo.hand_over(None, (), AT, ("p-9",)), "unknown_parcel"),
        (packed(), lambda fo: fo.hand_over(None, (), AT, ("p-1", "p-1")), "duplicate_parcel"),
        (packed(), lambda fo: fo.hand_over(None, ("UPS2",), AT, ("p-1",)), "not_the_labels"),
        (packed(), lambda fo: fo.hand_over("ups", (), AT, ("p-1",)), "not_the_labels"),
        (
            packed(pickup_store_id="store-berlin"),
            lambda fo: fo.hand_over(None, (), AT, ("p-1",)),
            "ship_to_store_leaves_whole",
        ),
        (
            packed(labels=()),
            lambda fo: fo.hand_over("dhl", ("T1",), AT, ("p-1",)),
            "partial_without_labels",
        ),
        (_after_first(packed()), lambda fo: fo.cancel(), "partially_shipped"),
        (_after_first(packed()), lambda fo: fo.pack(fo.parcels), "partially_shipped"),
    ],
)
def test_a_hand_over_that_does_not_fit_is_refused_and_changes_nothing(
    fo: FulfilmentOrder, action: Callable[[FulfilmentOrder], object], reason: str
) -> None:
    before = (fo.status, fo.shipments, fo.tracking_numbers)
    with pytest.raises(ActionRefused) as caught:
        action(fo)
    assert caught.value.reason == reason
    assert (fo.status, fo.shipments, fo.tracking_numbers) == before


def test_a_named_parcel_of_work_all_shipped_is_refused_for_that_parcel() -> None:
    fo = packed()
    fo.hand_over(None, (), AT)
    with pytest.raises(ActionRefused) as caught:
        fo.hand_over(None, (), LATER, ("p-2",))
    assert caught.value.reason == "parcel_already_shipped"
    with pytest.raises(ActionRefused) as caught:
        fo.hand_over(None, (), LATER)
    assert caught.value.reason == "already_shipped"


def test_work_without_labels_still_leaves_whole_under_typed_numbers() -> None:
    fo = packed(labels=())
    shipment = fo.hand_over("dhl", ("T1", "T2"), AT, ("p-1", "p-2"))
    assert shipment.parcel_ids == ("p-1", "p-2")
    assert shipment.parcels == (ShippedParcel(None, "dhl", "T1"), ShippedParcel(None, "dhl", "T2"))
    assert fo.status is S.SHIPPED
