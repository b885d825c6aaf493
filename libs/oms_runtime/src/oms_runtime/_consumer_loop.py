"""The lean consumer: one aiokafka consumer per worker, batches from ``getmany``, on the
worker's own event loop.

Each poll's records are split by topic; every topic's batch runs in its own transaction on
its own connection, the topics side by side. Offsets are committed only after the batches
that reached them committed (and published their events), so a crash redelivers and the
inboxes drop what was already applied. Since the inbox makes a redelivery harmless, offsets
are committed at most every ``commit_interval_s`` under load (each commit is a broker request
and a write to the offsets topic, as costly as a small batch), at once when the worker goes
idle, before partitions are revoked and when it stops. A rebalance waits for the batch in
flight: revoked partitions are handed over with their offsets committed, and nothing is
applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from oms_runtime import _metrics as metrics
from oms_runtime._consumer import BatchProcessor, ConsumedRecord
from oms_runtime._fetch_wait import FetchWait

__all__ = ["ConsumerLoop", "consumed_record"]

_log = structlog.get_logger(__name__)
_IDLE_POLL_MS = 1000


class _WaitForBatch(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # The batch in flight finishes and commits its offsets before the partitions move.
        async with self._loop.batch_lock:
            await self._loop.commit()
        for tp in revoked:
            self._loop.positions.pop((tp.topic, tp.partition), None)
        _log.info("partitions_revoked", partitions=len(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        _log.info("partitions_assigned", partitions=len(assigned))


class ConsumerLoop:
    """Polls, processes and commits until stopped; never raises for bad records."""

    def __init__(
        self,
        *,
        service: str,
        consumer: AIOKafkaConsumer,
        processors: Mapping[str, BatchProcessor],
        batch_max: int,
        commit_interval_s: float,
        fetch_wait: FetchWait | None = None,
    ) -> None:
        self._service = service
        self._consumer = consumer
        self._fetch_wait = fetch_wait
        self._processors = dict(processors)
        self._batch_max = batch_max
        self._commit_interval_s = commit_interval_s
        self._commit_due = 0.0
        # Offsets processed but not yet committed.
        self._uncommitted: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self.batch_lock = asyncio.Lock()
        self.processed = 0
        # Next offset to process per (topic, partition), for the lag gauge.
        self.positions: dict[tuple[str, int], int] = {}

    def listener(self) -> ConsumerRebalanceListener:
        return _WaitForBatch(self)

    def stop(self) -> None:
        """Finish the batch in flight, commit its offsets, then return from ``run``."""
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            polled = await self._poll()
            batch_s = None
            async with self.batch_lock:
                if polled:
                    started = time.monotonic()
                    await self._process(polled)
                    batch_s = time.monotonic() - started
                if not polled or time.monotonic() >= self._commit_due:
                    await self.commit()
            if self._fetch_wait is not None:
                self._fetch_wait.after_poll(batch_s)
        async with self.batch_lock:
            await self.commit()

    async def _poll(self) -> dict[TopicPartition, list[ConsumedRecord]]:
        poll = asyncio.ensure_future(
            self._consumer.getmany(timeout_ms=_IDLE_POLL_MS, max_records=self._batch_max)
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
            return {}
        assignment = self._consumer.assignment()
        # Records fetched before a rebalance for partitions this worker no longer owns.
        return {
            tp: [consumed_record(m) for m in messages]
            for tp, messages in poll.result().items()
            if messages and tp in assignment
        }

    async def _process(self, polled: Mapping[TopicPartition, Sequence[ConsumedRecord]]) -> None:
        by_topic: dict[str, list[ConsumedRecord]] = {}
        for tp, records in polled.items():
            by_topic.setdefault(tp.topic, []).extend(records)
        results = await asyncio.gather(
            *(self._processors[topic].process(records) for topic, records in by_topic.items())
        )
        self.processed += sum(r.processed for r in results)
        for tp, records in polled.items():
            self._uncommitted[tp] = records[-1].offset + 1
            self.positions[(tp.topic, tp.partition)] = records[-1].offset + 1

    async def commit(self) -> None:
        """Commit the offsets processed since the last commit (the caller holds the batch
        lock, so they are all of committed batches)."""
        if not self._uncommitted:
            return
        offsets, self._uncommitted = self._uncommitted, {}
        self._commit_due = time.monotonic() + self._commit_interval_s
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            # Partitions moved on: their new owner gets the batch again, and its inbox drops it.
            _log.warning("offset_commit_failed", error=type(exc).__name__)

    async def measure_lag(self) -> None:
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            position = self.positions.get((tp.topic, tp.partition))
            if position is None:
                try:
                    async with asyncio.timeout(1):
                        position = await self._consumer.position(tp)
                except (KafkaError, TimeoutError):
                    continue
            metrics.CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(
                max(highwater - position, 0)
            )


def consumed_record(message: Any) -> ConsumedRecord:
    """An aiokafka record as the batch processor takes it."""
    return ConsumedRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        # A header may carry no value at all; kept as empty bytes.
        headers=tuple((str(k), bytes(v or b"")) for k, v in message.headers or ()),
    )
