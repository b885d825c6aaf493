"""The figures of one window, how they add up across partitions, percentiles and rates."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Self, TypeVar

__all__ = ["Contribution", "Figures", "LeadTimes", "WindowFigures", "percentile", "rate"]

_SIGNIFICANT_DIGITS = 3
_K = TypeVar("_K", str, float)


def rounded(seconds: float) -> float:
    """A lead time to three significant digits (within 0.5 %, whole minutes and hours
    exact): a window then holds at most 900 distinct values per power of ten of seconds,
    however many orders it counts."""
    return float(f"{seconds:.{_SIGNIFICANT_DIGITS}g}")


@dataclass
class LeadTimes:
    """Lead times kept for exact nearest-rank percentiles over values rounded to three
    significant digits, as (value, count): bounded in size, so a window's value stays far
    below the producer's request limit at any volume, and adding up across partitions and
    windows is adding counts."""

    counts: dict[float, int] = field(default_factory=dict)

    @classmethod
    def of(cls, seconds: Iterable[float]) -> LeadTimes:
        times = cls()
        for each in seconds:
            times.append(each)
        return times

    def append(self, seconds: float) -> None:
        key = rounded(seconds)
        self.counts[key] = self.counts.get(key, 0) + 1

    def extend(self, other: LeadTimes) -> None:
        _add_up(self.counts, other.counts.items())

    def __len__(self) -> int:
        return sum(self.counts.values())

    def expanded(self) -> list[float]:
        """Every lead time, in order (the history keeps them so in PostgreSQL)."""
        return [value for value, n in sorted(self.counts.items()) for _ in range(n)]

    def percentile(self, q: float) -> float | None:
        """The nearest-rank percentile, as :func:`percentile` over :meth:`expanded`."""
        rank = _rank(q, len(self))
        for value, n in sorted(self.counts.items()):
            rank -= n
            if rank <= 0:
                return value
        return None

    def to_json(self) -> list[list[float]]:
        return [[value, n] for value, n in sorted(self.counts.items())]

    @classmethod
    def from_json(cls, data: Iterable[Any]) -> LeadTimes:
        """``[[value, count], ...]``, or a plain list of values (windows stored before the
        counts, and the history's arrays)."""
        times = cls()
        for each in data:
            if isinstance(each, list):
                _add_up(times.counts, [(rounded(float(each[0])), int(each[1]))])
            else:
                times.append(float(each))
        return times


@dataclass
class Figures:
    """A window's figures, which add up field by field across partitions: counts add,
    lead times (kept for the percentiles) join, per-key amounts add per key."""

    def merge(self, other: Self) -> None:
        for each in fields(self):
            mine, theirs = getattr(self, each.name), getattr(other, each.name)
            if isinstance(mine, LeadTimes):
                mine.extend(theirs)
            elif isinstance(mine, dict):
                _add_up(mine, theirs.items())
            else:
                setattr(self, each.name, mine + theirs)

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figures:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """The published figures."""
        raise NotImplementedError

    def counted(self) -> int:
        """How many contributions were added: each adds one to a count or a list (an amount
        per key comes with a count) and none takes any away, so it only grows (the history's
        version of the figures)."""
        return sum(
            len(value) if isinstance(value, LeadTimes) else value
            for value in (getattr(self, each.name) for each in fields(self))
            if not isinstance(value, dict)
        )

    @classmethod
    def total(cls, parts: Iterable[Self]) -> Self:
        whole = cls()
        for part in parts:
            whole.merge(part)
        return whole


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
    backorders: int = 0
    delivery_lead_time_s: float | None = None
    """Seconds from placement to the order's completion (its last parcel delivered or
    collected)."""
    on_time: bool | None = None
    """A completed order against its promise: on or before it, or late."""
    returned: tuple[tuple[str, int], ...] = ()
    """(reason, units) of a return request, one pair per reason."""
    orders_returned: int = 0
    """An order's first return request, under the order's own channel."""


@dataclass
class WindowFigures(Figures):
    orders_placed: int = 0
    revenue_minor: dict[str, int] = field(default_factory=dict)
    cancellations: int = 0
    rejections: int = 0
    lead_times_s: LeadTimes = field(default_factory=LeadTimes)
    returns: int = 0
    returned_units: dict[str, int] = field(default_factory=dict)
    """Per return reason, the units the customers asked to return."""
    orders_returned: int = 0
    """Orders whose first return request falls in the window, under the order's channel."""
    backorders: int = 0
    delivery_lead_times_s: LeadTimes = field(default_factory=LeadTimes)
    on_time: int = 0
    late: int = 0

    def add(self, contribution: Contribution) -> None:
        self.orders_placed += contribution.placed
        if contribution.revenue is not None:
            _add_up(self.revenue_minor, [contribution.revenue])
        self.cancellations += contribution.cancellations
        self.rejections += contribution.rejections
        if contribution.lead_time_s is not None:
            self.lead_times_s.append(contribution.lead_time_s)
        if contribution.returned:
            self.returns += 1
            _add_up(self.returned_units, contribution.returned)
        self.orders_returned += contribution.orders_returned
        self.backorders += contribution.backorders
        if contribution.delivery_lead_time_s is not None:
            self.delivery_lead_times_s.append(contribution.delivery_lead_time_s)
        if contribution.on_time is not None:
            self.on_time += contribution.on_time
            self.late += not contribution.on_time

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders_placed": self.orders_placed,
            "revenue_minor": dict(self.revenue_minor),
            "cancellations": self.cancellations,
            "rejections": self.rejections,
            "lead_times_s": self.lead_times_s.to_json(),
            "returns": self.returns,
            "returned_units": dict(self.returned_units),
            "orders_returned": self.orders_returned,
            "backorders": self.backorders,
            "delivery_lead_times_s": self.delivery_lead_times_s.to_json(),
            "on_time": self.on_time,
            "late": self.late,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowFigures:
        return cls(
            orders_placed=int(data["orders_placed"]),
            revenue_minor={str(k): int(v) for k, v in data["revenue_minor"].items()},
            cancellations=int(data["cancellations"]),
            rejections=int(data["rejections"]),
            lead_times_s=LeadTimes.from_json(data["lead_times_s"]),
            # Windows stored before returns were counted have none.
            returns=int(data.get("returns", 0)),
            returned_units={str(k): int(v) for k, v in data.get("returned_units", {}).items()},
            # Windows stored before return rates were counted have none.
            orders_returned=int(data.get("orders_returned", 0)),
            # Windows stored before these were counted have none.
            backorders=int(data.get("backorders", 0)),
            delivery_lead_times_s=LeadTimes.from_json(data.get("delivery_lead_times_s", [])),
            on_time=int(data.get("on_time", 0)),
            late=int(data.get("late", 0)),
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
            "lead_time_p50_s": self.lead_times_s.percentile(0.5),
            "lead_time_p90_s": self.lead_times_s.percentile(0.9),
            "returns": self.returns,
            "returned_units_by_reason": dict(sorted(self.returned_units.items())),
            "orders_returned": self.orders_returned,
            "return_rate": rate(self.orders_returned, len(self.delivery_lead_times_s)),
            "backorders": self.backorders,
            "backorder_rate": rate(self.backorders, self.orders_placed),
            "delivered_or_collected": len(self.delivery_lead_times_s),
            "delivery_lead_time_p50_s": self.delivery_lead_times_s.percentile(0.5),
            "delivery_lead_time_p90_s": self.delivery_lead_times_s.percentile(0.9),
            "on_time_rate": rate(self.on_time, self.on_time + self.late),
        }


def _add_up(sums: dict[_K, int], amounts: Iterable[tuple[_K, int]]) -> None:
    for key, amount in amounts:
        sums[key] = sums.get(key, 0) + amount


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``q`` of all at or below
    it (p50 of 1..4 is 2, p90 of 1..10 is 9); None when there are none."""
    if not values:
        _rank(q, 0)
        return None
    ordered = sorted(values)
    return ordered[_rank(q, len(ordered)) - 1]


def _rank(q: float, n: int) -> int:
    """The nearest rank of the ``q`` percentile among ``n`` values (1-based)."""
    if not 0 < q <= 1:
        raise ValueError("q is in (0, 1]")
    return math.ceil(q * n)


def rate(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` rounded to four places; None when there is nothing to rate."""
    return round(part / whole, 4) if whole else None
