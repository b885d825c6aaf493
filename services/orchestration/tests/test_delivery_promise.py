"""The promise a fulfilment order carries: order date, the location's cut-off and processing
days, the delivery method's transit days, working days only; bad promise settings refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from oms_events.values import DeliveryMethod
from oms_orchestration.adapters.config_file import parse_config
from oms_orchestration.domain.config import Handling, PromiseRules
from oms_orchestration.domain.delivery_promise import promised_by
from oms_runtime import DocumentError
from services.orchestration.tests.test_sourcing import network

BERLIN = "Europe/Berlin"
RULES = PromiseRules.model_validate({"holidays": ["2026-12-25", "2026-12-28"]})
HOME = DeliveryMethod.HOME_DELIVERY


def _end_of(day: date) -> datetime:
    """23:59:59 in Berlin (winter time) in UTC."""
    return datetime(day.year, day.month, day.day, 22, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("placed_utc", "expected"),
    [
        (datetime(2026, 11, 24, 13, 59), date(2026, 11, 26)),  # Tuesday 14:59: starts that day
        (datetime(2026, 11, 24, 14, 0), date(2026, 11, 27)),  # 15:00 is past the cut-off
        (datetime(2026, 11, 26, 10, 0), date(2026, 11, 30)),  # Thursday: over the weekend
        (datetime(2026, 11, 28, 10, 0), date(2026, 12, 2)),  # Saturday: starts Monday
        (datetime(2026, 12, 23, 10, 0), date(2026, 12, 29)),  # the 25th and 28th are holidays
        (datetime(2026, 12, 24, 23, 30), date(2026, 12, 31)),  # Christmas Day in Berlin
    ],
)
def test_home_delivery_counts_working_days_from_the_cut_off(
    placed_utc: datetime, expected: date
) -> None:
    placed = placed_utc.replace(tzinfo=UTC)
    assert promised_by(RULES, BERLIN, Handling(), HOME, placed) == _end_of(expected)


def test_processing_days_and_each_methods_transit() -> None:
    placed = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday, 10:00 in Berlin
    slow = Handling(cutoff="09:00", processing_days=2)  # past its cut-off: starts Wednesday
    rules = PromiseRules.model_validate(
        {"transit_days": {"home_delivery": 1, "ship_to_store": 3, "click_and_collect": 0}}
    )
    by_method = {
        method: promised_by(rules, BERLIN, slow, method, placed) for method in DeliveryMethod
    }
    assert by_method == {
        DeliveryMethod.HOME_DELIVERY: _end_of(date(2026, 11, 30)),
        DeliveryMethod.SHIP_TO_STORE: _end_of(date(2026, 12, 2)),
        DeliveryMethod.CLICK_AND_COLLECT: _end_of(date(2026, 11, 27)),
    }


def test_saturday_as_a_working_day_and_summer_time() -> None:
    rules = PromiseRules.model_validate(
        {"working_days": ["mon", "tue", "wed", "thu", "fri", "sat"]}
    )
    placed = datetime(2026, 7, 3, 8, 0, tzinfo=UTC)  # a Friday morning in summer
    assert promised_by(rules, BERLIN, Handling(), HOME, placed) == datetime(
        2026,
        7,
        6,
        21,
        59,
        59,
        tzinfo=UTC,  # Monday, 23:59:59 summer time
    )


def _refused(delivery: dict[str, Any], locations: dict[str, Any] | None = None) -> list[str]:
    doc = network()
    doc["delivery"] = delivery
    for location in doc["locations"]:
        location.update(locations or {})
    with pytest.raises(DocumentError) as caught:
        parse_config(doc)
    return caught.value.errors


@pytest.mark.parametrize(
    ("delivery", "locations", "expected"),
    [
        ({"promise": {"working_days": []}}, None, "delivery.promise.working_days: Tuple should"),
        (
            {"promise": {"working_days": ["mon", "mon"]}},
            None,
            "delivery.promise.working_days.1: 'mon' appears twice",
        ),
        ({"promise": {"working_days": ["funday"]}}, None, "delivery.promise.working_days.0"),
        ({"promise": {"holidays": ["2026-02-30"]}}, None, "delivery.promise.holidays.0"),
        (
            {"promise": {"transit_days": {"home_delivery": -1}}},
            None,
            "delivery.promise.transit_days.home_delivery",
        ),
        (
            {"promise": {"transit_days": {"by_drone": 0}}},
            None,
            "delivery.promise.transit_days.by_drone",
        ),
        ({}, {"handling": {"cutoff": "24:00"}}, "locations.0.handling.cutoff"),
        ({}, {"handling": {"processing_days": 31}}, "locations.0.handling.processing_days"),
    ],
)
def test_bad_promise_settings_are_refused_by_their_place(
    delivery: dict[str, Any], locations: dict[str, Any] | None, expected: str
) -> None:
    errors = _refused(delivery, locations)
    assert any(expected in error for error in errors), errors


def test_defaults_promise_two_working_days_after_a_three_oclock_cut_off() -> None:
    config = parse_config(network())
    rules, location = config.delivery.promise, config.locations[0]
    assert (location.handling.cutoff, location.handling.processing_days) == ("15:00", 0)
    assert rules.transit_days.of(HOME) == 2
    assert promised_by(
        rules, config.delivery.timezone, location.handling, HOME, datetime(2026, 11, 24, tzinfo=UTC)
    ) == _end_of(date(2026, 11, 26))
