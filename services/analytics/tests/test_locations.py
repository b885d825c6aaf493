"""Figures per location on dicts: work offered, rejected and re-sourced, shipments' lead
times and promises kept, each order once per location in any arrival order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from oms_analytics.domain.kpis import LeadTimes
from oms_analytics.domain.locations import LocationFacts, LocationFigures
from oms_analytics.domain.orders import OrderFacts, settle_locations
from oms_analytics.domain.windows import Granularity
from oms_analytics.service_layer.tracking import Analytics
from tests.support.analytics import (
    accepted,
    at,
    completed,
    envelope,
    fulfilment_created,
    fulfilment_rejected,
    rerouted,
    shipped,
)

HAM, MUC = "WH-HAMBURG", "ST-MUNICH"


def _record(analytics: Analytics, payload: Any, when: Any, partition: int = 0) -> None:
    """On the topic that carries it: each topic has its own watermark."""
    topic = {
        "FulfilmentOrderCreated": "oms.sourcing",
        "FulfilmentOrderRerouted": "oms.sourcing",
        "FulfilmentOrderRejected": "oms.shipments",
        "ShipmentShipped": "oms.shipments",
    }.get(type(payload).event_type, "oms.orders")
    analytics.record(envelope(payload, when), payload, topic, partition)


def _rejected_and_rerouted(analytics: Analytics) -> None:
    """O1 offered to Munich, rejected there and re-sourced to Hamburg, which ships it."""
    _record(analytics, accepted("O1", "web", 1000), at("09:00"))
    _record(analytics, fulfilment_created("O1", MUC, promised_by=at("12:00")), at("09:05"))
    _record(analytics, fulfilment_rejected("O1", MUC), at("09:20"))
    _record(analytics, fulfilment_created("O1", HAM, promised_by=at("12:00")), at("09:21"))
    _record(analytics, rerouted("O1", MUC, HAM), at("09:21"))
    _record(analytics, shipped("O1", at("10:30"), HAM), at("10:30"))
    _record(analytics, completed("O1", at("11:00")), at("11:00"))


def test_rejection_resourcing_lead_time_and_on_time_per_location() -> None:
    analytics = Analytics({}, {}, {}, grace=timedelta(hours=1), locations={})
    # O2 shipped late from Hamburg (completed after its promise), in the 10:00 hour.
    _record(analytics, accepted("O2", "pos", 500), at("09:40"))
    _record(analytics, fulfilment_created("O2", HAM, promised_by=at("10:00")), at("09:41"))
    _record(analytics, shipped("O2", at("10:10"), HAM), at("10:10"))
    _record(analytics, completed("O2", at("10:50")), at("10:50"))
    _rejected_and_rerouted(analytics)

    hours = analytics.location_kpis(Granularity.HOUR, None)
    assert hours["location"] is None
    rows = [(w["start"][11:16], w["location"], w) for w in hours["windows"]]
    assert [(start, location) for start, location, _ in rows] == [
        ("09:00", MUC),  # oldest first, then by location
        ("09:00", HAM),
        ("10:00", HAM),
        ("11:00", HAM),
    ]
    muc_nine, ham_nine, ham_ten, ham_eleven = (w for _, _, w in rows)
    assert muc_nine == {
        "start": "2026-11-24T09:00:00Z",
        "end": "2026-11-24T10:00:00Z",
        "location": MUC,
        "fulfilment_orders_offered": 1,
        "rejected": 1,
        "rejection_rate": 1.0,
        "resourced": 1,
        "resourcing_rate": 1.0,
        "shipped": 0,
        "lead_time_p50_s": None,
        "lead_time_p90_s": None,
        "on_time_rate": None,
    }
    assert ham_nine["fulfilment_orders_offered"] == 2
    assert ham_nine["rejection_rate"] == 0.0 and ham_nine["resourcing_rate"] == 0.0
    # O1 placed 09:00, shipped 10:30 (5400 s); O2 placed 09:40, shipped 10:10 (1800 s).
    assert ham_ten["shipped"] == 2
    assert (ham_ten["lead_time_p50_s"], ham_ten["lead_time_p90_s"]) == (1800.0, 5400.0)
    assert ham_ten["on_time_rate"] == 0.0  # O2 completed 10:50, promised 10:00
    assert ham_eleven["on_time_rate"] == 1.0 and ham_eleven["shipped"] == 0
    only_munich = analytics.location_kpis(Granularity.HOUR, MUC)["windows"]
    assert only_munich == [muc_nine]
    # The channels' figures are untouched by the locations'.
    assert [w["orders_placed"] for w in analytics.kpis(Granularity.HOUR)["windows"][:2]] == [1, 1]


def test_each_figure_once_per_order_and_location_in_any_order_and_redelivered() -> None:
    first = Analytics({}, {}, {}, grace=timedelta(days=1), locations={})
    _rejected_and_rerouted(first)
    again = Analytics({}, {}, {}, grace=timedelta(days=1), locations={})
    events = [
        (completed("O1", at("11:00")), at("11:00")),
        (shipped("O1", at("10:30"), HAM), at("10:30")),
        (rerouted("O1", MUC, HAM), at("09:21")),
        (fulfilment_rejected("O1", MUC), at("09:20")),
        (fulfilment_created("O1", MUC, promised_by=at("12:00")), at("09:05")),
        (fulfilment_created("O1", HAM, promised_by=at("12:00")), at("09:21")),
        (accepted("O1", "web", 1000), at("09:00")),
    ]
    for payload, when in events + events:  # out of order, then every event once more
        _record(again, payload, when)
    assert again.location_kpis(Granularity.HOUR, None) == first.location_kpis(
        Granularity.HOUR, None
    )
    assert again.location_daily(None, None, HAM)["days"] == [
        {
            "day": "2026-11-24",
            "location": HAM,
            "fulfilment_orders_offered": 1,
            "rejected": 0,
            "rejection_rate": 0.0,
            "resourced": 0,
            "resourcing_rate": 0.0,
            "shipped": 1,
            "lead_time_p50_s": 5400.0,
            "lead_time_p90_s": 5400.0,
            "on_time_rate": 1.0,
        }
    ]


def test_a_location_figure_past_the_grace_is_dropped_and_counted() -> None:
    analytics = Analytics({}, {}, {}, grace=timedelta(minutes=30), locations={})
    _record(analytics, shipped("O0", at("11:00"), HAM), at("11:00"))
    _record(analytics, fulfilment_rejected("O1", MUC), at("09:10"))  # its hour closed 10:30
    assert analytics.location_kpis(Granularity.HOUR, None)["windows"] == []
    assert analytics.late_dropped(Granularity.HOUR) == 1


def test_location_facts_and_figures_round_trip() -> None:
    facts = OrderFacts()
    facts.at_location(MUC, "offered_at", at("09:00"))
    facts.at_location(MUC, "offered_at", at("09:30"))  # the first is kept
    facts.at_location(MUC, "shipped_at", at("10:00"))
    assert OrderFacts.from_dict(facts.to_dict()).locations == {
        MUC: LocationFacts(offered_at=at("09:00"), shipped_at=at("10:00"))
    }
    # Facts stored before locations were counted load with none.
    stored = facts.to_dict()
    del stored["locations"]
    assert OrderFacts.from_dict(stored).locations == {}
    # No placement yet: the offer counts, the lead time waits for it.
    assert [c.offered for _, c in settle_locations(facts)] == [1]
    figures = LocationFigures(
        offered=2, rejected=1, lead_times_s=LeadTimes.of([60.0]), on_time=1, late=1
    )
    assert LocationFigures.from_dict(figures.to_dict()) == figures


def test_the_rolling_hour_per_location_adds_up_its_minutes() -> None:
    analytics = Analytics({}, {}, {}, grace=timedelta(hours=1), locations={})
    _rejected_and_rerouted(analytics)
    # Munich's newest minute is 09:21 (the re-sourcing): the hop 08:25 to 09:25; Hamburg's
    # 11:00 (the completion): 10:05 to 11:05, with the shipment at 10:30.
    latest = analytics.location_rolling(latest=True)
    assert [(h["start"][11:16], h["location"]) for h in latest["hops"]] == [
        ("08:25", MUC),
        ("10:05", HAM),
    ]
    munich, hamburg = latest["hops"]
    assert (munich["fulfilment_orders_offered"], munich["rejected"], munich["resourced"]) == (
        1,
        1,
        1,
    )
    assert (hamburg["shipped"], hamburg["on_time_rate"]) == (1, 1.0)
    # Munich's minutes 09:05, 09:20 and 09:21 are in the hops from 08:10 to 09:20.
    only_munich = analytics.location_rolling(MUC)
    assert only_munich["location"] == MUC
    starts = [h["start"][11:16] for h in only_munich["hops"]]
    assert (starts[0], starts[-1], len(starts)) == ("08:10", "09:20", 15)
    assert only_munich["hops"][0]["fulfilment_orders_offered"] == 1
    assert only_munich["hops"][0]["rejected"] == 0  # 09:20 is after 08:10 to 09:10
