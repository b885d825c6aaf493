"""The delivery promise of a fulfilment order, when the channel promised the customer none.

Made as Sterling and Fluent Commerce make it: from the order date, the location's cut-off and
processing days, then the delivery method's transit days, counting working days only. Pure and
computed from the order's own time (``placed_at``), never the clock, so a replay promises the
same date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from oms_events.values import DeliveryMethod
from oms_orchestration.domain.config import Handling, PromiseRules, Weekday

__all__ = ["promised_by"]

_WEEKDAYS = tuple(Weekday)  # in date.weekday() order
_END_OF_DAY = time(23, 59, 59)


def _working(rules: PromiseRules, day: date) -> bool:
    return _WEEKDAYS[day.weekday()] in rules.working_days and day not in rules.holidays


def _next_working(rules: PromiseRules, day: date) -> date:
    day += timedelta(days=1)
    while not _working(rules, day):
        day += timedelta(days=1)
    return day


def promised_by(
    rules: PromiseRules,
    timezone: str,
    handling: Handling,
    method: DeliveryMethod,
    placed_at: datetime,
) -> datetime:
    """The end of the (network's local) day by which the customer has the parcel."""
    zone = ZoneInfo(timezone)
    local = placed_at.astimezone(zone)
    hour, minute = (int(part) for part in handling.cutoff.split(":"))
    day = local.date()
    if not _working(rules, day) or local.time() >= time(hour, minute):
        day = _next_working(rules, day)
    for _ in range(handling.processing_days + rules.transit_days.of(method)):
        day = _next_working(rules, day)
    return datetime.combine(day, _END_OF_DAY, zone).astimezone(UTC)
