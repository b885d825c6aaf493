"""Transactional outbox: events are written with the state change and published by a relay."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from oms_events.codec import encode, new_event
from oms_events.envelope import Envelope
from oms_events.registry import EventPayload
from oms_events.topics import topic_for_event

__all__ = ["NOTIFY_CHANNEL", "Outbox", "OutboxRecord", "safe_text", "write_outbox"]

NOTIFY_CHANNEL = "oms_outbox"


def safe_text(text: str, limit: int | None = None) -> str:
    """Text PostgreSQL accepts: hostile input can put NUL and lone surrogates in names and
    messages that are stored (header names, dead-letter reasons)."""
    cleaned = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return cleaned if limit is None else cleaned[:limit]


@dataclass(frozen=True)
class OutboxRecord:
    topic: str
    key: bytes | None
    payload: bytes
    event_id: UUID | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Outbox:
    """Collects what one unit of work emits; ``write_outbox`` stores it in the same transaction.

    Events caused by an incoming event inherit its correlation id and name it as their cause.
    """

    source: str
    topic_prefix: str = ""
    correlation_id: str | None = None
    causation_id: str | None = None
    records: list[OutboxRecord] = field(default_factory=list)

    def emit(
        self,
        payload: EventPayload,
        *,
        subject: str,
        sequence: int = 0,
        key: str | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        envelope = new_event(
            payload,
            subject=subject,
            source=self.source,
            correlation_id=correlation_id or self.correlation_id or subject,
            causation_id=self.causation_id,
            sequence=sequence,
        )
        topic = self.topic_prefix + topic_for_event(payload.event_type).name
        self.add(
            OutboxRecord(
                topic=topic,
                key=(key or subject).encode(),
                payload=encode(envelope),
                event_id=envelope.id,
                headers=(
                    ("ce_type", envelope.type.encode()),
                    ("ce_dataversion", str(envelope.dataversion).encode()),
                    ("ce_id", str(envelope.id).encode()),
                    ("correlation_id", envelope.correlationid.encode()),
                ),
            )
        )
        return envelope

    def add(self, record: OutboxRecord) -> None:
        self.records.append(record)


def _key_lock(key: bytes | None) -> int:
    return int.from_bytes(
        hashlib.sha256(b"oms-outbox-key:" + (key or b"")).digest()[:8], "big", signed=True
    )


async def write_outbox(conn: asyncpg.Connection, records: Sequence[OutboxRecord]) -> None:
    """Insert records and wake the relay when the transaction commits.

    Transactions emitting for the same key take a lock on it first, so their rows get ids in
    commit order and the relay, which publishes in id order, keeps each key's events in order.
    """
    if not records:
        return
    await conn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k ORDER BY k",
        sorted({_key_lock(r.key) for r in records}),
    )
    await conn.executemany(
        "INSERT INTO oms_outbox (topic, key, event_id, payload, header_keys, header_values)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (
                r.topic,
                r.key,
                r.event_id,
                r.payload,
                [safe_text(k) for k, _ in r.headers],
                [v for _, v in r.headers],
            )
            for r in records
        ],
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
