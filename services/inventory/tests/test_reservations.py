"""What the reservation handlers decide around the hold, without Kafka or PostgreSQL: which
answer each line gets, what a repeated request is told, what is dead-lettered, what release,
expiry, shipment and a rejected fulfilment order emit. Whether stock is there to hold is the
database function's decision (integration tests); here the fake holds what it is not told to
refuse."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from oms_events.fulfilment import (
    FulfilmentOrderRejected,
    ReadyForPickup,
    RejectionCause,
    ShipmentShipped,
    ShippedParcel,
)
from oms_events.inventory import (
    InventoryDiscrepancyReported,
    ReduceReservations,
    ReleaseReservations,
    ReservationExpired,
    ReservationFailed,
    ReservationKept,
    ReservationLine,
    ReservationReleased,
    ReserveStock,
    StockCommitted,
    StockReserved,
)
from oms_events.sourcing import FulfilmentOrderCreated
from oms_events.values import DeliveryMethod, LineQuantity, LocationType
from oms_inventory.adapters.reservations import Tried
from oms_inventory.domain.reservations import ReservationStatus
from oms_inventory.service_layer.reservations import ReservationHandlers
from oms_runtime import RejectedEvent, UnitOfWork, in_memory_unit_of_work
from services.inventory.tests.fakes import (
    FakeReferenceStore,
    FakeReservationStore,
    FakeStockStore,
    emitted,
    received,
    types,
)
from tests.support.inventory import HAMBURG, MUG, MUNICH, TSHIRT

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DEFAULT_HOLD_S = 900


@pytest.fixture
def stock() -> FakeStockStore:
    store = FakeStockStore()
    for sku in (TSHIRT, MUG):
        for location in (HAMBURG, MUNICH):
            store.put(sku, location, on_hand=10)
    return store


@pytest.fixture
def store(stock: FakeStockStore) -> FakeReservationStore:
    return FakeReservationStore(stock)


@pytest.fixture
def handlers(stock: FakeStockStore, store: FakeReservationStore) -> ReservationHandlers:
    return ReservationHandlers(
        default_hold_s=DEFAULT_HOLD_S,
        reservations=store,
        stock=stock,
        references=FakeReferenceStore(),
    )


def work() -> UnitOfWork:
    return in_memory_unit_of_work("inventory", cause=uuid.uuid4())


def line(reservation_id: str, sku: str, location_id: str, quantity: int) -> ReservationLine:
    return ReservationLine(
        reservation_id=reservation_id,
        line_id=reservation_id.rsplit("-", 1)[-1],
        sku=sku,
        location_id=location_id,
        quantity=quantity,
    )


def request(order_id: str, *lines: ReservationLine, **kw: object) -> ReserveStock:
    return ReserveStock.model_validate(
        {
            "order_id": order_id,
            "request_id": f"dec-{order_id}",
            "lines": lines,
            "requested_at": NOW,
            "hold_for_s": 3600,
        }
        | kw
    )


async def reserve(handlers: ReservationHandlers, *requests: ReserveStock) -> UnitOfWork:
    unit = work()
    await handlers.reserve(unit, [received(r, "oms.reservation-requests") for r in requests])
    return unit


async def test_each_line_is_answered_held_or_refused_with_why(
    handlers: ReservationHandlers, store: FakeReservationStore, stock: FakeStockStore
) -> None:
    store.refused["r-2-1"] = Tried(False, "out_of_stock", 1)

    unit = await reserve(
        handlers,
        request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2)),
        request("ord-2", line("r-2-1", MUG, MUNICH, 3)),
    )

    [held] = emitted(unit, StockReserved)
    assert (held.order_id, held.reservation_id, held.quantity) == ("ord-1", "r-1-1", 2)
    assert held.expires_at == NOW + timedelta(seconds=3600)
    [failed] = emitted(unit, ReservationFailed)
    assert (failed.order_id, failed.reservation_id, failed.reason) == (
        "ord-2",
        "r-2-1",
        "out_of_stock",
    )
    assert (failed.requested, failed.available) == (3, 1)
    assert len(store.runs) == 1, "one hold for the whole run"
    assert stock.levels(TSHIRT, HAMBURG)[1] == 2


async def test_a_request_without_a_hold_time_of_its_own_is_held_for_the_default(
    handlers: ReservationHandlers,
) -> None:
    unit = await reserve(
        handlers, request("ord-1", line("r-1-1", MUG, HAMBURG, 1), hold_for_s=None)
    )

    [held] = emitted(unit, StockReserved)
    assert held.expires_at == NOW + timedelta(seconds=DEFAULT_HOLD_S)


async def test_lines_are_held_in_one_order_whatever_order_the_request_gives(
    handlers: ReservationHandlers, store: FakeReservationStore
) -> None:
    await reserve(
        handlers,
        request(
            "ord-1",
            line("r-1-1", TSHIRT, MUNICH, 1),
            line("r-1-2", MUG, MUNICH, 1),
            line("r-1-3", MUG, HAMBURG, 1),
            all_or_nothing=True,
        ),
    )

    [[to_hold]] = store.runs
    assert [(ln.sku, ln.location_id) for ln in to_hold.lines] == [
        (MUG, HAMBURG),
        (MUG, MUNICH),
        (TSHIRT, MUNICH),
    ]
    assert to_hold.all_or_nothing is True


async def test_a_redelivered_request_confirms_its_holds_without_holding_again(
    handlers: ReservationHandlers, store: FakeReservationStore, stock: FakeStockStore
) -> None:
    asked = request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2))
    first = await reserve(handlers, asked)

    again = await reserve(handlers, asked)

    assert emitted(again, StockReserved) == emitted(first, StockReserved)
    assert len(store.runs) == 1
    assert stock.levels(TSHIRT, HAMBURG)[1] == 2


async def test_a_run_that_repeats_a_reservation_id_takes_its_requests_one_at_a_time(
    handlers: ReservationHandlers, store: FakeReservationStore, stock: FakeStockStore
) -> None:
    asked = request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2))

    unit = await reserve(handlers, asked, asked)

    assert types(unit) == ["StockReserved", "StockReserved"]
    assert len(store.runs) == 1, "the copy finds the first one's hold"
    assert stock.levels(TSHIRT, HAMBURG)[1] == 2


async def test_a_reservation_id_another_order_holds_is_refused_and_left_alone(
    handlers: ReservationHandlers, store: FakeReservationStore
) -> None:
    await reserve(handlers, request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2)))

    unit = await reserve(handlers, request("ord-2", line("r-1-1", TSHIRT, HAMBURG, 5)))

    [failed] = emitted(unit, ReservationFailed)
    assert (failed.order_id, failed.reason, failed.available) == (
        "ord-2",
        "reservation_id_in_use",
        0,
    )
    kept = store.reservations["r-1-1"]
    assert (kept.order_id, kept.quantity, kept.status) == ("ord-1", 2, ReservationStatus.HELD)


async def test_a_refused_reservation_is_tried_again_when_it_is_asked_again(
    handlers: ReservationHandlers, store: FakeReservationStore
) -> None:
    asked = request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2))
    store.refused["r-1-1"] = Tried(False, "out_of_stock", 0)
    first = await reserve(handlers, asked)
    del store.refused["r-1-1"]  # stock arrived

    again = await reserve(handlers, asked)

    assert types(first) == ["ReservationFailed"]
    assert types(again) == ["StockReserved"]


async def test_a_released_reservation_asked_for_again_gets_no_second_answer(
    handlers: ReservationHandlers,
) -> None:
    asked = request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2))
    await reserve(handlers, asked)
    await handlers.release(
        work(),
        received(ReleaseReservations(order_id="ord-1", reason="order canceled")),
    )

    again = await reserve(handlers, asked)

    assert types(again) == []


async def test_a_request_dated_in_the_future_is_dead_lettered_before_anything_is_claimed(
    handlers: ReservationHandlers, store: FakeReservationStore
) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)  # checked against the real clock
    asked = request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2), requested_at=tomorrow)

    with pytest.raises(RejectedEvent) as rejected:
        await handlers.reserve(work(), [received(asked, "oms.reservation-requests")])

    assert rejected.value.reason == "future_timestamp"
    assert store.reservations == {}


async def test_release_gives_the_named_holds_back_once(
    handlers: ReservationHandlers, stock: FakeStockStore
) -> None:
    await reserve(
        handlers,
        request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2), line("r-1-2", MUG, HAMBURG, 1)),
    )
    release = ReleaseReservations(
        order_id="ord-1", reservation_ids=("r-1-1",), reason="fulfilment order rejected"
    )

    unit, again = work(), work()
    await handlers.release(unit, received(release))
    await handlers.release(again, received(release))

    [released] = emitted(unit, ReservationReleased)
    assert (released.reservation_id, released.quantity, released.reason) == (
        "r-1-1",
        2,
        "fulfilment order rejected",
    )
    assert types(again) == []
    assert stock.levels(TSHIRT, HAMBURG)[1] == 0
    assert stock.levels(MUG, HAMBURG)[1] == 1, "the other hold stays"


async def test_expiry_gives_back_holds_past_their_time(
    handlers: ReservationHandlers, stock: FakeStockStore
) -> None:
    await reserve(handlers, request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2), hold_for_s=60))
    await reserve(handlers, request("ord-2", line("r-2-1", TSHIRT, HAMBURG, 1), hold_for_s=600))

    unit = work()
    count = await handlers.expire(unit, NOW + timedelta(seconds=60), limit=10)

    assert count == 1
    [expired] = emitted(unit, ReservationExpired)
    assert (expired.reservation_id, expired.quantity, expired.expired_at) == (
        "r-1-1",
        2,
        NOW + timedelta(seconds=60),
    )
    assert stock.levels(TSHIRT, HAMBURG)[1] == 1


def released_to(location_id: str, order_id: str, *reservation_ids: str) -> FulfilmentOrderCreated:
    return FulfilmentOrderCreated(
        order_id=order_id,
        fulfilment_order_id=f"fo-{order_id}",
        location_id=location_id,
        location_type=LocationType.STORE,
        delivery_method=DeliveryMethod.CLICK_AND_COLLECT,
        lines=(LineQuantity(line_id="l-1", sku=TSHIRT, quantity=2),),
        pickup_store_id=location_id,
        reservation_ids=reservation_ids,
        accept_by=NOW + timedelta(hours=1),
    )


async def test_holds_released_to_work_wait_for_it_past_their_time(
    handlers: ReservationHandlers, store: FakeReservationStore, stock: FakeStockStore
) -> None:
    await reserve(handlers, request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2), hold_for_s=60))
    await reserve(handlers, request("ord-2", line("r-2-1", TSHIRT, HAMBURG, 1), hold_for_s=60))
    release = received(released_to(HAMBURG, "ord-1", "r-1-1"), "oms.sourcing")
    # ord-2 names a hold of ord-1: it does not pin another order's hold.
    stranger = received(released_to(HAMBURG, "ord-2", "r-1-1"), "oms.sourcing")
    await handlers.released(work(), [release, stranger])
    await handlers.released(work(), [release])

    unit = work()
    count = await handlers.expire(unit, NOW + timedelta(days=30), limit=10)

    assert count == 1
    assert [e.reservation_id for e in emitted(unit, ReservationExpired)] == ["r-2-1"]
    assert store.reservations["r-1-1"].status is ReservationStatus.HELD
    assert store.reservations["r-1-1"].fulfilment_order_id == "fo-ord-1"
    assert stock.levels(TSHIRT, HAMBURG)[1] == 2, "the released hold still holds its units"


def shipped(quantity: int, *, shipment_id: str = "shp-1", at: datetime = NOW) -> ShipmentShipped:
    return ShipmentShipped(
        order_id="ord-1",
        fulfilment_order_id="fo-1",
        location_id=HAMBURG,
        shipment_id=shipment_id,
        carrier="dhl",
        tracking_number="T-1",
        parcels=(ShippedParcel(carrier="dhl", tracking_number="T-1"),),
        lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=quantity),),
        shipped_at=at,
    )


async def test_a_shipment_commits_its_holds_once(
    handlers: ReservationHandlers, store: FakeReservationStore, stock: FakeStockStore
) -> None:
    await reserve(handlers, request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2)))

    unit, again = work(), work()
    await handlers.shipped(unit, received(shipped(2), "oms.shipments"))
    await handlers.shipped(again, received(shipped(2), "oms.shipments"))

    [committed] = emitted(unit, StockCommitted)
    assert (committed.reservation_id, committed.shipment_id, committed.quantity) == (
        "r-1-1",
        "shp-1",
        2,
    )
    assert types(again) == []
    assert stock.levels(TSHIRT, HAMBURG)[:2] == (8, 0)
    assert store.reservations["r-1-1"].status is ReservationStatus.COMMITTED


async def test_units_shipped_beyond_their_holds_still_leave_on_hand(
    handlers: ReservationHandlers, stock: FakeStockStore
) -> None:
    await reserve(handlers, request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 1)))

    unit = work()
    await handlers.shipped(unit, received(shipped(3), "oms.shipments"))

    assert [c.quantity for c in emitted(unit, StockCommitted)] == [1]
    assert stock.levels(TSHIRT, HAMBURG)[:2] == (7, 0)


async def test_a_shipment_a_newer_count_already_has_only_drops_its_holds(
    handlers: ReservationHandlers, stock: FakeStockStore
) -> None:
    await reserve(handlers, request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2)))
    counted = stock.rows[(TSHIRT, HAMBURG)]
    stock.put(TSHIRT, HAMBURG, on_hand=8, reserved=counted.reserved, snapshot_as_of=NOW)

    unit = work()
    await handlers.shipped(unit, received(shipped(2, at=NOW - timedelta(hours=1)), "oms.shipments"))

    assert len(emitted(unit, StockCommitted)) == 1
    assert stock.levels(TSHIRT, HAMBURG)[:2] == (8, 0)


async def test_click_and_collect_commits_its_holds_once_when_set_aside(
    handlers: ReservationHandlers, stock: FakeStockStore
) -> None:
    await reserve(handlers, request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 2)))
    ready = ReadyForPickup(
        order_id="ord-1",
        fulfilment_order_id="fo-1",
        location_id=HAMBURG,
        pickup_code="K7P42QXY",
        hold_until=NOW + timedelta(days=7),
        shipment_id="shp-fo-1",
        lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=2),),
        ready_at=NOW,
    )
    unit, again, unnamed = work(), work(), work()
    await handlers.ready_for_pickup(unit, received(ready, "oms.shipments"))
    await handlers.ready_for_pickup(again, received(ready, "oms.shipments"))
    upcast = ready.model_copy(update={"shipment_id": None, "lines": ()})
    await handlers.ready_for_pickup(unnamed, received(upcast, "oms.shipments"))

    [committed] = emitted(unit, StockCommitted)
    assert (committed.shipment_id, committed.quantity) == ("shp-fo-1", 2)
    assert types(again) == types(unnamed) == []
    assert stock.levels(TSHIRT, HAMBURG)[:2] == (8, 0)


def rejection(cause: RejectionCause, quantity: int) -> FulfilmentOrderRejected:
    return FulfilmentOrderRejected(
        order_id="ord-1",
        fulfilment_order_id="fo-1",
        location_id=HAMBURG,
        cause=cause,
        lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=quantity),),
    )


async def test_units_a_location_could_not_find_leave_on_hand_and_are_reported_once(
    handlers: ReservationHandlers, stock: FakeStockStore
) -> None:
    unit, again = work(), work()
    await handlers.rejected(unit, received(rejection(RejectionCause.NO_STOCK, 3), "oms.shipments"))
    await handlers.rejected(again, received(rejection(RejectionCause.NO_STOCK, 3), "oms.shipments"))

    [report] = emitted(unit, InventoryDiscrepancyReported)
    assert (report.expected_on_hand, report.reported_on_hand) == (10, 7)
    assert report.source == f"fulfilment:{HAMBURG}"
    assert types(again) == []
    assert stock.levels(TSHIRT, HAMBURG) == (7, 0, 0, 0)


async def test_damaged_units_go_to_quarantine_and_other_causes_change_no_stock(
    handlers: ReservationHandlers, stock: FakeStockStore
) -> None:
    damaged, no_capacity = work(), work()
    await handlers.rejected(
        damaged, received(rejection(RejectionCause.DAMAGED, 2), "oms.shipments")
    )
    await handlers.rejected(
        no_capacity, received(rejection(RejectionCause.NO_CAPACITY, 5), "oms.shipments")
    )

    assert types(damaged) == ["InventoryDiscrepancyReported"]
    assert types(no_capacity) == []
    assert stock.levels(TSHIRT, HAMBURG) == (8, 0, 0, 2)


async def test_a_reduced_reservation_gives_back_only_the_units_it_no_longer_keeps_once(
    handlers: ReservationHandlers, stock: FakeStockStore, store: FakeReservationStore
) -> None:
    await reserve(handlers, request("ord-1", line("r-1-1", TSHIRT, HAMBURG, 3)))
    reduce = ReduceReservations(
        order_id="ord-1",
        reservations=(ReservationKept(reservation_id="r-1-1", keep=2),),
        reason="lines canceled: size",
    )

    unit, again = work(), work()
    await handlers.reduce(unit, received(reduce))
    await handlers.reduce(again, received(reduce))  # the same request with a new event id

    [released] = emitted(unit, ReservationReleased)
    assert (released.reservation_id, released.quantity) == ("r-1-1", 1)
    assert types(again) == []
    assert stock.levels(TSHIRT, HAMBURG)[1] == 2
    assert (store.reservations["r-1-1"].quantity, store.reservations["r-1-1"].status) == (
        2,
        ReservationStatus.HELD,
    )
