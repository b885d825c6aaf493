"""The sourcing configuration: the network of locations and the versioned sourcing profiles.

One YAML or JSON document (``oms_orchestration.adapters.config_file``), validated as a whole
at load. A profile applies to some channels and delivery methods; for any (channel, method)
at most one profile may apply, so a decision never depends on the order of the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints

from oms_events import StrictModel
from oms_events.sourcing import SplitPolicy
from oms_events.values import DeliveryMethod, Identifier, LocationType
from oms_orchestration.domain.geo import Point

__all__ = [
    "ALL_CHANNELS",
    "Delivery",
    "DeliveryService",
    "Filters",
    "Handling",
    "NetworkLocation",
    "Profile",
    "PromiseRules",
    "Scores",
    "Shipping",
    "SourcingConfig",
    "Split",
    "TieBreaker",
    "TransitBand",
    "TransitDays",
    "Weekday",
    "config_problems",
]

ALL_CHANNELS = "*"
_Weight = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
_Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_Count = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
_Minor = Annotated[int, Field(strict=True, ge=0, le=100_000_000)]
_Clock = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
_Days = Annotated[int, Field(strict=True, ge=0, le=60)]


class Shipping(StrictModel):
    """Estimated cost of a parcel from this location: base plus per kilometre (minor units)."""

    base_minor: _Minor = 0
    per_km_minor: _Minor = 0


class Handling(StrictModel):
    """How long a location takes to hand an order to the carrier (or set it aside for
    pickup), for the delivery promise: an order placed before ``cutoff`` (the network's
    local time) on a working day starts that day, a later one the next working day; then
    ``processing_days`` working days."""

    cutoff: _Clock = "15:00"
    processing_days: Annotated[int, Field(strict=True, ge=0, le=30)] = 0


class NetworkLocation(StrictModel):
    location_id: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^@*\s\x00-\x1f\x7f]+$")
    ]
    type: LocationType
    latitude: Annotated[_Coordinate, Field(ge=-90, le=90)]
    longitude: Annotated[_Coordinate, Field(ge=-180, le=180)]
    channels: tuple[Identifier, ...] = ()
    capabilities: tuple[Literal["ship", "pickup", "ship_from_store", "ship_to_store"], ...] = ()
    daily_capacity: _Count | None = None
    """Fulfilment orders a day; None is unlimited."""
    priority: Annotated[int, Field(strict=True, ge=0, le=100)] = 0
    shipping: Shipping = Shipping()
    handling: Handling = Handling()

    @property
    def point(self) -> Point:
        return Point(self.latitude, self.longitude)


class Filters(StrictModel):
    location_types: tuple[LocationType, ...] = (LocationType.WAREHOUSE, LocationType.STORE)
    max_distance_km: Annotated[float, Field(gt=0, le=20_000, allow_inf_nan=False)] | None = None
    exclude_locations: tuple[Identifier, ...] = ()
    respect_daily_capacity: bool = True


class Scores(StrictModel):
    """Weights of the scorers; each scorer gives a value from 0 (worst) to 1 (best)."""

    distance: _Weight = 1.0
    shipping_cost: _Weight = 0.0
    stock_balance: _Weight = 0.0
    priority: _Weight = 0.0


class Split(StrictModel):
    policy: SplitPolicy = SplitPolicy.FEWEST_SPLITS
    max_splits: Annotated[int, Field(strict=True, ge=1, le=20)] = 1
    """Locations one order may be split over; ``ship_together`` means 1."""


class TieBreaker(StrEnum):
    DISTANCE = "distance"
    PRIORITY = "priority"
    SHIPPING_COST = "shipping_cost"
    LOCATION_ID = "location_id"


class Profile(StrictModel):
    profile_id: Identifier
    channels: Annotated[tuple[Identifier, ...], Field(min_length=1)] = (ALL_CHANNELS,)
    delivery_methods: Annotated[tuple[DeliveryMethod, ...], Field(min_length=1)] = (
        DeliveryMethod.HOME_DELIVERY,
    )
    filters: Filters = Filters()
    scores: Scores = Scores()
    split: Split = Split()
    tie_breakers: tuple[TieBreaker, ...] = (TieBreaker.DISTANCE, TieBreaker.LOCATION_ID)
    hold_for_s: Annotated[int, Field(strict=True, ge=1, le=30 * 24 * 3600)] = 24 * 3600
    """How long inventory holds the stock of a plan until its order is released to the
    locations (a released hold waits for its work, however long that takes)."""
    accept_within_s: Annotated[int, Field(strict=True, ge=10, le=7 * 24 * 3600)] = 3600
    """A location that has not accepted its fulfilment order by then loses it."""

    @property
    def max_splits(self) -> int:
        return 1 if self.split.policy is SplitPolicy.SHIP_TOGETHER else self.split.max_splits


class TransitBand(StrictModel):
    """Days in transit up to a distance (the last band may leave the distance open)."""

    up_to_km: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    days: Annotated[int, Field(strict=True, ge=0, le=60)]


class DeliveryService(StrictModel):
    """A carrier's service: parcels handed over before the cut-off (local time) leave that
    day; then the transit days of the distance's band, Sundays not counted."""

    service_id: Identifier
    carrier: Identifier
    cutoff: _Clock
    transit: Annotated[tuple[TransitBand, ...], Field(min_length=1)]
    price_minor: _Minor
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class TransitDays(StrictModel):
    """Working days from hand-over to the customer, per delivery method (click & collect
    is ready where it was picked)."""

    home_delivery: _Days = 2
    ship_to_store: _Days = 2
    click_and_collect: _Days = 0

    def of(self, method: DeliveryMethod) -> int:
        days: int = getattr(self, method.value)
        return days


