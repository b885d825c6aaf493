"""The last two parcels of a shipment delivered at once, on PostgreSQL without Kafka: their
scans come on different partitions (keyed by tracking number), so two transactions each
deliver one. Whichever commits second sees both delivered and completes the shipment; before
the work was locked, each saw the other's parcel still under way and nobody announced
``Delivered`` (the order then never completed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from oms_shipping.adapters import MIGRATIONS
from oms_shipping.adapters.parcels import (
    ParcelRow,
    complete_deliveries,
    lock_parcels,
    save_parcels,
)
from oms_shipping.domain.tracking import ParcelStatus
from tests.support.concurrency import second_while_first_open, three_connections
from tests.support.world import Env

pytestmark = pytest.mark.integration

CARRIER = "dhl"
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.fixture
async def connections(env: Env) -> AsyncIterator[list[asyncpg.Connection]]:
    """Two carriers' scans' connections and an observer's, with a shipped fulfilment order
    whose one shipment has two parcels in transit."""
    dsn = await env.migrated_database("shipping", MIGRATIONS)
    async with three_connections(dsn) as opened:
        await opened[2].execute(
            "INSERT INTO fulfilment_orders (fulfilment_order_id, order_id, location_id,"
            " location_type, delivery_method, lines, accept_by, status)"
            " VALUES ('fo-1', 'ord-1', 'wh-hamburg', 'warehouse', 'home_delivery', '[]', $1,"
            " 'SHIPPED')",
            NOW,
        )
        await opened[2].execute(
            "INSERT INTO parcels (carrier, tracking_number, fulfilment_order_id, order_id, status,"
            " latest_at, shipment_id, parcel_id, handed_over_at)"
            " SELECT $1, t, 'fo-1', 'ord-1', 'in_transit', $2, 'sh-1', t, $2"
            " FROM unnest(ARRAY['A-1', 'B-2']) AS t",
            CARRIER,
            NOW,
        )
        yield opened


async def _deliver(conn: asyncpg.Connection, tracking_number: str) -> list[str]:
    """What a run of one delivery scan does: the parcel locked and delivered, then the
    shipments complete."""
    [parcel] = (await lock_parcels(conn, [(CARRIER, tracking_number)])).values()
    delivered = ParcelRow(**{**vars(parcel), "status": ParcelStatus.DELIVERED, "latest_at": NOW})
    await save_parcels(conn, [delivered])
    return await complete_deliveries(conn, [parcel.shipment_id])


async def test_two_last_parcels_delivered_at_once_complete_the_shipment_once(
    connections: list[asyncpg.Connection],
) -> None:
    first_scan, second_scan, observer = connections
    first = first_scan.transaction()
    await first.start()
    assert await _deliver(first_scan, "A-1") == []  # B-2 still under way, as far as it knows

    completed = await second_while_first_open(
        first, observer, second_scan, lambda: _deliver(second_scan, "B-2")
    )
    assert completed == ["sh-1"]
    status = await observer.fetchval("SELECT status FROM fulfilment_orders")
    assert status == "DELIVERED"
