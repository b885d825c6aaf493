"""What analytics remembers of each order, and which figures its facts add.

Facts arrive in any order (a shipment can be read before its order's acceptance: they are
different topics) and more than once (redelivery, replay). Each fact is kept the first time
it is seen; ``settle`` turns the facts into contributions once each can be counted (a
cancellation needs the order's channel, a lead time its placement) and marks them counted,
so every figure counts an order at most once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from oms_analytics.domain.kpis import Contribution
from oms_analytics.domain.locations import LocationContribution, LocationFact, LocationFacts
from oms_analytics.domain.moments import from_stored, stored

__all__ = ["OrderFacts", "ReturnRequest", "settle", "settle_locations"]

_Counted = TypeVar("_Counted", Contribution, LocationContribution)


@dataclass(frozen=True)
class ReturnRequest:
    channel: str
    """Where the return was asked for (any channel, whatever the order's)."""
    at: datetime
    units: tuple[tuple[str, int], ...]
    """(reason, units), one pair per reason."""

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "at": stored(self.at), "units": list(self.units)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReturnRequest:
        return cls(
            channel=data["channel"],
            at=datetime.fromisoformat(data["at"]),
            units=tuple((str(reason), int(units)) for reason, units in data["units"]),
        )


@dataclass
class OrderFacts:
    channel: str | None = None
    placed_at: datetime | None = None
    revenue: tuple[str, int] | None = None
    rejected_at: datetime | None = None
    canceled_at: datetime | None = None
    shipped_at: datetime | None = None
    backordered_at: datetime | None = None
    completed_at: datetime | None = None
    promised_by: datetime | None = None
    """The first fulfilment order's promise (a re-routed one keeps it)."""
    returns: dict[str, ReturnRequest] = field(default_factory=dict)
    """By return id."""
    locations: dict[str, LocationFacts] = field(default_factory=dict)
    """By location id: the order's work offered to, rejected by, re-sourced away from and
    shipped from each location."""
    counted: set[str] = field(default_factory=set)
    read_marks: dict[str, str | None] = field(default_factory=dict)
    """Per moment of a fact (its event's time), the watermark of that event's topic partition
    when it was first read. A figure at that moment is judged late against it, not against the
    watermark of whichever topic's event made the figure due: each partition is read in order,
    so two readings that interleave the topics differently judge every figure alike."""
    partition: int | None = None
    """The source partition of the order's events, whose changelog partition holds these
    facts (None in facts stored before it was kept)."""

    def placed(self, channel: str, at: datetime, currency: str, amount_minor: int) -> None:
        if self.placed_at is None:
            self.channel, self.placed_at, self.revenue = channel, at, (currency, amount_minor)

    def rejected(self, channel: str, at: datetime) -> None:
        if self.rejected_at is None:
            self.channel = self.channel or channel
            self.rejected_at = at

    def canceled(self, at: datetime) -> None:
        if self.canceled_at is None:
            self.canceled_at = at

    def shipped(self, at: datetime) -> None:
        if self.shipped_at is None:
            self.shipped_at = at

    def backordered(self, at: datetime) -> None:
        if self.backordered_at is None:
            self.backordered_at = at

    def completed(self, at: datetime) -> None:
        if self.completed_at is None:
            self.completed_at = at

    def promised(self, by: datetime) -> None:
        if self.promised_by is None:
            self.promised_by = by

    def returned(self, return_id: str, request: ReturnRequest) -> None:
        self.returns.setdefault(return_id, request)

    def at_location(self, location: str, fact: LocationFact, at: datetime) -> None:
        """Keep ``fact`` (``offered_at``, ``rejected_at``...) of the order at ``location``,
        the first time it is read."""
        facts = self.locations.setdefault(location, LocationFacts())
        if getattr(facts, fact) is None:
            setattr(facts, fact, at)

    def read_at(self, at: datetime, watermark: datetime | None) -> None:
        """An event of time ``at`` was read where the watermark stood at ``watermark``. Of
        events of one time (two topics', a redelivery), the lowest mark is kept (none read
        yet is the lowest): the same whichever is read first."""
        key = at.isoformat()
        if key in self.read_marks:
            known = from_stored(self.read_marks[key])
            watermark = None if known is None or watermark is None else min(known, watermark)
        self.read_marks[key] = stored(watermark)

    def watermark_at(self, moment: datetime, otherwise: datetime | None) -> datetime | None:
        """The watermark a figure at ``moment`` is judged against: its fact's, or
        ``otherwise`` for facts stored before the marks were kept."""
        if moment.isoformat() in self.read_marks:
            return from_stored(self.read_marks[moment.isoformat()])
        return otherwise

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "placed_at": stored(self.placed_at),
            "revenue": list(self.revenue) if self.revenue else None,
            "rejected_at": stored(self.rejected_at),
            "canceled_at": stored(self.canceled_at),
            "shipped_at": stored(self.shipped_at),
            "backordered_at": stored(self.backordered_at),
            "completed_at": stored(self.completed_at),
            "promised_by": stored(self.promised_by),
            "returns": {key: request.to_dict() for key, request in self.returns.items()},
            "locations": {key: facts.to_dict() for key, facts in self.locations.items()},
            "counted": sorted(self.counted),
            "read_marks": dict(self.read_marks),
            "partition": self.partition,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderFacts:
        revenue = data["revenue"]
        return cls(
            channel=data["channel"],
            placed_at=from_stored(data["placed_at"]),
            revenue=(str(revenue[0]), int(revenue[1])) if revenue else None,
            rejected_at=from_stored(data["rejected_at"]),
            canceled_at=from_stored(data["canceled_at"]),
            shipped_at=from_stored(data["shipped_at"]),
            # Facts stored before these were kept have none.
            backordered_at=from_stored(data.get("backordered_at")),
            completed_at=from_stored(data.get("completed_at")),
            promised_by=from_stored(data.get("promised_by")),
            # Facts stored before returns were counted have none.
            returns={k: ReturnRequest.from_dict(v) for k, v in data.get("returns", {}).items()},
            # Facts stored before locations were counted have none.
            locations={k: LocationFacts.from_dict(v) for k, v in data.get("locations", {}).items()},
            counted=set(data["counted"]),
            # Facts stored before the marks were kept have none.
            read_marks=dict(data.get("read_marks", {})),
            partition=data.get("partition"),
        )


def settle(facts: OrderFacts) -> list[tuple[datetime, Contribution]]:
    """The contributions the facts allow that were not counted yet, each with its event time."""
    due: list[tuple[datetime, Contribution]] = []
    channel = facts.channel
    count = _counter(facts, due)

    for return_id, request in sorted(facts.returns.items()):
        count(
            f"return/{return_id}", request.at, Contribution(request.channel, returned=request.units)
        )
    if channel is None:
        return due
    count("placed", facts.placed_at, Contribution(channel, placed=1, revenue=facts.revenue))
    count("rejected", facts.rejected_at, Contribution(channel, rejections=1))
    count("canceled", facts.canceled_at, Contribution(channel, cancellations=1))
    if (lead := _seconds(facts.placed_at, facts.shipped_at)) is not None:
        count("shipped", facts.shipped_at, Contribution(channel, lead_time_s=lead))
    count("backordered", facts.backordered_at, Contribution(channel, backorders=1))
    if (lead := _seconds(facts.placed_at, facts.completed_at)) is not None:
        count("completed", facts.completed_at, Contribution(channel, delivery_lead_time_s=lead))
    if (on_time := _on_time(facts)) is not None:
        count("on_time", facts.completed_at, Contribution(channel, on_time=on_time))
    if facts.placed_at is not None and facts.returns:
        first_return = min(request.at for request in facts.returns.values())
        count("order_returned", first_return, Contribution(channel, orders_returned=1))
    return due


def settle_locations(facts: OrderFacts) -> list[tuple[datetime, LocationContribution]]:
    """The per-location contributions the facts allow that were not counted yet, each with
    its event time: offered, rejected, re-sourced when read; a lead time once the placement
    is known; on time or late once the order is completed against a known promise, under
    each location that shipped part of it."""
    due: list[tuple[datetime, LocationContribution]] = []
    for location, known in sorted(facts.locations.items()):
        count = _counter(facts, due, f"location/{location}/")
        count("offered", known.offered_at, LocationContribution(location, offered=1))
        count("rejected", known.rejected_at, LocationContribution(location, rejected=1))
        count("resourced", known.resourced_at, LocationContribution(location, resourced=1))
        if known.shipped_at is None:
            continue
        if (lead := _seconds(facts.placed_at, known.shipped_at)) is not None:
            count("shipped", known.shipped_at, LocationContribution(location, lead_time_s=lead))
        if (on_time := _on_time(facts)) is not None:
            count("on_time", facts.completed_at, LocationContribution(location, on_time=on_time))
    return due


def _seconds(since: datetime | None, until: datetime | None) -> float | None:
    """Seconds from ``since`` to ``until``, never negative; None while either is unknown."""
    if since is None or until is None:
        return None
    return max((until - since).total_seconds(), 0.0)


def _on_time(facts: OrderFacts) -> bool | None:
    """Completed on or before the promise; None while either is unknown."""
    if facts.completed_at is None or facts.promised_by is None:
        return None
    return facts.completed_at <= facts.promised_by


def _counter(
    facts: OrderFacts, due: list[tuple[datetime, _Counted]], prefix: str = ""
) -> Callable[[str, datetime | None, _Counted], None]:
    """``count(name, at, contribution)``: adds the contribution to ``due`` at ``at`` unless
    ``prefix + name`` was counted (or ``at`` is not known yet), and marks it counted."""

    def count(name: str, at: datetime | None, contribution: _Counted) -> None:
        if at is not None and prefix + name not in facts.counted:
            facts.counted.add(prefix + name)
            due.append((at, contribution))

    return count
