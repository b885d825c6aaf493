"""Batched, exactly-once-in-effect processing of consumed records.

One PostgreSQL transaction per batch holds the inbox claims, the handlers' state changes, the
dead letters and the outgoing events. Offsets are acknowledged only after it commits, so a
crash redelivers the batch and the inbox drops what was already applied.

A record of a type the service handles is claimed by the event id read from its JSON first,
and validated only when the claim is new: a replay or a redelivery costs the read and the
claim, not the validation. A record whose id cannot be read that way is validated at once,
as is every record of a type the service does not handle (it is ignored, or dead-lettered
when its envelope is invalid).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import structlog

from oms_events.codec import InvalidEvent, InvalidPayload, decode_envelope, decode_payload
from oms_events.envelope import Envelope
from oms_events.registry import EventPayload
from oms_runtime import _metrics as metrics
from oms_runtime._dead_letters import DeadLetter, write_dead_letters
from oms_runtime._faults import kill_at
from oms_runtime._outbox import Outbox, OutboxRecord, WrittenOutbox, write_outbox
from oms_runtime._publish import CommitPublisher
from oms_runtime._retry import describe_error, is_infrastructure_error, retrying
from oms_runtime._unit_of_work import BatchHandler, ConsumedRecord, Received, UnitOfWork
from oms_runtime._wakeup import Wakeup

__all__ = [
    "BatchFinish",
    "BatchProcessor",
    "BatchResult",
    "ConsumedRecord",
    "DedicatedConnection",
    "Incoming",
    "InvalidHandler",
    "RejectedEvent",
    "bound_to",
]

_log = structlog.get_logger(__name__)


InvalidHandler = Callable[[UnitOfWork, InvalidPayload], Awaitable[bool]]
"""Answers an event whose envelope is valid but whose payload is not (e.g. with a rejection);
returns False when it cannot, and the event is dead-lettered as invalid."""
BatchFinish = Callable[[UnitOfWork], Awaitable[None]]
"""Runs once per batch transaction after its handlers when they left notes: for work that is
cheaper, or only correct, once per batch (projections of what changed, the timeline). An
event retried on its own has its own notes and finish, inside its savepoint."""


class RejectedEvent(Exception):
    """Raised by a handler for an event that can never be applied (an unknown SKU, a count
    that would go negative): dead-lettered at once with ``reason``, never retried."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Incoming:
    """A record whose envelope decoded: its payload, why the payload is invalid, or neither
    when no handler takes its type."""

    record: ConsumedRecord
    envelope: Envelope
    payload: EventPayload | None = None
    invalid: InvalidPayload | None = None


@dataclass(frozen=True)
class Unchecked:
    """A record of a handled type, known by the id read from its JSON: claimed first, and
    decoded only if the claim is new."""

    record: ConsumedRecord
    event_id: uuid.UUID
    # The JSON read for the id, so decoding does not read it again.
    document: dict[str, Any]
    # Decoded ahead by ``BatchProcessor.prepare``; still used only if the claim is new.
    checked: Incoming | DeadLetter | None = None


Sorted = tuple[list[Incoming | Unchecked], list[DeadLetter]]
"""A batch's records to claim, and those rejected before any claim."""

# prepare() lets the event loop run after this many records: a transaction in flight then
# waits at most that long for its answer to be read.
_PREPARE_SLICE = 64


@dataclass
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: list[DeadLetter] = field(default_factory=list)
    # Dead-lettered before (a redelivery or a replay): kept once, counted each time.
    dead_lettered_again: int = 0


