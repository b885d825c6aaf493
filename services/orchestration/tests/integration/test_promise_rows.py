"""The promise on PostgreSQL without Kafka: kept with each fulfilment order, and kept by the
fulfilment order that replaces a rejected one (the one statement that creates fulfilment
orders reads it from the one replaced)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import asyncpg

from oms_events.codec import decode
from oms_events.sourcing import FulfilmentOrderCreated
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
from tests.support.inventory import HAMBURG, MUNICH, TSHIRT
from tests.support.orchestration import SOURCING

PLACED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Tuesday, 11:00 in Berlin
THURSDAY = datetime(2026, 11, 26, 22, 59, 59, tzinfo=UTC)


def _created(work: UnitOfWork) -> list[FulfilmentOrderCreated]:
    payloads = [decode(r.payload).payload for r in work.outbox.records]
    work.outbox.records.clear()
    return [p for p in payloads if isinstance(p, FulfilmentOrderCreated)]


async def _hold_everything_asked(orchestrator: Orchestrator, work: UnitOfWork) -> None:
    asked = await work.conn.fetch(
        "SELECT reservation_id FROM allocations WHERE status = 'requested'"
    )
    await orchestrator.answered(work, [(work, r["reservation_id"], True) for r in asked])


async def test_a_reroute_keeps_the_promise_of_the_fulfilment_order_it_replaces(
    conn: asyncpg.Connection,
) -> None:
    config = copy.deepcopy(SOURCING)
    config["locations"][1]["handling"] = {"processing_days": 3}  # Munich is slow
    assert config["locations"][1]["location_id"] == MUNICH
    orchestrator = Orchestrator(parse_config(config), sagas=sagas, orders=order_store)
    work = UnitOfWork(conn=conn, outbox=Outbox(source="oms/orchestration"))
    await save_availability(
        conn, [AvailabilitySeen(TSHIRT, HAMBURG, 5, 1), AvailabilitySeen(TSHIRT, MUNICH, 5, 1)]
    )
    order = AcceptedOrder(
        "ord-1", "web-de", "home_delivery", None, Point(52.52, 13.40), None,
        [Line("1", TSHIRT, 2)], placed_at=PLACED,
    )  # fmt: skip
    await save_orders(conn, [order])
    await orchestrator.confirmed(work, [(work, "ord-1")])
    await _hold_everything_asked(orchestrator, work)
    [first] = _created(work)
    assert (first.location_id, first.promised_by) == (HAMBURG, THURSDAY)

    await orchestrator.rejected(work, first.fulfilment_order_id, [], "rejected: no_stock")
    await _hold_everything_asked(orchestrator, work)
    [moved] = _created(work)

    assert (moved.location_id, moved.promised_by) == (MUNICH, THURSDAY)
    rows = await conn.fetch("SELECT location_id, promised_by FROM fulfilment_orders ORDER BY 1")
    assert [(r["location_id"], r["promised_by"]) for r in rows] == [
        (HAMBURG, THURSDAY),
        (MUNICH, THURSDAY),
    ]
