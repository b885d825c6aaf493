"""Two instances' reservation runs on the real PostgreSQL: they wait for each other's rows,
never in a circle (a deadlock costs a second and the batch)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from oms_inventory.adapters import MIGRATIONS
from oms_runtime import RUNTIME_MIGRATIONS, apply_migrations
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

_RUN = (
    "SELECT line_reservation_id, line_held FROM inventory_reserve_run($1::int[], $2::int[],"
    " $3::bool[], $4::text[], $5::text[], $6::text[], $7::int[], $8::timestamptz[])"
)


async def _reserve(conn: asyncpg.Connection, *lines: tuple[str, str]) -> dict[str, bool]:
    """One request of one unit per (reservation id, SKU) line at wh-1, taken in that order."""
    expires = datetime.now(UTC) + timedelta(hours=1)
    rows = await conn.fetch(
        _RUN,
        [1],
        [len(lines)],
        [False],
        [r for r, _ in lines],
        [sku for _, sku in lines],
        ["wh-1"] * len(lines),
        [1] * len(lines),
        [expires] * len(lines),
    )
    return {r["line_reservation_id"]: r["line_held"] for r in rows}


async def test_runs_taking_the_same_rows_in_opposite_orders_never_hold_one_while_waiting(
    env: Env,
) -> None:
    pool = await asyncpg.create_pool(await env.database("inventory"), min_size=1, max_size=4)
    assert pool is not None
    try:
        await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, "inventory": MIGRATIONS})
        await pool.execute(
            "INSERT INTO locations (location_id, name, location_type, latitude, longitude)"
            " VALUES ('wh-1', 'Warehouse', 'warehouse', 53.5, 10.0);"
            " INSERT INTO items (sku, name) VALUES ('SKU-A', 'A'), ('SKU-B', 'B');"
            " INSERT INTO stock (sku, location_id, on_hand)"
            " VALUES ('SKU-A', 'wh-1', 10), ('SKU-B', 'wh-1', 10)"
        )
        first, second, third = [await pool.acquire() for _ in range(3)]
        holding = first.transaction()
        await holding.start()
        assert await _reserve(first, ("r-first", "SKU-A")) == {"r-first": True}

        async def in_transaction(
            conn: asyncpg.Connection, *lines: tuple[str, str]
        ) -> dict[str, bool]:
            async with conn.transaction():
                return await _reserve(conn, *lines)

        # B before A: line by line it would lock B, then wait for A while holding B.
        crossing = asyncio.ensure_future(
            in_transaction(second, ("r-second-b", "SKU-B"), ("r-second-a", "SKU-A"))
        )
        waiting_pid = second.get_server_pid()

        async def second_waits() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                    waiting_pid,
                )
            )

        await wait_for(second_waits, what="the crossing run waiting for SKU-A")
        # SKU-B is free while the crossing run waits: a third run takes it at once.
        async with asyncio.timeout(5):
            assert await in_transaction(third, ("r-third", "SKU-B")) == {"r-third": True}
        await holding.commit()
        assert await asyncio.wait_for(crossing, 10) == {"r-second-b": True, "r-second-a": True}
        reserved = await pool.fetch("SELECT sku, reserved FROM stock ORDER BY sku")
        assert [(r["sku"], r["reserved"]) for r in reserved] == [("SKU-A", 2), ("SKU-B", 2)]
    finally:
        pool.terminate()