class DedicatedConnection:
    """One connection a consumer keeps for all its batches, reopened when it breaks.

    A pool would reset the session (``pg_advisory_unlock_all`` and more) after every batch.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if self._conn is not None and not self._conn.is_closed() and self._conn.is_in_transaction():
            # Left inside a transaction by an interrupted statement: a new session starts
            # clean, and ending this one releases whatever it held.
            self._conn.terminate()
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn, command_timeout=60)
        yield self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class BatchProcessor:
    """Processes one batch of records from one topic; never raises for bad records.

    ``database`` is a pool, or the consumer's dedicated connection (no reset per batch). With
    a ``publisher``, the batch's outgoing events are sent as soon as its transaction commits.
    """

    def __init__(
        self,
        *,
        service: str,
        database: asyncpg.Pool | DedicatedConnection,
        handlers: Mapping[str, BatchHandler],
        topic_prefix: str,
        attempts: int,
        invalid_handlers: Mapping[str, InvalidHandler] | None = None,
        finish: BatchFinish | None = None,
        publisher: CommitPublisher | None = None,
        rebuilding: bool = False,
    ) -> None:
        self.service = service
        self._rebuilding = rebuilding
        self._database = database
        self._publisher = publisher
        self.committed_events = 0
        self._handlers = dict(handlers)
        self._invalid_handlers = dict(invalid_handlers or {})
        self._finish = finish
        self._prefix = topic_prefix
        self._attempts = attempts

    async def prepare(self, records: Sequence[ConsumedRecord]) -> Sorted:
        """The batch sorted and every record decoded, in slices between which other tasks
        run: a rebuild prepares its next batch while this processor's transaction waits on
        the database. ``process`` then decodes nothing again."""
        items: list[Incoming | Unchecked] = []
        rejected: list[DeadLetter] = []
        for start in range(0, len(records), _PREPARE_SLICE):
            part, dead = self._sort(records[start : start + _PREPARE_SLICE], decode_all=True)
            items.extend(part)
            rejected.extend(dead)
            await asyncio.sleep(0)
        return items, rejected

    async def process(
        self, records: Sequence[ConsumedRecord], prepared: Sorted | None = None
    ) -> BatchResult:
        if not records:
            return BatchResult()
        started = time.perf_counter()
        decoded, rejected = prepared if prepared is not None else self._sort(records)
        async for attempt in retrying(
            "batch_retry", is_infrastructure_error, first_s=0.1, max_s=5.0
        ):
            with attempt:
                try:
                    result = await self._run(decoded, rejected, isolate=False)
                except Exception as exc:
                    if is_infrastructure_error(exc):
                        raise
                    # A handler failed (or left the transaction failed): isolate it.
                    result = await self._run(decoded, rejected, isolate=True)
        topic = records[0].topic
        metrics.BATCH_SECONDS.labels(self.service, topic).observe(time.perf_counter() - started)
        for outcome, count in (
            ("processed", result.processed),
            ("duplicate", result.duplicates),
            ("ignored", result.ignored),
            ("dead_lettered", len(result.dead_lettered) + result.dead_lettered_again),
        ):
            if count:
                metrics.EVENTS_IN.labels(self.service, topic, outcome).inc(count)
        for dead in result.dead_lettered:
            metrics.DEAD_LETTERS.labels(self.service, topic, dead.reason).inc()
        return result

    def _sort(self, records: Sequence[ConsumedRecord], *, decode_all: bool = False) -> Sorted:
        """Records of handled types with a readable id, to claim (decoded too with
        ``decode_all``); every other record decoded now (ignored, or rejected with its
        reason)."""
        items: list[Incoming | Unchecked] = []
        rejected: list[DeadLetter] = []
        for rec in records:
            document = self._document(rec.value)
            event_id = self._handled_event_id(document)
            if event_id is None or document is None:
                decoded: Incoming | Unchecked | DeadLetter = self._decode(rec, document)
            else:
                checked = self._decode(rec, document) if decode_all else None
                decoded = Unchecked(rec, event_id, document, checked)
            if isinstance(decoded, DeadLetter):
                rejected.append(decoded)
            else:
                items.append(decoded)
        return items, rejected

    def _checked(self, item: Incoming | Unchecked) -> Incoming | DeadLetter:
        if not isinstance(item, Unchecked):
            return item
        if item.checked is not None:
            return item.checked
        return self._decode(item.record, item.document)

    @staticmethod
    def _document(value: bytes | None) -> dict[str, Any] | None:
        """The record's JSON object, read once for its id and its decoding."""
        try:
            document = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return None
        return document if type(document) is dict else None

    def _handled_event_id(self, document: dict[str, Any] | None) -> uuid.UUID | None:
        if document is None:
            return None
        event_type = document.get("type")
        # A type that is not a string (a list, an object) is the decoder's to refuse.
        if not isinstance(event_type, str) or not self._wanted(event_type):
            return None
        try:
            return uuid.UUID(document["id"])
        except (KeyError, TypeError, ValueError):
            return None

    def _decode(
        self, rec: ConsumedRecord, document: dict[str, Any] | None
    ) -> Incoming | DeadLetter:
        try:
            envelope = decode_envelope(rec.value if rec.value is not None else b"", document)
            if not self._wanted(envelope.type):
                # No handler takes it: its payload is validated by those who use it.
                return Incoming(rec, envelope)
            event = decode_payload(envelope)
        except InvalidPayload as exc:
            if exc.envelope is not None and exc.envelope.type in self._invalid_handlers:
                return Incoming(rec, exc.envelope, invalid=exc)
            return DeadLetter.of(
                rec, reason=exc.reason, detail=str(exc), attempts=1, envelope=exc.envelope
            )
        except InvalidEvent as exc:
            return DeadLetter.of(rec, reason=exc.reason, detail=str(exc), attempts=1)
        return Incoming(rec, event.envelope, payload=event.payload)

    async def _run(
        self,
        decoded: Sequence[Incoming | Unchecked],
        rejected: Sequence[DeadLetter],
        *,
        isolate: bool,
    ) -> BatchResult:
        result = BatchResult()
        outgoing: list[OutboxRecord] = []
        dead = list(rejected)
        handled = [item for item in decoded if self._handles(item)]
        result.ignored = len(decoded) - len(handled)
        wake_after: set[Wakeup] = set()
        async with self._database.acquire() as conn:
            try:
                async with conn.transaction():
                    written = await self._transact(
                        conn, handled, dead, outgoing, result, wake_after, isolate=isolate
                    )
            except BaseException:
                if self._publisher is not None and not conn.is_closed():
                    # Session locks outlive a rolled-back transaction.
                    with contextlib.suppress(Exception):
                        await conn.execute("SELECT pg_advisory_unlock_all()")
                raise
            self.committed_events += result.processed
            kill_at("after_commit", self.committed_events)
            for wakeup in wake_after:
                wakeup.set()
            if self._publisher is not None:
                await self._publisher.after_commit(conn, written)
        return result

    async def _transact(
        self,
        conn: asyncpg.Connection,
        handled: Sequence[Incoming | Unchecked],
        dead: list[DeadLetter],
        outgoing: list[OutboxRecord],
        result: BatchResult,
        wake_after: set[Wakeup],
        *,
        isolate: bool,
    ) -> WrittenOutbox:
        claimed = await self._claim(conn, handled)
        fresh: list[Incoming] = []
        invalid: list[DeadLetter] = []
        unclaim: list[uuid.UUID] = []
        for item in handled:
            if _event_id(item) not in claimed:
                result.duplicates += 1
                continue
            claimed.discard(_event_id(item))  # a second copy in the same batch
            checked = self._checked(item)
            if isinstance(checked, DeadLetter):
                invalid.append(checked)
                unclaim.append(_event_id(item))
            else:
                fresh.append(checked)
        if invalid:
            # Unclaimed, so a corrected copy with the same id is processed.
            await conn.execute(
                "DELETE FROM oms_inbox WHERE event_id = ANY($1::uuid[])",
                unclaim,
            )
            dead.extend(invalid)
        work = UnitOfWork(
            conn=conn,
            outbox=self._outbox(outgoing),
            wake_after=wake_after,
            rebuilding=self._rebuilding,
        )
        failures: list[DeadLetter] = []
        if isolate:
            for item in fresh:
                failure = await self._call_isolated(work, item)
                failures.extend([failure] if failure else [])
        else:
            for run in _runs(fresh):
                failures.extend(await self._call(work, run))
            await self._finished(work)
        if failures:
            # Unclaimed, so a re-driven copy is processed after a fix.
            await conn.execute(
                "DELETE FROM oms_inbox WHERE event_id = ANY($1::uuid[])",
                [f.event_id for f in failures],
            )
        dead.extend(failures)
        result.processed += len(fresh) - len(failures)
        result.dead_lettered = await write_dead_letters(
            conn, self.service, self._prefix, dead, outgoing
        )
        result.dead_lettered_again = len(dead) - len(result.dead_lettered)
        return await write_outbox(conn, outgoing, publish_on_commit=self._publisher is not None)

    async def _claim(
        self, conn: asyncpg.Connection, handled: Sequence[Incoming | Unchecked]
    ) -> set[Any]:
        if not handled:
            return set()
        rows = await conn.fetch(
            'INSERT INTO oms_inbox (event_id, topic, partition, "offset")'
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[])"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            [_event_id(i) for i in handled],
            [i.record.topic for i in handled],
            [i.record.partition for i in handled],
            [i.record.offset for i in handled],
        )
        return {row["event_id"] for row in rows}

    def _outbox(self, outgoing: list[OutboxRecord]) -> Outbox:
        return Outbox(source=f"oms/{self.service}", topic_prefix=self._prefix, records=outgoing)

    def _wanted(self, event_type: object) -> bool:
        return event_type in self._handlers or event_type in self._invalid_handlers

    def _handles(self, item: Incoming | Unchecked) -> bool:
        if isinstance(item, Unchecked):
            return True
        handlers = self._handlers if item.invalid is None else self._invalid_handlers
        return item.envelope.type in handlers

    async def _call(self, work: UnitOfWork, run: Sequence[Incoming]) -> list[DeadLetter]:
        """Run a run's handler; dead letters for invalid events that found no answer."""
        event_type = run[0].envelope.type
        if run[0].invalid is None:
            with structlog.contextvars.bound_contextvars(event_type=event_type):
                await self._handlers[event_type](
                    work, [Received(i.payload, i.envelope, i.record) for i in run]
                )
            return []
        unanswered: list[DeadLetter] = []
        for item in run:
            assert item.invalid is not None
            with bound_to(item.envelope):
                answered = await self._invalid_handlers[event_type](
                    work.for_event(item.envelope), item.invalid
                )
                if not answered:
                    unanswered.append(
                        DeadLetter.of(
                            item.record,
                            reason=item.invalid.reason,
                            detail=str(item.invalid),
                            attempts=1,
                            envelope=item.envelope,
                        )
                    )
        return unanswered

    async def _finished(self, work: UnitOfWork) -> None:
        if self._finish is not None and work.notes:
            await self._finish(work)

    async def _call_isolated(self, work: UnitOfWork, item: Incoming) -> DeadLetter | None:
        """Try one event in a savepoint; after the last failed attempt, say why.

        Plain SQL savepoints, always rolled back on failure: a handler that caught a database
        error itself leaves the transaction failed, and only a rollback repairs it.
        """
        mark = len(work.outbox.records)
        error: Exception | None = None
        for _attempt in range(self._attempts):
            await work.conn.execute("SAVEPOINT oms_event")
            try:
                # Its own notes: a rolled-back attempt's notes go with it.
                alone = UnitOfWork(
                    conn=work.conn,
                    outbox=work.outbox,
                    wake_after=work.wake_after,
                    rebuilding=work.rebuilding,
                )
                unanswered = await self._call(alone, [item])
                await self._finished(alone)
                await work.conn.execute("RELEASE SAVEPOINT oms_event")
                return unanswered[0] if unanswered else None
            except Exception as exc:
                if is_infrastructure_error(exc):
                    raise
                await work.conn.execute("ROLLBACK TO SAVEPOINT oms_event")
                await work.conn.execute("RELEASE SAVEPOINT oms_event")
                del work.outbox.records[mark:]
                if isinstance(exc, RejectedEvent):
                    _log.warning("event_rejected", event_type=item.envelope.type, reason=exc.reason)
                    return DeadLetter.of(
                        item.record,
                        reason=exc.reason,
                        detail=exc.detail,
                        attempts=1,
                        envelope=item.envelope,
                    )
                error = exc
        assert error is not None
        _log.error(
            "handler_failed",
            event_type=item.envelope.type,
            order_id=item.envelope.subject,
            **describe_error(error),
        )
        return DeadLetter.of(
            item.record,
            reason="handler_failed",
            detail=f"{type(error).__name__}: {error}",
            attempts=self._attempts,
            envelope=item.envelope,
        )


