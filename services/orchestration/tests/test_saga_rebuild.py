"""The saga in a rebuild: the plans and deadlines the live service announced, read back from
oms.sourcing, are taken again instead of deciding anew; outside a rebuild they are not
looked at."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from oms_events.codec import decode, new_event
from oms_events.envelope import Envelope
from oms_events.inventory import ReserveStock
from oms_events.registry import EventPayload
from oms_events.sourcing import (
    Allocation,
    FulfilmentOrderCanceled,
    FulfilmentOrderCreated,
    SourcingDecided,
    SourcingExplanation,
    SplitPolicy,
)
from oms_events.values import DeliveryMethod, LineQuantity, LocationType
from oms_orchestration.adapters.config_file import parse_config
from oms_orchestration.domain.geo import Point
from oms_orchestration.domain.sourcing import Line, OrderToSource
from oms_orchestration.domain.states import FulfilmentStatus
from oms_orchestration.entrypoints.kafka import OrchestrationHandlers
from oms_orchestration.service_layer.recalled import RecalledDecisions
from oms_orchestration.service_layer.saga import Orchestrator
from oms_runtime import ConsumedRecord, Received, UnitOfWork, in_memory_unit_of_work
from services.orchestration.tests.fakes import FakeOrderStore, FakeRecallStore, FakeSagaStore
from tests.support.inventory import HAMBURG, MUNICH, TSHIRT
from tests.support.orchestration import SOURCING

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
# Made live an hour before (the profile's time to accept): 23:30 on the 20th in UTC, the 21st in
# Berlin, whose business day counts capacity.
LIVE_DEADLINE = datetime(2026, 11, 21, 0, 30, tzinfo=UTC)
BERLIN_CUSTOMER = Point(52.52, 13.40)  # nearer Hamburg than Munich


@dataclasses.dataclass
class Rebuild:
    orchestrator: Orchestrator
    sagas: FakeSagaStore
    recalled: RecalledDecisions


@pytest.fixture
def rebuild() -> Rebuild:
    sagas, orders = FakeSagaStore(), FakeOrderStore()
    recalled = RecalledDecisions(FakeRecallStore())
    orchestrator = Orchestrator(
        parse_config(SOURCING), sagas=sagas, orders=orders, clock=lambda: NOW, recalled=recalled
    )
    orders.available[(HAMBURG, TSHIRT)] = 5
    orders.available[(MUNICH, TSHIRT)] = 5
    orders.accept(
        OrderToSource(
            order_id="ord-1",
            channel="web-de",
            delivery_method=DeliveryMethod.HOME_DELIVERY,
            lines=(Line("1", TSHIRT, 2),),
            destination=BERLIN_CUSTOMER,
        )
    )
    return Rebuild(orchestrator, sagas, recalled)


def work(rebuilding: bool = True) -> UnitOfWork:
    unit = in_memory_unit_of_work("orchestration", cause=uuid.uuid4())
    unit.rebuilding = rebuilding
    return unit


def received(payload: EventPayload, caused_by: str | None = None) -> Received[Any]:
    envelope: Envelope = new_event(
        payload,
        subject="ord-1",
        source="oms/orchestration",
        correlation_id="ord-1",
        causation_id=caused_by,
    )
    return Received(payload, envelope, ConsumedRecord("oms.sourcing", 0, 0, None, None))


def decided_at(location_id: str, quantity: int, attempt: int = 1) -> SourcingDecided:
    """What the live service announced: ord-1's decision ``attempt``, at ``location_id``."""
    return SourcingDecided(
        order_id="ord-1",
        decision_id=f"dec-ord-1-{attempt}",
        attempt=attempt,
        allocations=(
            Allocation(
                location_id=location_id,
                location_type=LocationType.WAREHOUSE,
                lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=quantity),),
            ),
        ),
        backordered_lines=(),
        explanation=SourcingExplanation(
            profile="home",
            split_policy=SplitPolicy.MAX_SPLITS,
            candidates=(),
            chosen_rule=f"live: {location_id} then",
        ),
        decided_at=NOW - timedelta(days=4),
    )


def asked(unit: UnitOfWork) -> list[tuple[str, str, int]]:
    """What ``unit`` asked inventory to hold: (location, SKU, units)."""
    return [
        (line.location_id, line.sku, line.quantity)
        for record in unit.outbox.records
        if isinstance(request := decode(record.payload).payload, ReserveStock)
        for line in request.lines
    ]


