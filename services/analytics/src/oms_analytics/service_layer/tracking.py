"""The analytics use case: an event read from a public topic updates the order's facts and the
windows its figures land in; a query adds the windows up.

The stores are mappings (faust tables in the worker, dicts in unit tests). Window figures
are kept per source partition: a table's changelog record goes to the partition of the event
that wrote it, so a key written from two partitions would recover from whichever changelog
partition was read last. Keyed per partition, each changelog partition holds only its own
sub-totals, and a query sums them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import MutableMapping
from datetime import date, datetime, timedelta
from typing import Any

from oms_analytics.domain.kpis import Contribution, WindowFigures
from oms_analytics.domain.moments import utc_iso
from oms_analytics.domain.orders import OrderFacts, ReturnRequest, settle
from oms_analytics.domain.windows import Granularity, Window, accepts, window_of
from oms_events.envelope import Envelope
from oms_events.fulfilment import ShipmentShipped
from oms_events.orders import OrderAccepted, OrderCanceled, OrderCompleted, OrderRejected
from oms_events.registry import EventPayload
from oms_events.returns import ReturnRequested
from oms_events.sourcing import FulfilmentOrderCreated, OrderBackordered

__all__ = ["TRACKED", "Analytics", "Store"]

Store = MutableMapping[str, Any]

TRACKED = (
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    ShipmentShipped,
    ReturnRequested,
    OrderBackordered,
    OrderCompleted,
    FulfilmentOrderCreated,
)
"""The event types that change a figure; every other event only moves the watermark."""


class Analytics:
    def __init__(self, orders: Store, windows: Store, marks: Store, grace: timedelta) -> None:
        self.orders = orders
        self.windows = windows
        self.marks = marks
        self.grace = grace

    def record(
        self, envelope: Envelope, payload: EventPayload | None, topic: str, partition: int
    ) -> None:
        """Count one event read from ``topic`` and ``partition`` (``payload`` None: not a
        tracked type). Its figures are checked against that topic partition's watermark,
        which then moves to the event's time if that is later: each topic partition is read
        in order, so a replay finds the same watermarks as the first reading did."""
        watermark = self.watermark(topic, partition)
        if payload is not None:
            self._record(envelope, payload, partition, watermark)
        if watermark is None or envelope.time > watermark:
            self.marks[f"watermark/{topic}/{partition}"] = envelope.time.isoformat()

    def _record(
        self, envelope: Envelope, payload: EventPayload, partition: int, watermark: datetime | None
    ) -> None:
        if not isinstance(payload, TRACKED):
            return
        at = envelope.time
        order_id = payload.order_id  # every tracked event is about one order
        facts = self._facts(order_id)
        match payload:
            case OrderAccepted():
                total = payload.totals.grand_total
                facts.placed(payload.channel, at, total.currency, total.amount_minor)
            case OrderRejected():
                facts.rejected(payload.channel, at)
            case OrderCanceled():
                facts.canceled(at)
            case ShipmentShipped():
                facts.shipped(at)
            case OrderBackordered():
                facts.backordered(at)
            case OrderCompleted():
                facts.completed(at)
            case FulfilmentOrderCreated() if payload.promised_by is not None:
                facts.promised(payload.promised_by)
            case ReturnRequested():
                facts.returned(payload.return_id, _return_request(payload, at))
        due = settle(facts)
        self.orders[order_id] = facts.to_dict()
        for moment, contribution in due:
            self._add(moment, contribution, partition, watermark)

    def _facts(self, order_id: str) -> OrderFacts:
        known = self.orders.get(order_id)
        return OrderFacts.from_dict(known) if known is not None else OrderFacts()

    def _add(
        self,
        moment: datetime,
        contribution: Contribution,
        partition: int,
        watermark: datetime | None,
    ) -> None:
        for granularity in Granularity:
            window = window_of(moment, granularity)
            if not accepts(window, watermark, self.grace):
                late_key = f"late/{granularity}/{partition}"
                self.marks[late_key] = int(self.marks.get(late_key, 0)) + 1
                continue
            key = _window_key(window, contribution.channel, partition)
            known = self.windows.get(key)
            figures = WindowFigures.from_dict(known) if known is not None else WindowFigures()
            figures.add(contribution)
            self.windows[key] = figures.to_dict()

    def watermark(self, topic: str, partition: int) -> datetime | None:
        mark = self.marks.get(f"watermark/{topic}/{partition}")
        return datetime.fromisoformat(mark) if mark else None

    def kpis(self, granularity: Granularity, channel: str | None = None) -> dict[str, Any]:
        """Every window of ``granularity`` (of one channel, or each channel), oldest first."""
        return {
            "window": str(granularity),
            "channel": channel,
            "grace_seconds": int(self.grace.total_seconds()),
            "late_events_dropped": self._late(granularity),
            "windows": [
                {
                    "start": utc_iso(start),
                    "end": utc_iso(Window(granularity, start).end),
                    "channel": window_channel,
                    **WindowFigures.total(figures).summary(),
                }
                for (start, window_channel), figures in sorted(
                    self._parts(granularity, channel).items()
                )
            ],
        }

    def daily(self, first: date | None, last: date | None, channel: str | None) -> dict[str, Any]:
        """Per day (UTC, from ``first`` to ``last`` inclusive, each optional) and channel,
        oldest first: the day's hourly windows added up (lead-time percentiles over every
        order shipped that day, not an average of the hours')."""
        days: dict[tuple[date, str], list[WindowFigures]] = defaultdict(list)
        for (start, window_channel), figures in self._parts(Granularity.HOUR, channel).items():
            day = start.date()
            if (first is None or first <= day) and (last is None or day <= last):
                days[(day, window_channel)].extend(figures)
        return {
            "from": first.isoformat() if first else None,
            "to": last.isoformat() if last else None,
            "channel": channel,
            "late_events_dropped": self._late(Granularity.HOUR),
            "days": [
                {
                    "day": day.isoformat(),
                    "channel": day_channel,
                    **WindowFigures.total(figures).summary(),
                }
                for (day, day_channel), figures in sorted(days.items())
            ],
        }

    def _parts(
        self, granularity: Granularity, channel: str | None
    ) -> dict[tuple[datetime, str], list[WindowFigures]]:
        """Each window's figures per source partition, by window start and channel."""
        parts: dict[tuple[datetime, str], list[WindowFigures]] = defaultdict(list)
        for key, value in list(self.windows.items()):
            kind, window_channel, start, _partition = json.loads(key)
            if kind != granularity or (channel and window_channel != channel):
                continue
            parts[(datetime.fromisoformat(start), window_channel)].append(
                WindowFigures.from_dict(value)
            )
        return parts

    def _late(self, granularity: Granularity) -> int:
        return sum(
            int(value)
            for key, value in list(self.marks.items())
            if key.startswith(f"late/{granularity}/")
        )


def _return_request(payload: ReturnRequested, at: datetime) -> ReturnRequest:
    units: dict[str, int] = defaultdict(int)
    for line in payload.lines:
        units[str(line.reason)] += line.quantity
    return ReturnRequest(payload.channel, at, tuple(sorted(units.items())))


def _window_key(window: Window, channel: str, partition: int) -> str:
    return json.dumps([str(window.granularity), channel, utc_iso(window.start), partition])
