"""Publish on commit on the real PostgreSQL and broker: a writer whose delete fails after the
send leaves no transaction open and no key held (a consumer's connection is its own for
every batch: left so, every later writer of those keys would wait for good)."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from oms_runtime._outbox import OutboxRecord, _key_lock, write_outbox
from oms_runtime._publish import CommitPublisher
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_a_delete_that_fails_after_the_send_releases_the_keys_and_keeps_the_rows(
    env: Env,
) -> None:
    dsn, pool = await env.runtime_pool("publish_on_commit", size=2)
    # The delete fails, as a statement timeout or a cancel would interrupt it.
    await pool.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'delete refused'; END $$;"
        " CREATE TRIGGER refuse_delete BEFORE DELETE ON oms_outbox"
        " FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap)
    await producer.start()
    writer = await asyncpg.connect(dsn)
    try:
        record = OutboxRecord(topic=env.topic("oms.orders"), key=b"ord-1", payload=b"{}")
        async with writer.transaction():
            written = await write_outbox(writer, [record], publish_on_commit=True)
        assert written.direct
        with pytest.raises(asyncpg.RaiseError, match="delete refused"):
            await CommitPublisher("publish-test", producer, 10).after_commit(writer, written)

        assert writer.is_closed() or not writer.is_in_transaction()
        # The key is free for its next writer, and the row waits for the relay.
        assert await pool.fetchval("SELECT pg_try_advisory_lock($1)", _key_lock(b"ord-1"))
        assert await pool.fetchval("SELECT count(*) FROM oms_outbox") == 1
    finally:
        await writer.close()
        await producer.stop()
        await pool.close()
