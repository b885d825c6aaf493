"""Rebuild: a service's state made again from its input topics, with side effects off.

``python -m oms_<service> rebuild`` (started by ``oms rebuild``) runs the service's own
subscriptions into a fresh database, from each partition's first record up to the offsets it
is given (the live consumer group's), and stops there. Nothing leaves the process: there is
no producer, no relay and no timer, the outgoing events stay in the rebuilt database's outbox
and are deleted at the end (``oms rebuild`` swaps only while the live outbox is empty: the
live relay sent them). Records of all topics are applied in the order of their record
timestamps (the producers': the topics keep ``CreateTime``), so events of two topics apply in
the order the live service saw them when the topics interleaved as they did live; a
difference shows in the comparison. It writes only into a database ``oms rebuild`` marked for
it (:func:`check_target`).

Decisions the live service took by the clock are not taken again: a service names the
subscriptions to its own output that apply them as recorded (``RebuildSpec.recorded``).
Decisions it took at random, or in an order no topic keeps (numbers drawn from a counter by
instances side by side), are read back before the inputs apply (``RebuildSpec.recalled``):
the handlers look them up by the event that caused them when the rebuild meets it again.

A service declares what a rebuild reproduces (:class:`RebuildSpec`) or why it cannot
(:class:`RebuildRefused`); ``python -m oms_<service> rebuild-spec`` prints it as JSON.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from oms_runtime._consumer_loop import consumed_record
from oms_runtime._retry import describe_error
from oms_runtime._subscriptions import Subscription
from oms_runtime._unit_of_work import ConsumedRecord

__all__ = [
    "CompareTable",
    "RebuildRefused",
    "RebuildSpec",
    "RebuildStalled",
    "RebuildTargetRefused",
    "RunProcessor",
    "SeedTable",
    "check_rebuild_target",
    "check_target",
    "merged_order",
    "run_rebuild",
]

_log = structlog.get_logger(__name__)
_POLL_MS = 500
_REPORT_EVERY_S = 0.5
STALL_S = 60.0
"""How long a partition's position may stay below its stop without moving."""


class RebuildTargetRefused(Exception):
    """The database the rebuild would write is not a fresh rebuild database."""


class RebuildStalled(Exception):
    """A partition stopped moving below its stop offset (its log ends before it)."""


def check_target(target_db: str, target_comment: str | None, seed_db: str | None) -> None:
    """Refuse to rebuild into anything but a database ``oms rebuild`` created for this seed:
    one commented ``oms rebuild of <seed database>``, not the seed itself. A worker's own
    environment (no seed, or the live database as target) is refused: the rebuild would
    replay into the live state and empty its outbox."""
    if not seed_db:
        raise RebuildTargetRefused(
            "OMS_REBUILD_SEED_DATABASE_URL is not set: `oms rebuild` starts this mode"
        )
    if seed_db == target_db:
        raise RebuildTargetRefused(f"the target database {target_db} is the seed (live) database")
    expected = f"oms rebuild of {seed_db}"
    if target_comment != expected:
        raise RebuildTargetRefused(
            f"database {target_db} is not marked as a rebuild database (comment "
            f"{expected!r}, found {target_comment!r}): `oms rebuild` creates and marks it"
        )


async def check_rebuild_target(dsn: str, seed_from: str | None) -> None:
    """The rebuild writes only into a database ``oms rebuild`` created and marked for the seed
    database (see :func:`check_target`)."""
    seed_db: str | None = None
    if seed_from:
        seed = await asyncpg.connect(seed_from)
        try:
            seed_db = await seed.fetchval("SELECT current_database()")
        finally:
            await seed.close()
    target = await asyncpg.connect(dsn)
    try:
        row = await target.fetchrow(
            "SELECT current_database() AS name,"
            " shobj_description(d.oid, 'pg_database') AS comment"
            " FROM pg_database d WHERE d.datname = current_database()"
        )
    finally:
        await target.close()
    assert row is not None
    check_target(row["name"], row["comment"], seed_db)


INBOX = "oms_inbox"
_INBOX_EXCLUDED = {"processed_at": "when the event was applied: the moment of processing"}


@dataclass(frozen=True)
class CompareTable:
    """A table whose rows the rebuild must reproduce; ``excluded`` columns (name -> why) are
    left out of its checksum."""

    name: str
    excluded: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedTable:
    """A table copied from the live database before the run (``columns`` None: all): data no
    topic carries, such as a catalogue imported by an operator."""

    name: str
    reason: str
    columns: tuple[str, ...] | None = None
    where: str | None = None
    """Only the rows this SQL condition selects (None: every row)."""
    after_inputs: bool = False
    """Copied once the inputs applied, not before: rows that refer to rows the rebuild
    makes (a foreign key), and that it does not make itself."""


