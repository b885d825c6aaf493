"""The sourcing engine: which locations fulfil which units of an order, and why.

Pure: it sees the order, the network, live availability, today's use of each location's
capacity and the locations this order must avoid, and returns a plan with its explanation.
Steps, as the profile says: filter every location (the first filter that excludes it is
recorded), score the eligible ones (each scorer 0..1 times its weight), then plan: one location
with every line if any, else a split over the fewest locations up to the profile's maximum;
what no location can give is backordered. Ties go through the profile's tie-breakers in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from oms_events.sourcing import (
    BackorderReason,
    CandidateLocation,
    ScoreComponent,
    SourcingExplanation,
    SplitPolicy,
)
from oms_events.values import DeliveryMethod, LocationType
from oms_orchestration.domain.config import NetworkLocation, Profile, TieBreaker
from oms_orchestration.domain.geo import Point, distance_km

__all__ = ["Line", "OrderToSource", "Plan", "source"]

_EPSILON = 1e-9
_DISTANCE_SCALE_KM = 1000.0  # distance scores fall to 0 at this range without a radius


@dataclass(frozen=True)
class Line:
    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderToSource:
    order_id: str
    channel: str
    delivery_method: DeliveryMethod
    lines: tuple[Line, ...]
    destination: Point | None = None
    """Where the parcel goes: the customer (home delivery) or the pickup store."""
    pickup_store_id: str | None = None
    placed_at: datetime | None = None
    """The order's date, the promise counts from; None for orders kept before it was."""
    promised_by: datetime | None = None
    """The channel's promise, kept by every fulfilment order."""


@dataclass
class Plan:
    allocations: list[tuple[NetworkLocation, list[Line]]] = field(default_factory=list)
    backordered: list[Line] = field(default_factory=list)
    backorder_reason: BackorderReason | None = None
    """Why ``backordered`` waits (None when nothing does)."""
    explanation: SourcingExplanation | None = None


@dataclass
class _Candidate:
    location: NetworkLocation
    distance: float | None
    cost: float
    filtered_by: str | None = None
    scores: list[ScoreComponent] = field(default_factory=list)
    total: float = 0.0


def _capable(location: NetworkLocation, order: OrderToSource) -> str | None:
    """The reason a location cannot serve the delivery method, or None."""
    method, caps = order.delivery_method, location.capabilities
    if method is DeliveryMethod.CLICK_AND_COLLECT:
        if location.location_id != order.pickup_store_id:
            return "pickup_store"
        return None if "pickup" in caps else "capability"
    if method is DeliveryMethod.SHIP_TO_STORE:
        # From the pickup store's own stock it would be click & collect.
        if location.location_id == order.pickup_store_id:
            return "pickup_store"
        return None if "ship_to_store" in caps else "capability"
    needed = "ship_from_store" if location.type is LocationType.STORE else "ship"
    return None if needed in caps else "capability"


def _filter(
    candidate: _Candidate,
    order: OrderToSource,
    profile: Profile,
    capacity_used: Mapping[str, int],
    excluded: set[str],
    available: Mapping[tuple[str, str], int],
) -> str | None:
    loc, f = candidate.location, profile.filters
    if loc.location_id in excluded:
        return "rejected_before"
    if loc.location_id in f.exclude_locations:
        return "excluded"
    if loc.type not in f.location_types:
        return "location_type"
    if loc.channels and order.channel not in loc.channels:
        return "channel"
    reason = _capable(loc, order)
    if reason:
        return reason
    if f.max_distance_km is not None and candidate.distance is not None:
        if candidate.distance > f.max_distance_km:
            return "radius"
    if f.respect_daily_capacity and loc.daily_capacity is not None:
        if capacity_used.get(loc.location_id, 0) >= loc.daily_capacity:
            return "daily_capacity"
    if not any(available.get((loc.location_id, line.sku), 0) > 0 for line in order.lines):
        return "no_stock"
    return None


