"""When a key of the analytics tables has expired, on event time.

"Now" is the watermark of the key's source partition (the latest event time read there, held
back by a topic with records still to read: ``partition_now``; for a SKU at a location the
latest read on oms.inventory), never the wall clock: a replay expires the same keys, and a
quiet partition expires nothing. A key expires once now has passed the
end of what it is about by the retention:

- a minute window: its end + the minute retention;
- an hour window, a day of money: the end of its UTC day + the retention, so a day's hours
  go together and the daily report finds a day whole in the tables or not at all;
- an order's facts, its ledger: once the order is closed (rejected, canceled or completed;
  an open order's never expire), the end of the UTC day of its latest event + the retention;
- a stay: once final (``COMPLETED``, ``CANCELED``, ``REJECTED``), its start + the retention;
- a SKU at a location: once no stock-out is under way and its latest stock-out ended, and
  its latest commit's hour ended, more than the retention ago.

Whether the history in PostgreSQL holds the key's figures first is the use case's to know
(``service_layer/expiry.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from oms_analytics.domain.ledger import FundsLedger
from oms_analytics.domain.orders import OrderFacts
from oms_analytics.domain.stock import StockFacts
from oms_analytics.domain.stuck import FINAL_STATUSES, Stay
from oms_analytics.domain.windows import Granularity, Window

__all__ = [
    "Retention",
    "day_end",
    "day_expired",
    "expired_through",
    "ledger_expired",
    "order_expired",
    "partition_now",
    "stay_expired",
    "stock_expired",
    "window_expired",
]


@dataclass(frozen=True)
class Retention:
    """How long past its end a key is kept: ``days`` for everything but the minute windows,
    ``minutes`` for them (the most numerous keys)."""

    days: timedelta
    minutes: timedelta

    def __post_init__(self) -> None:
        if self.days <= timedelta(0) or self.minutes <= timedelta(0):
            raise ValueError("a retention is longer than nothing")
        if self.minutes > self.days:
            raise ValueError("the minute windows are not kept longer than the rest")


def day_end(day: date) -> datetime:
    """The end of UTC ``day``: the next midnight."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def _past(end: datetime | None, keep: timedelta, now: datetime | None) -> bool:
    return end is not None and now is not None and end + keep <= now


def window_expired(window: Window, retention: Retention, now: datetime | None) -> bool:
    if window.granularity is Granularity.MINUTE:
        return _past(window.end, retention.minutes, now)
    return day_expired(window.start.date(), retention, now)


def day_expired(day: date, retention: Retention, now: datetime | None) -> bool:
    return _past(day_end(day), retention.days, now)


def expired_through(retention: Retention, now: datetime | None) -> date | None:
    """The last UTC day whose figures ``now`` (the latest watermark of every partition) may
    have expired: every day up to it may be gone from the tables; None before any."""
    if now is None:
        return None
    return (now - retention.days).date() - timedelta(days=1)


def partition_now(
    watermarks: Mapping[str, datetime | None], behind: Collection[str]
) -> datetime | None:
    """The expiry's "now" on one source partition from the watermarks of its topics: the
    latest event time read on any of them, but no later than the watermark of a topic that
    still has records to read there (``behind``; None while such a topic has none read).

    A topic read far ahead of another (a replay reads them at their own paces) cannot
    expire what the lagging one has yet to say; a quiet topic, read to its end, holds
    nothing back."""
    latest = max((mark for mark in watermarks.values() if mark is not None), default=None)
    for topic in behind:
        mark = watermarks.get(topic)
        if mark is None or latest is None:
            return None
        latest = min(latest, mark)
    return latest


def _latest(*moments: datetime | None) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)


def order_expired(facts: OrderFacts, retention: Retention, now: datetime | None) -> bool:
    """Closed, and its latest event's day ended more than the retention ago."""
    if facts.rejected_at is None and facts.canceled_at is None and facts.completed_at is None:
        return False
    latest = _latest(
        facts.placed_at,
        facts.rejected_at,
        facts.canceled_at,
        facts.shipped_at,
        facts.backordered_at,
        facts.completed_at,
        *(request.at for request in facts.returns.values()),
        *(
            moment
            for at_location in facts.locations.values()
            for moment in (
                at_location.offered_at,
                at_location.rejected_at,
                at_location.resourced_at,
                at_location.shipped_at,
            )
        ),
    )
    return latest is not None and day_expired(latest.date(), retention, now)


def ledger_expired(ledger: FundsLedger, retention: Retention, now: datetime | None) -> bool:
    """Closed, and its latest money event's (or placement's, closure's) day ended more than
    the retention ago: the days it was counted in expire no later."""
    if ledger.closure is None:
        return False
    latest = _latest(ledger.placed_at, ledger.closed_at, *(m.at for m in ledger.movements.values()))
    return latest is not None and day_expired(latest.date(), retention, now)


def stay_expired(stay: Stay, retention: Retention, now: datetime | None) -> bool:
    """Final, and begun more than the retention ago."""
    return stay.status in FINAL_STATUSES and _past(stay.since, retention.days, now)


def stock_expired(facts: StockFacts, retention: Retention, now: datetime | None) -> bool:
    """Nothing under way, and its latest stock-out's end, its latest commit's hour and its
    latest closed day more than the retention ago."""
    if facts.current is not None:
        return False
    ends = [out.until for out in facts.stock_outs]
    hours = [datetime.fromisoformat(hour) + timedelta(hours=1) for hour in facts.moved]
    days = [
        datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1) for day in facts.closing
    ]
    latest = _latest(*ends, *hours, *days)
    return latest is not None and _past(latest, retention.days, now)