@dataclass(frozen=True)
class RebuildSpec:
    tables: tuple[CompareTable, ...]
    seeded: tuple[SeedTable, ...] = ()
    recorded: tuple[Subscription, ...] = ()
    """Subscriptions to the service's own output, run by a rebuild only: decisions the live
    service took by the clock (a sweep's), read back and applied again at their place in
    time. Read to the end of the topic; their inbox rows are removed at the end (the live
    service never consumed them)."""
    recalled: tuple[Subscription, ...] = ()
    """Subscriptions to the service's own output, run by a rebuild only and first, to the
    end of the topic: decisions the live service drew at random or from a counter, kept (in
    the ``scratch`` tables) for the input handlers to take again instead of drawing anew.
    Their inbox rows are removed at the end."""
    scratch: tuple[str, ...] = ()
    """Tables the recalled decisions are kept in while the rebuild runs: emptied at the end
    (neither compared nor part of the state a swap brings)."""
    side_effects: Mapping[str, str] = field(default_factory=dict)
    """What the live service does to the outside world and what the rebuild does instead."""

    def read_back(self) -> tuple[Subscription, ...]:
        """Every subscription to the service's own output: recalled first, then recorded."""
        return (*self.recalled, *self.recorded)

    def compared(self) -> tuple[CompareTable, ...]:
        """The service's tables and the inbox (the same events applied)."""
        return (*self.tables, CompareTable(INBOX, _INBOX_EXCLUDED))

    def describe(
        self, service: str, topics: Sequence[str], recorded: Sequence[str] = ()
    ) -> dict[str, Any]:
        return {
            "service": service,
            "rebuildable": True,
            "topics": list(topics),
            "recorded_topics": list(recorded),
            "tables": [{"name": t.name, "excluded": dict(t.excluded)} for t in self.compared()],
            "seeded": [
                {
                    "name": s.name,
                    "columns": list(s.columns) if s.columns else None,
                    "where": s.where,
                    "after_inputs": s.after_inputs,
                    "reason": s.reason,
                }
                for s in self.seeded
            ],
            "side_effects": dict(self.side_effects),
        }


@dataclass(frozen=True)
class RebuildRefused:
    """Why the service's state cannot be rebuilt exactly from its topics (yet)."""

    reason: str

    def describe(
        self, service: str, topics: Sequence[str], recorded: Sequence[str] = ()
    ) -> dict[str, Any]:
        return {
            "service": service,
            "rebuildable": False,
            "topics": list(topics),
            "reason": self.reason,
        }


def _order_key(record: Any) -> tuple[int, str, int, int]:
    return (record.timestamp, record.topic, record.partition, record.offset)


def merged_order(buffers: Mapping[Any, deque[Any]], finished: set[Any], limit: int) -> list[Any]:
    """Take up to ``limit`` records from the partitions' ``buffers`` in timestamp order (then
    topic, partition, offset), as long as every partition not ``finished`` still has a record
    buffered: a later record of an empty partition could come first."""
    heads = []
    for tp, buffer in buffers.items():
        if buffer:
            heads.append((_order_key(buffer[0]), tp))
        elif tp not in finished:
            return []
    heapq.heapify(heads)  # a heap of the partitions' first records: log(partitions) a record
    taken: list[Any] = []
    while heads and len(taken) < limit:
        _, tp = heapq.heappop(heads)
        buffer = buffers[tp]
        taken.append(buffer.popleft())
        if buffer:
            heapq.heappush(heads, (_order_key(buffer[0]), tp))
        elif tp not in finished:
            break
    return taken


def _runs(records: Sequence[Any]) -> list[list[Any]]:
    """Consecutive records of one topic, in order."""
    runs: list[list[Any]] = []
    for record in records:
        if runs and runs[-1][0].topic == record.topic:
            runs[-1].append(record)
        else:
            runs.append([record])
    return runs


async def _advance_sequences(conn: asyncpg.Connection, table: str, columns: list[str]) -> None:
    """Copied values of serial columns do not move their sequences: set each past the
    largest copied value, so rows inserted after a swap get fresh ids."""
    for column in columns:
        sequence = await conn.fetchval("SELECT pg_get_serial_sequence($1, $2)", table, column)
        if sequence is not None:
            await conn.execute(
                f'SELECT setval($1::regclass, coalesce(max("{column}"), 0) + 1, false)'
                f' FROM "{table}"',
                sequence,
            )


async def seed_tables(
    live: asyncpg.Connection, rebuilt: asyncpg.Connection, seeded: Sequence[SeedTable]
) -> dict[str, int]:
    """Copy each seed table's rows from the live database; how many per table."""
    copied: dict[str, int] = {}
    async with rebuilt.transaction():
        for table in seeded:
            columns = list(table.columns) if table.columns else None
            listed = ", ".join(f'"{c}"' for c in columns) if columns else "*"
            where = f" WHERE {table.where}" if table.where else ""
            rows = await live.fetch(f'SELECT {listed} FROM "{table.name}"{where}')
            if rows:
                await rebuilt.copy_records_to_table(
                    table.name, records=[tuple(r) for r in rows], columns=list(rows[0].keys())
                )
            await _advance_sequences(rebuilt, table.name, list(rows[0].keys()) if rows else [])
            copied[table.name] = len(rows)
    return copied