def _score(
    eligible: list[_Candidate],
    order: OrderToSource,
    profile: Profile,
    available: Mapping[tuple[str, str], int],
) -> None:
    weights = profile.scores
    scale = profile.filters.max_distance_km or _DISTANCE_SCALE_KM
    cheapest = min((c.cost for c in eligible), default=0.0)
    top_priority = max((c.location.priority for c in eligible), default=0)
    needed = _by_sku(order.lines)
    for c in eligible:
        # The share of each SKU's stock the location keeps after this order (0 when short).
        balance = [
            max(0, available.get((c.location.location_id, sku), 0) - qty)
            / max(available.get((c.location.location_id, sku), 0), 1)
            for sku, qty in needed.items()
        ]
        values = {
            "distance": 0.0 if c.distance is None else max(0.0, 1 - c.distance / scale),
            "shipping_cost": 1.0 if c.cost <= 0 else cheapest / c.cost,
            "stock_balance": max(0.0, sum(balance) / len(balance)),
            "priority": c.location.priority / top_priority if top_priority else 0.0,
        }
        c.scores = [
            ScoreComponent(
                name=name,
                value=round(value, 6),
                weight=getattr(weights, name),
                weighted=round(value * getattr(weights, name), 6),
            )
            for name, value in values.items()
            if getattr(weights, name) > 0
        ]
        c.total = round(sum(s.weighted for s in c.scores), 6)


def _tie_key(c: _Candidate, tie_breakers: Sequence[TieBreaker]) -> tuple[object, ...]:
    parts: list[object] = []
    for breaker in tie_breakers:
        if breaker is TieBreaker.DISTANCE:
            parts.append(c.distance if c.distance is not None else float("inf"))
        elif breaker is TieBreaker.PRIORITY:
            parts.append(-c.location.priority)
        elif breaker is TieBreaker.SHIPPING_COST:
            parts.append(c.cost)
        else:
            parts.append(c.location.location_id)
    parts.append(c.location.location_id)  # always total: a decision never depends on order
    return tuple(parts)


def _deciding_breaker(
    best: _Candidate, runner_up: _Candidate | None, tie_breakers: Sequence[TieBreaker]
) -> str | None:
    if runner_up is None or abs(best.total - runner_up.total) > _EPSILON:
        return None
    for breaker, a, b in zip(
        tie_breakers,
        _tie_key(best, tie_breakers),
        _tie_key(runner_up, tie_breakers),
        strict=False,
    ):
        if a != b:
            return breaker.value
    return TieBreaker.LOCATION_ID.value


def source(
    order: OrderToSource,
    profile: Profile,
    locations: Sequence[NetworkLocation],
    available: Mapping[tuple[str, str], int],
    *,
    capacity_used: Mapping[str, int] | None = None,
    excluded: set[str] | None = None,
) -> Plan:
    capacity_used = capacity_used or {}
    candidates = []
    for loc in locations:
        distance = (
            None
            if order.destination is None
            else round(distance_km(loc.point, order.destination), 3)
        )
        cost = loc.shipping.base_minor + loc.shipping.per_km_minor * (distance or 0.0)
        candidates.append(_Candidate(loc, distance, cost))
    for c in candidates:
        c.filtered_by = _filter(c, order, profile, capacity_used, excluded or set(), available)
    eligible = [c for c in candidates if c.filtered_by is None]
    _score(eligible, order, profile, available)
    ranked = sorted(eligible, key=lambda c: (-c.total, *_tie_key(c, profile.tie_breakers)))

    plan = Plan()
    full = [c for c in ranked if _covers(c, order.lines, available)]
    tie_breaker: str | None = None
    if full:
        best = full[0]
        plan.allocations.append((best.location, list(order.lines)))
        tie_breaker = _deciding_breaker(
            best, full[1] if len(full) > 1 else None, profile.tie_breakers
        )
        rule = "one location has every line: highest total score"
    else:
        rule, tie_breaker = _split(plan, ranked, order, profile, available)
        plan.backorder_reason = _backorder_reason(plan, candidates, ranked, profile, available)
    plan.explanation = SourcingExplanation(
        profile=profile.profile_id,
        split_policy=profile.split.policy,
        max_splits=profile.max_splits,
        candidates=tuple(
            CandidateLocation(
                location_id=c.location.location_id,
                location_type=c.location.type,
                eligible=c.filtered_by is None,
                filtered_by=c.filtered_by,
                scores=tuple(c.scores),
                total_score=c.total if c.filtered_by is None else None,
            )
            for c in candidates
        ),
        chosen_rule=_unknown_store(order, locations)
        + rule
        + ("" if order.destination else " (destination unknown: no distances)"),
        tie_breaker=tie_breaker,
    )
    return plan


