"""The outbox relay: publishes committed outbox rows in order with an idempotent producer."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from oms_runtime import metrics
from oms_runtime.outbox import NOTIFY_CHANNEL

__all__ = ["OutboxRelay"]

_log = structlog.get_logger(__name__)
# Without a notification (lost connection, a row from another writer), look again this often.
_IDLE_RECHECK_S = 1.0


class OutboxRelay:
    """One leader per service (a PostgreSQL advisory lock) publishes, so per-key order holds.

    Rows are deleted only after the broker acknowledged them: a crash in between publishes
    them again, with the same event ids, and the consumers' inboxes drop the copies.
    """

    def __init__(
        self,
        *,
        service: str,
        dsn: str,
        producer: AIOKafkaProducer,
        batch_max: int,
    ) -> None:
        self._service = service
        self._dsn = dsn
        self._producer = producer
        self._batch_max = batch_max
        self._wake = asyncio.Event()
        self.is_leader = False
        self.last_loop = time.monotonic()
        self.published = 0
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"oms-relay:{service}".encode()).digest()[:8], "big", signed=True
        )

    def _on_notify(self, *_args: Any) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish forever; reconnect with backoff when the database or broker fails."""
        backoff = 0.2
        while True:
            try:
                await self._run_connected()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.is_leader = False
                _log.warning("relay_retry", error=type(exc).__name__, detail=str(exc)[:300])
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                backoff = 0.2

    async def _run_connected(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn)
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                self.last_loop = time.monotonic()
                await asyncio.sleep(_IDLE_RECHECK_S)
            self.is_leader = True
            _log.info("relay_leader")
            while True:
                self.last_loop = time.monotonic()
                self._wake.clear()
                if not await self._publish_batch(conn):
                    try:
                        await asyncio.wait_for(self._wake.wait(), _IDLE_RECHECK_S)
                    except TimeoutError:
                        pass
        finally:
            self.is_leader = False
            await conn.close()

    async def _publish_batch(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, topic, key, payload, header_keys, header_values"
            " FROM oms_outbox ORDER BY id LIMIT $1",
            self._batch_max,
        )
        if not rows:
            metrics.OUTBOX_BACKLOG.labels(self._service).set(0)
            return 0
        deliveries = [
            await self._producer.send(
                r["topic"],
                value=r["payload"],
                key=r["key"],
                headers=list(zip(r["header_keys"], r["header_values"], strict=True)),
            )
            for r in rows
        ]
        await asyncio.gather(*deliveries)
        await conn.execute(
            "DELETE FROM oms_outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )
        self.published += len(rows)
        for r in rows:
            metrics.EVENTS_OUT.labels(self._service, r["topic"]).inc()
        if len(rows) == self._batch_max:
            metrics.OUTBOX_BACKLOG.labels(self._service).set(
                await conn.fetchval("SELECT count(*) FROM oms_outbox")
            )
        else:
            metrics.OUTBOX_BACKLOG.labels(self._service).set(0)
        return len(rows)
