"""The rate engine: what each configured carrier service would charge for a parcel, and when
it would arrive.

Billable weight is the larger of the actual and the dimensional weight (outer dimensions in
mm over the service's divisor in cm³/kg, which makes grams: mm³ / 1000 / divisor * 1000).
The carrier takes a parcel the day it is packed when that is a business day before the
service's cut-off (local time at the ship-from location), else the next business day; it
arrives ``transit_days`` business days later. Weekends and the carrier's holidays are not
business days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from oms_shipping.domain.dispatch import CarrierConfig, DispatchConfig, ServiceConfig, Zone

__all__ = [
    "Destination",
    "Dimensions",
    "Quote",
    "add_business_days",
    "billable_grams",
    "collection_day",
    "quotes",
]


@dataclass(frozen=True)
class Dimensions:
    """A parcel's outer dimensions."""

    length_mm: int
    width_mm: int
    height_mm: int


@dataclass(frozen=True)
class Destination:
    country: str
    postal_code: str


@dataclass(frozen=True)
class Quote:
    """One service's offer for a parcel; ``unavailable`` (``no_zone``, ``overweight``) when it
    makes none, and then it has no cost nor date."""

    carrier: str
    service: str
    reliability: float
    billable_grams: int
    cost_minor: int | None = None
    estimated_delivery: date | None = None
    unavailable: str | None = None


def billable_grams(weight_grams: int, dimensions: Dimensions | None, divisor: int | None) -> int:
    if dimensions is None or divisor is None:
        return weight_grams
    volume = dimensions.length_mm * dimensions.width_mm * dimensions.height_mm
    return max(weight_grams, math.ceil(volume / divisor))


def _business_day(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def _next_business_day(day: date, holidays: frozenset[date]) -> date:
    day += timedelta(days=1)
    while not _business_day(day, holidays):
        day += timedelta(days=1)
    return day


def collection_day(packed_local: datetime, cutoff: time, holidays: frozenset[date]) -> date:
    """The day the carrier takes a parcel packed at ``packed_local`` (the location's time)."""
    day = packed_local.date()
    if _business_day(day, holidays) and packed_local.time() <= cutoff:
        return day
    return _next_business_day(day, holidays)


def add_business_days(day: date, days: int, holidays: frozenset[date]) -> date:
    for _ in range(days):
        day = _next_business_day(day, holidays)
    return day


def _zone(service: ServiceConfig, to: Destination) -> Zone | None:
    """The zone with the longest postal prefix matching ``to`` (a whole-country zone matches
    with the empty prefix); the first listed on a tie."""
    best: tuple[int, Zone] | None = None
    for zone in service.zones:
        if zone.country != to.country:
            continue
        for prefix in zone.postal_prefixes or ("",):
            if to.postal_code.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), zone)
    return best[1] if best else None


def _quote(
    carrier: str,
    name: str,
    config: CarrierConfig,
    service: ServiceConfig,
    weight_grams: int,
    dimensions: Dimensions | None,
    to: Destination,
    packed_local: datetime,
) -> Quote:
    billable = billable_grams(weight_grams, dimensions, service.dim_divisor)
    offer = Quote(carrier, name, service.reliability, billable)
    zone = _zone(service, to)
    if zone is None:
        return replace(offer, unavailable="no_zone")
    band = next((b for b in zone.bands if billable <= b.up_to_grams), None)
    if band is None:
        return replace(offer, unavailable="overweight")
    surcharges = sum(
        s.amount_minor
        for s in service.surcharges
        if s.over_grams is None or billable > s.over_grams
    )
    holidays = frozenset(config.holidays)
    taken = collection_day(packed_local, service.cutoff, holidays)
    return replace(
        offer,
        cost_minor=band.price_minor + surcharges,
        estimated_delivery=add_business_days(taken, zone.transit_days, holidays),
    )


def quotes(
    config: DispatchConfig,
    weight_grams: int,
    dimensions: Dimensions | None,
    to: Destination,
    packed_at: datetime,
    timezone: ZoneInfo,
) -> list[Quote]:
    """Every configured service's quote for one parcel, in the file's order."""
    packed_local = packed_at.astimezone(timezone)
    return [
        _quote(carrier, name, cfg, service, weight_grams, dimensions, to, packed_local)
        for carrier, cfg in config.carriers.items()
        for name, service in cfg.services.items()
    ]
