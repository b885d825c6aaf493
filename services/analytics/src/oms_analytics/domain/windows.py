"""Tumbling event-time windows and the grace period that closes them; hopping windows made
of minute windows.

An event belongs to the window its own time falls in (the envelope's ``time``, never the
moment it arrived). A window stays open for late events until the watermark (the latest
event time seen) passes its end plus the grace period; an event for a closed window is
dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = [
    "DEFAULT_GRACE",
    "ROLLING_HOUR",
    "Granularity",
    "Hopping",
    "Window",
    "accepts",
    "window_of",
]

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


@dataclass(frozen=True)
class Hopping:
    """Hopping windows of ``size`` advancing by ``step``: one starts at every multiple of
    ``step`` since the epoch (UTC) and ends ``size`` later, so a moment is in
    ``size / step`` of them. Both are whole minutes and ``step`` divides ``size``, so a hop
    is exactly a run of minute windows and its figures are theirs added up."""

    size: timedelta
    step: timedelta

    def __post_init__(self) -> None:
        minute = Granularity.MINUTE.length
        if self.step <= timedelta(0) or self.step % minute or self.size % self.step:
            raise ValueError("a hop's step is whole minutes and divides its size")

    def covering(self, moment: datetime) -> list[datetime]:
        """The starts of the hops ``moment`` falls in, oldest first."""
        latest = window_of(moment, Granularity.MINUTE).start
        latest -= (latest - _EPOCH) % self.step
        count = self.size // self.step
        return [latest - (count - 1 - n) * self.step for n in range(count)]


ROLLING_HOUR = Hopping(size=timedelta(hours=1), step=timedelta(minutes=5))
"""The last 60 minutes, advancing every 5."""
