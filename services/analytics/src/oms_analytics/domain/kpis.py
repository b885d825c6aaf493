"""The figures of one window, how they add up across partitions, percentiles and rates."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Contribution", "WindowFigures", "percentile", "rate"]


@dataclass(frozen=True)
class Contribution:
    """What one event adds to the window of ``channel`` its time falls in."""

    channel: str
    placed: int = 0
    revenue: tuple[str, int] | None = None
    """(currency, amount in minor units) of a placed order."""
    cancellations: int = 0
    rejections: int = 0
    lead_time_s: float | None = None
    """Seconds from placement to the first shipment, for a shipped order."""


@dataclass
class WindowFigures:
    orders_placed: int = 0
    revenue_minor: dict[str, int] = field(default_factory=dict)
    cancellations: int = 0
    rejections: int = 0
    lead_times_s: list[float] = field(default_factory=list)

    def add(self, contribution: Contribution) -> None:
        self.orders_placed += contribution.placed
        if contribution.revenue is not None:
            currency, amount = contribution.revenue
            self.revenue_minor[currency] = self.revenue_minor.get(currency, 0) + amount
        self.cancellations += contribution.cancellations
        self.rejections += contribution.rejections
        if contribution.lead_time_s is not None:
            self.lead_times_s.append(contribution.lead_time_s)

    def merge(self, other: WindowFigures) -> None:
        self.orders_placed += other.orders_placed
        for currency, amount in other.revenue_minor.items():
            self.revenue_minor[currency] = self.revenue_minor.get(currency, 0) + amount
        self.cancellations += other.cancellations
        self.rejections += other.rejections
        self.lead_times_s.extend(other.lead_times_s)

    @classmethod
    def total(cls, parts: Iterable[WindowFigures]) -> WindowFigures:
        whole = cls()
        for part in parts:
            whole.merge(part)
        return whole

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders_placed": self.orders_placed,
            "revenue_minor": dict(self.revenue_minor),
            "cancellations": self.cancellations,
            "rejections": self.rejections,
            "lead_times_s": list(self.lead_times_s),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowFigures:
        return cls(
            orders_placed=int(data["orders_placed"]),
            revenue_minor={str(k): int(v) for k, v in data["revenue_minor"].items()},
            cancellations=int(data["cancellations"]),
            rejections=int(data["rejections"]),
            lead_times_s=[float(v) for v in data["lead_times_s"]],
        )

    def summary(self) -> dict[str, Any]:
        """The published figures: counts, revenue, rates and lead-time percentiles."""
        return {
            "orders_placed": self.orders_placed,
            "revenue_minor": dict(sorted(self.revenue_minor.items())),
            "cancellations": self.cancellations,
            "rejections": self.rejections,
            "cancellation_rate": rate(self.cancellations, self.orders_placed),
            "rejection_rate": rate(self.rejections, self.orders_placed + self.rejections),
            "shipped": len(self.lead_times_s),
            "lead_time_p50_s": percentile(self.lead_times_s, 0.5),
            "lead_time_p90_s": percentile(self.lead_times_s, 0.9),
        }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``q`` of all at or below
    it (p50 of 1..4 is 2, p90 of 1..10 is 9); None when there are none."""
    if not 0 < q <= 1:
        raise ValueError("q is in (0, 1]")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


def rate(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` rounded to four places; None when there is nothing to rate."""
    return round(part / whole, 4) if whole else None
