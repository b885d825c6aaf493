"""Tumbling event-time windows and the grace period that closes them.

An event belongs to the window its own time falls in (the envelope's ``time``, never the
moment it arrived). A window stays open for late events until the watermark (the latest
event time seen) passes its end plus the grace period; an event for a closed window is
dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = ["DEFAULT_GRACE", "Granularity", "Window", "accepts", "window_of"]

DEFAULT_GRACE = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Granularity(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"

    @property
    def length(self) -> timedelta:
        return timedelta(minutes=1) if self is Granularity.MINUTE else timedelta(hours=1)


@dataclass(frozen=True, order=True)
class Window:
    granularity: Granularity
    start: datetime

    @property
    def end(self) -> datetime:
        return self.start + self.granularity.length


def window_of(moment: datetime, granularity: Granularity) -> Window:
    """The tumbling window of ``granularity`` that ``moment`` (timezone-aware) falls in."""
    if moment.tzinfo is None:
        raise ValueError("event times are timezone-aware")
    length = granularity.length
    offset = (moment - _EPOCH) // length
    return Window(granularity, _EPOCH + offset * length)


def accepts(window: Window, watermark: datetime | None, grace: timedelta) -> bool:
    """Whether ``window`` still takes events: the watermark has not passed its end + grace."""
    return watermark is None or watermark < window.end + grace
