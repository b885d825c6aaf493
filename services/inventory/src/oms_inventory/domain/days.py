"""Which day the day close closes: the UTC day that ended last."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

__all__ = ["EndedDay", "last_ended_day"]


@dataclass(frozen=True)
class EndedDay:
    """A UTC day and the instant it ended (the next day's midnight)."""

    day: date
    ended_at: datetime


def last_ended_day(now: datetime) -> EndedDay:
    """The UTC day before ``now``'s UTC day: only the most recent ended day is closed, so the
    days a stopped service missed are never closed with stock read days later."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the day close needs a timezone-aware time")
    today = now.astimezone(UTC).date()
    return EndedDay(today - timedelta(days=1), datetime.combine(today, time.min, tzinfo=UTC))
