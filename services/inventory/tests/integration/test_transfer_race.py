"""The two ends of a transfer id that disagree, recorded in two transactions at once, on
PostgreSQL without Kafka: the second end is refused as a mismatch. Its check found no transfer
(the first was not committed), its insert waited for the first, and before, it then recorded
itself on the other transfer's row: units received for a SKU that never left."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from oms_inventory.adapters import MIGRATIONS
from oms_inventory.adapters.transfers import TransferEnd, record_ends
from oms_runtime import RejectedEvent
from tests.support.concurrency import second_while_first_open, three_connections
from tests.support.world import Env

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
async def connections(env: Env) -> AsyncIterator[list[asyncpg.Connection]]:
    """The warehouse's feed's connection, the store's and an observer's."""
    async with three_connections(await env.migrated_database("inventory", MIGRATIONS)) as opened:
        yield opened


async def test_a_disagreeing_end_recorded_at_once_is_refused(
    connections: list[asyncpg.Connection],
) -> None:
    shipping, receiving, observer = connections
    first = shipping.transaction()
    await first.start()
    shipped = TransferEnd("tr-1", "SKU-A", "wh-1", "st-1", 5, AT)
    assert await record_ends(shipping, "shipped", [shipped]) == {"tr-1": None}

    received = TransferEnd("tr-1", "SKU-B", "wh-1", "st-1", 5, AT)
    with pytest.raises(RejectedEvent) as refused:
        await second_while_first_open(
            first, observer, receiving, lambda: record_ends(receiving, "received", [received])
        )
    assert refused.value.reason == "transfer_mismatch"
    row = await observer.fetchrow("SELECT sku, received_quantity FROM transfers")
    assert row is not None and tuple(row) == ("SKU-A", None)
