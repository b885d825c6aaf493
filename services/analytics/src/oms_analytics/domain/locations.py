"""The figures of one location's window: work offered to it, rejected by it and re-sourced
away from it, what it shipped (lead times) and its orders' promises kept.

An order's facts at a location (``LocationFacts``) are kept in its ``OrderFacts``; each
figure counts an order at most once per location, however often its events arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from oms_analytics.domain.kpis import Figures, LeadTimes, rate
from oms_analytics.domain.moments import from_stored, stored

__all__ = ["LocationContribution", "LocationFact", "LocationFacts", "LocationFigures"]

LocationFact = Literal["offered_at", "rejected_at", "resourced_at", "shipped_at"]


@dataclass
class LocationFacts:
    """What one order did at one location, each the first time it was read."""

    offered_at: datetime | None = None
    """``FulfilmentOrderCreated`` at the location (a reroute creates one at its target)."""
    rejected_at: datetime | None = None
    """``FulfilmentOrderRejected`` by the location."""
    resourced_at: datetime | None = None
    """``FulfilmentOrderRerouted`` away from the location."""
    shipped_at: datetime | None = None
    """The location's first ``ShipmentShipped`` for the order."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "offered_at": stored(self.offered_at),
            "rejected_at": stored(self.rejected_at),
            "resourced_at": stored(self.resourced_at),
            "shipped_at": stored(self.shipped_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocationFacts:
        return cls(**{name: from_stored(data.get(name)) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class LocationContribution:
    """What one order's fact adds to the window of ``location`` its time falls in."""

    location: str
    offered: int = 0
    rejected: int = 0
    resourced: int = 0
    lead_time_s: float | None = None
    """Seconds from the order's placement to the location's first shipment of it."""
    on_time: bool | None = None
    """The order (which the location shipped part of) completed on or before its promise."""


@dataclass
class LocationFigures(Figures):
    offered: int = 0
    rejected: int = 0
    resourced: int = 0
    lead_times_s: LeadTimes = field(default_factory=LeadTimes)
    on_time: int = 0
    late: int = 0

    def add(self, contribution: LocationContribution) -> None:
        self.offered += contribution.offered
        self.rejected += contribution.rejected
        self.resourced += contribution.resourced
        if contribution.lead_time_s is not None:
            self.lead_times_s.append(contribution.lead_time_s)
        if contribution.on_time is not None:
            self.on_time += contribution.on_time
            self.late += not contribution.on_time

    def to_dict(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "rejected": self.rejected,
            "resourced": self.resourced,
            "lead_times_s": self.lead_times_s.to_json(),
            "on_time": self.on_time,
            "late": self.late,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocationFigures:
        return cls(
            offered=int(data["offered"]),
            rejected=int(data["rejected"]),
            resourced=int(data["resourced"]),
            lead_times_s=LeadTimes.from_json(data["lead_times_s"]),
            on_time=int(data["on_time"]),
            late=int(data["late"]),
        )

    def summary(self) -> dict[str, Any]:
        """The published figures of the location's window."""
        return {
            "fulfilment_orders_offered": self.offered,
            "rejected": self.rejected,
            "rejection_rate": rate(self.rejected, self.offered),
            "resourced": self.resourced,
            "resourcing_rate": rate(self.resourced, self.offered),
            "shipped": len(self.lead_times_s),
            "lead_time_p50_s": self.lead_times_s.percentile(0.5),
            "lead_time_p90_s": self.lead_times_s.percentile(0.9),
            "on_time_rate": rate(self.on_time, self.on_time + self.late),
        }
