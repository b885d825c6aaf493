"""The broker as an operator sees it: consumer groups, their offsets and lag, producing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError

from oms_events.connection import KafkaConnection

# Kafka's UNKNOWN_TOPIC_OR_PARTITION: the topic does not exist, nothing to wait for.
_UNKNOWN_TOPIC = 3
_METADATA_WAIT_S = 5.0

__all__ = [
    "Broker",
    "GroupState",
    "OffsetsRefused",
    "PartitionOffsets",
]


class OffsetsRefused(Exception):
    """The broker would not take the group's new offsets (the group has active members)."""


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str
    """``Empty``, ``Stable``, ``PreparingRebalance``..., or ``Dead`` for an unknown group."""
    members: int


@dataclass(frozen=True)
class PartitionOffsets:
    topic: str
    partition: int
    committed: int | None
    beginning: int
    end: int

    @property
    def lag(self) -> int:
        """Records the group has yet to process (all of them when it never committed)."""
        start = self.committed if self.committed is not None else self.beginning
        return max(self.end - start, 0)


class Broker:
    """One admin client and one group-less consumer for queries, opened together."""

    def __init__(self, admin: Any, consumer: Any, kafka: KafkaConnection) -> None:
        self._admin = admin
        self._consumer = consumer
        self._kafka = kafka

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, kafka: KafkaConnection, wait_s: float = 0.0) -> AsyncIterator[Broker]:
        """Connected to the broker; tried again for up to ``wait_s`` (a broker starting)."""
        admin = await _started_admin(kafka, wait_s)
        consumer = AIOKafkaConsumer(
            **_client_options(kafka), enable_auto_commit=False, request_timeout_ms=15_000
        )
        try:
            await consumer.start()
            try:
                yield cls(admin, consumer, kafka)
            finally:
                await consumer.stop()
        finally:
            await admin.close()

    @property
    def admin(self) -> Any:
        return self._admin

    async def partition_ranges(self, topic: str) -> list[tuple[int, int, int]]:
        """(partition, first offset, end offset) of every partition of ``topic``."""
        tps = [TopicPartition(topic, p) for p in await self.partitions(topic)]
        if not tps:
            return []
        beginning = await self._consumer.beginning_offsets(tps)
        end = await self._consumer.end_offsets(tps)
        return [(tp.partition, beginning[tp], end[tp]) for tp in tps]

    async def topics(self) -> set[str]:
        return set(await self._admin.list_topics())

    async def partitions(self, topic: str) -> list[int]:
        """Every partition of ``topic``; none when the cluster has no such topic. A topic just
        created may report its leaders as not yet elected, with some partitions or none:
        asked again for up to ``_METADATA_WAIT_S``, as a partial list would misplace keys."""
        deadline = asyncio.get_running_loop().time() + _METADATA_WAIT_S
        while True:
            described = await self._admin.describe_topics([topic])
            errors = {d.get("error_code", 0) for d in described}
            found = sorted(p["partition"] for d in described for p in d.get("partitions") or ())
            if errors <= {0} or _UNKNOWN_TOPIC in errors:
                return found if errors <= {0} else []
            if asyncio.get_running_loop().time() >= deadline:
                return found
            await asyncio.sleep(0.2)

    async def group_state(self, group: str) -> GroupState:
        responses = await self._admin.describe_consumer_groups([group])
        for response in responses:
            for described in response.groups:
                return GroupState(group=group, state=described[2], members=len(described[5]))
        return GroupState(group=group, state="Dead", members=0)

    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        """The group's committed offset per (topic, partition)."""
        offsets = await self._admin.list_consumer_group_offsets(group)
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}

    async def offsets(
        self, group: str, topics: Sequence[str] | None = None
    ) -> list[PartitionOffsets]:
        """Committed, first and end offset of every partition of ``topics`` (by default the
        topics the group has committed offsets for)."""
        committed = await self.committed(group)
        names = sorted(set(topics) if topics is not None else {t for t, _ in committed})
        tps = [TopicPartition(t, p) for t in names for p in await self.partitions(t)]
        if not tps:
            return []
        beginning = await self._consumer.beginning_offsets(tps)
        end = await self._consumer.end_offsets(tps)
        return [
            PartitionOffsets(
                topic=tp.topic,
                partition=tp.partition,
                committed=committed.get((tp.topic, tp.partition)),
                beginning=beginning[tp],
                end=end[tp],
            )
            for tp in tps
        ]

    async def offsets_for_time(
        self, partitions: Sequence[PartitionOffsets], timestamp_ms: int
    ) -> dict[tuple[str, int], int]:
        """The first offset at or after ``timestamp_ms`` per partition; the end when none."""
        tps = {TopicPartition(p.topic, p.partition): p for p in partitions}
        found = await self._consumer.offsets_for_times(dict.fromkeys(tps, timestamp_ms))
        return {
            (tp.topic, tp.partition): (found[tp].offset if found.get(tp) else tps[tp].end)
            for tp in tps
        }

    async def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Commit ``offsets`` for ``group`` without joining it: Kafka takes such a commit only
        while the group has no members."""
        consumer = AIOKafkaConsumer(
            **_client_options(self._kafka),
            group_id=group,
            enable_auto_commit=False,
            request_timeout_ms=15_000,
        )
        await consumer.start()
        try:
            tps = {TopicPartition(t, p): offset for (t, p), offset in offsets.items()}
            consumer.assign(list(tps))
            await consumer.commit(tps)
        except (CommitFailedError, KafkaError) as exc:
            raise OffsetsRefused(
                f"the broker refused the offsets of group {group} ({type(exc).__name__}): "
                "a group with active members only takes commits from its members; "
                "stop the service's workers first"
            ) from exc
        finally:
            await consumer.stop()

    async def read_partitions(self, tps: Sequence[Any]) -> AsyncIterator[Any]:
        """Every record of the partitions ``tps`` from the first to the end offset at the
        call."""
        if not tps:
            return
        beginning = await self._consumer.beginning_offsets(list(tps))
        end = await self._consumer.end_offsets(list(tps))
        async for record in self.read_ranges({tp: (beginning[tp], end[tp]) for tp in tps}):
            yield record

    async def read_ranges(self, ranges: dict[Any, tuple[int, int]]) -> AsyncIterator[Any]:
        """The records of each partition from its start offset up to (not including) its end
        offset, partition by partition in offset order."""
        wanted = {tp: (start, end) for tp, (start, end) in ranges.items() if end > start}
        if not wanted:
            return
        reader = AIOKafkaConsumer(**_client_options(self._kafka), enable_auto_commit=False)
        await reader.start()
        try:
            reader.assign(list(wanted))
            for tp, (start, _) in wanted.items():
                reader.seek(tp, start)
            pending = set(wanted)
            while pending:
                batches = await reader.getmany(*pending, timeout_ms=1000)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset < wanted[tp][1]:
                            yield record
                for tp in list(pending):
                    if await reader.position(tp) >= wanted[tp][1]:
                        pending.discard(tp)
        finally:
            await reader.stop()


def _client_options(kafka: KafkaConnection) -> dict[str, Any]:
    """The brokers and the TLS and SASL settings, as the workers use them."""
    return {"bootstrap_servers": kafka.kafka_bootstrap_servers, **kafka.aiokafka_security()}


async def _started_admin(kafka: KafkaConnection, wait_s: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        admin = AIOKafkaAdminClient(**_client_options(kafka), request_timeout_ms=15_000)
        try:
            await admin.start()
            await admin.list_topics()  # a metadata round trip: the broker answers
            return admin
        except (KafkaError, OSError):
            await admin.close()
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def producer(kafka: KafkaConnection) -> AsyncIterator[Any]:
    """An idempotent producer that waits for every in-sync replica."""
    sender = AIOKafkaProducer(
        **_client_options(kafka), enable_idempotence=True, acks="all", request_timeout_ms=15_000
    )
    try:
        await sender.start()  # a broker that cannot be reached fails here: closed all the same
        yield sender
    finally:
        await sender.stop()
