"""The fulfilment order's status machine: each staff action in its place, and every action
out of place refused with its reason, the order unchanged."""

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
)

S = FulfilmentStatus
AT = datetime(2026, 12, 2, 16, tzinfo=UTC)
TSHIRT = Line("1", "TSHIRT", 2)
MUG = Line("2", "MUG", 1)


def work(status: FulfilmentStatus = S.CREATED) -> FulfilmentOrder:
    return FulfilmentOrder("fo-1", "ord-1", "wh-hamburg", (TSHIRT, MUG), status=status)


def parcels(*lines: Line) -> tuple[Parcel, ...]:
    return (Parcel("p-1", "M-30x20x15", 900, lines or (TSHIRT, MUG)),)


def refused(fo: FulfilmentOrder, action: str) -> str:
    before = (fo.status, fo.lines, fo.parcels)
    with pytest.raises(ActionRefused) as caught:
        {
            "accept": fo.accept,
            "pick": fo.start_picking,
            "pack": lambda: fo.pack(parcels()),
            "hand_over": lambda: fo.hand_over("dhl", ("T1",), AT),
            "reject": lambda: fo.reject(()),
            "cancel": fo.cancel,
        }[action]()
    assert (fo.status, fo.lines, fo.parcels) == before
    return caught.value.reason


def test_the_happy_path_from_created_to_delivered() -> None:
    fo = work()
    fo.accept()
    fo.start_picking()
    fo.pack(parcels())
    fo.hand_over("dhl", ("T1", "T2"), AT)
    assert (fo.status, fo.carrier, fo.tracking_numbers) == (S.SHIPPED, "dhl", ("T1", "T2"))
    assert fo.shipment_id == "shp-fo-1"
    fo.delivered()
    assert fo.status is S.DELIVERED


@pytest.mark.parametrize(
    ("status", "action", "reason"),
    [
        (S.CREATED, "pick", "pick_before_accept"),
        (S.CREATED, "pack", "pack_before_pick"),
        (S.ACCEPTED, "pack", "pack_before_pick"),
        (S.CREATED, "hand_over", "hand_over_before_pack"),
        (S.PICKING, "hand_over", "hand_over_before_pack"),
        (S.ACCEPTED, "accept", "already_accepted"),
        (S.PACKED, "accept", "already_accepted"),
        (S.PICKING, "pick", "already_picking"),
        (S.PACKED, "pack", "already_packed"),
        (S.PACKED, "reject", "already_packed"),
        (S.SHIPPED, "accept", "already_shipped"),
        (S.SHIPPED, "hand_over", "already_shipped"),
        (S.SHIPPED, "reject", "already_shipped"),
        (S.SHIPPED, "cancel", "already_shipped"),
        (S.DELIVERED, "pack", "already_shipped"),
        (S.REJECTED, "accept", "already_rejected"),
        (S.CANCELED, "accept", "fulfilment_canceled"),
        (S.CANCELED, "hand_over", "fulfilment_canceled"),
    ],
)
def test_an_action_out_of_place_is_refused_with_its_reason(
    status: FulfilmentStatus, action: str, reason: str
) -> None:
    assert refused(work(status), action) == reason


def test_packing_must_cover_the_work_exactly() -> None:
    fo = work(S.PICKING)
    for packed, reason in [
        ((TSHIRT,), "incomplete_packing"),
        ((Line("1", "TSHIRT", 3), MUG), "packed_more_than_ordered"),
        ((TSHIRT, MUG, Line("9", "HAT", 1)), "unknown_line"),
    ]:
        with pytest.raises(ActionRefused) as caught:
            fo.pack(parcels(*packed))
        assert caught.value.reason == reason
        assert fo.status is S.PICKING


def test_rejecting_some_lines_keeps_the_rest_and_all_of_them_rejects_the_work() -> None:
    fo = work(S.ACCEPTED)
    assert fo.reject((MUG,)) == (MUG,)
    assert (fo.status, fo.lines) == (S.ACCEPTED, (TSHIRT,))
    assert fo.reject(()) == (TSHIRT,)
    assert (fo.status, fo.lines) == (S.REJECTED, ())


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ((Line("1", "TSHIRT", 1),), "partial_line_rejection"),
        ((Line("9", "TSHIRT", 2),), "unknown_line"),
        ((Line("1", "OTHER", 2),), "unknown_line"),
        ((TSHIRT, TSHIRT), "duplicate_line"),
    ],
)
def test_a_rejection_names_whole_lines_of_the_work(lines: tuple[Line, ...], reason: str) -> None:
    fo = work(S.PICKING)
    with pytest.raises(ActionRefused) as caught:
        fo.reject(lines)
    assert caught.value.reason == reason
    assert (fo.status, fo.lines) == (S.PICKING, (TSHIRT, MUG))


