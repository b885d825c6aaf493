"""Orders stuck in a status: an order's current stay in a status, the thresholds, and when a
stay is reported (once) and cleared.

Judged on event time: a stay is stuck once the watermark (the latest event time read) passes
its ``since`` + the status's threshold, or once the order leaves the status after that long.
A stay that outlasted its threshold is therefore reported however the topics were
interleaved on a reading, and a replay reports the same stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from oms_analytics.domain.moments import from_stored, stored

__all__ = [
    "DEFAULT_STUCK_AFTER",
    "FINAL_STATUSES",
    "Alert",
    "Cleared",
    "Detected",
    "FlowStatus",
    "Stay",
    "Step",
    "StuckPolicy",
    "move",
]


class FlowStatus(StrEnum):
    """An order's status as analytics follows it across the order, sourcing and shipment
    topics (the order service's statuses, with its hold and the shipments' milestones)."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    ON_HOLD = "ON_HOLD"
    ALLOCATED = "ALLOCATED"
    BACKORDERED = "BACKORDERED"
    RELEASED = "RELEASED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COLLECTED = "COLLECTED"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


FINAL_STATUSES = frozenset({FlowStatus.COMPLETED, FlowStatus.CANCELED, FlowStatus.REJECTED})

_MINUTE, _HOUR, _DAY = 60, 3600, 86400
DEFAULT_STUCK_AFTER: dict[FlowStatus, int] = {
    FlowStatus.PENDING: 15 * _MINUTE,
    FlowStatus.CONFIRMED: 15 * _MINUTE,
    FlowStatus.ON_HOLD: 4 * _HOUR,
    FlowStatus.ALLOCATED: 2 * _HOUR,
    FlowStatus.BACKORDERED: 7 * _DAY,
    FlowStatus.RELEASED: 24 * _HOUR,
    FlowStatus.SHIPPED: 7 * _DAY,
    FlowStatus.DELIVERED: 24 * _HOUR,
    FlowStatus.COLLECTED: 24 * _HOUR,
}
"""Seconds per watched status (docs/analytics.md)."""


@dataclass(frozen=True)
class StuckPolicy:
    thresholds: Mapping[FlowStatus, timedelta]
    """Watched statuses; a status not listed is never stuck."""

    def __post_init__(self) -> None:
        final = sorted(s for s in self.thresholds if s in FINAL_STATUSES)
        if final:
            raise ValueError(f"final statuses are never stuck: {', '.join(final)}")
        short = sorted(s for s, t in self.thresholds.items() if t < timedelta(seconds=1))
        if short:
            raise ValueError(f"thresholds must be at least one second: {', '.join(short)}")

    @classmethod
    def of_seconds(cls, seconds: Mapping[FlowStatus, int]) -> StuckPolicy:
        return cls({status: timedelta(seconds=s) for status, s in seconds.items()})

    def deadline(self, status: FlowStatus, since: datetime) -> datetime | None:
        """When a stay in ``status`` from ``since`` becomes stuck; None if never."""
        threshold = self.thresholds.get(status)
        return since + threshold if threshold is not None else None


@dataclass(frozen=True)
class Detected:
    order_id: str
    status: FlowStatus
    since: datetime
    threshold: timedelta
    stuck_at: datetime
    channel: str | None
    locations: tuple[str, ...]


@dataclass(frozen=True)
class Cleared:
    order_id: str
    status: FlowStatus
    since: datetime
    left_at: datetime
    next_status: FlowStatus


Alert = Detected | Cleared


@dataclass(frozen=True)
class Stay:
    """An order's current status and since when (event time), what is known of where it is,
    and whether this stay was reported stuck."""

    order_id: str
    status: FlowStatus
    since: datetime
    partition: int
    """The source partition of the order's events: whose watermark judges the stay."""
    channel: str | None = None
    locations: tuple[str, ...] = ()
    held_from: FlowStatus | None = None
    """The status an ``ON_HOLD`` stay returns to on release."""
    stuck_at: datetime | None = None
    """Set once the stay was reported stuck."""

    def detect(self, policy: StuckPolicy, watermark: datetime) -> Detected | None:
        """The stay's report if it is due by ``watermark`` and not made yet."""
        deadline = policy.deadline(self.status, self.since)
        if self.stuck_at is not None or deadline is None or watermark < deadline:
            return None
        return Detected(
            self.order_id,
            self.status,
            self.since,
            deadline - self.since,
            deadline,
            self.channel,
            self.locations,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "since": stored(self.since),
            "partition": self.partition,
            "channel": self.channel,
            "locations": list(self.locations),
            "held_from": str(self.held_from) if self.held_from else None,
            "stuck_at": stored(self.stuck_at),
        }

    @classmethod
    def from_dict(cls, order_id: str, data: Mapping[str, Any]) -> Stay:
        since = from_stored(data["since"])
        assert since is not None
        held_from = data["held_from"]
        return cls(
            order_id=order_id,
            status=FlowStatus(data["status"]),
            since=since,
            partition=int(data["partition"]),
            channel=data["channel"],
            locations=tuple(data["locations"]),
            held_from=FlowStatus(held_from) if held_from else None,
            stuck_at=from_stored(data["stuck_at"]),
        )


@dataclass(frozen=True)
class Step:
    """What one lifecycle event does to an order: its stay afterwards and the alerts due."""

    stay: Stay
    alerts: list[Alert] = field(default_factory=list)


def move(
    stay: Stay | None,
    order_id: str,
    status: FlowStatus | None,
    at: datetime,
    partition: int,
    policy: StuckPolicy,
    *,
    channel: str | None = None,
    locations: tuple[str, ...] = (),
    release: bool = False,
) -> Step | None:
    """The order's stay after an event at ``at`` that puts it in ``status`` (``release``: a
    hold released, back to the status before it). None when nothing changes.

    An event older than the current stay's start is old news for the status (the topics are
    read interleaved) but still tells the channel and locations, unless it ends the order: a
    final status wins whenever it is read, and is kept; the same status again continues the
    stay. Leaving a stay that outlasted its threshold
    reports it (if the watermark had not yet) and clears it.
    """
    if stay is None:
        if status is None:
            return None
        fresh = Stay(order_id, status, at, partition, channel, tuple(sorted(set(locations))))
        return Step(fresh)
    known = replace(
        stay,
        channel=stay.channel or channel,
        locations=tuple(sorted({*stay.locations, *locations})),
    )
    if release:
        status = stay.held_from if stay.status is FlowStatus.ON_HOLD else None
    old_news = at < stay.since and status not in FINAL_STATUSES
    if status is None or status is stay.status or old_news or stay.status in FINAL_STATUSES:
        return Step(known) if known != stay else None
    alerts: list[Alert] = []
    late = replace(stay, channel=known.channel).detect(policy, at)
    if late is not None:
        alerts.append(late)
    if late is not None or stay.stuck_at is not None:
        alerts.append(Cleared(order_id, stay.status, stay.since, at, status))
    held_from = stay.status if status is FlowStatus.ON_HOLD else None
    moved = replace(known, status=status, since=at, held_from=held_from, stuck_at=None)
    return Step(moved, alerts)
