"""An order sourced while its stock comes back, on PostgreSQL without Kafka: the two run in
transactions of their own at once (orders and availability are consumed in parallel), and
whichever locks the SKU first, the order is sourced, never left backordered with stock on hand
(a lost wake-up that stranded an order until the SKU's next restock)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

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
from tests.support.concurrency import second_while_first_open, three_connections
from tests.support.inventory import HAMBURG, TSHIRT
from tests.support.orchestration import SOURCING

pytestmark = pytest.mark.integration


@pytest.fixture
async def connections(dsn: str) -> AsyncIterator[list[asyncpg.Connection]]:
    """The order's connection, the restock's and an observer's, with the order saved."""
    async with three_connections(dsn) as opened:
        await save_orders(
            opened[2],
            [
                AcceptedOrder(
                    order_id="ord-1",
                    channel="web-de",
                    delivery_method="home_delivery",
                    pickup_store_id=None,
                    destination=Point(52.52, 13.40),
                    shipping_address=None,
                    lines=[Line("1", TSHIRT, 2)],
                )
            ],
        )
        yield opened


def _types(work: UnitOfWork) -> list[str]:
    return [decode(r.payload).envelope.type for r in work.outbox.records]


def _work(conn: asyncpg.Connection) -> UnitOfWork:
    return UnitOfWork(conn=conn, outbox=Outbox(source="oms/orchestration"))


async def _restock(orchestrator: Orchestrator, conn: asyncpg.Connection) -> UnitOfWork:
    """What the availability handler does: the T-shirt back at Hamburg, waiting orders
    sourced again."""
    work = _work(conn)
    came_back = await save_availability(conn, [AvailabilitySeen(TSHIRT, HAMBURG, 5, 1)])
    for sku in dict.fromkeys(sku for sku, _ in came_back):
        await orchestrator.stock_back(work, sku)
    return work


async def _source(orchestrator: Orchestrator, conn: asyncpg.Connection) -> UnitOfWork:
    """What the handler of confirmed orders does."""
    work = _work(conn)
    await orchestrator.confirmed(work, [(work, "ord-1")])
    return work


async def test_stock_back_while_the_backorder_is_written_waits_and_sources_it(
    connections: list[asyncpg.Connection],
) -> None:
    ordering, restocking, observer = connections
    orchestrator = Orchestrator(parse_config(SOURCING), sagas=sagas, orders=order_store)
    first = ordering.transaction()
    await first.start()
    sourced = await _source(orchestrator, ordering)
    assert _types(sourced)[-1] == "OrderBackordered"  # no stock anywhere yet

    restocked = await second_while_first_open(
        first, observer, restocking, lambda: _restock(orchestrator, restocking)
    )
    assert _types(restocked) == ["SourcingDecided", "ReserveStock"]
    saga = await observer.fetchrow("SELECT state, backordered FROM sagas WHERE order_id = 'ord-1'")
    assert saga is not None and saga["state"] == "sourcing" and saga["backordered"] == "[]"


async def test_an_order_sourced_while_stock_comes_back_waits_and_takes_it(
    connections: list[asyncpg.Connection],
) -> None:
    ordering, restocking, observer = connections
    orchestrator = Orchestrator(parse_config(SOURCING), sagas=sagas, orders=order_store)
    first = restocking.transaction()
    await first.start()
    restocked = await _restock(orchestrator, restocking)
    assert _types(restocked) == []  # nobody was waiting yet

    sourced = await second_while_first_open(
        first, observer, ordering, lambda: _source(orchestrator, ordering)
    )
    assert _types(sourced) == ["SourcingDecided", "ReserveStock"]