def _unknown_store(order: OrderToSource, locations: Sequence[NetworkLocation]) -> str:
    needs_store = order.delivery_method in (
        DeliveryMethod.CLICK_AND_COLLECT,
        DeliveryMethod.SHIP_TO_STORE,
    )
    if needs_store and all(loc.location_id != order.pickup_store_id for loc in locations):
        return f"pickup store {order.pickup_store_id!r} is not in the network; "
    return ""


def _by_sku(lines: Sequence[Line]) -> dict[str, int]:
    needed: dict[str, int] = {}
    for line in lines:
        needed[line.sku] = needed.get(line.sku, 0) + line.quantity
    return needed


def _covers(c: _Candidate, lines: Sequence[Line], available: Mapping[tuple[str, str], int]) -> bool:
    needed = _by_sku(lines)
    return all(
        available.get((c.location.location_id, sku), 0) >= qty for sku, qty in needed.items()
    )


def _backorder_reason(
    plan: Plan,
    candidates: list[_Candidate],
    ranked: list[_Candidate],
    profile: Profile,
    available: Mapping[tuple[str, str], int],
) -> BackorderReason | None:
    """Why what the plan could not place waits: what would have to change for it to go."""
    if not plan.backordered:
        return None
    if not ranked:
        stock_only = any(c.filtered_by == "no_stock" for c in candidates)
        return BackorderReason.OUT_OF_STOCK if stock_only else BackorderReason.NO_ELIGIBLE_LOCATION
    if profile.split.policy is SplitPolicy.SHIP_TOGETHER:
        return BackorderReason.NOT_IN_ONE_LOCATION
    used = {location.location_id for location, _ in plan.allocations}
    waiting = {line.sku for line in plan.backordered}
    elsewhere = any(
        available.get((c.location.location_id, sku), 0) > 0
        for c in ranked
        if c.location.location_id not in used
        for sku in waiting
    )
    return BackorderReason.SPLIT_LIMIT if elsewhere else BackorderReason.OUT_OF_STOCK


def _split(
    plan: Plan,
    ranked: list[_Candidate],
    order: OrderToSource,
    profile: Profile,
    available: Mapping[tuple[str, str], int],
) -> tuple[str, str | None]:
    """Greedy: the location giving the most of what is still missing, then the next...
    up to the profile's maximum number of locations; the rest is backordered."""
    if profile.split.policy is SplitPolicy.SHIP_TOGETHER:
        plan.backordered = list(order.lines)  # all from one location, or wait for it
        return "ship together: no single location has every line: backorder", None
    left = [line.quantity for line in order.lines]  # by position: line ids may repeat
    stock = dict(available)
    used: set[str] = set()
    tie_breaker: str | None = None
    while any(left) and len(plan.allocations) < profile.max_splits:

        def gives(c: _Candidate) -> int:
            missing: dict[str, int] = {}
            for line, qty in zip(order.lines, left, strict=True):
                missing[line.sku] = missing.get(line.sku, 0) + qty
            location = c.location.location_id
            return sum(min(stock.get((location, sku), 0), q) for sku, q in missing.items())

        options = sorted(
            (c for c in ranked if c.location.location_id not in used and gives(c) > 0),
            key=lambda c: (-gives(c), -c.total, *_tie_key(c, profile.tie_breakers)),
        )
        if not options:
            break
        best = options[0]
        if not plan.allocations and len(options) > 1 and gives(options[1]) == gives(best):
            tie_breaker = _deciding_breaker(best, options[1], profile.tie_breakers)
        used.add(best.location.location_id)
        lines = []
        for n, line in enumerate(order.lines):
            key = (best.location.location_id, line.sku)
            take = min(stock.get(key, 0), left[n])
            if take:
                lines.append(Line(line.line_id, line.sku, take))
                left[n] -= take
                stock[key] = stock.get(key, 0) - take
        plan.allocations.append((best.location, lines))
    plan.backordered = [
        Line(line.line_id, line.sku, qty)
        for line, qty in zip(order.lines, left, strict=True)
        if qty
    ]
    if not plan.allocations:
        return "no eligible location has any of the lines: backorder", None
    rule = (
        f"no single location has every line: split over {len(plan.allocations)} location(s),"
        f" most units first (at most {profile.max_splits})"
    )
    if plan.backordered:
        rule += "; the rest backordered"
    return rule, tie_breaker
