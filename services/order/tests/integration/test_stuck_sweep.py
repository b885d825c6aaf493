"""The stuck-order statement on PostgreSQL: the trigger that dates each status entry, one
report per stay, a stay after a status change reported again, two sweeps at once, an order a
batch holds left for the next sweep."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from oms_order.adapters import MIGRATIONS
from oms_order.adapters.stuck import report_stuck
from oms_order.domain.status import OrderStatus
from oms_order.domain.stuck import StuckPolicy
from oms_runtime import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from tests.support.world import Env

pytestmark = pytest.mark.integration

POLICY = StuckPolicy({OrderStatus.CONFIRMED: timedelta(minutes=30)})
SWEEP = uuid.uuid4()


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
            # Two sweeps at once: the second passes over the order the first holds.
            async with first.transaction():
                [late] = await report_stuck(first, POLICY, now, SWEEP)
                assert await report_stuck(second, POLICY, now, SWEEP) == []
        assert (late.order_id, late.status, late.threshold, late.sequence) == (
            "o-late",
            OrderStatus.CONFIRMED,
            timedelta(minutes=30),
            1,
        )
        [entry] = await pool.fetch("SELECT * FROM order_timeline WHERE order_id = 'o-late'")
        assert (entry["sequence"], entry["event_type"], entry["caused_by"]) == (
            1,
            "OrderStuck",
            SWEEP,
        )
        assert json.loads(entry["detail"])["status"] == "CONFIRMED"
        assert await pool.fetchval("SELECT sequence FROM orders WHERE order_id = 'o-late'") == 1

        await pool.execute(
            "INSERT INTO orders (order_id, channel, external_order_id, status, status_since)"
            " VALUES ('o-held', 'web', 'held', 'CONFIRMED', now() - interval '1 hour')"
        )
        async with pool.acquire() as batch, pool.acquire() as conn:
            async with batch.transaction():  # a batch holds the order: the sweep passes it by
                await batch.execute("SELECT 1 FROM orders WHERE order_id = 'o-held' FOR UPDATE")
                assert await report_stuck(conn, POLICY, now, SWEEP) == []
            [held] = await report_stuck(conn, POLICY, now, SWEEP)  # the next sweep
            assert held.order_id == "o-held"
        async with pool.acquire() as conn:
            assert await report_stuck(conn, POLICY, now, SWEEP) == []

            # Leaving the status and coming back is a new stay, dated by the trigger.
            await conn.execute("UPDATE orders SET status = 'ALLOCATED' WHERE order_id = 'o-late'")
            await conn.execute("UPDATE orders SET status = 'CONFIRMED' WHERE order_id = 'o-late'")
            since = await conn.fetchval("SELECT status_since FROM orders WHERE order_id = 'o-late'")
            assert since > late.since
            assert await report_stuck(conn, POLICY, now, SWEEP) == []
            later = since + timedelta(minutes=31)
            assert [s.order_id for s in await report_stuck(conn, POLICY, later, SWEEP)] == [
                "o-fresh",  # oldest first
                "o-late",
            ]
    finally:
        await pool.close()
