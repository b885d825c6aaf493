"""The worker's state as its changelog topic holds it, read and written outside faust.

faust writes each table key as JSON, each value as JSON, a deletion as a record without a
value (``value_type=None``: its JSON codec; a tombstone is sent raw). Reading a changelog to
its end and keeping the last value of each key is what a worker's recovery does, so it is the
state a worker started now would hold. A rebuild reads it to compare, and a swap appends to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.serializers import codecs

from oms_analytics.config import AnalyticsSettings

__all__ = ["Held", "canonical", "changelog_topic", "digest", "read_changelog", "write_changelog"]

Held = dict[str, tuple[int, Any]]
"""Per key: the changelog partition holding it and its value (as JSON decodes it)."""

_POLL_MS = 500
_UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION


def changelog_topic(settings: AnalyticsSettings) -> str:
    """The one table's changelog topic, named after the app id as faust names it."""
    return f"{settings.topic_prefix}oms-analytics{settings.group_suffix}-state-changelog"


def canonical(value: Any) -> Any:
    """A value as a worker recovers it: through faust's JSON codec and back (tuples become
    lists, dates strings)."""
    return json.loads(codecs.dumps("json", value))


def digest(key: str, value: Any) -> str:
    """The md5 of a key and its value, the value's keys sorted: the same whatever the order
    a dict was filled in."""
    text = key + "\x00" + json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


async def _partitions(settings: AnalyticsSettings, topic: str) -> list[int]:
    """The topic's partitions; none when it does not exist."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.aiokafka_security()
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] == _UNKNOWN_TOPIC:
        return []
    if described["error_code"]:
        raise RuntimeError(f"{topic} cannot be described: error {described['error_code']}")
    return sorted(p["partition"] for p in described["partitions"])


async def read_changelog(settings: AnalyticsSettings, topic: str) -> Held:
    """Every key the changelog holds to its end, with its last value; empty when the topic
    does not exist (no worker ever ran under that app id)."""
    partitions = await _partitions(settings, topic)
    held: Held = {}
    if not partitions:
        return held
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
        **settings.aiokafka_security(),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        left = {tp for tp in tps if ends[tp] > 0}
        while left:
            polled = await consumer.getmany(*left, timeout_ms=_POLL_MS)
            for tp, records in polled.items():
                for record in records:
                    if record.offset >= ends[tp] or record.key is None:
                        continue
                    key = json.loads(record.key)
                    if record.value is None:
                        held.pop(key, None)
                    else:
                        held[key] = (tp.partition, json.loads(record.value))
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    return held


async def write_changelog(
    settings: AnalyticsSettings, topic: str, writes: Iterable[tuple[int, str, Any]]
) -> int:
    """Append each (partition, key, value) to the changelog, in the order given (a value
    None deletes the key), acknowledged by the broker; how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **settings.aiokafka_security(),
    )
    await producer.start()
    sent = 0
    try:
        pending = []
        for partition, key, value in writes:
            encoded = None if value is None else codecs.dumps("json", value)
            pending.append(
                await producer.send(
                    topic, key=codecs.dumps("json", key), value=encoded, partition=partition
                )
            )
            sent += 1
        for future in pending:
            await future
    finally:
        await producer.stop()
    return sent


def by_table(held: Mapping[str, tuple[int, Any]], tables: Iterable[str]) -> dict[str, list[str]]:
    """The keys of each table (its prefix), sorted."""
    keys: dict[str, list[str]] = {table: [] for table in tables}
    for key in held:
        table = key.partition("/")[0]
        if table in keys:
            keys[table].append(key)
    return {table: sorted(names) for table, names in keys.items()}