class PromiseRules(StrictModel):
    """The delivery promise made for an order whose channel sent none."""

    transit_days: TransitDays = TransitDays()
    working_days: Annotated[tuple[Weekday, ...], Field(min_length=1)] = (
        Weekday.MON,
        Weekday.TUE,
        Weekday.WED,
        Weekday.THU,
        Weekday.FRI,
    )
    """Days parcels are handled and carried (Mondays to Fridays, as the carriers' own
    business days in the shipping service)."""
    holidays: Annotated[tuple[date, ...], Field(max_length=1000)] = ()
    """Days nothing is handled or carried."""


class Delivery(StrictModel):
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "Europe/Berlin"
    services: tuple[DeliveryService, ...] = ()
    pickup_ready_minutes: Annotated[int, Field(strict=True, ge=0, le=7 * 24 * 60)] = 120
    """Express click & collect: ready this long after the order, from the store's stock."""
    ship_to_store_service: Identifier | None = None
    promise: PromiseRules = PromiseRules()


class SourcingConfig(StrictModel):
    version: Annotated[int, Field(strict=True, ge=1)]
    locations: Annotated[tuple[NetworkLocation, ...], Field(min_length=1, max_length=10_000)]
    postal_zones: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")],
        dict[
            Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{1,10}$")],
            tuple[_Coordinate, _Coordinate],
        ],
    ] = Field(default_factory=dict)
    profiles: Annotated[tuple[Profile, ...], Field(min_length=1, max_length=1000)]
    delivery: Delivery = Delivery()

    def location(self, location_id: str) -> NetworkLocation | None:
        return next((loc for loc in self.locations if loc.location_id == location_id), None)

    def zones(self) -> Mapping[str, Mapping[str, Point]]:
        return {
            country: {prefix: Point(*centre) for prefix, centre in prefixes.items()}
            for country, prefixes in self.postal_zones.items()
        }

    def profile_for(self, channel: str, method: DeliveryMethod) -> Profile | None:
        exact = [p for p in self.profiles if channel in p.channels and method in p.delivery_methods]
        wildcard = [
            p for p in self.profiles if ALL_CHANNELS in p.channels and method in p.delivery_methods
        ]
        matching = exact or wildcard
        return matching[0] if matching else None


def config_problems(config: SourcingConfig) -> list[str]:
    """What the schema cannot see, each named by its place: ids that appear twice, unknown
    excluded locations, profiles that overlap, profiles that score nothing."""
    errors: list[str] = []
    seen: dict[str, int] = {}
    for index, loc in enumerate(config.locations):
        if loc.location_id in seen:
            errors.append(
                f"locations.{index}.location_id: {loc.location_id!r} appears twice"
                f" (first at locations.{seen[loc.location_id]})"
            )
        seen.setdefault(loc.location_id, index)
    for country, prefixes in config.postal_zones.items():
        for prefix, (lat, lon) in prefixes.items():
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                errors.append(f"postal_zones.{country}.{prefix}: not a latitude and longitude")
    covered: dict[tuple[str, str], str] = {}
    ids: dict[str, int] = {}
    for index, profile in enumerate(config.profiles):
        place = f"profiles.{index}"
        if profile.profile_id in ids:
            errors.append(f"{place}.profile_id: {profile.profile_id!r} appears twice")
        ids.setdefault(profile.profile_id, index)
        for n, excluded in enumerate(profile.filters.exclude_locations):
            if excluded not in seen:
                errors.append(f"{place}.filters.exclude_locations.{n}: unknown {excluded!r}")
        for channel in profile.channels:
            for method in profile.delivery_methods:
                other = covered.setdefault((channel, method.value), profile.profile_id)
                if other != profile.profile_id:
                    errors.append(
                        f"{place}: {profile.profile_id!r} and {other!r} both apply to channel"
                        f" {channel!r} and {method.value}"
                    )
        weights = profile.scores
        if not any(
            math.isfinite(w) and w > 0
            for w in (
                weights.distance,
                weights.shipping_cost,
                weights.stock_balance,
                weights.priority,
            )
        ):
            errors.append(f"{place}.scores: at least one weight must be above 0")
    errors.extend(_delivery_problems(config.delivery))
    return errors


def _delivery_problems(delivery: Delivery) -> list[str]:
    errors: list[str] = []
    try:
        ZoneInfo(delivery.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"delivery.timezone: unknown time zone {delivery.timezone!r}")
    ids = [service.service_id for service in delivery.services]
    for index, service in enumerate(delivery.services):
        if ids.index(service.service_id) != index:
            errors.append(f"delivery.services.{index}.service_id: appears twice")
        bands = service.transit
        if any(band.up_to_km is None for band in bands[:-1]) or any(
            a.up_to_km is not None and b.up_to_km is not None and b.up_to_km <= a.up_to_km
            for a, b in pairwise(bands)
        ):
            errors.append(
                f"delivery.services.{index}.transit: bands must grow, only the last may be open"
            )
    days = delivery.promise.working_days
    for index, day in enumerate(days):
        if days.index(day) != index:
            errors.append(f"delivery.promise.working_days.{index}: {day.value!r} appears twice")
    if delivery.ship_to_store_service and delivery.ship_to_store_service not in ids:
        errors.append(
            f"delivery.ship_to_store_service: unknown service {delivery.ship_to_store_service!r}"
        )
    return errors
