"""Availability to promise: the delivery options for a cart, with dates and costs.

Pure, and built on the sourcing engine: an option exists when the profile for its delivery
method finds a plan with every line, from the same live availability an order placed now
would be sourced from, so the order gets the plan the promise showed while the stock is
still there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from oms_events.values import DeliveryMethod
from oms_orchestration.domain.config import DeliveryService, SourcingConfig
from oms_orchestration.domain.geo import Point, distance_km
from oms_orchestration.domain.sourcing import Line, OrderToSource, Plan, source

__all__ = ["DeliveryOption", "arrival", "promise"]


@dataclass(frozen=True)
class DeliveryOption:
    delivery_method: DeliveryMethod
    locations: tuple[str, ...]
    cost_minor: int
    currency: str
    service_id: str | None = None
    carrier: str | None = None
    promised_date: date | None = None
    ready_by: datetime | None = None
    explanation: str = ""
    parcels: int = field(default=1)


def _add_working_days(day: date, days: int) -> date:
    """Carriers do not move parcels on Sundays."""
    while days > 0 or day.weekday() == 6:
        day += timedelta(days=1)
        if day.weekday() != 6:
            days -= 1
    return day


def arrival(service: DeliveryService, now_local: datetime, km: float | None) -> date:
    """The day a parcel handed to ``service`` now arrives after ``km`` of transport."""
    hour, minute = (int(part) for part in service.cutoff.split(":"))
    ship_day = now_local.date()
    if now_local.time() >= time(hour, minute) or ship_day.weekday() == 6:
        ship_day = _add_working_days(ship_day, 1)
    band = next(
        (b for b in service.transit if b.up_to_km is None or (km is not None and km <= b.up_to_km)),
        service.transit[-1],
    )
    return _add_working_days(ship_day, band.days)


def _plan(
    config: SourcingConfig,
    order: OrderToSource,
    available: Mapping[tuple[str, str], int],
    capacity_used: Mapping[str, int],
) -> Plan | None:
    profile = config.profile_for(order.channel, order.delivery_method)
    if profile is None:
        return None
    plan = source(order, profile, config.locations, available, capacity_used=capacity_used)
    return None if plan.backordered or not plan.allocations else plan


def promise(
    config: SourcingConfig,
    *,
    channel: str,
    lines: tuple[Line, ...],
    destination: Point | None,
    pickup_store_id: str | None,
    now: datetime,
    available: Mapping[tuple[str, str], int],
    capacity_used: Mapping[str, int],
) -> list[DeliveryOption]:
    """Every delivery option that can be kept, earliest first."""
    local_now = now.astimezone(ZoneInfo(config.delivery.timezone))
    options: list[DeliveryOption] = []
    store = config.location(pickup_store_id) if pickup_store_id else None

    def order(method: DeliveryMethod, to: Point | None) -> OrderToSource:
        return OrderToSource("promise", channel, method, lines, to, pickup_store_id)

    home = (
        _plan(config, order(DeliveryMethod.HOME_DELIVERY, destination), available, capacity_used)
        if destination is not None
        else None
    )
    if home is not None:
        farthest = max(
            (distance_km(loc.point, destination) for loc, _ in home.allocations if destination),
            default=None,
        )
        for service in config.delivery.services:
            options.append(
                DeliveryOption(
                    delivery_method=DeliveryMethod.HOME_DELIVERY,
                    locations=tuple(loc.location_id for loc, _ in home.allocations),
                    cost_minor=service.price_minor * len(home.allocations),
                    currency=service.currency,
                    service_id=service.service_id,
                    carrier=service.carrier,
                    promised_date=arrival(service, local_now, farthest),
                    parcels=len(home.allocations),
                    explanation=_rule(home),
                )
            )
    if store is not None:
        collect = _plan(
            config, order(DeliveryMethod.CLICK_AND_COLLECT, store.point), available, capacity_used
        )
        if collect is not None:
            options.append(
                DeliveryOption(
                    delivery_method=DeliveryMethod.CLICK_AND_COLLECT,
                    locations=(store.location_id,),
                    cost_minor=0,
                    currency="EUR",
                    ready_by=now + timedelta(minutes=config.delivery.pickup_ready_minutes),
                    explanation=_rule(collect),
                )
            )
        trunk = next(
            (
                s
                for s in config.delivery.services
                if s.service_id == config.delivery.ship_to_store_service
            ),
            None,
        )
        to_store = _plan(
            config, order(DeliveryMethod.SHIP_TO_STORE, store.point), available, capacity_used
        )
        if trunk is not None and to_store is not None:
            km = max(distance_km(loc.point, store.point) for loc, _ in to_store.allocations)
            options.append(
                DeliveryOption(
                    delivery_method=DeliveryMethod.SHIP_TO_STORE,
                    locations=tuple(loc.location_id for loc, _ in to_store.allocations),
                    cost_minor=0,
                    currency=trunk.currency,
                    service_id=trunk.service_id,
                    carrier=trunk.carrier,
                    promised_date=arrival(trunk, local_now, km),
                    explanation=_rule(to_store),
                )
            )
    return sorted(options, key=_earliest)


def _earliest(option: DeliveryOption) -> tuple[date, int]:
    day = option.promised_date or (option.ready_by.date() if option.ready_by else date.max)
    return day, option.cost_minor


def _rule(plan: Plan) -> str:
    return plan.explanation.chosen_rule if plan.explanation else ""
