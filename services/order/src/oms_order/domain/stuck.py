"""When an order has sat too long in a status: the thresholds per status and the cutoffs a
sweep looks for. Pure: the sweep's statement and the unit tests' fake share these rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from oms_order.domain.status import OrderStatus

__all__ = ["FINAL_STATUSES", "StuckOrder", "StuckPolicy"]

FINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELED, OrderStatus.REJECTED})


@dataclass(frozen=True)
class StuckOrder:
    """One stay in a status past its threshold, as reported once."""

    order_id: str
    status: OrderStatus
    since: datetime
    threshold: timedelta
    sequence: int
    """The order's sequence the report took (its timeline entry's and its event's)."""


@dataclass(frozen=True)
class StuckPolicy:
    thresholds: Mapping[OrderStatus, timedelta]
    """Watched statuses; a status not listed is never reported."""
    per_sweep: int = 1000
    """At most this many stays reported by one sweep, the oldest first."""

    def __post_init__(self) -> None:
        final = sorted(s for s in self.thresholds if s in FINAL_STATUSES)
        if final:
            raise ValueError(f"final statuses are never stuck: {', '.join(final)}")
        short = sorted(s for s, t in self.thresholds.items() if t < timedelta(seconds=1))
        if short:
            raise ValueError(f"thresholds must be at least one second: {', '.join(short)}")

    def cutoffs(self, now: datetime) -> dict[OrderStatus, datetime]:
        """Per watched status: orders in it since this instant or earlier are stuck."""
        return {status: now - threshold for status, threshold in sorted(self.thresholds.items())}

    def is_stuck(self, status: OrderStatus, since: datetime, now: datetime) -> bool:
        threshold = self.thresholds.get(status)
        return threshold is not None and since <= now - threshold
