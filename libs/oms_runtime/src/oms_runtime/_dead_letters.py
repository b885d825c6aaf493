"""Dead letters: kept in the service's database and sent to the topic's dead-letter twin."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg

from oms_events.envelope import Envelope
from oms_events.operations import RecordDeadLettered
from oms_events.topics import topic, topic_for_event
from oms_runtime._outbox import Outbox, OutboxRecord, safe_text

if TYPE_CHECKING:
    from oms_runtime._consumer import ConsumedRecord

__all__ = ["DLQ_HEADER_PREFIX", "DeadLetter", "write_dead_letters"]

DLQ_HEADER_PREFIX = "oms.dlq."
_MAX_DETAIL = 2000
_ALERTS_TOPIC = topic_for_event("RecordDeadLettered").name


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    reason: str
    detail: str
    attempts: int
    event_id: str | None = None
    event_type: str | None = None

    @classmethod
    def of(
        cls,
        record: ConsumedRecord,
        *,
        reason: str,
        detail: str,
        attempts: int,
        envelope: Envelope | None = None,
    ) -> DeadLetter:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value or b"",
            headers=record.headers,
            reason=reason,
            detail=safe_text(detail, _MAX_DETAIL),
            attempts=attempts,
            event_id=str(envelope.id) if envelope else None,
            event_type=envelope.type if envelope else None,
        )

    @property
    def digest(self) -> bytes:
        """With the position, what identifies this record: offsets restart with a topic."""
        return hashlib.sha256((self.key or b"") + b"\x00" + self.value).digest()

    def outbox_record(self, service: str, topic_prefix: str) -> OutboxRecord:
        """The original bytes and headers, plus headers saying why and where it came from."""
        logical = self.topic.removeprefix(topic_prefix)
        dlq_headers = (
            ("reason", self.reason),
            ("detail", self.detail[:1000]),
            ("topic", self.topic),
            ("partition", str(self.partition)),
            ("offset", str(self.offset)),
            ("service", service),
            ("attempts", str(self.attempts)),
        )
        return OutboxRecord(
            topic=topic_prefix + topic(logical).dead_letter,
            key=self.key,
            payload=self.value,
            headers=self.headers
            + tuple((DLQ_HEADER_PREFIX + k, safe_text(v, 1000).encode()) for k, v in dlq_headers),
        )

    def alert(self, service: str, at: datetime) -> RecordDeadLettered:
        """What operators hear: where the record was and why, never its key or value."""
        return RecordDeadLettered(
            service=service,
            topic=safe_text(self.topic, 249),
            partition=self.partition,
            offset=self.offset,
            reason=safe_text(self.reason, 200) or "unknown",
            attempts=max(self.attempts, 1),
            record_event_id=self.event_id,
            record_type=self.event_type and safe_text(self.event_type, 200),
            dead_lettered_at=at,
        )


async def write_dead_letters(
    conn: asyncpg.Connection,
    service: str,
    topic_prefix: str,
    dead: Sequence[DeadLetter],
    outgoing: list[OutboxRecord],
) -> list[DeadLetter]:
    """Store each dead letter once (a redelivered poison record is not sent twice), and
    tell operators of each with ``RecordDeadLettered`` on ``oms.operations``, in the same
    transaction (none for the records of ``oms.operations`` itself, which would feed on
    their own alerts).

    Identified by its position, key and value: a recreated topic restarts its offsets.
    """
    if not dead:
        return []
    rows = await conn.fetch(
        'INSERT INTO oms_dead_letters (topic, partition, "offset", event_id, event_type, reason,'
        " detail, attempts, key, payload, record_sha256)"
        " SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::uuid[], $5::text[],"
        " $6::text[], $7::text[], $8::int[], $9::bytea[], $10::bytea[], $11::bytea[])"
        ' ON CONFLICT DO NOTHING RETURNING topic, partition, "offset", record_sha256',
        [d.topic for d in dead],
        [d.partition for d in dead],
        [d.offset for d in dead],
        [d.event_id for d in dead],
        [d.event_type for d in dead],
        [d.reason for d in dead],
        [d.detail for d in dead],
        [d.attempts for d in dead],
        [d.key for d in dead],
        [d.value for d in dead],
        [d.digest for d in dead],
    )
    stored = {(r["topic"], r["partition"], r["offset"], r["record_sha256"]) for r in rows}
    kept = [d for d in dead if (d.topic, d.partition, d.offset, d.digest) in stored]
    outgoing.extend(d.outbox_record(service, topic_prefix) for d in kept)
    alerts = Outbox(source=f"oms/{service}", topic_prefix=topic_prefix, records=outgoing)
    at = datetime.now(UTC)
    for d in kept:
        if d.topic.removeprefix(topic_prefix) != _ALERTS_TOPIC:
            subject = f"{safe_text(d.topic, 150)}:{d.partition}:{d.offset}"
            alerts.emit(d.alert(service, at), subject=subject, key=d.topic)
    return kept
