"""The saga a run at a time, on PostgreSQL without Kafka: a run of inventory's answers for one
order that belong to two of its decisions is taken one answer at a time, so the order is
allocated once, when both are held, and released to both locations."""

from __future__ import annotations

import asyncpg

from oms_events.codec import decode
from oms_orchestration.adapters import orders as order_store
from oms_orchestration.adapters import sagas
from oms_orchestration.adapters.config_file import parse_config
from oms_orchestration.adapters.orders import (
    AcceptedOrder,
    AvailabilitySeen,
    save_availability,
    save_orders,
)
from oms_orchestration.domain.geo import Point
from oms_orchestration.domain.sourcing import Line
from oms_orchestration.service_layer.saga import Orchestrator
from oms_runtime import Outbox, UnitOfWork
from tests.support.inventory import HAMBURG, MUG, MUNICH, TSHIRT
from tests.support.orchestration import SOURCING

BERLIN_ZONE = Point(52.52, 13.40)


def _types(work: UnitOfWork) -> list[str]:
    return [decode(r.payload).envelope.type for r in work.outbox.records]


async def _two_decisions_waiting(orchestrator: Orchestrator, work: UnitOfWork) -> list[str]:
    """An order whose T-shirts wait on decision 1 and whose mug, back in stock meanwhile,
    waits on decision 2: their reservation ids."""
    conn = work.conn
    await save_availability(conn, [AvailabilitySeen(TSHIRT, HAMBURG, 5, 1)])
    await save_orders(
        conn,
        [
            AcceptedOrder(
                order_id="ord-1",
                channel="web-de",
                delivery_method="home_delivery",
                pickup_store_id=None,
                destination=BERLIN_ZONE,
                shipping_address=None,
                lines=[Line("1", TSHIRT, 2), Line("2", MUG, 1)],
            )
        ],
    )
    # Decision 1 asks for the T-shirts at Hamburg; no location has the mug: backordered.
    await orchestrator.confirmed(work, [(work, "ord-1")])
    assert _types(work) == ["SourcingDecided", "ReserveStock", "OrderBackordered"]
    # The mug comes back at Munich while decision 1 still waits: decision 2 asks for it.
    came_back = await save_availability(conn, [AvailabilitySeen(MUG, MUNICH, 3, 1)])
    assert came_back == [(MUG, MUNICH)]
    await orchestrator.stock_back(work, MUG)
    assert _types(work)[3:] == ["SourcingDecided", "ReserveStock"]
    requested = await conn.fetch(
        "SELECT reservation_id, decision_id FROM allocations ORDER BY decision_id"
    )
    assert [r["decision_id"] for r in requested] == ["dec-ord-1-1", "dec-ord-1-2"]
    work.outbox.records.clear()
    return [r["reservation_id"] for r in requested]


async def test_answers_for_two_decisions_in_one_run_settle_the_order_once(
    conn: asyncpg.Connection,
) -> None:
    orchestrator = Orchestrator(parse_config(SOURCING), sagas=sagas, orders=order_store)
    work = UnitOfWork(conn=conn, outbox=Outbox(source="oms/orchestration"))
    requested = await _two_decisions_waiting(orchestrator, work)

    # Both held, both answers in one run.
    await orchestrator.answered(work, [(work, rid, True) for rid in requested])

    types = _types(work)
    assert types.count("OrderAllocated") == 1
    created = [
        decode(r.payload).payload.location_id  # type: ignore[attr-defined]
        for r in work.outbox.records
        if decode(r.payload).envelope.type == "FulfilmentOrderCreated"
    ]
    assert sorted(created) == [HAMBURG, MUNICH]
    saga = await conn.fetchrow("SELECT state, allocated_announced FROM sagas")
    assert saga is not None and (saga["state"], saga["allocated_announced"]) == ("allocated", True)
    fulfilment = await conn.fetch("SELECT location_id FROM fulfilment_orders ORDER BY 1")
    assert [f["location_id"] for f in fulfilment] == [HAMBURG, MUNICH]

    # The same answers again (a redelivery with new ids) change nothing.
    work.outbox.records.clear()
    await orchestrator.answered(work, [(work, rid, True) for rid in requested])
    assert work.outbox.records == []


