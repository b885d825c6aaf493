"""The use case on plain dicts (the worker passes faust tables): windows per channel and
partition, a query that adds partitions up, late events within and past the grace."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from oms_analytics.domain.kpis import LeadTimes, WindowFigures
from oms_analytics.domain.locations import LocationFigures
from oms_analytics.domain.windows import Granularity
from oms_analytics.service_layer.tracking import Analytics
from oms_events.fulfilment import ShipmentShipped
from oms_events.orders import OrderConfirmed
from tests.support.analytics import accepted, at, canceled, envelope, rejected, shipped


def _analytics() -> Analytics:
    return Analytics({}, {}, {}, grace=timedelta(minutes=30))


def _record(analytics: Analytics, payload: Any, when: Any, partition: int = 0) -> None:
    topic = "oms.shipments" if isinstance(payload, ShipmentShipped) else "oms.orders"
    analytics.record(envelope(payload, when), payload, topic, partition)


def test_windows_from_several_partitions_add_up_in_a_query() -> None:
    analytics = _analytics()
    _record(analytics, accepted("A1", "web", 1000), at("09:10"), partition=0)
    _record(analytics, accepted("A2", "web", 500), at("09:20"), partition=3)
    _record(analytics, rejected("R1", "pos"), at("09:30"), partition=3)
    _record(analytics, canceled("A2", at("10:05")), at("10:05"), partition=3)
    _record(analytics, shipped("A1", at("10:10")), at("10:10"), partition=0)
    figures = analytics.kpis(Granularity.HOUR)
    assert [(w["start"], w["channel"]) for w in figures["windows"]] == [
        ("2026-11-24T09:00:00Z", "pos"),
        ("2026-11-24T09:00:00Z", "web"),
        ("2026-11-24T10:00:00Z", "web"),
    ]
    pos, web_nine, web_ten = figures["windows"]
    assert pos["rejections"] == 1 and pos["rejection_rate"] == 1.0
    assert web_nine["orders_placed"] == 2 and web_nine["revenue_minor"] == {"EUR": 1500}
    assert web_ten["cancellations"] == 1 and web_ten["lead_time_p50_s"] == 3600.0
    assert [w["channel"] for w in analytics.kpis(Granularity.HOUR, "pos")["windows"]] == ["pos"]


def test_a_late_event_lands_in_its_window_until_the_grace_is_past() -> None:
    analytics = _analytics()
    _record(analytics, accepted("A1", "web", 100), at("10:20"))
    _record(analytics, accepted("L1", "web", 200), at("09:55"))  # 09-10 open until 10:30
    _record(analytics, OrderConfirmed(order_id="A1", confirmed_at=at("10:40")), at("10:40"))
    _record(analytics, accepted("L2", "web", 400), at("09:58"))  # closed at 10:30
    hours = analytics.kpis(Granularity.HOUR)
    assert [(w["start"][11:16], w["orders_placed"]) for w in hours["windows"]] == [
        ("09:00", 1),
        ("10:00", 1),
    ]
    assert hours["late_events_dropped"] == 1
    assert analytics.watermark("oms.orders", 0) == at("10:40")
    assert analytics.watermark("oms.shipments", 0) is None
    # Its order is still known: a shipment later counts its lead time.
    _record(analytics, shipped("L2", at("10:48")), at("10:48"))
    ten = analytics.kpis(Granularity.HOUR)["windows"][-1]
    assert ten["lead_time_p50_s"] == 50 * 60


def test_a_figure_due_on_another_topic_is_judged_as_its_own_event_was_read() -> None:
    """A lead time needs the order's acceptance (oms.orders) and its shipment (oms.shipments).
    Read in either order, it is judged against the shipment's topic as it stood when the
    shipment was read (open), not against oms.orders, whose watermark a later order moved past
    the grace: both readings count it."""
    orders_first, shipment_first = _analytics(), _analytics()
    orders = [(accepted("X1", "web", 100), at("12:00")), (accepted("A1", "web", 100), at("09:00"))]
    shipment = (shipped("A1", at("09:30")), at("09:30"))
    for payload, when in orders:
        _record(orders_first, payload, when)
    _record(orders_first, *shipment)
    _record(shipment_first, *shipment)
    for payload, when in orders:
        _record(shipment_first, payload, when)

    for reading in (orders_first, shipment_first):
        nine = reading.kpis(Granularity.HOUR)["windows"][0]
        assert (nine["start"][11:16], nine["orders_placed"], nine["shipped"]) == ("09:00", 0, 1)
        assert reading.kpis(Granularity.HOUR)["late_events_dropped"] == 1  # A1's placement
    assert orders_first.kpis(Granularity.HOUR) == shipment_first.kpis(Granularity.HOUR)


def _placed_per_hop(report: dict[str, Any]) -> list[tuple[str, str, int, dict[str, int]]]:
    return [
        (h["start"][11:16], h["channel"], h["orders_placed"], h["revenue_minor"])
        for h in report["hops"]
    ]


def test_the_rolling_hour_counts_an_event_in_every_hop_that_covers_it() -> None:
    analytics = _analytics()
    _record(analytics, accepted("A1", "web", 1000), at("09:07"), partition=0)
    _record(analytics, accepted("A2", "web", 500), at("09:12:30"), partition=3)
    _record(analytics, accepted("M1", "pos", 700, "CHF"), at("09:12"), partition=3)
    rolling = analytics.rolling()
    assert (rolling["size_seconds"], rolling["step_seconds"]) == (3600, 300)
    assert rolling["grace_seconds"] == 1800
    # A1 (09:07) is in the twelve hops from 08:10 to 09:05; A2 and M1 (09:12) from 08:15 to
    # 09:10: both orders of the web in the eleven hops from 08:15 to 09:05.
    starts = [f"{8 + (10 + 5 * n) // 60:02d}:{(10 + 5 * n) % 60:02d}" for n in range(13)]
    expected = [(starts[0], "web", 1, {"EUR": 1000})]
    for start in starts[1:12]:
        expected += [(start, "pos", 1, {"CHF": 700}), (start, "web", 2, {"EUR": 1500})]
    expected += [(starts[12], "pos", 1, {"CHF": 700}), (starts[12], "web", 1, {"EUR": 500})]
    assert _placed_per_hop(rolling) == expected
    first = rolling["hops"][0]
    assert (first["start"], first["end"]) == ("2026-11-24T08:10:00Z", "2026-11-24T09:10:00Z")
    only_pos = analytics.rolling("pos")
    assert _placed_per_hop(only_pos) == [h for h in expected if h[1] == "pos"]
    since = analytics.rolling(since=at("09:05"))
    assert since["from"] == "2026-11-24T09:05:00Z"
    assert _placed_per_hop(since) == [h for h in expected if h[0] >= "09:05"]


def test_the_latest_hop_of_each_channel_is_the_last_hour_as_of_its_newest_minute() -> None:
    analytics = _analytics()
    _record(analytics, accepted("A1", "web", 1000), at("09:07"))
    _record(analytics, accepted("A2", "web", 500), at("09:42"))
    _record(analytics, accepted("M1", "pos", 700, "CHF"), at("09:12"))
    latest = analytics.rolling(latest=True)
    assert latest["latest"] is True
    # The web's newest minute is 09:42: the hop 08:45 to 09:45 holds it and ends first after
    # it, with A1 too; the point of sale's 09:12 gives 08:15 to 09:15.
    assert _placed_per_hop(latest) == [
        ("08:15", "pos", 1, {"CHF": 700}),
        ("08:45", "web", 2, {"EUR": 1500}),
    ]
    assert _placed_per_hop(analytics.rolling("web", latest=True)) == [
        ("08:45", "web", 2, {"EUR": 1500})
    ]
    assert analytics.rolling(latest=True, since=at("08:30"))["hops"][0]["channel"] == "web"
    assert _analytics().rolling(latest=True)["hops"] == []


def test_a_late_event_joins_every_hop_of_its_minute_until_the_grace_is_past() -> None:
    analytics = _analytics()
    _record(analytics, accepted("A1", "web", 100), at("10:20"))
    _record(analytics, accepted("L1", "web", 200), at("09:59"))  # its minute open until 10:30
    _record(analytics, OrderConfirmed(order_id="A1", confirmed_at=at("10:40")), at("10:40"))
    _record(analytics, accepted("L2", "web", 400), at("09:58"))  # closed at 09:59 + 30 min
    rolling = analytics.rolling()
    assert rolling["late_events_dropped"] == 1
    placed = {h["start"][11:16]: h["orders_placed"] for h in rolling["hops"]}
    assert placed["09:00"] == 1 and placed["09:20"] == 1  # L1 (09:59) alone
    assert placed["09:25"] == 2 and placed["09:55"] == 2  # L1 and A1 (10:20)
    assert placed["10:15"] == 1 and sum(placed.values()) == 24  # two orders, twelve hops each


def test_changed_days_become_history_rows_per_partition_once_and_again_when_asked() -> None:
    analytics = _analytics()
    _record(analytics, accepted("A1", "web", 1000), at("09:10"), partition=0)
    _record(analytics, accepted("A2", "web", 500), at("11:20"), partition=0)
    _record(analytics, accepted("A3", "web", 700), at("09:30"), partition=3)
    _record(analytics, canceled("A2", at("11:40")), at("11:40"), partition=0)
    _record(analytics, shipped("A1", at("10:10"), "HAM"), at("10:10"), partition=0)
    rows = analytics.take_changes()
    # One row per location or channel, day and partition: partition 0's hours added up.
    assert [(r.figures, r.name, r.day.isoformat(), r.source_partition) for r in rows] == [
        (LocationFigures(lead_times_s=LeadTimes.of([3600.0])), "HAM", "2026-11-24", 0),
        (
            WindowFigures(
                orders_placed=2,
                revenue_minor={"EUR": 1500},
                cancellations=1,
                lead_times_s=LeadTimes.of([3600.0]),
            ),
            "web",
            "2026-11-24",
            0,
        ),
        (WindowFigures(orders_placed=1, revenue_minor={"EUR": 700}), "web", "2026-11-24", 3),
    ]
    assert [r.figures.counted() for r in rows] == [1, 4, 1]  # the rows' versions
    assert analytics.take_changes() == []
    analytics.keep_changes(rows[1:])  # the write failed: they come again
    assert analytics.take_changes() == rows[1:]
    assert analytics.take_changes(everything=True) == rows
    # A later figure raises the version: the stored row is replaced only by a newer copy.
    _record(analytics, rejected("R1", "web"), at("12:00"), partition=3)
    assert [(r.source_partition, r.figures.counted()) for r in analytics.take_changes()] == [(3, 2)]
