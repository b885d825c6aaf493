"""Publish on commit: a transaction's outbox rows are sent by its writer as soon as it commits.

The writer holds its keys' session locks from before its insert until its rows are
acknowledged and deleted, so the next writer of a key waits and each key stays in order. A
crash, a broker away or an earlier row still waiting leaves rows in the outbox: the relay
(relay.py) publishes those, in id order, behind whatever came first.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from oms_runtime import _metrics as metrics
from oms_runtime._faults import kill_at
from oms_runtime._outbox import NOTIFY_CHANNEL, WrittenOutbox

__all__ = ["CommitPublisher"]

_log = structlog.get_logger(__name__)


class CommitPublisher:
    """Sends a committed transaction's rows, then deletes them and releases their keys."""

    def __init__(self, service: str, producer: AIOKafkaProducer, ack_timeout_s: float) -> None:
        self._service = service
        self._producer = producer
        self._ack_timeout_s = ack_timeout_s
        self.published = 0

    async def after_commit(self, conn: asyncpg.Connection, written: WrittenOutbox) -> None:
        """Never raises for the broker: what is not acknowledged is left to the relay."""
        if not written.direct:
            if written.ids:
                await conn.execute("SELECT pg_advisory_unlock_all()")
            return
        sent = await self._send(written)
        kill_at("after_publish", self.published + len(sent))
        # Deleted (and committed) before the keys are released: the next writer of a key
        # must not find these rows still waiting, which would hand its own to the relay. One
        # round trip, as the keys' next writers wait for it: a simple query (the ids are the
        # database's own integers), whose explicit COMMIT ends the delete's transaction
        # before the unlock runs. That commit does not wait for its WAL flush: the delete is
        # visible at once, which is what the next writer needs, and the next writer's own
        # commit flushes it. Lost in a database crash, the rows come back and the relay sends
        # them again, ahead of anything later for their keys: consumers drop the copies.
        notify = f"NOTIFY {NOTIFY_CHANNEL}; " if len(sent) < len(written.ids) else ""
        ids = ",".join(str(int(row_id)) for row_id in sent)
        try:
            await conn.execute(
                "BEGIN; SET LOCAL synchronous_commit TO off;"
                f" DELETE FROM oms_outbox WHERE id = ANY('{{{ids}}}'::bigint[]); {notify}"
                "COMMIT; SELECT pg_advisory_unlock_all()"
            )
        except BaseException:
            await _release(conn)
            raise
        self.published += len(sent)

    async def _send(self, written: WrittenOutbox) -> list[int]:
        deliveries: list[asyncio.Future[Any]] = []
        try:
            for record in written.records:
                deliveries.append(
                    await self._producer.send(
                        record.topic,
                        value=record.payload,
                        key=record.key,
                        headers=list(record.headers),
                    )
                )
            async with asyncio.timeout(self._ack_timeout_s):
                outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        except Exception as exc:  # a broker away or an unsendable record: the relay's job
            _log.warning("publish_on_commit_deferred", error=type(exc).__name__)
            return []
        sent: list[int] = []
        for row_id, record, outcome in zip(written.ids, written.records, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                _log.warning("publish_on_commit_deferred", error=type(outcome).__name__)
                # Later rows of a key must not overtake this one: stop at the first failure.
                break
            sent.append(row_id)
            metrics.EVENTS_OUT.labels(self._service, record.topic).inc()
        return sent


async def _release(conn: asyncpg.Connection) -> None:
    """After a failed or interrupted delete: its transaction rolled back (the relay sends the
    rows again) and the keys released, or else the session ended, which releases them too.
    Left as it was, the session would hold the keys, and every later writer of them would
    wait, for good."""
    if conn.is_closed():
        return
    try:
        async with asyncio.timeout(5):
            if conn.is_in_transaction():
                await conn.execute("ROLLBACK")
            await conn.execute("SELECT pg_advisory_unlock_all()")
    except BaseException:
        conn.terminate()
        raise
