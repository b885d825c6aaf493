"""One unit of work for Kafka batches, HTTP requests and timers: a transaction, the outbox
whose events commit with it, and the notes a batch's handlers leave for its finish step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg

from oms_events.envelope import Envelope
from oms_events.registry import EventPayload
from oms_runtime._outbox import Outbox

__all__ = ["BatchHandler", "ConsumedRecord", "Received", "UnitOfWork"]

# Covariant: a handler for a union of payload types takes a run of any one of them.
P_co = TypeVar("P_co", bound=EventPayload, covariant=True)


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Received(Generic[P_co]):
    """One event of a batch: its validated payload, its envelope and where it was read."""

    payload: P_co
    envelope: Envelope
    record: ConsumedRecord


@dataclass
class UnitOfWork:
    conn: asyncpg.Connection
    outbox: Outbox
    notes: dict[str, Any] = field(default_factory=dict)

    def emit(
        self, payload: EventPayload, *, subject: str, sequence: int = 0, key: str | None = None
    ) -> Envelope:
        return self.outbox.emit(payload, subject=subject, sequence=sequence, key=key)

    def caused_by(self, cause: Envelope) -> Outbox:
        """Emits into this unit's outbox events that carry ``cause``'s correlation id and name
        it as their cause."""
        return Outbox(
            source=self.outbox.source,
            topic_prefix=self.outbox.topic_prefix,
            correlation_id=cause.correlationid,
            causation_id=str(cause.id),
            records=self.outbox.records,
        )

    def for_event(self, cause: Envelope) -> UnitOfWork:
        """This unit as one event of a run sees it: same transaction and notes, and its
        events name ``cause`` as theirs."""
        return UnitOfWork(conn=self.conn, outbox=self.caused_by(cause), notes=self.notes)


BatchHandler = Callable[[UnitOfWork, Sequence[Received[Any]]], Awaitable[None]]
"""Takes a run of consecutive events of one type from one batch, in their order."""
