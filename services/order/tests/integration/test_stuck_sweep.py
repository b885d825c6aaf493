"""The stuck-order statement on PostgreSQL: the trigger that dates each status entry, one
report per stay, a stay after a status change reported again, two sweeps at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from oms_order.adapters import MIGRATIONS
from oms_order.adapters.stuck import report_stuck
from oms_order.domain.status import OrderStatus
from oms_order.domain.stuck import StuckPolicy
from oms_runtime import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

POLICY = StuckPolicy({OrderStatus.CONFIRMED: timedelta(minutes=30)})


async def test_each_stay_past_its_threshold_is_reported_once(env: Env) -> None:
    pool = await create_pool(await env.database("order"), 3)
    try:
        await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, "order": MIGRATIONS})
        await pool.execute(
            "INSERT INTO orders (order_id, channel, external_order_id, status)"
            " VALUES ('o-late', 'web', 'late', 'CONFIRMED'), ('o-fresh', 'web', 'fresh',"
            " 'CONFIRMED'), ('o-done', 'web', 'done', 'COMPLETED')"
        )
        await pool.execute(
            "UPDATE orders SET status_since = now() - interval '1 hour'"
            " WHERE order_id IN ('o-late', 'o-done')"
        )
        now = await pool.fetchval("SELECT now()")

        async with pool.acquire() as first, pool.acquire() as second:
            # Two sweeps at once: the second waits for the first's rows and reports nothing.
            async with first.transaction():
                [late] = await report_stuck(first, POLICY, now, 100)
                racing = asyncio.create_task(report_stuck(second, POLICY, now, 100))
                pid = second.get_server_pid()
                await wait_for(
                    lambda: pool.fetchval(
                        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                        pid,
                    ),
                    what="the second sweep waiting for the first's rows",
                )
            assert await racing == []
        assert (late.order_id, late.status, late.threshold) == (
            "o-late",
            OrderStatus.CONFIRMED,
            timedelta(minutes=30),
        )
        async with pool.acquire() as conn:
            assert await report_stuck(conn, POLICY, now, 100) == []

            # Leaving the status and coming back is a new stay, dated by the trigger.
            await conn.execute("UPDATE orders SET status = 'ALLOCATED' WHERE order_id = 'o-late'")
            await conn.execute("UPDATE orders SET status = 'CONFIRMED' WHERE order_id = 'o-late'")
            since = await conn.fetchval("SELECT status_since FROM orders WHERE order_id = 'o-late'")
            assert since > late.since
            assert await report_stuck(conn, POLICY, now, 100) == []
            later = since + timedelta(minutes=31)
            assert [s.order_id for s in await report_stuck(conn, POLICY, later, 100)] == [
                "o-fresh",  # oldest first
                "o-late",
            ]
    finally:
        await pool.close()
