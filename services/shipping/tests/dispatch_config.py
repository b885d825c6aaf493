"""A small dispatch configuration for the unit tests: Hamburg ships to Germany with three
services that differ in price, speed and score."""

from __future__ import annotations

from typing import Any

from oms_shipping.domain.dispatch import DispatchConfig


def _service(
    cutoff: str, reliability: float, days: int, prices: list[int], **more: Any
) -> dict[str, Any]:
    bands = [
        {"up_to_grams": g, "price_minor": p} for g, p in zip((1000, 5000), prices, strict=True)
    ]
    zone = {"name": "de", "country": "DE", "transit_days": days, "bands": bands}
    return {"cutoff": cutoff, "reliability": reliability, "zones": [zone], **more}


ADDRESS = {"name": "OMS Hamburg", "line1": "Kai 1", "city": "Hamburg", "postal_code": "20457"}
DISPATCH = DispatchConfig.model_validate(
    {
        "currency": "EUR",
        "locations": {
            "wh-hamburg": {"timezone": "Europe/Berlin", "address": {**ADDRESS, "country": "DE"}},
            "store-berlin": {
                "timezone": "Europe/Berlin",
                "address": {**ADDRESS, "city": "Berlin", "country": "DE"},
            },
        },
        "carriers": {
            "dhl": {
                "tracking_prefix": "DHL",
                "services": {"paket": _service("17:00", 0.95, 2, [499, 649], dim_divisor=5000)},
            },
            "dpd": {
                "tracking_prefix": "DPD",
                "services": {"classic": _service("18:00", 0.88, 2, [449, 599])},
            },
            "ups": {
                "tracking_prefix": "UPS",
                "services": {"express": _service("16:00", 0.98, 1, [1290, 1490])},
            },
        },
        "policies": {
            "home_delivery": {"choose": "cheapest_meeting_promise"},
            "ship_to_store": {"choose": "best_score_within_budget", "budget_minor": 800},
            "click_and_collect": {"choose": "fastest"},
        },
    }
)
