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
from oms_runtime._locks import advisory_key

__all__ = [
    "NOTIFY_CHANNEL",
    "Outbox",
    "OutboxRecord",
    "WrittenOutbox",
    "safe_text",
    "write_outbox",
]

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
        event_id: UUID | None = None,
    ) -> Envelope:
        """``event_id``: the event's own id when the caller has one (a request's, so that
        what it applied and what it published are known by one id); else a new one."""
        envelope = new_event(
            payload,
            subject=subject,
            source=self.source,
            correlation_id=correlation_id or self.correlation_id or subject,
            causation_id=self.causation_id,
            sequence=sequence,
            event_id=event_id,
        )
        topic = self.topic_prefix + topic_for_event(payload.event_type).name
        self.add(
            OutboxRecord(
                topic=topic,
                key=(key or subject).encode(),
                payload=encode(envelope),
                event_id=envelope.id,
                # CloudEvents Kafka binding, structured mode: the event is in the value, so
                # no ce_ headers (readers would take the record for binary mode).
                headers=(("content-type", b"application/cloudevents+json; charset=UTF-8"),),
            )
        )
        return envelope

    def add(self, record: OutboxRecord) -> None:
        self.records.append(record)


def _key_lock(key: bytes | None) -> int:
    return advisory_key(b"oms-outbox-key:" + (key or b""))


@dataclass(frozen=True)
class WrittenOutbox:
    """Rows one transaction wrote, in id order, and whether its writer publishes them itself.

    ``direct`` is true when the writer holds its keys' session locks and no earlier row for
    those keys waits in the outbox: sending right after the commit keeps each key in order.
    Otherwise the relay was notified and publishes them behind the earlier rows.
    """

    ids: tuple[int, ...] = ()
    records: tuple[OutboxRecord, ...] = ()
    direct: bool = False


async def write_outbox(
    conn: asyncpg.Connection, records: Sequence[OutboxRecord], *, publish_on_commit: bool = False
) -> WrittenOutbox:
    """Insert records in one statement, in order, inside the caller's transaction.

    Writers for the same key lock it first, so their rows get ids in commit order and each
    key's events leave in order. With ``publish_on_commit`` the locks are session locks that
    the caller releases once it has sent the rows (see ``publish.py``); without, transaction
    locks, and the relay is woken at commit to publish the rows.
    """
    if not records:
        return WrittenOutbox()
    firsts: list[int] = []
    lasts: list[int] = []
    header_keys: list[str] = []
    header_values: list[bytes] = []
    for r in records:
        firsts.append(len(header_keys) + 1)
        header_keys.extend(safe_text(k) for k, _ in r.headers)
        header_values.extend(v for _, v in r.headers)
        lasts.append(len(header_keys))
    # One round trip: the migration 0006 function locks, checks, inserts and notifies.
    row = await conn.fetchrow(
        "SELECT stranded, ids FROM oms_outbox_write($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11, $12)",
        publish_on_commit,
        sorted({_key_lock(r.key) for r in records}),
        list({r.key for r in records if r.key is not None}),
        [r.topic for r in records],
        [r.key for r in records],
        [r.event_id for r in records],
        [r.payload for r in records],
        firsts,
        lasts,
        header_keys,
        header_values,
        NOTIFY_CHANNEL,
    )
    assert row is not None
    return WrittenOutbox(tuple(row["ids"]), tuple(records), direct=not row["stranded"])
