"""The outbox relay's leadership on the real PostgreSQL: one leader, a quiet standby."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from oms_runtime import RUNTIME_MIGRATIONS, apply_migrations
from oms_runtime._outbox import NOTIFY_CHANNEL
from oms_runtime._relay import OutboxRelay
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


class CountingRelay(OutboxRelay):
    """A relay counting the statements its connections send."""

    statements = 0

    async def _connect(self) -> asyncpg.Connection:
        conn = await super()._connect()
        conn.add_query_logger(self._count)
        return conn

    def _count(self, _record: Any) -> None:
        self.statements += 1


def _seen(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """A probe for ``wait_for`` of a condition on the relays' own state."""

    async def probe() -> bool:
        return condition()

    return probe


async def test_a_standby_relay_stays_quiet_while_writers_commit_and_takes_over_from_the_leader(
    env: Env,
) -> None:
    dsn = await env.database("relay")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert pool is not None
    await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS})
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap)
    await producer.start()
    leader = CountingRelay(service="relay-test", dsn=dsn, producer=producer, batch_max=100)
    standby = CountingRelay(service="relay-test", dsn=dsn, producer=producer, batch_max=100)
    running = [asyncio.ensure_future(leader.run())]
    try:
        await wait_for(_seen(lambda: leader.is_leader), what="the first relay leading")
        running.append(asyncio.ensure_future(standby.run()))
        await wait_for(_seen(lambda: standby.statements > 0), what="the standby asking")
        asked, passes = standby.statements, leader.statements
        # 200 writers' commits: each wakes the leader, which looks for rows left to it.
        for _ in range(200):
            await pool.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
        await wait_for(
            _seen(lambda: leader.statements >= passes + 20),
            what="the leader woken by the commits",
        )
        assert not standby.is_leader
        # At most one more try (its recheck interval may have passed), not one per commit.
        assert standby.statements - asked <= 1

        leader.stop()
        await running[0]
        await wait_for(
            _seen(lambda: standby.is_leader),
            timeout=15,
            what="the standby leading once the leader's session ended",
        )
    finally:
        leader.stop()
        standby.stop()
        await asyncio.gather(*running)
        await producer.stop()
        await pool.close()