class RunProcessor(Protocol):
    """Applies runs of one topic's records: the runtime's batch processor, or a stream
    app's own counting (analytics). ``prepare`` decodes a run while the run before it is
    still being applied; ``process`` applies it."""

    async def prepare(self, records: Sequence[ConsumedRecord]) -> Any: ...

    async def process(self, records: Sequence[ConsumedRecord], prepared: Any) -> Any: ...


class _Applying:
    """Runs applied one after another, each one's transaction in flight while the next is
    prepared: decoding a run overlaps the database's work on the one before."""

    def __init__(self) -> None:
        self._in_flight: asyncio.Task[Any] | None = None

    async def then(self, processor: RunProcessor, records: list[Any]) -> None:
        prepared = await processor.prepare(records)
        await self.drain()
        self._in_flight = asyncio.create_task(processor.process(records, prepared))

    async def drain(self) -> None:
        """Wait for the run in flight; its failure is raised here."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            await in_flight

    async def stop(self) -> None:
        """A rebuild that fails leaves no transaction running; the run in flight's own
        failure, if it had one, is logged (the rebuild's error is raised)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.cancel()
            try:
                await in_flight
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                _log.error("rebuild_run_failed", **describe_error(exc))


async def run_rebuild(
    *,
    consumer: AIOKafkaConsumer,
    processors: Mapping[str, RunProcessor],
    stop_at: Mapping[tuple[str, int], int],
    batch_max: int,
    report: Callable[[int], None],
    stall_s: float = STALL_S,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Apply every record before ``stop_at`` (per topic and partition) through the
    processors, in timestamp order across partitions; how many records were read. A
    partition whose position stays below its stop for ``stall_s`` fails the rebuild
    (:class:`RebuildStalled`): its log ends before the offset it was to reach."""
    tps = [TopicPartition(t, p) for (t, p) in stop_at]
    if not tps:
        return 0
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    stop = {TopicPartition(t, p): o for (t, p), o in stop_at.items()}
    buffers: dict[TopicPartition, deque[Any]] = {tp: deque() for tp in tps}
    finished = {tp for tp in tps if await consumer.position(tp) >= stop[tp]}
    paused: set[TopicPartition] = set()
    read = 0
    reported = time.monotonic()
    for tp in finished:
        consumer.pause(tp)
    last: dict[TopicPartition, tuple[int, float]] = {}
    applying = _Applying()
    try:
        while len(finished) < len(tps) or any(buffers.values()):
            if len(finished) < len(tps):
                polled = await consumer.getmany(timeout_ms=_POLL_MS, max_records=batch_max)
                for tp, messages in polled.items():
                    if tp in finished:
                        continue
                    kept = [m for m in messages if m.offset < stop[tp]]
                    buffers[tp].extend(kept)
                    read += len(kept)
                now = clock()
                for tp in tps:
                    if tp in finished:
                        continue
                    position = await consumer.position(tp)
                    if position >= stop[tp]:
                        finished.add(tp)
                        consumer.pause(tp)
                    elif tp in paused or last.get(tp, (-1, 0.0))[0] != position:
                        last[tp] = (position, now)
                    elif now - last[tp][1] >= stall_s:
                        # Records still to come only slowly (a long run applied held the
                        # polls back, and a poll serves the first partitions first) are no
                        # stall: only a log that ends before the stop is.
                        end = (await consumer.end_offsets([tp]))[tp]
                        if end >= stop[tp]:
                            last[tp] = (position, now)
                            continue
                        raise RebuildStalled(
                            f"{tp.topic}[{tp.partition}] stays at offset {position} below its "
                            f"stop {stop[tp]} for {stall_s:.0f} s: the log ends at {end}, "
                            "before the offset the live group committed"
                        )
            while True:
                taken = merged_order(buffers, finished, batch_max)
                if not taken:
                    break
                for run in _runs(taken):
                    await applying.then(processors[run[0].topic], [consumed_record(m) for m in run])
            # A partition far ahead of the others waits: memory stays bounded.
            for tp in tps:
                if tp in finished:
                    continue
                if len(buffers[tp]) > 2 * batch_max and tp not in paused:
                    consumer.pause(tp)
                    paused.add(tp)
                elif len(buffers[tp]) <= batch_max and tp in paused:
                    consumer.resume(tp)
                    paused.discard(tp)
            if time.monotonic() - reported >= _REPORT_EVERY_S:
                reported = time.monotonic()
                report(read)
            await asyncio.sleep(0)
        await applying.drain()
    finally:
        await applying.stop()

    report(read)
    return read
