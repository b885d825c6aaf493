"""The lean consumer: one aiokafka consumer per worker, batches from ``getmany``, on the
worker's own event loop.

Each poll's records are split by topic; every topic's batch runs in its own transaction on
its own connection, the topics side by side and each on its own: while a topic's batch is in
flight the poll goes on for the other topics' partitions (never for its own, so a partition's
records apply in order), and a topic whose batch ended is polled again within 10 ms. A quick
batch of one topic does not wait for a slow one of another (docs/performance.md, "Topics
polled on their own"). Offsets are committed only after the batches that reached them
committed (and published their events), so a crash redelivers and the inboxes drop what was
already applied. Since the inbox makes a redelivery harmless, offsets
are committed at most every ``commit_interval_s`` while batches follow each other, at once
when no batch is in flight and a poll brought nothing (between batches under load too), before
partitions are revoked and when it stops. A rebalance waits for the batches in
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
_BUSY_POLL_MS = 10  # while batches run: how soon a topic whose batch ended is polled again


class _WaitForBatch(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Records polled before now are dropped, not started (their new owner applies them).
        self._loop.revocations += 1
        # The batches in flight finish and commit their offsets before the partitions move;
        # none starts meanwhile.
        async with self._loop.batch_lock:
            await self._loop.drain()
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
        # Each topic's batch in flight; what made one fail (the loop then stops).
        self._running: dict[str, asyncio.Task[None]] = {}
        self._failure: BaseException | None = None
        self.revocations = 0
        self.batch_lock = asyncio.Lock()
        self.processed = 0
        # Next offset to process per (topic, partition), for the lag gauge.
        self.positions: dict[tuple[str, int], int] = {}

    def listener(self) -> ConsumerRebalanceListener:
        return _WaitForBatch(self)

    def stop(self) -> None:
        """Finish the batches in flight, commit their offsets, then return from ``run``."""
        self._stopping.set()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():  # a failed batch sets it too
                seen, polled = await self._poll()
                async with self.batch_lock:
                    # Polled before partitions were revoked: their new owner applies them,
                    # and they come again from the committed offset should they come back.
                    if seen == self.revocations:
                        self._start(polled)
                    # Nothing in flight and nothing polled: under load that is between
                    # batches too (measured: fewer commits made orders slower, not cheaper).
                    idle = not polled and not self._running
                    if idle or time.monotonic() >= self._commit_due:
                        await self.commit()
                if not polled and self._fetch_wait is not None:
                    self._fetch_wait.after_poll(None)
        except asyncio.CancelledError:
            # Given up on (the worker's stop ran out of time): the batches in flight are
            # abandoned uncommitted, their connections about to close under them.
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)
            raise
        async with self.batch_lock:
            await self.drain()
            await self.commit()
        if self._failure is not None:
            raise self._failure

    async def drain(self) -> None:
        """Until every batch in flight has ended."""
        while self._running:
            await asyncio.wait(list(self._running.values()))

    async def _poll(self) -> tuple[int, dict[TopicPartition, list[ConsumedRecord]]]:
        """Records of the partitions whose topic has no batch in flight, with the count of
        revocations when they were taken; none when the wait is over or the loop stops.

        While batches run, the poll waits only briefly, so that a topic whose batch ended is
        polled again soon; it is never cancelled for that (aiokafka would count a cancelled
        poll as one still running, and a stuck worker would no longer miss its poll
        interval). With every topic in flight it waits for a batch to end."""
        idle = [tp for tp in self._consumer.assignment() if tp.topic not in self._running]
        stopping = asyncio.ensure_future(self._stopping.wait())
        if self._running and not idle:
            try:
                await asyncio.wait(
                    {stopping, *self._running.values()},
                    timeout=_IDLE_POLL_MS / 1000,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                stopping.cancel()
            return self.revocations, {}
        wait_ms = _BUSY_POLL_MS if self._running else _IDLE_POLL_MS
        poll = asyncio.ensure_future(self._fetch(idle, wait_ms))
        try:
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not poll.done():  # stopping, or the loop itself cancelled
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
        if poll.cancelled():
            return self.revocations, {}
        return poll.result()

    async def _fetch(
        self, partitions: Sequence[TopicPartition], wait_ms: int
    ) -> tuple[int, dict[TopicPartition, list[ConsumedRecord]]]:
        fetched = await self._consumer.getmany(
            *partitions, timeout_ms=wait_ms, max_records=self._batch_max
        )
        seen = self.revocations  # at once: a revocation after this one is not theirs
        records = {tp: [consumed_record(m) for m in ms] for tp, ms in fetched.items() if ms}
        return seen, records

    def _start(self, polled: Mapping[TopicPartition, Sequence[ConsumedRecord]]) -> None:
        """A batch for each topic polled (the caller holds the batch lock)."""
        assignment = self._consumer.assignment()
        by_topic: dict[str, dict[TopicPartition, Sequence[ConsumedRecord]]] = {}
        for tp, records in polled.items():
            # Records fetched before a rebalance for partitions this worker no longer owns.
            if tp in assignment:
                by_topic.setdefault(tp.topic, {})[tp] = records
        for topic, batch in by_topic.items():
            assert topic not in self._running, "a topic's partitions are not polled in flight"
            self._running[topic] = asyncio.ensure_future(self._process(topic, batch))

    async def _process(
        self, topic: str, polled: Mapping[TopicPartition, Sequence[ConsumedRecord]]
    ) -> None:
        started = time.monotonic()
        try:
            result = await self._processors[topic].process(
                [record for records in polled.values() for record in records]
            )
            self.processed += result.processed
            for tp, records in polled.items():
                self._uncommitted[tp] = records[-1].offset + 1
                self.positions[(tp.topic, tp.partition)] = records[-1].offset + 1
            if self._fetch_wait is not None:
                self._fetch_wait.after_poll(time.monotonic() - started)
        except Exception as exc:  # the loop stops and raises it, as a failed batch always did
            self._failure = self._failure or exc
            self._stopping.set()
        finally:
            del self._running[topic]

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
