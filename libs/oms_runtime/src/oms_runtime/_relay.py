"""The outbox relay: publishes, in order, the rows their writers could not send themselves.

Writers publish their rows on commit (publish.py). The relay is the recovery path: rows a
crash left behind, rows sent while the broker was away, rows queued behind such rows. It is
woken by a writer that leaves rows to it, and otherwise looks for rows older than a grace
period, so it rarely sends what a live writer is sending at the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)

from oms_runtime import _metrics as metrics
from oms_runtime._faults import kill_at
from oms_runtime._locks import advisory_key
from oms_runtime._outbox import NOTIFY_CHANNEL, safe_text
from oms_runtime._retry import describe_error, retrying

__all__ = ["OutboxRelay"]

_log = structlog.get_logger(__name__)
# Without a notification (a writer that crashed), look again this often for rows older than
# the grace period; a copy sent twice is dropped by the consumers' inboxes.
_IDLE_RECHECK_S = 5.0
_GRACE_S = 2.0
# The key's lock as its writer takes it (``_outbox._key_lock``: the first eight bytes of the
# SHA-256 of "oms-outbox-key:" and the key, signed): a key whose writer holds it is being sent
# by that writer right now, so the relay leaves its rows to it (else both would send them).
_KEY_LOCK_SQL = (
    "('x' || encode(substring(sha256('oms-outbox-key:'::bytea || coalesce(key, ''::bytea))"
    " FROM 1 FOR 8), 'hex'))::bit(64)::bigint"
)
# Errors no retry can mend: the row is parked with the reason instead of blocking the rest.
_UNSENDABLE = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
)
# The server notices a vanished relay within seconds and frees its leadership lock.
_KEEPALIVE = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


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
        self.published = 0
        self._stopping = False
        self._lock_key = advisory_key(f"oms-relay:{service}")

    def _on_notify(self, *_args: Any) -> None:
        self._wake.set()

    async def _connect(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn, command_timeout=30, server_settings=_KEEPALIVE
        )
        return conn

    async def run(self) -> None:
        """Publish forever; reconnect with backoff when the database or broker fails. A fault
        after the relay got rows out is a new fault: its backoff starts from the shortest."""
        while not self._stopping:
            same_fault = self._same_fault(self.published)
            try:
                async for attempt in retrying("relay_retry", same_fault, first_s=0.2, max_s=5.0):
                    with attempt:
                        await self._run_connected()
            except Exception as exc:
                _log.warning("relay_retry", **describe_error(exc))

    def _same_fault(self, published_before: int) -> Callable[[Exception], bool]:
        def same(exc: Exception) -> bool:
            self.is_leader = False
            return self.published == published_before

        return same

    def stop(self) -> None:
        """Finish the batch in flight, publish what is left, then return from ``run``.

        Cancelling instead could land between publishing and deleting, and publish twice.
        """
        self._stopping = True
        self._wake.set()

    async def _pause(self) -> bool:
        """Until a writer notifies the relay (True), or the recheck interval passes."""
        try:
            await asyncio.wait_for(self._wake.wait(), _IDLE_RECHECK_S)
        except TimeoutError:
            return False
        return True

    async def _run_connected(self) -> None:
        conn = await self._connect()
        try:
            # Stand by until the leader's session ends, asking again every recheck interval.
            # A standby does not listen: woken by every writer's commit, it would ask for the
            # lock as often as the writers commit (only ``stop`` wakes it).
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                if self._stopping:
                    return
                self._wake.clear()
                await self._pause()
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            self.is_leader = True
            _log.info("relay_leader")
            # A new leader leaves fresh rows to their writers, like every pass not woken.
            woken = False
            while True:
                self._wake.clear()
                if not await self._publish_batch(conn, every_row=woken or self._stopping):
                    if self._stopping:
                        return
                    woken = await self._pause()
        finally:
            self.is_leader = False
            await conn.close()

    async def _publish_batch(self, conn: asyncpg.Connection, *, every_row: bool) -> int:
        """Publish up to one batch; returns how many rows left the outbox."""
        rows = await conn.fetch(
            "SELECT id, topic, key, payload, header_keys, header_values FROM oms_outbox"
            " WHERE ($2 OR created_at < now() - make_interval(secs => $3))"
            f" AND pg_try_advisory_xact_lock({_KEY_LOCK_SQL}) ORDER BY id LIMIT $1",
            self._batch_max,
            every_row,
            _GRACE_S,
        )
        if not rows:
            metrics.OUTBOX_BACKLOG.labels(self._service).set(0)
            return 0
        sent: list[asyncpg.Record] = []
        deliveries: list[asyncio.Future[Any]] = []
        parked: list[tuple[asyncpg.Record, BaseException]] = []
        for r in rows:
            try:
                deliveries.append(
                    await self._producer.send(
                        r["topic"],
                        value=r["payload"],
                        key=r["key"],
                        headers=list(zip(r["header_keys"], r["header_values"], strict=True)),
                    )
                )
                sent.append(r)
            except _UNSENDABLE as exc:
                parked.append((r, exc))
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        done = [
            r["id"] for r, o in zip(sent, outcomes, strict=True) if not isinstance(o, BaseException)
        ]
        kill_at("relay_after_publish", self.published + len(done))
        for r, outcome in zip(sent, outcomes, strict=True):
            if isinstance(outcome, _UNSENDABLE):
                parked.append((r, outcome))
        async with conn.transaction():
            if parked:
                await self._park(conn, parked)
            await conn.execute(
                "DELETE FROM oms_outbox WHERE id = ANY($1::bigint[])",
                done + [r["id"] for r, _ in parked],
            )
        self.published += len(done)
        for r, outcome in zip(sent, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                metrics.EVENTS_OUT.labels(self._service, r["topic"]).inc()
        failures = [
            o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, _UNSENDABLE)
        ]
        if failures:
            # Left in the outbox and sent again, in order, on the next pass.
            raise failures[0]
        backlog = 0
        if len(rows) == self._batch_max:
            backlog = await conn.fetchval("SELECT count(*) FROM oms_outbox")
        metrics.OUTBOX_BACKLOG.labels(self._service).set(backlog)
        return len(rows)

    async def _park(
        self, conn: asyncpg.Connection, parked: list[tuple[asyncpg.Record, BaseException]]
    ) -> None:
        await conn.executemany(
            "INSERT INTO oms_outbox_parked (id, topic, key, event_id, payload, header_keys,"
            " header_values, reason) SELECT id, topic, key, event_id, payload, header_keys,"
            " header_values, $2 FROM oms_outbox WHERE id = $1",
            [(r["id"], safe_text(f"{type(exc).__name__}: {exc}", 2000)) for r, exc in parked],
        )
        for r, exc in parked:
            _log.error("outbox_row_parked", topic=r["topic"], error=type(exc).__name__)
