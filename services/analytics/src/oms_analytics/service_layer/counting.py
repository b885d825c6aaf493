"""One event read from a source topic, counted by every use case it concerns, its table
writes all or none and once (``journal.py``): the KPIs and locations, then the stock (from
oms.inventory) or the funds and the order's stay, whose alerts are out before the stay is
kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from oms_analytics.service_layer.funds import Funds
from oms_analytics.service_layer.journal import Journal
from oms_analytics.service_layer.stock import Stock
from oms_analytics.service_layer.stuck import Outcome, StuckOrders
from oms_analytics.service_layer.tracking import Analytics
from oms_events.envelope import Envelope
from oms_events.registry import EventPayload

__all__ = ["Counting", "Publish"]

Publish = Callable[[Outcome], Awaitable[None]]
"""Sends the outcome's alerts and, once the broker has them, keeps its stays."""


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

    async def count(
        self,
        topic: str,
        partition: int,
        offset: int,
        envelope: Envelope,
        payload: EventPayload | None,
        publish: Publish,
        keep: int | None = None,
    ) -> int | None:
        """Count the event at ``offset`` of ``topic`` and ``partition`` (``payload`` None:
        not a tracked type); None when it was counted before (read again after a crash),
        else how many table writes it made (``keep``: only the first so many written, the
        tests' torn write)."""
        if self.journal.seen(topic, partition, offset):
            return None
        self.journal.begin()
        try:
            self.analytics.record(envelope, payload, topic, partition)
            if topic == self.inventory_topic:
                if payload is not None:
                    self.stock.record(envelope, payload)
            else:
                if payload is not None:
                    self.funds.record(envelope, payload, partition)
                watermark = self.partition_watermark(partition)
                await publish(self.stuck.observe(envelope, payload, partition, watermark))
        except BaseException:
            self.journal.abandon()
            raise
        return self.journal.commit(topic, partition, offset, keep)

    def partition_watermark(self, partition: int) -> datetime | None:
        """The latest event time read on ``partition`` of any order topic (an order's events
        share their key, hence the partition number, on every one)."""
        marks = [self.analytics.watermark(name, partition) for name in self.order_topics]
        return max((mark for mark in marks if mark is not None), default=None)