async def test_a_rebuild_takes_the_plan_announced_live_where_sourcing_anew_would_differ(
    rebuild: Rebuild,
) -> None:
    # Live, Hamburg had nothing yet: Munich. Sourced anew now, Hamburg (nearer) would win.
    unit = work()
    await rebuild.recalled.decided(unit, [received(decided_at(MUNICH, 2))])

    await rebuild.orchestrator.confirmed(unit, [(unit, "ord-1")])

    assert asked(unit) == [(MUNICH, TSHIRT, 2)]
    assert f"live: {MUNICH} then" in rebuild.sagas.decisions["dec-ord-1-1"].explanation


async def test_a_recalled_plan_for_other_units_is_not_taken(rebuild: Rebuild) -> None:
    unit = work()
    await rebuild.recalled.decided(unit, [received(decided_at(MUNICH, 3))])

    await rebuild.orchestrator.confirmed(unit, [(unit, "ord-1")])

    assert asked(unit) == [(HAMBURG, TSHIRT, 2)]  # sourced anew


async def test_a_recalled_plan_at_a_location_the_order_now_avoids_is_not_taken(
    rebuild: Rebuild,
) -> None:
    # Munich failed this order's hold: a second decision there cannot be the live one's.
    unit = work()
    await rebuild.recalled.decided(
        unit, [received(decided_at(MUNICH, 2)), received(decided_at(MUNICH, 2, attempt=2))]
    )
    await rebuild.orchestrator.confirmed(unit, [(unit, "ord-1")])

    await rebuild.orchestrator.answered(unit, [(unit, "res-dec-ord-1-1-1", False)])

    assert asked(unit) == [(MUNICH, TSHIRT, 2), (HAMBURG, TSHIRT, 2)]


async def test_outside_a_rebuild_nothing_recalled_is_looked_at(rebuild: Rebuild) -> None:
    unit = work(rebuilding=False)
    await rebuild.recalled.decided(unit, [received(decided_at(MUNICH, 2))])

    await rebuild.orchestrator.confirmed(unit, [(unit, "ord-1")])

    assert asked(unit) == [(HAMBURG, TSHIRT, 2)]


async def test_a_rebuilt_fulfilment_order_keeps_its_live_deadline_and_capacity_day(
    rebuild: Rebuild,
) -> None:
    unit = work()
    fulfilment_order_id = f"fo-dec-ord-1-1-{HAMBURG}"
    live = FulfilmentOrderCreated(
        order_id="ord-1",
        fulfilment_order_id=fulfilment_order_id,
        location_id=HAMBURG,
        location_type=LocationType.WAREHOUSE,
        delivery_method=DeliveryMethod.HOME_DELIVERY,
        lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=2),),
        reservation_ids=("res-dec-ord-1-1-1",),
        accept_by=LIVE_DEADLINE,
    )
    await rebuild.recalled.released(unit, [received(live)])
    await rebuild.orchestrator.confirmed(unit, [(unit, "ord-1")])

    await rebuild.orchestrator.answered(unit, [(unit, "res-dec-ord-1-1-1", True)])

    assert rebuild.sagas.fulfilment_orders[fulfilment_order_id].accept_by == LIVE_DEADLINE
    assert rebuild.sagas.capacity == {(HAMBURG, date(2026, 11, 21)): 1}  # not the clock's 24th


async def test_only_the_deadline_sweeps_call_offs_move_a_fulfilment_order_on_again(
    rebuild: Rebuild,
) -> None:
    handlers = OrchestrationHandlers(rebuild.orchestrator)
    unit = work()
    await rebuild.orchestrator.confirmed(unit, [(unit, "ord-1")])
    await rebuild.orchestrator.answered(unit, [(unit, "res-dec-ord-1-1-1", True)])
    hamburg = f"fo-dec-ord-1-1-{HAMBURG}"

    def call_off(reason: str) -> FulfilmentOrderCanceled:
        return FulfilmentOrderCanceled(
            order_id="ord-1", fulfilment_order_id=hamburg, location_id=HAMBURG, reason=reason
        )

    # Called off because of an event (a late acceptance, a cancellation): the rebuild applies
    # that event itself.
    await handlers.expired_as_recorded(unit, received(call_off("order canceled")))
    caused = received(call_off("not accepted in time"), caused_by=str(uuid.uuid4()))
    await handlers.expired_as_recorded(unit, caused)
    assert rebuild.sagas.fulfilment_orders[hamburg].status is FulfilmentStatus.CREATED

    await handlers.expired_as_recorded(unit, received(call_off("not accepted in time")))

    moved = rebuild.sagas.fulfilment_orders[hamburg]
    assert (moved.status, moved.reason) == (FulfilmentStatus.REJECTED, "not accepted in time")
    assert asked(unit)[-1] == (MUNICH, TSHIRT, 2)  # the work sourced again, elsewhere
