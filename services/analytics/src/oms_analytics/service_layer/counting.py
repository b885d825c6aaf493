"""A batch of events read from the source topics, each counted by every use case it concerns
(the KPIs and locations, then the stock from oms.inventory, or the funds and the order's
stay, whose alerts are out before the stay is kept), the batch's table writes all or none
and once (``journal.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from oms_analytics.service_layer.funds import FUNDS_TRACKED, Funds
from oms_analytics.service_layer.journal import Journal
from oms_analytics.service_layer.stock import STOCK_TRACKED, Stock
from oms_analytics.service_layer.stuck import STUCK_TRACKED, Outcome, StuckOrders
from oms_analytics.service_layer.tracking import TRACKED, Analytics
from oms_events.codec import decode_envelope, decode_payload
from oms_events.envelope import Envelope
from oms_events.registry import EventPayload

__all__ = ["Counting", "Publish", "Read", "read_of"]

Publish = Callable[[Outcome], Awaitable[None]]
"""Sends the outcome's alerts and, once the broker has them, keeps its stays."""


class Read(NamedTuple):
    """An event read: where from, its envelope, its payload (None: not a tracked type)."""

    topic: str
    partition: int
    offset: int
    envelope: Envelope
    payload: EventPayload | None


_TRACKED_TYPES = frozenset(
    model.event_type
    for models in (TRACKED, FUNDS_TRACKED, STUCK_TRACKED, STOCK_TRACKED)
    for model in models
)


def read_of(topic: str, partition: int, offset: int, value: bytes | None) -> Read:
    """A record as counted: its envelope, and its payload validated only when a use case
    counts its type. Raises ``InvalidEvent`` when the codec refuses it."""
    envelope = decode_envelope(value or b"")
    payload = decode_payload(envelope).payload if envelope.type in _TRACKED_TYPES else None
    return Read(topic, partition, offset, envelope, payload)


class Counting:
    def __init__(
        self,
        journal: Journal,
        analytics: Analytics,
        funds: Funds,
        stuck: StuckOrders,
        stock: Stock,
        order_topics: Sequence[str],
        inventory_topic: str,
    ) -> None:
        self.journal = journal
        self.analytics = analytics
        self.funds = funds
        self.stuck = stuck
        self.stock = stock
        self.order_topics = tuple(order_topics)
        self.inventory_topic = inventory_topic

    async def count(self, reads: Sequence[Read], publish: Publish, keep: int | None = None) -> int:
        """Count a batch of events; those counted before (read again after a crash) are
        skipped. How many keys the batch wrote (``keep``: only the first so many records
        written, the tests' torn write)."""
        journal = self.journal
        journal.begin()
        try:
            for read in reads:
                if not journal.seen(read.topic, read.partition, read.offset):
                    journal.reading(read.partition)
                    await self._count(read, publish)
                    journal.counted(read.topic, read.partition, read.offset)
        except BaseException:
            journal.abandon()
            raise
        return journal.commit(keep)

    async def _count(self, read: Read, publish: Publish) -> None:
        envelope, payload, partition = read.envelope, read.payload, read.partition
        self.analytics.record(envelope, payload, read.topic, partition)
        if read.topic == self.inventory_topic:
            if payload is not None:
                self.stock.record(envelope, payload)
            return
        if payload is not None:
            self.funds.record(envelope, payload, partition)
        watermark = self.partition_watermark(partition)
        await publish(self.stuck.observe(envelope, payload, partition, watermark))

    def partition_watermark(self, partition: int) -> datetime | None:
        """The latest event time read on ``partition`` of any order topic (an order's events
        share their key, hence the partition number, on every one)."""
        marks = [self.analytics.watermark(name, partition) for name in self.order_topics]
        return max((mark for mark in marks if mark is not None), default=None)
