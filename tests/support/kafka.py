"""Producing to and reading from the real broker in tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from oms_ops.topics import create_missing, wanted_topics
from tests.support.waiting import wait_for


async def create_topics(bootstrap: str, prefix: str) -> None:
    """The registry's topics under ``prefix``, created by the code ``oms topics apply`` runs
    (in process: a test world needs neither the command's start-up nor its audit event; the
    command itself is tested in libs/oms_ops)."""
    wanted = wanted_topics(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        failed = await create_missing(admin, wanted)
        assert not failed, failed
        await _described(admin, {w.name: w.partitions for w in wanted})
    finally:
        await admin.close()


async def create_topic(bootstrap: str, *topics: NewTopic) -> None:
    """Topics outside the registry (an investigation's, a drifted one), usable once this
    returns."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(list(topics))
        await _described(admin, {t.name: t.num_partitions for t in topics})
    finally:
        await admin.close()


async def _described(admin: AIOKafkaAdminClient, partitions: dict[str, int]) -> None:
    """Created is not yet known to every metadata request: a consumer that asks too early is
    assigned nothing, a client that lists topics misses it. Wait until the broker describes
    each with all its partitions."""

    async def described() -> bool:
        found = await admin.describe_topics(list(partitions))
        return all(
            d["error_code"] == 0 and len(d["partitions"]) == partitions[d["topic"]] for d in found
        )

    await wait_for(described, what="the topics described by the broker")


async def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes],
    *,
    key: bytes | None = None,
    partition: int | None = None,
) -> list[int]:
    """Send records in order and return their offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        offsets = []
        for value in values:
            meta = await producer.send_and_wait(topic, value, key=key, partition=partition)
            offsets.append(meta.offset)
        return offsets
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


async def read_topic(
    bootstrap: str, topic: str, *, at_least: int, timeout: float = 30.0
) -> list[Record]:
    """Everything on ``topic`` from the beginning, once at least ``at_least`` records are there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for tp, messages in batches.items():
                records.extend(
                    Record(tp.partition, m.offset, m.key, m.value or b"", dict(m.headers or ()))
                    for m in messages
                )
            if len(records) >= at_least:
                end = await consumer.end_offsets(tps)
                positions = [await consumer.position(tp) for tp in tps]
                if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                    return records
        raise AssertionError(
            f"timed out after {timeout}s: {len(records)} records on {topic}, wanted {at_least}"
        )
    finally:
        await consumer.stop()


async def committed_and_end_offsets(
    bootstrap: str, group: str, topic: str, partitions: int
) -> tuple[dict[int, int | None], dict[int, int]]:
    """The group's committed offset and the end offset of every partition of ``topic``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = {tp.partition: await consumer.committed(tp) for tp in tps}
        end = {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
        return committed, end
    finally:
        await consumer.stop()


async def group_members(bootstrap: str, group: str) -> int | None:
    """How many members the consumer group has now (0 once the last one left or was
    expelled); None when the broker answers with an error (its coordinator moving, say)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        if any(described[0] != 0 for described in response.groups):
            return None
        return sum(len(described[5]) for described in response.groups)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, marker: str) -> None:
    """Remove one test's topics (its own and faust's) so the broker does not collect them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if marker in t]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()
