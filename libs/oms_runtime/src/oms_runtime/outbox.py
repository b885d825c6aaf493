"""Transactional outbox: events are written with the state change and published by a relay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from oms_events.codec import encode, new_event
from oms_events.envelope import Envelope
from oms_events.registry import EventPayload
from oms_events.topics import topic_for_event

__all__ = ["NOTIFY_CHANNEL", "Outbox", "OutboxRecord", "write_outbox"]

NOTIFY_CHANNEL = "oms_outbox"


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


async def write_outbox(conn: asyncpg.Connection, records: Sequence[OutboxRecord]) -> None:
    """Insert records in one statement and wake the relay when the transaction commits."""
    if not records:
        return
    await conn.executemany(
        "INSERT INTO oms_outbox (topic, key, event_id, payload, header_keys, header_values)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (
                r.topic,
                r.key,
                r.event_id,
                r.payload,
                [k for k, _ in r.headers],
                [v for _, v in r.headers],
            )
            for r in records
        ],
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
