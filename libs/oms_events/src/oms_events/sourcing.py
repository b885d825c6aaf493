"""Sourcing decisions and fulfilment orders (orchestration service, ``oms.sourcing``).

Every decision carries an explanation: which profile ran, how each candidate
location was filtered and scored, and which rule picked the winner.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from oms_events._model import EventPayload, event, upcaster
from oms_events.values import (
    Address,
    DeliveryMethod,
    Identifier,
    LineQuantity,
    LocationType,
    UtcDatetime,
    ValueModel,
)

__all__ = [
    "Allocation",
    "BackorderReason",
    "CandidateLocation",
    "FulfilmentOrderCanceled",
    "FulfilmentOrderCreated",
    "FulfilmentOrderLinesCanceled",
    "FulfilmentOrderRerouted",
    "OrderAllocated",
    "OrderBackordered",
    "OrderBackorderedV1",
    "ScoreComponent",
    "SourcingDecided",
    "SourcingExplanation",
    "SplitPolicy",
    "upcast_order_backordered_v1_v2",
]

_Text = Annotated[str, StringConstraints(max_length=2000)]
_Lines = Annotated[tuple[LineQuantity, ...], Field(min_length=1)]
_Score = Annotated[float, Field(allow_inf_nan=False)]  # NaN would make the event unencodable


class SplitPolicy(StrEnum):
    FEWEST_SPLITS = "fewest_splits"
    MAX_SPLITS = "max_splits"
    SHIP_TOGETHER = "ship_together"


class ScoreComponent(ValueModel):
    """One scorer's contribution: ``weighted`` = ``value`` x ``weight``."""

    name: Identifier
    """E.g. ``distance``, ``shipping_cost``, ``stock_balance``, ``priority``."""
    value: _Score
    weight: _Score
    weighted: _Score


class CandidateLocation(ValueModel):
    location_id: Identifier
    location_type: LocationType
    eligible: bool
    filtered_by: Identifier | None = None
    """The filter that excluded the location (``radius``, ``safety_stock``...), if any."""
    scores: tuple[ScoreComponent, ...] = ()
    total_score: _Score | None = None


class SourcingExplanation(ValueModel):
    profile: Identifier
    split_policy: SplitPolicy
    max_splits: Annotated[int, Field(strict=True, ge=1)] | None = None
    candidates: tuple[CandidateLocation, ...]
    chosen_rule: _Text
    """Why the winner won, e.g. ``highest total score`` or ``tie-break: lowest distance``."""
    tie_breaker: Identifier | None = None


class Allocation(ValueModel):
    location_id: Identifier
    location_type: LocationType
    lines: _Lines


@event("SourcingDecided")
class SourcingDecided(EventPayload):
    order_id: Identifier
    decision_id: Identifier
    attempt: Annotated[int, Field(strict=True, ge=1)]
    """1 for the first decision, more after a rejection or a stock-out re-sourced the order."""
    allocations: tuple[Allocation, ...]
    backordered_lines: tuple[LineQuantity, ...] = ()
    explanation: SourcingExplanation
    decided_at: UtcDatetime


@event("OrderAllocated")
class OrderAllocated(EventPayload):
    order_id: Identifier
    decision_id: Identifier
    allocations: Annotated[tuple[Allocation, ...], Field(min_length=1)]


class BackorderReason(StrEnum):
    """Why lines wait, for the order's timeline, customer service and the customer."""

    NO_PROFILE = "no_profile"
    """No sourcing profile covers the order's channel and delivery method."""
    NO_ELIGIBLE_LOCATION = "no_eligible_location"
    """Every location was filtered out (distance, capability, capacity, avoided...)."""
    OUT_OF_STOCK = "out_of_stock"
    """No eligible location has the units."""
    NOT_IN_ONE_LOCATION = "not_in_one_location"
    """The order ships together and no single location has every line."""
    SPLIT_LIMIT = "split_limit"
    """The order may ship from so many locations; the rest waits."""
    UNSPECIFIED = "unspecified"
    """Records written before the reason was carried (v1)."""


@event("OrderBackordered")
class OrderBackorderedV1(EventPayload):
    """First form: without why the lines wait."""

    order_id: Identifier
    decision_id: Identifier
    lines: _Lines
    expected_at: UtcDatetime | None = None
    pre_order: bool = False


@event("OrderBackordered", version=2)
class OrderBackordered(EventPayload):
    """Lines that wait, and why. ``expected_at`` is set where the date is known."""

    order_id: Identifier
    decision_id: Identifier
    lines: _Lines
    reason: BackorderReason
    detail: _Text
    """The sourcing rule's own words, e.g. ``ship together: no single location has every
    line``."""
    expected_at: UtcDatetime | None = None
    pre_order: bool = False


@upcaster("OrderBackordered", from_version=1)
def upcast_order_backordered_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 did not say why."""
    return {**data, "reason": BackorderReason.UNSPECIFIED.value, "detail": ""}


@event("FulfilmentOrderCreated")
class FulfilmentOrderCreated(EventPayload):
    """Work for one location: the order is released to it."""

    order_id: Identifier
    fulfilment_order_id: Identifier
    location_id: Identifier
    location_type: LocationType
    delivery_method: DeliveryMethod
    lines: _Lines
    shipping_address: Address | None = None
    pickup_store_id: Identifier | None = None
    reservation_ids: tuple[Identifier, ...] = ()
    promised_by: UtcDatetime | None = None
    accept_by: UtcDatetime
    """The saga re-sources the work if the location has not accepted by then."""


@event("FulfilmentOrderRerouted")
class FulfilmentOrderRerouted(EventPayload):
    order_id: Identifier
    fulfilment_order_id: Identifier
    from_location_id: Identifier
    new_fulfilment_order_id: Identifier
    to_location_id: Identifier
    lines: _Lines
    reason: _Text


@event("FulfilmentOrderCanceled")
class FulfilmentOrderCanceled(EventPayload):
    order_id: Identifier
    fulfilment_order_id: Identifier
    location_id: Identifier
    reason: _Text


@event("FulfilmentOrderLinesCanceled")
class FulfilmentOrderLinesCanceled(EventPayload):
    """Some units of released work were canceled (the order's lines canceled after release):
    the location ships only what is left. ``lines`` are the canceled units of each line;
    work left with nothing is called off with ``FulfilmentOrderCanceled`` instead."""

    order_id: Identifier
    fulfilment_order_id: Identifier
    location_id: Identifier
    lines: _Lines
    reason: _Text