def test_a_call_off_stops_open_work_once() -> None:
    for status in (S.CREATED, S.ACCEPTED, S.PICKING, S.PACKED):
        fo = work(status)
        assert fo.cancel() is True
        assert fo.status is S.CANCELED
        assert fo.cancel() is False


def test_an_action_at_another_location_is_refused() -> None:
    with pytest.raises(ActionRefused) as caught:
        work().check_location("store-berlin")
    assert caught.value.reason == "wrong_location"


def test_a_tracking_number_twice_in_one_hand_over_is_refused() -> None:
    fo = work(S.PACKED)
    with pytest.raises(ActionRefused) as caught:
        fo.hand_over("dhl", ("T1", "T1"), AT)
    assert caught.value.reason == "duplicate_tracking_number"
    assert fo.status is S.PACKED


# -- click & collect ----------------------------------------------------------------------

HOLD = datetime(2026, 12, 9, 18, tzinfo=UTC)


def pickup(status: FulfilmentStatus = S.PACKED) -> FulfilmentOrder:
    return FulfilmentOrder(
        "fo-2", "ord-2", "store-berlin", (TSHIRT,), status=status, pickup_store_id="store-berlin"
    )


def to_store(status: FulfilmentStatus = S.SHIPPED) -> FulfilmentOrder:
    """Ship-to-store: packed at Hamburg, collected in Berlin."""
    return FulfilmentOrder(
        "fo-3", "ord-3", "wh-hamburg", (TSHIRT,), status=status, pickup_store_id="store-berlin"
    )


def test_pickup_work_is_set_aside_then_collected_with_its_code() -> None:
    fo = pickup()
    fo.set_aside("K7P42QXY", HOLD)
    assert (fo.status, fo.pickup_code, fo.hold_until) == (S.READY_FOR_PICKUP, "K7P42QXY", HOLD)
    fo.collect("K7P42QXY")
    assert fo.status is S.COLLECTED


@pytest.mark.parametrize(
    ("fo", "action", "reason"),
    [
        (pickup(S.PACKED), lambda fo: fo.hand_over("dhl", ("T1",), AT), "collected_at_store"),
        (pickup(S.PICKING), lambda fo: fo.collect("K7P42QXY"), "not_ready_for_pickup"),
        (pickup(S.PICKING), lambda fo: fo.set_aside("K7P42QXY", HOLD), "out_of_order"),
        (work(S.PACKED), lambda fo: fo.set_aside("K7P42QXY", HOLD), "not_for_pickup"),
        (work(S.SHIPPED), lambda fo: fo.collect("K7P42QXY"), "not_for_pickup"),
        (pickup(S.COLLECTED), lambda fo: fo.collect("K7P42QXY"), "already_collected"),
        (pickup(S.READY_FOR_PICKUP), lambda fo: fo.cancel(), "ready_for_pickup"),
        (pickup(S.READY_FOR_PICKUP), lambda fo: fo.accept(), "ready_for_pickup"),
        (
            pickup(S.PACKED),
            lambda fo: fo.receive_at_store("K7P42QXY", HOLD),
            "not_shipped_to_store",
        ),
        (work(S.SHIPPED), lambda fo: fo.receive_at_store("K7P42QXY", HOLD), "not_shipped_to_store"),
        (to_store(S.PACKED), lambda fo: fo.receive_at_store("K7P42QXY", HOLD), "not_shipped"),
        (
            to_store(S.READY_FOR_PICKUP),
            lambda fo: fo.receive_at_store("K", HOLD),
            "already_received",
        ),
        (to_store(S.COLLECTED), lambda fo: fo.receive_at_store("K", HOLD), "already_collected"),
        (to_store(S.SHIPPED), lambda fo: fo.collect("K7P42QXY"), "not_ready_for_pickup"),
        (to_store(S.PACKED), lambda fo: fo.set_aside("K7P42QXY", HOLD), "not_for_pickup"),
    ],
)
def test_pickup_actions_out_of_place_are_refused(
    fo: FulfilmentOrder, action: Callable[[FulfilmentOrder], object], reason: str
) -> None:
    before = fo.status
    with pytest.raises(ActionRefused) as caught:
        action(fo)
    assert (caught.value.reason, fo.status) == (reason, before)


def test_a_wrong_pickup_code_leaves_the_work_waiting() -> None:
    fo = pickup()
    fo.set_aside("K7P42QXY", HOLD)
    with pytest.raises(ActionRefused) as caught:
        fo.collect("K7P42QXZ")
    assert (caught.value.reason, fo.status) == ("wrong_pickup_code", S.READY_FOR_PICKUP)


