"""The saga's decisions without Kafka or PostgreSQL: the runtime's in-memory unit of work
(whose connection fails any use) with in-memory saga and order stores, on the test network
(Hamburg and Munich warehouses, a Berlin store; home delivery from warehouses by distance,
split over two at most; click & collect all or nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from oms_events.codec import decode
from oms_events.inventory import ReduceReservations, ReleaseReservations, ReserveStock
from oms_events.registry import EventPayload
from oms_events.sourcing import (
    BackorderReason,
    FulfilmentOrderCanceled,
    FulfilmentOrderCreated,
    FulfilmentOrderLinesCanceled,
    FulfilmentOrderRerouted,
    OrderAllocated,
    OrderBackordered,
    SourcingDecided,
)
from oms_events.values import DeliveryMethod
from oms_orchestration.adapters.config_file import parse_config
from oms_orchestration.adapters.sagas import NO_PROFILE
from oms_orchestration.domain.geo import Point
from oms_orchestration.domain.sourcing import Line, OrderToSource
from oms_orchestration.domain.states import AllocationStatus, FulfilmentStatus, SagaState
from oms_orchestration.service_layer.saga import Orchestrator
from oms_runtime import UnitOfWork, in_memory_unit_of_work
from services.orchestration.tests.fakes import FakeOrderStore, FakeSagaStore
from tests.support.inventory import BERLIN, HAMBURG, MUG, MUNICH, TSHIRT
from tests.support.orchestration import SOURCING

P = TypeVar("P", bound=EventPayload)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
BERLIN_CUSTOMER = Point(52.52, 13.40)  # nearer Hamburg than Munich
LATE = "not accepted in time"
HAMBURG_FO = f"fo-dec-ord-1-1-{HAMBURG}"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Saga:
    """The orchestrator on fakes, and what a test drives it with."""

    orchestrator: Orchestrator
    sagas: FakeSagaStore
    orders: FakeOrderStore
    clock: Clock

    def stock(self, location_id: str, sku: str, units: int) -> None:
        self.orders.available[(location_id, sku)] = units

    def accept(self, order_id: str, *lines: tuple[str, int], **kw: Any) -> OrderToSource:
        order = OrderToSource(
            order_id=order_id,
            channel=kw.pop("channel", "web-de"),
            delivery_method=kw.pop("delivery_method", DeliveryMethod.HOME_DELIVERY),
            lines=tuple(
                Line(str(n), sku, quantity) for n, (sku, quantity) in enumerate(lines, start=1)
            ),
            destination=kw.pop("destination", BERLIN_CUSTOMER),
            **kw,
        )
        self.orders.accept(order)
        return order

    async def confirm(self, *order_ids: str) -> UnitOfWork:
        unit = work()
        await self.orchestrator.confirmed(unit, [(unit, order_id) for order_id in order_ids])
        return unit

    async def answer(self, *answers: tuple[str, bool]) -> UnitOfWork:
        unit = work()
        await self.orchestrator.answered(unit, [(unit, rid, held) for rid, held in answers])
        return unit

    async def released(self, order_id: str, *lines: tuple[str, int]) -> None:
        """Accepted, confirmed, every reservation held: released to its locations."""
        self.accept(order_id, *lines)
        await self.hold_all(await self.confirm(order_id))

    async def hold_all(self, unit: UnitOfWork) -> UnitOfWork:
        """Inventory holds every reservation ``unit`` asked for."""
        return await self.answer(*((rid, True) for rid in requested(unit)))

    def split_over_two(self, order_id: str) -> None:
        """T-shirts only at Hamburg, mugs only at Munich: an order of both is split."""
        self.stock(HAMBURG, TSHIRT, 5)
        self.stock(MUNICH, MUG, 5)
        self.accept(order_id, (TSHIRT, 2), (MUG, 1))

    def allocations(self, order_id: str) -> dict[str, tuple[str, AllocationStatus]]:
        """By reservation id: its location and status."""
        return {a.reservation_id: (a.location_id, a.status) for a in self.sagas.of_order(order_id)}


@pytest.fixture
def saga() -> Saga:
    sagas, orders, clock = FakeSagaStore(), FakeOrderStore(), Clock()
    orchestrator = Orchestrator(parse_config(SOURCING), sagas=sagas, orders=orders, clock=clock)
    return Saga(orchestrator, sagas, orders, clock)


def work() -> UnitOfWork:
    """A unit of work for one incoming event (or a run of them)."""
    return in_memory_unit_of_work("orchestration", cause=uuid.uuid4())


def types(unit: UnitOfWork) -> list[str]:
    return [decode(record.payload).envelope.type for record in unit.outbox.records]


def emitted(unit: UnitOfWork, kind: type[P]) -> list[P]:
    found = [decode(record.payload).payload for record in unit.outbox.records]
    return [payload for payload in found if isinstance(payload, kind)]


def requested(unit: UnitOfWork) -> dict[str, tuple[str, str, int]]:
    """By reservation id, what ``unit`` asked inventory to hold: (location, SKU, units)."""
    return {
        line.reservation_id: (line.location_id, line.sku, line.quantity)
        for request in emitted(unit, ReserveStock)
        for line in request.lines
    }


async def test_an_order_is_sourced_whole_to_the_nearest_warehouse_that_has_it(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, TSHIRT, 5)
    saga.stock(BERLIN, TSHIRT, 5)  # a store: home delivery comes from warehouses
    saga.accept("ord-1", (TSHIRT, 2))

    unit = await saga.confirm("ord-1")

    assert types(unit) == ["SourcingDecided", "ReserveStock"]
    [request] = emitted(unit, ReserveStock)
    assert request.request_id == "dec-ord-1-1"
    assert (request.all_or_nothing, request.hold_for_s) == (False, 3600)
    assert requested(unit) == {"res-dec-ord-1-1-1": (HAMBURG, TSHIRT, 2)}
    assert saga.sagas.sagas["ord-1"].state is SagaState.SOURCING
    assert saga.sagas.sagas["ord-1"].attempt == 1


async def test_an_order_no_warehouse_can_fill_alone_is_split_over_two(saga: Saga) -> None:
    saga.split_over_two("ord-1")

    unit = await saga.confirm("ord-1")

    [decided] = emitted(unit, SourcingDecided)
    assert sorted(a.location_id for a in decided.allocations) == [HAMBURG, MUNICH]
    assert sorted(requested(unit).values()) == [(HAMBURG, TSHIRT, 2), (MUNICH, MUG, 1)]


async def test_click_and_collect_holds_all_or_nothing_at_the_pickup_store(saga: Saga) -> None:
    saga.stock(BERLIN, MUG, 3)
    saga.stock(HAMBURG, MUG, 3)
    saga.accept(
        "ord-1",
        (MUG, 1),
        delivery_method=DeliveryMethod.CLICK_AND_COLLECT,
        pickup_store_id=BERLIN,
        destination=Point(52.52, 13.405),
    )

    unit = await saga.confirm("ord-1")

    [request] = emitted(unit, ReserveStock)
    assert request.all_or_nothing is True
    assert requested(unit) == {"res-dec-ord-1-1-1": (BERLIN, MUG, 1)}


async def test_what_no_warehouse_has_is_backordered_and_the_rest_asked_for(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.accept("ord-1", (TSHIRT, 2), (MUG, 1))

    unit = await saga.confirm("ord-1")

    assert types(unit) == ["SourcingDecided", "ReserveStock", "OrderBackordered"]
    [backordered] = emitted(unit, OrderBackordered)
    assert [(line.sku, line.quantity) for line in backordered.lines] == [(MUG, 1)]
    assert backordered.reason is BackorderReason.OUT_OF_STOCK
    assert saga.sagas.sagas["ord-1"].backordered == [Line("2", MUG, 1)]


async def test_an_order_nothing_is_available_for_waits_backordered_asking_for_nothing(
    saga: Saga,
) -> None:
    saga.accept("ord-1", (MUG, 1))

    unit = await saga.confirm("ord-1")

    assert types(unit) == ["SourcingDecided", "OrderBackordered"]
    [backordered] = emitted(unit, OrderBackordered)
    assert (backordered.reason, backordered.detail) == (
        BackorderReason.OUT_OF_STOCK,
        "no eligible location has any of the lines: backorder",
    )
    assert saga.sagas.sagas["ord-1"].state is SagaState.BACKORDERED


async def test_an_order_no_profile_covers_waits_backordered_and_is_never_retried(
    saga: Saga,
) -> None:
    saga.stock(BERLIN, MUG, 3)
    saga.accept(
        "ord-1",
        (MUG, 1),
        channel="kiosk",  # the pickup profile is web-de's only
        delivery_method=DeliveryMethod.CLICK_AND_COLLECT,
        pickup_store_id=BERLIN,
    )

    unit = await saga.confirm("ord-1")

    assert types(unit) == ["SourcingDecided", "OrderBackordered"]
    [decided] = emitted(unit, SourcingDecided)
    assert "no sourcing profile applies to channel 'kiosk'" in decided.explanation.chosen_rule
    [backordered] = emitted(unit, OrderBackordered)
    assert backordered.reason is BackorderReason.NO_PROFILE
    assert backordered.detail == decided.explanation.chosen_rule
    row = saga.sagas.sagas["ord-1"]
    assert (row.profile_id, row.state, row.backordered) == (
        NO_PROFILE,
        SagaState.BACKORDERED,
        [Line("1", MUG, 1)],
    )
    again = work()
    await saga.orchestrator.stock_back(again, MUG)
    assert types(again) == []


async def test_a_repeated_confirmation_starts_nothing_twice(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.accept("ord-1", (TSHIRT, 2))

    first = await saga.confirm("ord-1", "ord-1")  # twice in one run
    second = await saga.confirm("ord-1")  # and redelivered

    assert types(first) == ["SourcingDecided", "ReserveStock"]
    assert types(second) == []
    assert list(saga.sagas.decisions) == ["dec-ord-1-1"]


async def test_a_confirmation_of_an_order_never_accepted_is_ignored(saga: Saga) -> None:
    unit = await saga.confirm("ord-unknown")
    assert types(unit) == []
    assert saga.sagas.sagas == {}


async def test_held_reservations_allocate_the_order_and_release_it_to_each_location(
    saga: Saga,
) -> None:
    saga.split_over_two("ord-1")
    asked = await saga.confirm("ord-1")

    unit = await saga.hold_all(asked)

    assert types(unit) == ["OrderAllocated", "FulfilmentOrderCreated", "FulfilmentOrderCreated"]
    created = emitted(unit, FulfilmentOrderCreated)
    assert [(fo.fulfilment_order_id, fo.location_id) for fo in created] == [
        (f"fo-dec-ord-1-1-{HAMBURG}", HAMBURG),
        (f"fo-dec-ord-1-1-{MUNICH}", MUNICH),
    ]
    assert {fo.accept_by for fo in created} == {NOW + timedelta(seconds=3600)}
    row = saga.sagas.sagas["ord-1"]
    assert (row.state, row.allocated_announced) == (SagaState.ALLOCATED, True)
    assert saga.sagas.capacity == {(HAMBURG, NOW.date()): 1, (MUNICH, NOW.date()): 1}


async def test_an_order_waits_for_every_answer_of_its_decision(saga: Saga) -> None:
    saga.split_over_two("ord-1")
    first, second = sorted(requested(await saga.confirm("ord-1")))

    waiting = await saga.answer((first, True))
    done = await saga.answer((second, True))

    assert types(waiting) == []
    assert types(done)[0] == "OrderAllocated"


async def test_a_repeated_answer_changes_nothing(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.accept("ord-1", (TSHIRT, 2))
    asked = await saga.confirm("ord-1")
    await saga.hold_all(asked)

    again = await saga.hold_all(asked)
    refused_late = await saga.answer(*((rid, False) for rid in requested(asked)))

    assert types(again) == types(refused_late) == []
    assert set(saga.allocations("ord-1").values()) == {(HAMBURG, AllocationStatus.HELD)}


async def test_answers_for_several_orders_in_one_run_settle_each(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 10)
    saga.stock(MUNICH, MUG, 10)
    saga.accept("ord-1", (TSHIRT, 2))
    saga.accept("ord-2", (MUG, 1))
    saga.accept("ord-3", (TSHIRT, 1))
    asked = await saga.confirm("ord-1", "ord-2", "ord-3")
    assert len(emitted(asked, ReserveStock)) == 3

    unit = await saga.answer(
        ("res-dec-ord-1-1-1", True), ("res-dec-ord-2-1-1", True), ("res-dec-ord-3-1-1", False)
    )

    assert sorted(a.order_id for a in emitted(unit, OrderAllocated)) == ["ord-1", "ord-2"]
    [retry] = emitted(unit, SourcingDecided)
    assert (retry.order_id, retry.attempt, retry.allocations) == ("ord-3", 2, ())
    assert saga.sagas.sagas["ord-3"].state is SagaState.BACKORDERED


async def lapse(saga: Saga, *reservation_ids: str) -> UnitOfWork:
    unit = work()
    await saga.orchestrator.lapsed(unit, [(unit, rid) for rid in reservation_ids])
    return unit


async def test_a_hold_lapsing_while_its_decision_waits_is_sourced_again_when_it_settles(
    saga: Saga,
) -> None:
    saga.split_over_two("ord-1")
    tshirts, mug = sorted(requested(await saga.confirm("ord-1")))
    await saga.answer((tshirts, True))
    saga.stock(MUNICH, TSHIRT, 5)

    lapsed = await lapse(saga, tshirts)
    settled = await saga.answer((mug, True))

    assert types(lapsed) == []
    assert types(settled) == ["SourcingDecided", "ReserveStock"]
    assert list(requested(settled).values()) == [(MUNICH, TSHIRT, 2)], "Hamburg avoided"
    assert saga.allocations("ord-1")[tshirts] == (HAMBURG, AllocationStatus.FAILED)
    allocated = await saga.hold_all(settled)
    created = emitted(allocated, FulfilmentOrderCreated)
    assert [(fo.location_id, len(fo.lines)) for fo in created] == [(MUNICH, 2)]


async def test_a_hold_lapsing_while_a_later_decision_is_under_way_is_sourced_again_at_once(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, MUG, 5)
    saga.stock(HAMBURG, MUG, 5)
    saga.accept("ord-1", (TSHIRT, 2), (MUG, 1))
    first = await saga.confirm("ord-1")
    [(tshirts, _), (mug, _)] = sorted(requested(first).items())
    retry = await saga.answer((tshirts, True), (mug, False))
    assert list(requested(retry).values()) == [(MUNICH, MUG, 1)]
    saga.stock(MUNICH, TSHIRT, 5)

    unit = await lapse(saga, tshirts)

    assert types(unit) == ["SourcingDecided", "ReserveStock"]
    assert list(requested(unit).values()) == [(MUNICH, TSHIRT, 2)]
    allocated = await saga.hold_all(retry)
    assert types(allocated) == [], "the order waits for the T-shirts' new hold"
    released = await saga.hold_all(unit)
    [fo] = emitted(released, FulfilmentOrderCreated)
    assert (fo.location_id, len(fo.lines)) == (MUNICH, 2)


async def test_a_lapsed_hold_of_a_released_or_canceled_order_changes_nothing(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    await saga.released("ord-1", (TSHIRT, 2))
    saga.accept("ord-2", (TSHIRT, 1))
    await saga.hold_all(await saga.confirm("ord-2"))
    await saga.orchestrator.canceled(work(), "ord-2")

    unit = await lapse(saga, "res-dec-ord-1-1-1", "res-dec-ord-2-1-1", "res-unknown")

    assert types(unit) == []
    assert saga.allocations("ord-1") == {"res-dec-ord-1-1-1": (HAMBURG, AllocationStatus.HELD)}


async def test_a_failed_hold_is_sourced_again_avoiding_that_warehouse(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, TSHIRT, 5)
    saga.accept("ord-1", (TSHIRT, 2))
    await saga.confirm("ord-1")

    retry = await saga.answer(("res-dec-ord-1-1-1", False))

    assert types(retry) == ["SourcingDecided", "ReserveStock"]
    assert requested(retry) == {"res-dec-ord-1-2-1": (MUNICH, TSHIRT, 2)}
    assert saga.sagas.sagas["ord-1"].failed_at == [HAMBURG]

    allocated = await saga.hold_all(retry)
    [fo] = emitted(allocated, FulfilmentOrderCreated)
    assert (fo.location_id, fo.reservation_ids) == (MUNICH, ("res-dec-ord-1-2-1",))


async def test_a_failed_hold_with_nowhere_else_waits_and_stock_coming_back_retries_it(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.accept("ord-1", (TSHIRT, 2))
    await saga.confirm("ord-1")

    failed = await saga.answer(("res-dec-ord-1-1-1", False))
    assert types(failed) == ["SourcingDecided", "OrderBackordered"]
    assert saga.sagas.sagas["ord-1"].state is SagaState.BACKORDERED

    # Hamburg's stock comes back: the failed location is no longer avoided.
    retried = work()
    await saga.orchestrator.stock_back(retried, TSHIRT)
    assert requested(retried) == {"res-dec-ord-1-3-1": (HAMBURG, TSHIRT, 2)}
    row = saga.sagas.sagas["ord-1"]
    assert (row.state, row.backordered, row.failed_at) == (SagaState.SOURCING, [], [])


async def test_stock_coming_back_goes_to_the_oldest_waiting_order_and_is_not_promised_twice(
    saga: Saga,
) -> None:
    for order_id in ("ord-b", "ord-a", "ord-c"):  # waiting in this order
        saga.accept(order_id, (MUG, 2))
        await saga.confirm(order_id)
    saga.stock(MUNICH, MUG, 3)

    unit = work()
    await saga.orchestrator.stock_back(unit, MUG)

    # The oldest takes two units, the next the last one (its other unit waits again), the
    # third finds none left: three units asked for, not six. Nothing changed for the third,
    # so nothing is said of it: no decision, no second backorder.
    asked = {r.order_id: [line.quantity for line in r.lines] for r in emitted(unit, ReserveStock)}
    assert asked == {"ord-b": [2], "ord-a": [1]}
    [backordered] = emitted(unit, OrderBackordered)
    assert (backordered.order_id, backordered.reason) == ("ord-a", BackorderReason.OUT_OF_STOCK)
    assert [d.order_id for d in emitted(unit, SourcingDecided)] == ["ord-b", "ord-a"]
    assert saga.sagas.sagas["ord-a"].backordered == [Line("1", MUG, 1)]
    assert saga.sagas.sagas["ord-c"].backordered == [Line("1", MUG, 2)]


async def test_a_rejected_fulfilment_order_is_rerouted_and_that_warehouse_never_asked_again(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, TSHIRT, 5)
    await saga.released("ord-1", (TSHIRT, 2))

    unit = work()
    await saga.orchestrator.rejected(unit, HAMBURG_FO, [], "rejected by wh-hamburg: no_stock")

    assert types(unit) == ["ReleaseReservations", "SourcingDecided", "ReserveStock"]
    [release] = emitted(unit, ReleaseReservations)
    assert release.reservation_ids == ("res-dec-ord-1-1-1",)
    assert requested(unit) == {"res-dec-ord-1-2-1": (MUNICH, TSHIRT, 2)}
    assert saga.sagas.fulfilment_orders[HAMBURG_FO].status is FulfilmentStatus.REJECTED
    assert saga.sagas.sagas["ord-1"].excluded == [HAMBURG]

    moved = await saga.hold_all(unit)

    assert types(moved) == ["FulfilmentOrderCreated", "FulfilmentOrderRerouted"]
    [rerouted] = emitted(moved, FulfilmentOrderRerouted)
    assert (rerouted.fulfilment_order_id, rerouted.to_location_id, rerouted.reason) == (
        HAMBURG_FO,
        MUNICH,
        "rejected by wh-hamburg: no_stock",
    )

    again = work()  # a second copy of the rejection
    await saga.orchestrator.rejected(again, HAMBURG_FO, [], "again")
    assert types(again) == []


async def test_a_partly_rejected_fulfilment_order_keeps_its_other_lines(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(HAMBURG, MUG, 5)
    saga.stock(MUNICH, MUG, 5)
    await saga.released("ord-1", (TSHIRT, 2), (MUG, 1))

    unit = work()
    await saga.orchestrator.rejected(unit, HAMBURG_FO, ["2"], "rejected by wh-hamburg: damaged")

    [release] = emitted(unit, ReleaseReservations)
    assert len(release.reservation_ids) == 1
    assert set(requested(unit).values()) == {(MUNICH, MUG, 1)}
    assert saga.sagas.fulfilment_orders[HAMBURG_FO].status is FulfilmentStatus.CREATED


async def test_a_missed_deadline_moves_the_work_on_and_tells_the_late_warehouse_to_stop(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, TSHIRT, 5)
    await saga.released("ord-1", (TSHIRT, 2))

    early = work()
    assert await saga.orchestrator.expire_overdue(early, NOW + timedelta(seconds=3599), 10) == 0
    sweep = work()
    assert await saga.orchestrator.expire_overdue(sweep, NOW + timedelta(seconds=3600), 10) == 1

    assert types(sweep) == [
        "ReleaseReservations",
        "SourcingDecided",
        "ReserveStock",
        "FulfilmentOrderCanceled",
    ]
    [stop] = emitted(sweep, FulfilmentOrderCanceled)
    assert (stop.fulfilment_order_id, stop.location_id, stop.reason) == (HAMBURG_FO, HAMBURG, LATE)
    assert set(requested(sweep).values()) == {(MUNICH, TSHIRT, 2)}
    later = work()
    assert await saga.orchestrator.expire_overdue(later, NOW + timedelta(days=1), 10) == 0

    # The late location takes the work after all: it is told again to stop.
    taken = work()
    await saga.orchestrator.accepted(taken, HAMBURG_FO)
    [again] = emitted(taken, FulfilmentOrderCanceled)
    assert (again.fulfilment_order_id, again.reason) == (HAMBURG_FO, LATE)


async def test_a_fulfilment_order_accepted_in_time_stays_where_it_is(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    await saga.released("ord-1", (TSHIRT, 2))

    taken = work()
    await saga.orchestrator.accepted(taken, HAMBURG_FO)
    sweep = work()
    swept = await saga.orchestrator.expire_overdue(sweep, NOW + timedelta(days=1), 10)

    assert types(taken) == types(sweep) == []
    assert swept == 0
    assert saga.sagas.fulfilment_orders[HAMBURG_FO].status is FulfilmentStatus.ACCEPTED


async def test_a_reroute_that_fails_is_undone_and_the_sweep_goes_on(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, TSHIRT, 5)
    for order_id in ("ord-1", "ord-2"):
        await saga.released(order_id, (TSHIRT, 1))
    del saga.orders.orders["ord-1"]  # its reroute fails after its holds were given up
    broken = HAMBURG_FO

    sweep = work()
    assert await saga.orchestrator.expire_overdue(sweep, NOW + timedelta(hours=2), 10) == 2

    assert {r.order_id for r in emitted(sweep, ReserveStock)} == {"ord-2"}
    assert {c.order_id for c in emitted(sweep, FulfilmentOrderCanceled)} == {"ord-2"}
    # Undone: still waiting to be accepted, its hold kept, for the next sweep.
    assert saga.sagas.fulfilment_orders[broken].status is FulfilmentStatus.CREATED
    assert saga.allocations("ord-1") == {"res-dec-ord-1-1-1": (HAMBURG, AllocationStatus.HELD)}
    assert saga.sagas.sagas["ord-1"].excluded == []
    next_sweep = work()
    overdue = await saga.sagas.overdue_fulfilment_orders(
        next_sweep.conn, NOW + timedelta(hours=2), 10
    )
    assert [fo for fo, _, _ in overdue] == [broken]


async def test_cancellation_releases_every_hold_and_calls_off_every_fulfilment_order(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, MUG, 5)
    saga.accept("ord-1", (TSHIRT, 2), (MUG, 1), (TSHIRT, 1))
    asked = await saga.confirm("ord-1")
    held, still_asked = sorted(r for r in requested(asked) if requested(asked)[r][1] == TSHIRT)
    mug = next(r for r in requested(asked) if requested(asked)[r][1] == MUG)
    await saga.answer((held, True), (mug, True))  # one T-shirt line still unanswered

    unit = work()
    await saga.orchestrator.canceled(unit, "ord-1")

    [release] = emitted(unit, ReleaseReservations)
    assert sorted(release.reservation_ids) == sorted([held, mug, still_asked])
    assert release.reason == "order canceled"
    assert emitted(unit, FulfilmentOrderCanceled) == []  # nothing was released to a location yet
    assert saga.sagas.sagas["ord-1"].state is SagaState.CANCELED

    again = work()
    await saga.orchestrator.canceled(again, "ord-1")
    late_answer = await saga.answer((still_asked, True))
    assert types(again) == types(late_answer) == []


async def test_cancellation_after_release_calls_the_locations_off(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, MUG, 5)
    await saga.released("ord-1", (TSHIRT, 2), (MUG, 1))

    unit = work()
    await saga.orchestrator.canceled(unit, "ord-1")

    assert types(unit)[0] == "ReleaseReservations"
    assert sorted(c.location_id for c in emitted(unit, FulfilmentOrderCanceled)) == [
        HAMBURG,
        MUNICH,
    ]
    assert {fo.status for fo in saga.sagas.fulfilment_orders.values()} == {
        FulfilmentStatus.CANCELED
    }


async def test_a_canceled_line_forgets_its_backordered_units_before_giving_holds_back(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, MUG, 1)
    saga.accept("ord-1", (MUG, 3), (TSHIRT, 1))
    asked = await saga.confirm("ord-1")  # 1 mug asked for, 2 mugs and the T-shirt waiting
    assert requested(asked) == {"res-dec-ord-1-1-1": (HAMBURG, MUG, 1)}

    unit = work()
    await saga.orchestrator.lines_canceled(unit, "ord-1", [("1", 2)], "lines canceled: size")

    assert types(unit) == []  # the two waiting mugs were enough
    assert saga.sagas.sagas["ord-1"].backordered == [Line("2", TSHIRT, 1)]

    more = work()
    await saga.orchestrator.lines_canceled(more, "ord-1", [("1", 1)], "lines canceled: all")
    [release] = emitted(more, ReleaseReservations)
    assert release.reservation_ids == ("res-dec-ord-1-1-1",)
    # Nothing is asked of inventory any more: the order stays backordered for its T-shirt.
    assert saga.sagas.sagas["ord-1"].state is SagaState.BACKORDERED


async def test_a_fulfilment_order_left_with_nothing_by_a_canceled_line_is_called_off(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, MUG, 5)
    await saga.released("ord-1", (TSHIRT, 2), (MUG, 1))

    unit = work()
    await saga.orchestrator.lines_canceled(unit, "ord-1", [("2", 1)], "lines canceled: gift")

    assert types(unit) == ["ReleaseReservations", "FulfilmentOrderCanceled"]
    [stop] = emitted(unit, FulfilmentOrderCanceled)
    assert (stop.location_id, stop.reason) == (MUNICH, "lines canceled: gift")
    assert saga.sagas.fulfilment_orders[HAMBURG_FO].status is FulfilmentStatus.CREATED


async def test_units_canceled_of_a_released_line_reach_its_location(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(HAMBURG, MUG, 5)
    await saga.released("ord-1", (TSHIRT, 3), (MUG, 1))

    unit = work()
    await saga.orchestrator.lines_canceled(unit, "ord-1", [("1", 1)], "lines canceled: size")

    assert types(unit) == ["ReduceReservations", "FulfilmentOrderLinesCanceled"]
    [reduce] = emitted(unit, ReduceReservations)
    assert [(r.reservation_id, r.keep) for r in reduce.reservations] == [("res-dec-ord-1-1-1", 2)]
    [told] = emitted(unit, FulfilmentOrderLinesCanceled)
    assert (told.fulfilment_order_id, told.location_id) == (HAMBURG_FO, HAMBURG)
    assert [(x.line_id, x.sku, x.quantity) for x in told.lines] == [("1", TSHIRT, 1)]
    assert saga.sagas.allocation_rows["res-dec-ord-1-1-1"].quantity == 2
    assert saga.sagas.fulfilment_orders[HAMBURG_FO].status is FulfilmentStatus.CREATED

    # The whole mug line and the other two T-shirts: the work is called off, not reduced.
    rest = work()
    await saga.orchestrator.lines_canceled(rest, "ord-1", [("2", 1), ("1", 2)], "all")
    assert types(rest) == ["ReleaseReservations", "FulfilmentOrderCanceled"]
    [release] = emitted(rest, ReleaseReservations)
    assert sorted(release.reservation_ids) == ["res-dec-ord-1-1-1", "res-dec-ord-1-1-2"]


async def test_a_whole_line_canceled_of_work_that_keeps_other_lines_reaches_its_location(
    saga: Saga,
) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(HAMBURG, MUG, 5)
    await saga.released("ord-1", (TSHIRT, 2), (MUG, 1))

    unit = work()
    await saga.orchestrator.lines_canceled(unit, "ord-1", [("2", 1)], "lines canceled: gift")

    assert types(unit) == ["ReleaseReservations", "FulfilmentOrderLinesCanceled"]
    [told] = emitted(unit, FulfilmentOrderLinesCanceled)
    assert [(x.line_id, x.quantity) for x in told.lines] == [("2", 1)]