def _event_id(item: Incoming | Unchecked) -> uuid.UUID:
    return item.event_id if isinstance(item, Unchecked) else item.envelope.id


def bound_to(envelope: Envelope) -> contextlib.AbstractContextManager[Any]:
    """Log lines inside name the event and its order (ids only, never personal data)."""
    return structlog.contextvars.bound_contextvars(
        order_id=envelope.subject,
        correlation_id=envelope.correlationid,
        event_type=envelope.type,
        event_id=str(envelope.id),
    )


def _runs(items: Sequence[Incoming]) -> list[list[Incoming]]:
    """Events of one type (valid or not) together, in as few runs as the order of each key
    allows: a handler takes a set, so ``Accepted(a), Confirmed(a), Accepted(b),
    Confirmed(b)`` is two runs (both accepted, then both confirmed), not four.

    The events of one record key (an order, a SKU at a location) keep their order; events of
    different keys may change places, as Kafka promises no order between keys (they are on
    different partitions as often as not). Within a run the batch's order is kept."""
    position = {id(item): n for n, item in enumerate(items)}
    queues: dict[tuple[int, bytes | None], deque[Incoming]] = {}
    for item in items:
        queues.setdefault((item.record.partition, item.record.key), deque()).append(item)
    runs: list[list[Incoming]] = []
    while queues:
        kind = _kind(min((q[0] for q in queues.values()), key=lambda i: position[id(i)]))
        run: list[Incoming] = []
        for key in list(queues):
            queue = queues[key]
            while queue and _kind(queue[0]) == kind:
                run.append(queue.popleft())
            if not queue:
                del queues[key]
        runs.append(sorted(run, key=lambda i: position[id(i)]))
    return runs


def _kind(item: Incoming) -> tuple[str, bool]:
    return item.envelope.type, item.invalid is None