def test_work_shipped_to_a_store_waits_there_for_its_customer() -> None:
    fo = to_store()
    fo.delivered()  # the carrier's delivery is to the store, not to the customer
    assert fo.status is S.SHIPPED
    fo.check_location("store-berlin", at_counter=True)
    fo.receive_at_store("K7P42QXY", HOLD)
    assert (fo.status, fo.pickup_code, fo.hold_until) == (S.READY_FOR_PICKUP, "K7P42QXY", HOLD)
    fo.collect("K7P42QXY")
    assert fo.status is S.COLLECTED


@pytest.mark.parametrize(
    ("location", "at_counter"), [("wh-hamburg", True), ("store-berlin", False)]
)
def test_work_shipped_to_a_store_is_received_there_and_worked_on_where_it_is(
    location: str, at_counter: bool
) -> None:
    with pytest.raises(ActionRefused) as caught:
        to_store().check_location(location, at_counter=at_counter)
    assert caught.value.reason == "wrong_location"


def test_work_set_aside_past_its_hold_ends_uncollected() -> None:
    fo = pickup()
    fo.set_aside("K7P42QXY", HOLD)
    assert not fo.expire(HOLD - timedelta(seconds=1))
    assert fo.expire(HOLD) and fo.status is S.UNCOLLECTED
    assert not fo.expire(HOLD) and not fo.cancel()
    assert not pickup(S.COLLECTED).expire(HOLD)


def test_a_counter_action_on_work_for_a_carrier_is_refused_for_what_it_is() -> None:
    fo = work(S.SHIPPED)
    fo.check_location("wh-hamburg", at_counter=True)
    with pytest.raises(ActionRefused) as caught:
        fo.receive_at_store("K7P42QXY", HOLD)
    assert caught.value.reason == "not_shipped_to_store"


def test_canceled_units_leave_the_work_and_packing_them_is_refused_for_it() -> None:
    fo = FulfilmentOrder("fo-1", "ord-1", "wh-hamburg", (Line("1", "TSHIRT", 3), MUG))
    fo.accept()
    fo.start_picking()

    assert fo.cancel_lines((Line("1", "TSHIRT", 1),))

    assert (fo.status, fo.lines) == (S.PICKING, (Line("1", "TSHIRT", 2), MUG))
    assert fo.canceled == (Line("1", "TSHIRT", 1),)
    with pytest.raises(ActionRefused) as caught:
        fo.pack(parcels(Line("1", "TSHIRT", 3), MUG))
    assert caught.value.reason == "units_canceled"
    assert fo.status is S.PICKING
    fo.pack(parcels(Line("1", "TSHIRT", 2), MUG))
    assert fo.status is S.PACKED


def test_packed_work_losing_units_is_unpacked_and_work_losing_all_is_canceled() -> None:
    fo = work(S.PICKING)
    fo.pack(parcels())

    fo.cancel_lines((MUG,))

    assert (fo.status, fo.parcels, fo.lines) == (S.PICKING, (), (TSHIRT,))
    with pytest.raises(ActionRefused) as caught:
        fo.pack(parcels(TSHIRT, MUG))
    assert caught.value.reason == "units_canceled"
    fo.cancel_lines((TSHIRT,))
    assert (fo.status, fo.lines) == (S.CANCELED, ())
    assert fo.canceled == (TSHIRT, MUG)
    assert not fo.cancel_lines((TSHIRT,)), "called off already: nothing to do"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (S.SHIPPED, "already_shipped"),
        (S.DELIVERED, "already_shipped"),
        (S.READY_FOR_PICKUP, "ready_for_pickup"),
        (S.REJECTED, "already_rejected"),
    ],
)
def test_units_canceled_after_the_parcels_left_are_refused(
    status: FulfilmentStatus, reason: str
) -> None:
    fo = work(status)
    with pytest.raises(ActionRefused) as caught:
        fo.cancel_lines((Line("1", "TSHIRT", 1),))
    assert caught.value.reason == reason
    assert (fo.lines, fo.canceled) == ((TSHIRT, MUG), ())


@pytest.mark.parametrize(
    ("line", "reason"),
    [(Line("9", "TSHIRT", 1), "unknown_line"), (Line("1", "TSHIRT", 3), "canceled_more_than_left")],
)
def test_canceling_units_the_work_does_not_have_is_refused(line: Line, reason: str) -> None:
    fo = work(S.ACCEPTED)
    with pytest.raises(ActionRefused) as caught:
        fo.cancel_lines((line,))
    assert caught.value.reason == reason
    assert fo.lines == (TSHIRT, MUG)
