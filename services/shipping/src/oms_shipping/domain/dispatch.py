"""How parcels leave: the locations they leave from, the carriers' services with their rates
and transit times, and the rate-shopping policy per delivery method.

Configuration (``dispatch.yaml``, read by the adapters and validated as a whole at start);
the rate engine (``rating``) and the policies (``carrier_choice``) read it.
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints, field_validator, model_validator

from oms_events import StrictModel

__all__ = [
    "Band",
    "CarrierConfig",
    "DispatchConfig",
    "PolicyConfig",
    "PolicyKind",
    "ServiceConfig",
    "ShipFrom",
    "Surcharge",
    "Zone",
]

_Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
_Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
_Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
_Grams = Annotated[int, Field(strict=True, gt=0)]
_Minor = Annotated[int, Field(strict=True, ge=0)]


class PostalAddress(StrictModel):
    name: _Text
    line1: _Text
    line2: _Text | None = None
    city: _Text
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: _Country


class ShipFrom(StrictModel):
    """A location parcels leave from (or a store they travel to): its address, and the time
    zone its cut-off times are read in."""

    address: PostalAddress
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Band(StrictModel):
    up_to_grams: _Grams
    """Billable weight up to and including this."""
    price_minor: _Minor


class Zone(StrictModel):
    """Where a service delivers: a country, or part of one by postal code prefix (the longest
    matching prefix wins; no prefix = the whole country)."""

    name: _Name
    country: _Country
    postal_prefixes: tuple[Annotated[str, StringConstraints(min_length=1, max_length=10)], ...] = ()
    transit_days: Annotated[int, Field(strict=True, ge=0, le=60)]
    """Business days from the day the carrier takes the parcel."""
    bands: Annotated[tuple[Band, ...], Field(min_length=1)]

    @field_validator("bands")
    @classmethod
    def _ascending(cls, value: tuple[Band, ...]) -> tuple[Band, ...]:
        weights = [b.up_to_grams for b in value]
        if weights != sorted(set(weights)):
            raise ValueError("weight bands must go up strictly (up_to_grams)")
        return value


class Surcharge(StrictModel):
    code: _Name
    amount_minor: _Minor
    over_grams: _Grams | None = None
    """Only for a billable weight above this; none = every parcel."""


class ServiceConfig(StrictModel):
    cutoff: time
    """Local time at the ship-from location: a parcel packed later leaves the next business
    day."""
    reliability: Annotated[float, Field(ge=0, le=1)]
    """Share of parcels delivered by the estimated date (the carrier's score)."""
    dim_divisor: Annotated[int, Field(strict=True, gt=0)] | None = None
    """cm³ per kg for dimensional weight (5000 is common); none = actual weight only."""
    zones: Annotated[tuple[Zone, ...], Field(min_length=1)]
    surcharges: tuple[Surcharge, ...] = ()


class CarrierConfig(StrictModel):
    tracking_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}$")]
    """Starts every tracking number the OMS issues for this carrier."""
    holidays: tuple[date, ...] = ()
    """Days the carrier neither collects nor delivers (weekends never count)."""
    services: Annotated[dict[_Name, ServiceConfig], Field(min_length=1)]


class PolicyKind(StrEnum):
    CHEAPEST_MEETING_PROMISE = "cheapest_meeting_promise"
    FASTEST = "fastest"
    BEST_SCORE_WITHIN_BUDGET = "best_score_within_budget"


class PolicyConfig(StrictModel):
    choose: PolicyKind
    budget_minor: _Minor | None = None
    """For ``best_score_within_budget``: the most a parcel may cost."""

    @model_validator(mode="after")
    def _budget_when_needed(self) -> PolicyConfig:
        needs = self.choose is PolicyKind.BEST_SCORE_WITHIN_BUDGET
        if needs != (self.budget_minor is not None):
            raise ValueError("budget_minor is given for best_score_within_budget, and only then")
        return self


class DispatchConfig(StrictModel):
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    """Of every price, surcharge and budget in the file."""
    locations: dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], ShipFrom]
    """By location id (the stores pickup work travels to too)."""
    carriers: Annotated[dict[_Name, CarrierConfig], Field(min_length=1)]
    policies: dict[_Name, PolicyConfig]
    """Per delivery method."""

    @model_validator(mode="after")
    def _prefixes_unique(self) -> DispatchConfig:
        prefixes = [c.tracking_prefix for c in self.carriers.values()]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError("each carrier needs its own tracking_prefix")
        return self
