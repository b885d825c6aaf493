"""One unit of work for Kafka batches, HTTP requests and timers: a transaction, the outbox
whose events commit with it, what caused the change, and the notes a batch's handlers leave
for its finish step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

import asyncpg

from oms_events.envelope import Envelope
from oms_events.registry import EventPayload
from oms_runtime._outbox import Outbox
from oms_runtime._wakeup import Wakeup

__all__ = [
    "BatchHandler",
    "ConsumedRecord",
    "Note",
    "Notes",
    "Received",
    "UnitOfWork",
    "in_memory_unit_of_work",
]

# Covariant: a handler for a union of payload types takes a run of any one of them.
P_co = TypeVar("P_co", bound=EventPayload, covariant=True)
T = TypeVar("T")


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


@dataclass(frozen=True)
class Note(Generic[T]):
    """A kind of note a batch's handlers keep for its finish step (what stock changed, the
    timeline entries to write), made by ``start`` on first use."""

    name: str
    start: Callable[[], T]


class Notes:
    """The notes of one batch (or request), typed by their :class:`Note`."""

    def __init__(self) -> None:
        self._kept: dict[str, Any] = {}

    def __getitem__(self, note: Note[T]) -> T:
        if note.name not in self._kept:
            self._kept[note.name] = note.start()
        return cast(T, self._kept[note.name])

    def __contains__(self, note: Note[Any]) -> bool:
        return note.name in self._kept

    def __bool__(self) -> bool:
        return bool(self._kept)


@dataclass
class UnitOfWork:
    """The open transaction, the outbox whose events commit with it, what caused this change
    (an event's or a request's id; ``None`` for a timer), and the batch's notes."""

    conn: asyncpg.Connection
    outbox: Outbox
    notes: Notes = field(default_factory=Notes)
    cause: UUID | None = None
    wake_after: set[Wakeup] = field(default_factory=set)
    """Jobs to wake once the transaction commits (shared by the views of one unit)."""
    rebuilding: bool = False
    """Applied by ``oms rebuild``, whose outbox is emptied at the end: a step that only
    builds events may skip them (the state it writes it must still write)."""
    at: datetime | None = None
    """When the change happens, where that is not the clock's now: in a rebuild, the time
    of the event applied (so a moment the live service took from its clock comes again as
    the event's), for a request that publishes its command first, that command's time."""

    def now(self, clock: Callable[[], datetime]) -> datetime:
        """The change's time (:attr:`at`), else ``clock``'s."""
        return self.at or clock()

    def wake_on_commit(self, wakeup: Wakeup) -> None:
        """Wake ``wakeup``'s job once this unit commits: the work it was given is visible
        then, not before."""
        self.wake_after.add(wakeup)

    def emit(
        self,
        payload: EventPayload,
        *,
        subject: str,
        sequence: int = 0,
        key: str | None = None,
        event_id: UUID | None = None,
    ) -> Envelope:
        return self.outbox.emit(
            payload, subject=subject, sequence=sequence, key=key, event_id=event_id
        )

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
        return UnitOfWork(
            conn=self.conn,
            outbox=self.caused_by(cause),
            notes=self.notes,
            cause=cause.id,
            wake_after=self.wake_after,
            rebuilding=self.rebuilding,
            at=cause.time if self.rebuilding else None,
        )


class _NoDatabase:
    """The connection of an in-memory unit of work: any use of it fails the test, so a
    service layer tested with fakes is proven not to reach for SQL behind their back."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"an in-memory unit of work has no database (conn.{name})")


def in_memory_unit_of_work(service: str = "test", *, cause: UUID | None = None) -> UnitOfWork:
    """The fake for unit tests of a service layer: a real outbox (its ``records`` are what
    would be published) and notes, no transaction; the service layer's stores are faked
    beside it."""
    outbox = Outbox(source=f"oms/{service}", topic_prefix="")
    return UnitOfWork(conn=cast(asyncpg.Connection, _NoDatabase()), outbox=outbox, cause=cause)


BatchHandler = Callable[[UnitOfWork, Sequence[Received[Any]]], Awaitable[None]]
"""Takes a run of consecutive events of one type from one batch, in their order."""
