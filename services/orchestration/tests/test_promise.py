"""Availability to promise: dates from cut-offs and transit bands, options from the engine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from oms_orchestration.adapters.config_file import parse_config
from oms_orchestration.domain.config import DeliveryService, TransitBand
from oms_orchestration.domain.geo import Point
from oms_orchestration.domain.promise import arrival, promise
from oms_orchestration.domain.sourcing import Line
from oms_runtime import DocumentError
from services.orchestration.tests.test_sourcing import BERLIN_STORE, HAMBURG, MUNICH, network

BERLIN_TIME = ZoneInfo("Europe/Berlin")
STANDARD = DeliveryService(
    service_id="standard",
    carrier="dhl",
    cutoff="15:00",
    price_minor=495,
    transit=(
        TransitBand(up_to_km=300, days=1),
        TransitBand(up_to_km=800, days=2),
        TransitBand(days=3),
    ),
)


@pytest.mark.parametrize(
    ("now", "km", "expected"),
    [
        (datetime(2026, 11, 24, 10, 0), 250, date(2026, 11, 25)),  # Tuesday before the cut-off
        (datetime(2026, 11, 24, 16, 0), 250, date(2026, 11, 26)),  # after it: leaves Wednesday
        (datetime(2026, 11, 24, 10, 0), 500, date(2026, 11, 26)),  # the second band
        (datetime(2026, 11, 24, 10, 0), 5000, date(2026, 11, 27)),  # the open band
        (datetime(2026, 11, 28, 10, 0), 250, date(2026, 11, 30)),  # Saturday: no Sunday transit
        (datetime(2026, 11, 29, 10, 0), 250, date(2026, 12, 1)),  # Sunday: leaves Monday
        (datetime(2026, 11, 24, 10, 0), None, date(2026, 11, 27)),  # distance unknown: last band
    ],
)
def test_arrival_follows_the_cut_off_the_bands_and_skips_sundays(
    now: datetime, km: float | None, expected: date
) -> None:
    assert arrival(STANDARD, now.replace(tzinfo=BERLIN_TIME), km) == expected


def config_with_delivery() -> object:
    doc = network()
    doc["delivery"] = {
        "ship_to_store_service": "standard",
        "pickup_ready_minutes": 90,
        "services": [
            STANDARD.model_dump(),
            {
                **STANDARD.model_dump(),
                "service_id": "express",
                "price_minor": 1290,
                "transit": [{"days": 0}],
            },
        ],
    }
    return parse_config(doc)


def test_options_for_a_cart_earliest_first_with_their_locations_and_costs() -> None:
    cfg = config_with_delivery()
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, a Tuesday
    options = promise(
        cfg,  # type: ignore[arg-type]
        channel="web-de",
        lines=(Line("1", "A", 2),),
        destination=Point(52.52, 13.405),
        pickup_store_id=BERLIN_STORE,
        now=now,
        available={(HAMBURG, "A"): 5, (BERLIN_STORE, "A"): 2, (MUNICH, "A"): 9},
        capacity_used={},
    )
    summary = [
        (o.delivery_method.value, o.service_id, o.locations, o.promised_date, o.cost_minor)
        for o in options
    ]
    assert summary == [
        ("click_and_collect", None, (BERLIN_STORE,), None, 0),
        ("home_delivery", "express", (BERLIN_STORE,), date(2026, 11, 24), 1290),  # same day
        ("ship_to_store", "standard", (HAMBURG,), date(2026, 11, 25), 0),
        ("home_delivery", "standard", (BERLIN_STORE,), date(2026, 11, 25), 495),
    ]
    assert options[0].ready_by == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


def test_no_option_when_the_stock_is_not_there() -> None:
    cfg = config_with_delivery()
    options = promise(
        cfg,  # type: ignore[arg-type]
        channel="web-de",
        lines=(Line("1", "A", 20),),
        destination=Point(52.52, 13.405),
        pickup_store_id=None,
        now=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        available={(HAMBURG, "A"): 5},
        capacity_used={},
    )
    assert options == []


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        ({"timezone": "Mars/Olympus"}, "delivery.timezone: unknown time zone"),
        ({"ship_to_store_service": "pigeon"}, "delivery.ship_to_store_service: unknown service"),
        (
            {
                "services": [
                    {**STANDARD.model_dump(), "transit": [{"days": 1}, {"up_to_km": 10, "days": 2}]}
                ]
            },
            "delivery.services.0.transit: bands must grow",
        ),
        (
            {"services": [{**STANDARD.model_dump(), "cutoff": "25:00"}]},
            "delivery.services.0.cutoff",
        ),
    ],
)
def test_bad_delivery_settings_are_refused(delivery: dict[str, object], expected: str) -> None:
    doc = network()
    doc["delivery"] = delivery
    with pytest.raises(DocumentError) as caught:
        parse_config(doc)
    assert any(expected in error for error in caught.value.errors), caught.value.errors