async def test_a_later_decisions_failure_in_the_same_run_is_not_announced_as_allocated(
    conn: asyncpg.Connection,
) -> None:
    """Taken together, the first decision's answer would see the second answered and announce
    the order allocated although its mug failed; one at a time, it waits for the second."""
    orchestrator = Orchestrator(parse_config(SOURCING), sagas=sagas, orders=order_store)
    work = UnitOfWork(conn=conn, outbox=Outbox(source="oms/orchestration"))
    tshirts, mug = await _two_decisions_waiting(orchestrator, work)

    await orchestrator.answered(work, [(work, tshirts, True), (work, mug, False)])

    types = _types(work)
    assert "OrderAllocated" not in types
    assert types.count("OrderBackordered") == 1  # the mug, with Munich avoided
    created = [
        decode(r.payload).payload.location_id  # type: ignore[attr-defined]
        for r in work.outbox.records
        if decode(r.payload).envelope.type == "FulfilmentOrderCreated"
    ]
    assert created == [HAMBURG]  # the held T-shirts go to their location meanwhile
    saga = await conn.fetchrow("SELECT state, allocated_announced FROM sagas")
    assert saga is not None
    assert (saga["state"], saga["allocated_announced"]) == ("backordered", False)


async def test_a_run_of_confirmations_and_answers_settles_each_order(
    conn: asyncpg.Connection,
) -> None:
    orchestrator = Orchestrator(parse_config(SOURCING), sagas=sagas, orders=order_store)
    work = UnitOfWork(conn=conn, outbox=Outbox(source="oms/orchestration"))
    await save_availability(conn, [AvailabilitySeen(TSHIRT, HAMBURG, 100, 1)])
    orders = [f"ord-{n}" for n in range(5)]
    await save_orders(
        conn,
        [
            AcceptedOrder(
                o,
                "web-de",
                "home_delivery",
                None,
                Point(52.52, 13.40),
                None,
                [Line("1", TSHIRT, 1)],
            )
            for o in orders
        ],
    )
    await orchestrator.confirmed(work, [(work, o) for o in [*orders, orders[0]]])  # one repeated
    assert _types(work).count("ReserveStock") == 5
    requested = await conn.fetch("SELECT reservation_id FROM allocations ORDER BY 1")
    work.outbox.records.clear()
    answers = [(work, r["reservation_id"], n != 2) for n, r in enumerate(requested)]
    await orchestrator.answered(work, answers)
    types = _types(work)
    assert types.count("OrderAllocated") == 4
    assert types.count("FulfilmentOrderCreated") == 4
    # The failed hold is sourced again, not at Hamburg where it failed; no one else has
    # T-shirts, so that order waits for stock.
    assert types.count("SourcingDecided") == 1
    assert types.count("OrderBackordered") == 1
    states = await conn.fetch("SELECT order_id, state FROM sagas ORDER BY order_id")
    assert {s["order_id"]: s["state"] for s in states} == {
        **{o: "allocated" for o in orders},
        orders[2]: "backordered",
    }


async def test_a_hold_lapsing_before_release_is_sourced_again_and_one_after_is_left(
    conn: asyncpg.Connection,
) -> None:
    """The T-shirts are held but not released (the mug's decision still waits) when their
    hold lapses: they are asked for again at once; once released, a lapse changes nothing."""
    orchestrator = Orchestrator(parse_config(SOURCING), sagas=sagas, orders=order_store)
    work = UnitOfWork(conn=conn, outbox=Outbox(source="oms/orchestration"))
    tshirts, mug = await _two_decisions_waiting(orchestrator, work)
    await orchestrator.answered(work, [(work, tshirts, True)])
    assert _types(work) == []

    await orchestrator.lapsed(work, [(work, tshirts)])

    assert _types(work) == ["SourcingDecided", "ReserveStock"]
    again = await conn.fetchval(
        "SELECT reservation_id FROM allocations WHERE decision_id = 'dec-ord-1-3'"
    )
    lapsed = await conn.fetchval(
        "SELECT status FROM allocations WHERE reservation_id = $1", tshirts
    )
    assert lapsed == "failed"
    work.outbox.records.clear()
    await orchestrator.answered(work, [(work, mug, True), (work, again, True)])
    assert _types(work).count("OrderAllocated") == 1
    released = await conn.fetch(
        "SELECT reservation_id FROM allocations WHERE fulfilment_order_id IS NOT NULL ORDER BY 1"
    )
    assert sorted(r["reservation_id"] for r in released) == sorted([mug, again])

    work.outbox.records.clear()
    await orchestrator.lapsed(work, [(work, again), (work, mug)])
    assert _types(work) == []
    statuses = await conn.fetch(
        "SELECT status FROM allocations WHERE reservation_id <> $1", tshirts
    )
    assert {r["status"] for r in statuses} == {"held"}
