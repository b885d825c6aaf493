"""An order's events across the topics keyed by order id, in time order."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from oms_events.codec import InvalidEvent, decode_envelope
from oms_events.topics import TOPICS
from oms_ops.kafka import Broker

__all__ = ["order_topics", "trace"]


def order_topics() -> list[str]:
    """Logical names of the topics whose record key is the order id."""
    return [spec.name for spec in TOPICS if spec.key == "order_id"]


async def trace(broker: Broker, order_id: str, topics: list[str]) -> list[dict[str, Any]]:
    """Every record keyed ``order_id`` on ``topics`` (full names). The producers partition by
    key with Kafka's default partitioner, so one partition per topic is read."""
    key = order_id.encode()
    partitioner = DefaultPartitioner()
    wanted: list[TopicPartition] = []
    for topic in topics:
        partitions = await broker.partitions(topic)
        if partitions:
            wanted.append(TopicPartition(topic, partitioner(key, partitions, partitions)))
    found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    async for record in broker.read_partitions(wanted):
        if record.key != key:
            continue
        entry: dict[str, Any] = {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp_ms": record.timestamp,
        }
        try:
            envelope = decode_envelope(record.value or b"")
        except InvalidEvent as exc:
            entry.update(time=None, type=None, event_id=None, causation_id=None, error=exc.reason)
            when = record.timestamp / 1000
        else:
            when = envelope.time.timestamp()
            entry.update(
                time=envelope.time.isoformat(),
                type=envelope.type,
                event_id=str(envelope.id),
                causation_id=envelope.causationid,
                correlation_id=envelope.correlationid,
            )
        found.append(((when, record.timestamp, record.topic, record.offset), entry))
    found.sort(key=lambda item: item[0])
    return [entry for _, entry in found]
