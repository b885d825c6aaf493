"""The pure KPI rules: windows and grace, percentiles, rates, and each order counted once."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from oms_analytics.domain.kpis import Contribution, LeadTimes, WindowFigures, percentile, rate
from oms_analytics.domain.orders import OrderFacts, ReturnRequest, settle
from oms_analytics.domain.windows import (
    ROLLING_HOUR,
    Granularity,
    Hopping,
    Window,
    accepts,
    window_of,
)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC)


def test_a_moment_falls_in_one_tumbling_window_per_granularity() -> None:
    assert window_of(at(9, 59, 59), Granularity.HOUR) == Window(Granularity.HOUR, at(9))
    assert window_of(at(10), Granularity.HOUR).end == at(11)
    assert window_of(at(9, 41, 30), Granularity.MINUTE) == Window(Granularity.MINUTE, at(9, 41))
    with pytest.raises(ValueError, match="timezone-aware"):
        window_of(datetime(2026, 11, 24, 9), Granularity.HOUR)


def test_a_window_takes_late_events_until_the_watermark_passes_its_end_plus_grace() -> None:
    nine = Window(Granularity.HOUR, at(9))
    grace = timedelta(hours=1)
    assert accepts(nine, None, grace)
    assert accepts(nine, at(10, 59, 59), grace)
    assert not accepts(nine, at(11), grace)
    assert not accepts(nine, at(10), timedelta(0))


def test_nearest_rank_percentiles() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert percentile([float(v) for v in range(1, 11)], 0.9) == 9.0
    assert percentile([300.0, 3600.0, 1200.0], 0.5) == 1200.0
    assert percentile([300.0, 3600.0, 1200.0], 0.9) == 3600.0
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_rates_are_rounded_and_undefined_on_nothing() -> None:
    assert rate(1, 3) == 0.3333
    assert rate(0, 4) == 0.0
    assert rate(0, 0) is None


def test_figures_add_contributions_merge_across_partitions_and_summarise() -> None:
    first, second = WindowFigures(), WindowFigures()
    first.add(Contribution("web", placed=1, revenue=("EUR", 1000)))
    first.add(Contribution("web", rejections=1))
    second.add(Contribution("web", placed=1, revenue=("CHF", 500)))
    second.add(Contribution("web", cancellations=1, lead_time_s=60.0))
    first.add(Contribution("web", returned=(("damaged", 1), ("size_or_fit", 1))))
    second.add(Contribution("web", returned=(("damaged", 2),)))
    first.add(Contribution("web", backorders=1))
    first.add(Contribution("web", delivery_lead_time_s=7200.0))
    second.add(Contribution("web", delivery_lead_time_s=3600.0))
    first.add(Contribution("web", on_time=True))
    second.add(Contribution("web", on_time=False))
    second.add(Contribution("web", on_time=True))
    second.add(Contribution("web", orders_returned=1))
    whole = WindowFigures.total([first, WindowFigures.from_dict(second.to_dict())])
    assert whole.summary() == {
        "orders_placed": 2,
        "revenue_minor": {"CHF": 500, "EUR": 1000},
        "cancellations": 1,
        "rejections": 1,
        "cancellation_rate": 0.5,
        "rejection_rate": 0.3333,
        "shipped": 1,
        "lead_time_p50_s": 60.0,
        "lead_time_p90_s": 60.0,
        "returns": 2,
        "returned_units_by_reason": {"damaged": 3, "size_or_fit": 1},
        "orders_returned": 1,
        "return_rate": 0.5,  # 1 order returned of the 2 delivered or collected
        "backorders": 1,
        "backorder_rate": 0.5,
        "delivered_or_collected": 2,
        "delivery_lead_time_p50_s": 3600.0,
        "delivery_lead_time_p90_s": 7200.0,
        "on_time_rate": 0.6667,
    }


def test_each_fact_counts_once_whatever_the_order_it_arrives_in() -> None:
    facts = OrderFacts()
    facts.shipped(at(10, 30))
    facts.canceled(at(10, 40))
    assert settle(facts) == []  # neither channel nor placement known yet
    facts.placed("web", at(9), "EUR", 2500)
    assert settle(facts) == [
        (at(9), Contribution("web", placed=1, revenue=("EUR", 2500))),
        (at(10, 40), Contribution("web", cancellations=1)),
        (at(10, 30), Contribution("web", lead_time_s=5400.0)),
    ]
    facts.placed("web", at(9, 5), "EUR", 2500)  # a redelivery
    facts.shipped(at(11))  # a second parcel: lead time is to the first
    restored = OrderFacts.from_dict(facts.to_dict())
    assert restored == facts
    assert settle(restored) == []


def test_a_rejected_order_counts_once_in_its_channel() -> None:
    facts = OrderFacts()
    facts.rejected("pos", at(9, 15))
    facts.rejected("pos", at(9, 16))
    assert settle(facts) == [(at(9, 15), Contribution("pos", rejections=1))]
    assert settle(facts) == []


def test_each_return_counts_once_in_the_channel_it_was_asked_for_in() -> None:
    facts = OrderFacts()
    request = ReturnRequest("pos", at(14), (("damaged", 2), ("wrong_item", 1)))
    facts.returned("ret-1", request)
    facts.returned("ret-1", ReturnRequest("pos", at(15), (("other", 9),)))  # a redelivery
    # Counted before the order's own channel is known: the return names its own.
    assert settle(facts) == [(at(14), Contribution("pos", returned=request.units))]
    facts.placed("web", at(9), "EUR", 100)
    restored = OrderFacts.from_dict(facts.to_dict())
    assert restored == facts
    assert settle(restored) == [
        (at(9), Contribution("web", placed=1, revenue=("EUR", 100))),
        # For the return rate: the order returned, once, under the channel that sold it.
        (at(14), Contribution("web", orders_returned=1)),
    ]


def test_an_order_counts_as_returned_once_at_its_first_return_request() -> None:
    facts = OrderFacts()
    facts.placed("web", at(9), "EUR", 100)
    facts.returned("ret-2", ReturnRequest("web", at(16), (("other", 1),)))
    due = settle(facts)
    assert (at(16), Contribution("web", orders_returned=1)) in due
    # A second return of the order, and a redelivery of the first: no second count.
    facts.returned("ret-3", ReturnRequest("pos", at(17), (("damaged", 1),)))
    facts.returned("ret-2", ReturnRequest("web", at(16), (("other", 1),)))
    assert settle(OrderFacts.from_dict(facts.to_dict())) == [
        (at(17), Contribution("pos", returned=(("damaged", 1),)))
    ]


def test_a_rejected_order_with_a_return_is_not_counted_as_returned() -> None:
    facts = OrderFacts()
    facts.rejected("web", at(9))
    facts.returned("ret-4", ReturnRequest("web", at(10), (("other", 1),)))
    assert (at(10), Contribution("web", orders_returned=1)) not in settle(facts)


def test_the_return_rate_is_orders_returned_over_orders_delivered_or_collected() -> None:
    figures = WindowFigures()
    figures.add(Contribution("web", orders_returned=1))
    assert figures.summary()["return_rate"] is None  # none delivered in the window
    for lead in (60.0, 120.0, 180.0):
        figures.add(Contribution("web", delivery_lead_time_s=lead))
    assert figures.summary()["return_rate"] == 0.3333


def test_facts_and_windows_stored_before_returns_were_counted_still_load() -> None:
    facts = OrderFacts()
    facts.placed("web", at(9), "EUR", 100)
    old_facts = {k: v for k, v in facts.to_dict().items() if k != "returns"}
    assert OrderFacts.from_dict(old_facts) == facts
    old_window = {k: v for k, v in WindowFigures().to_dict().items() if "return" not in k}
    assert WindowFigures.from_dict(old_window) == WindowFigures()
    assert "orders_returned" not in old_window


def test_delivery_lead_time_backorder_and_promise_count_once_in_any_order() -> None:
    facts = OrderFacts()
    facts.completed(at(15))  # read before the order's acceptance and its promise
    assert settle(facts) == []
    facts.promised(at(14))
    facts.promised(at(18))  # a later fulfilment order's promise: the first one holds
    facts.backordered(at(9, 30))
    facts.placed("web", at(9), "EUR", 1000)
    due = settle(facts)
    assert (at(15), Contribution("web", delivery_lead_time_s=6 * 3600.0)) in due
    assert (at(15), Contribution("web", on_time=False)) in due
    assert (at(9, 30), Contribution("web", backorders=1)) in due
    again = OrderFacts.from_dict(facts.to_dict())
    again.completed(at(16))
    assert settle(again) == []


def test_hopping_windows_of_whole_minutes_cover_a_moment_size_over_step_times() -> None:
    starts = ROLLING_HOUR.covering(at(10, 7, 30))
    assert len(starts) == 12 and starts[0] == at(9, 10) and starts[-1] == at(10, 5)
    assert ROLLING_HOUR.covering(at(10, 5)) == starts  # a hop starts at its step
    assert ROLLING_HOUR.covering(at(10, 4, 59))[-1] == at(10)
    quarter = Hopping(timedelta(minutes=15), timedelta(minutes=15))  # a tumbling one
    assert quarter.covering(at(9, 44)) == [at(9, 30)]
    for size, step in ((60, 7), (60, 0), (60.5, 0.5)):
        with pytest.raises(ValueError, match="whole minutes"):
            Hopping(timedelta(minutes=size), timedelta(minutes=step))


def test_lead_times_keep_exact_percentiles_of_values_rounded_to_three_digits() -> None:
    values = [3600.0, 1800.0, 12345.6, 12301.0, 59.94, 86400.0, 1800.0]
    times = LeadTimes.of(values)
    assert times.counts == {59.9: 1, 1800.0: 2, 3600.0: 1, 12300.0: 2, 86400.0: 1}
    assert len(times) == 7
    assert times.expanded() == [59.9, 1800.0, 1800.0, 3600.0, 12300.0, 12300.0, 86400.0]
    for q in (0.01, 0.25, 0.5, 0.75, 0.9, 1.0):
        assert times.percentile(q) == percentile(times.expanded(), q)
    assert LeadTimes().percentile(0.5) is None
    with pytest.raises(ValueError):
        times.percentile(0)


def test_lead_times_merge_by_counts_and_read_both_stored_forms() -> None:
    first, second = LeadTimes.of([60.0, 3600.0]), LeadTimes.of([3600.0, 7200.0])
    first.extend(second)
    assert first.to_json() == [[60.0, 1], [3600.0, 2], [7200.0, 1]]
    assert LeadTimes.from_json(first.to_json()) == first
    # Windows stored before the counts, and the history's arrays, are plain lists.
    assert LeadTimes.from_json([60.0, 3600.0, 3600.0, 7200.0]) == first


def test_a_window_of_any_volume_stays_far_below_the_request_limit() -> None:
    rng = random.Random(7)

    def spread() -> LeadTimes:  # lead times from a second to 100 days, log-uniform
        return LeadTimes.of(10 ** rng.uniform(0, 6.94) for _ in range(100_000))

    figures = WindowFigures(lead_times_s=spread(), delivery_lead_times_s=spread())
    size = len(json.dumps(figures.to_dict()))
    assert len(figures.lead_times_s) == 100_000
    assert len(figures.lead_times_s.counts) <= 900 * 7
    assert size < 300_000, size
