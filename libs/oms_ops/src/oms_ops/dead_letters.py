"""Dead letters as each service keeps them (``oms_dead_letters``), and their re-drive.

A dead letter is named ``SERVICE:TOPIC:PARTITION:OFFSET`` (the full topic name, prefix
included): where the record was read and by whom.

Re-drive sends a record's original key and value back to its original topic, then marks the
row (``redriven_at``) in the same transaction that locked it: a second re-drive, or one
running at the same time, finds nothing left to send. Should that transaction fail after the
broker took the records, a later re-drive sends them again; the consuming service's inbox
drops the copy, as it drops any redelivered event id.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from oms_events.codec import CONTENT_TYPE

__all__ = [
    "DeadLetterFilter",
    "DeadLetterId",
    "DeadLetterRow",
    "connect",
    "count_pending",
    "find",
    "redrive",
]

REDRIVE_HEADER = "oms.redriven-from"


@dataclass(frozen=True)
class DeadLetterId:
    service: str
    topic: str
    partition: int
    offset: int

    @classmethod
    def parse(cls, text: str) -> DeadLetterId:
        parts = text.split(":")
        if len(parts) != 4 or not all(parts[:2]):
            raise ValueError(f"{text!r} is not SERVICE:TOPIC:PARTITION:OFFSET")
        try:
            return cls(parts[0], parts[1], int(parts[2]), int(parts[3]))
        except ValueError:
            raise ValueError(f"{text!r}: partition and offset must be integers") from None

    def __str__(self) -> str:
        return f"{self.service}:{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True)
class DeadLetterFilter:
    topic: str | None = None
    """Full topic name."""
    reason: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    pending_only: bool = False
    ids: tuple[DeadLetterId, ...] = ()

    def for_service(self, service: str) -> DeadLetterFilter | None:
        """This filter for one service's table; None when its ids name only other services."""
        if not self.ids:
            return self
        mine = tuple(i for i in self.ids if i.service == service)
        return replace(self, ids=mine) if mine else None

    def sql(self) -> tuple[str, list[Any]]:
        conditions: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if self.topic is not None:
            conditions.append(f"topic = {arg(self.topic)}")
        if self.reason is not None:
            conditions.append(f"reason = {arg(self.reason)}")
        if self.event_type is not None:
            conditions.append(f"event_type = {arg(self.event_type)}")
        if self.since is not None:
            conditions.append(f"created_at >= {arg(self.since)}")
        if self.until is not None:
            conditions.append(f"created_at < {arg(self.until)}")
        if self.pending_only:
            conditions.append("redriven_at IS NULL")
        if self.ids:
            topics = arg([i.topic for i in self.ids])
            partitions = arg([i.partition for i in self.ids])
            offsets = arg([i.offset for i in self.ids])
            conditions.append(
                '(topic, partition, "offset") IN (SELECT * FROM unnest('
                f"{topics}::text[], {partitions}::int[], {offsets}::bigint[]))"
            )
        return (" AND ".join(conditions) or "true"), args


@dataclass(frozen=True)
class DeadLetterRow:
    service: str
    topic: str
    partition: int
    offset: int
    record_sha256: bytes
    event_id: str | None
    event_type: str | None
    reason: str
    detail: str
    attempts: int
    key: bytes | None
    payload: bytes
    created_at: datetime
    redriven_at: datetime | None

    @property
    def id(self) -> DeadLetterId:
        return DeadLetterId(self.service, self.topic, self.partition, self.offset)

    def summary(self, now: datetime) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "service": self.service,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "reason": self.reason,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "age_s": round((now - self.created_at).total_seconds(), 1),
            "redriven_at": self.redriven_at.isoformat() if self.redriven_at else None,
        }

    def details(self, now: datetime) -> dict[str, Any]:
        """Everything kept, the value as JSON when it is JSON."""
        value: Any
        try:
            value = orjson.loads(self.payload)
        except orjson.JSONDecodeError:
            value = self.payload.decode("utf-8", errors="replace")
        return {
            **self.summary(now),
            "detail": self.detail,
            "key": self.key.decode("utf-8", errors="replace") if self.key is not None else None,
            "record_sha256": self.record_sha256.hex(),
            "value": value,
        }


_COLUMNS = (
    'topic, partition, "offset", record_sha256, event_id::text AS event_id, event_type, reason,'
    " detail, attempts, key, payload, created_at, redriven_at"
)


def _row(service: str, record: asyncpg.Record) -> DeadLetterRow:
    return DeadLetterRow(service=service, **dict(record))


@contextlib.asynccontextmanager
async def connect(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url, timeout=15, command_timeout=60)
    try:
        yield conn
    finally:
        await conn.close()


async def find(
    conn: asyncpg.Connection, service: str, wanted: DeadLetterFilter, *, limit: int | None = None
) -> list[DeadLetterRow]:
    where, args = wanted.sql()
    query = (
        f"SELECT {_COLUMNS} FROM oms_dead_letters WHERE {where}"
        ' ORDER BY created_at, topic, partition, "offset"'
    )
    if limit is not None:
        args.append(limit)
        query += f" LIMIT ${len(args)}"
    return [_row(service, r) for r in await conn.fetch(query, *args)]


async def count_pending(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM oms_dead_letters WHERE redriven_at IS NULL")
    )


async def redrive(
    conn: asyncpg.Connection,
    service: str,
    wanted: DeadLetterFilter,
    sender: Any,
    *,
    dry_run: bool,
) -> list[DeadLetterRow]:
    """Send the selected dead letters not yet re-driven back to their topics, each once;
    returns them (with ``dry_run``, what would be sent, and nothing changes)."""
    pending = replace(wanted, pending_only=True)
    if dry_run:
        return await find(conn, service, pending)
    where, args = pending.sql()
    async with conn.transaction():
        # Locked until marked: a concurrent re-drive skips them, a later one finds them marked.
        rows = [
            _row(service, r)
            for r in await conn.fetch(
                f"SELECT {_COLUMNS} FROM oms_dead_letters WHERE {where}"
                ' ORDER BY created_at, topic, partition, "offset" FOR UPDATE SKIP LOCKED',
                *args,
            )
        ]
        if not rows:
            return []
        futures = [
            await sender.send(
                row.topic,
                row.payload,
                key=row.key,
                headers=[
                    ("content-type", CONTENT_TYPE.encode()),
                    (REDRIVE_HEADER, f"{row.topic}:{row.partition}:{row.offset}".encode()),
                ],
            )
            for row in rows
        ]
        for future in futures:
            await future
        await conn.execute(
            "UPDATE oms_dead_letters SET redriven_at = now()"
            ' WHERE (topic, partition, "offset", record_sha256) IN (SELECT * FROM unnest('
            "$1::text[], $2::int[], $3::bigint[], $4::bytea[]))",
            [r.topic for r in rows],
            [r.partition for r in rows],
            [r.offset for r in rows],
            [r.record_sha256 for r in rows],
        )
    return rows


def sort_rows(rows: Sequence[DeadLetterRow]) -> list[DeadLetterRow]:
    return sorted(rows, key=lambda r: (r.created_at, r.service, r.topic, r.partition, r.offset))
