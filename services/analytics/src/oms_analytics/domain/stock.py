"""One SKU at one location: its stock-outs (from ``OutOfStock`` to ``BackInStock``), the
units it moved (``StockCommitted``, each commit once) and its stock on hand as each UTC day
closed (``StockDayClosed``, each day once), on event time.

A stock-out is known by its start (``OutOfStock.since``), so a redelivered or replayed
``OutOfStock`` adds nothing; ``BackInStock`` ends the stock-out under way at its event time
and is nothing when none is. A commit is known by its reservation and shipment. The figures
of a window are computed from the stock-outs as they stand, so a late event corrects them
(there is no grace period: nothing needs a window closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from oms_analytics.domain.moments import from_stored, stored
from oms_analytics.domain.windows import Window

__all__ = ["StockFacts", "StockOut"]


@dataclass(frozen=True)
class StockOut:
    since: datetime
    until: datetime | None = None
    """None while it lasts."""

    def seconds_within(self, start: datetime, end: datetime, now: datetime) -> float:
        """Seconds of this stock-out within ``[start, end)``; one still under way lasts until
        ``now`` (event time: the latest read)."""
        stop = self.until if self.until is not None else max(now, self.since)
        return max((min(stop, end) - max(self.since, start)).total_seconds(), 0.0)


@dataclass
class StockFacts:
    stock_outs: list[StockOut] = field(default_factory=list)
    """Oldest first."""
    moved: dict[str, int] = field(default_factory=dict)
    """Units committed (shipped) per event-time moment's hour, ``2026-11-24T09:00:00+00:00``."""
    commits: set[str] = field(default_factory=set)
    """``<reservation id>/<shipment id>`` of every commit counted."""
    closing: dict[str, int] = field(default_factory=dict)
    """Units on hand as each UTC day closed, per day, ``2026-11-24``."""

    @property
    def current(self) -> StockOut | None:
        """The stock-out under way, if any."""
        last = self.stock_outs[-1] if self.stock_outs else None
        return last if last is not None and last.until is None else None

    def out_of_stock(self, since: datetime) -> bool:
        """Whether this starts a stock-out (not one under way, nor one already known)."""
        if self.current is not None or any(s.since == since for s in self.stock_outs):
            return False
        self.stock_outs.append(StockOut(since))
        self.stock_outs.sort(key=lambda s: s.since)
        return True

    def back_in_stock(self, at: datetime) -> bool:
        """Whether this ends the stock-out under way."""
        current = self.current
        if current is None:
            return False
        self.stock_outs[-1] = StockOut(current.since, max(at, current.since))
        return True

    def committed(self, commit_id: str, hour: Window, units: int) -> bool:
        """Whether this commit is new: its units then count in ``hour``."""
        if commit_id in self.commits:
            return False
        self.commits.add(commit_id)
        key = hour.start.isoformat()
        self.moved[key] = self.moved.get(key, 0) + units
        return True

    def closed(self, day: date, on_hand: int) -> bool:
        """Whether this is the first close of ``day`` read: its stock on hand is then kept."""
        key = day.isoformat()
        if key in self.closing:
            return False
        self.closing[key] = on_hand
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "stock_outs": [[stored(s.since), stored(s.until)] for s in self.stock_outs],
            "moved": dict(self.moved),
            "commits": sorted(self.commits),
            "closing": dict(self.closing),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StockFacts:
        outs = []
        for since, until in data["stock_outs"]:
            start = from_stored(since)
            assert start is not None
            outs.append(StockOut(start, from_stored(until)))
        return cls(
            stock_outs=outs,
            moved={str(k): int(v) for k, v in data["moved"].items()},
            commits=set(data["commits"]),
            # Values kept before days were closed have none.
            closing={str(k): int(v) for k, v in data.get("closing", {}).items()},
        )
