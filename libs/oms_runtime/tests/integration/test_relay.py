"""The outbox relay's leadership on the real PostgreSQL: one leader, a quiet standby."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from oms_runtime._outbox import NOTIFY_CHANNEL, _key_lock
from oms_runtime._relay import _IDLE_RECHECK_S, _KEY_LOCK_SQL, OutboxRelay
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
    dsn, pool = await env.runtime_pool("relay", size=1)
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap)
    await producer.start()
    leader = CountingRelay(service="relay-test", dsn=dsn, producer=producer, batch_max=100)
    standby = CountingRelay(service="relay-test", dsn=dsn, producer=producer, batch_max=100)
    running = [asyncio.ensure_future(leader.run())]
    try:
        await wait_for(_seen(lambda: leader.is_leader), what="the first relay leading")
        running.append(asyncio.ensure_future(standby.run()))
        await wait_for(_seen(lambda: standby.statements > 0), what="the standby asking")
        asked, passes, since = standby.statements, leader.statements, time.monotonic()
        # 200 writers' commits: each wakes the leader, which looks for rows left to it.
        for _ in range(200):
            await pool.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
        await wait_for(
            _seen(lambda: leader.statements >= passes + 20),
            what="the leader woken by the commits",
        )
        assert not standby.is_leader
        # One try per recheck interval passed (a busy machine may take more than one to send
        # the notifications), not one per commit.
        rechecks = int((time.monotonic() - since) / _IDLE_RECHECK_S) + 1
        assert standby.statements - asked <= rechecks

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


async def test_a_woken_relay_leaves_a_key_to_the_writer_sending_it(env: Env) -> None:
    """A writer holds its key's lock from before its insert until its rows are acknowledged
    and deleted: the relay, woken by anyone, must not send those rows too."""
    dsn, pool = await env.runtime_pool("relay_keys", size=2)
    # The relay's SQL names the writers' lock exactly.
    for key in (None, b"", b"ord-1", b"SKU-1@store-berlin"):
        query = f"SELECT {_KEY_LOCK_SQL} FROM (SELECT $1::bytea AS key) k"
        in_sql = await pool.fetchval(query, key)
        assert in_sql == _key_lock(key), key
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap)
    await producer.start()
    relay = CountingRelay(service="relay-test", dsn=dsn, producer=producer, batch_max=100)
    running = asyncio.ensure_future(relay.run())
    topic = env.topic("oms.orders")
    insert = "INSERT INTO oms_outbox (topic, key, payload) VALUES ($1, $2, $3)"
    try:
        await wait_for(_seen(lambda: relay.is_leader), what="the relay leading")
        async with pool.acquire() as writer:
            await writer.execute("SELECT pg_advisory_lock($1)", _key_lock(b"ord-sending"))
            await pool.execute(insert, topic, b"ord-sending", b"{}")
            await pool.execute(insert, topic, b"ord-stranded", b"{}")
            await pool.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)

            async def left() -> list[bytes] | None:
                keys = [r["key"] for r in await pool.fetch("SELECT key FROM oms_outbox")]
                return keys if keys == [b"ord-sending"] else None

            # The row no writer holds is sent; the one being sent by its writer is not.
            assert await wait_for(left, what="the stranded row sent") == [b"ord-sending"]
            passes = relay.statements
            await pool.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
            await wait_for(_seen(lambda: relay.statements > passes), what="another pass")
            assert await left() == [b"ord-sending"]
            await writer.execute("SELECT pg_advisory_unlock_all()")  # the writer gave up

        async def empty() -> bool:
            await pool.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
            return not await pool.fetch("SELECT 1 FROM oms_outbox")

        await wait_for(empty, what="the relay sending what its writer left")
    finally:
        relay.stop()
        await running
        await producer.stop()
        await pool.close()
