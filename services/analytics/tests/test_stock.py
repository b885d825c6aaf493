"""Stock-outs, time out of stock and units moved per SKU and location, on dicts: each
stock-out once by its start, each commit once, time counted on event time up to "now"."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from oms_analytics.domain.expiry import Retention, stock_expired
from oms_analytics.domain.stock import StockFacts, StockOut
from oms_analytics.domain.windows import Granularity, window_of
from oms_analytics.service_layer.stock import Stock, StockWindow
from tests.support.analytics import (
    at,
    back_in_stock,
    day_closed,
    envelope,
    out_of_stock,
    stock_committed,
)

HAM, MUC = "WH-HAMBURG", "ST-MUNICH"


class Clock:
    """ "Now" as the worker has it: the latest event time read on oms.inventory."""

    def __init__(self) -> None:
        self.latest: datetime | None = None

    def __call__(self) -> datetime | None:
        return self.latest


def _stock() -> tuple[Stock, Clock]:
    clock = Clock()
    return Stock({}, clock), clock


def _record(stock: Stock, clock: Clock, payload: Any, when: datetime) -> bool:
    clock.latest = max(clock.latest or when, when)
    return stock.record(envelope(payload, when), payload)


def test_time_out_of_stock_per_hour_and_day_with_one_still_under_way() -> None:
    stock, clock = _stock()
    # SKU-1 at Hamburg out 09:40 to 11:10; again from 11:50, still out at 12:20.
    _record(stock, clock, out_of_stock("SKU-1", HAM, at("09:40")), at("09:40"))
    _record(stock, clock, back_in_stock("SKU-1", HAM), at("11:10"))
    _record(stock, clock, out_of_stock("SKU-1", HAM, at("11:50")), at("11:50"))
    _record(stock, clock, stock_committed("SKU-2", MUC, "O1", 3), at("10:05"))
    _record(stock, clock, stock_committed("SKU-2", MUC, "O2", 2), at("10:15"))
    _record(stock, clock, back_in_stock("SKU-9", MUC), at("12:20"))  # nothing under way

    hours = stock.report(StockWindow.HOUR)
    assert hours["as_of"] == "2026-11-24T12:20:00Z"
    assert [
        (w["start"][11:16], w["sku"], w["stock_outs"], w["seconds_out_of_stock"], w["units_moved"])
        for w in hours["windows"]
    ] == [
        ("09:00", "SKU-1", 1, 1200.0, 0),
        ("10:00", "SKU-1", 0, 3600.0, 0),
        ("10:00", "SKU-2", 0, 0.0, 5),
        ("11:00", "SKU-1", 1, 600.0 + 600.0, 0),
        ("12:00", "SKU-1", 0, 1200.0, 0),  # under way: up to now, 12:20
    ]
    assert hours["windows"][0]["end"] == "2026-11-24T10:00:00Z"
    days = stock.report(StockWindow.DAY, sku="SKU-1")
    assert days["windows"] == [
        {
            "day": "2026-11-24",
            "sku": "SKU-1",
            "location": HAM,
            "stock_outs": 2,
            "seconds_out_of_stock": 1200.0 + 3600.0 + 1200.0 + 1200.0,
            "units_moved": 0,
            "closing_on_hand": None,  # no close read
        }
    ]
    assert stock.out_of_stock() == {
        "sku": None,
        "location": None,
        "as_of": "2026-11-24T12:20:00Z",
        "out_of_stock": [
            {"sku": "SKU-1", "location": HAM, "since": "2026-11-24T11:50:00Z", "seconds": 1800.0}
        ],
    }
    assert stock.out_of_stock(location=MUC)["out_of_stock"] == []
    assert stock.report(StockWindow.DAY, location=MUC)["windows"][0]["units_moved"] == 5
    assert stock.report(StockWindow.HOUR, at("10:00", day=25).date())["windows"] == []
    # A stock-out under way for days: only the days asked for.
    _record(stock, clock, out_of_stock("SKU-4", MUC, at("23:00", day=20)), at("23:00", day=20))
    _record(stock, clock, stock_committed("SKU-2", MUC, "O3", 1), at("06:00", day=26))
    asked = stock.report(StockWindow.DAY, at("00:00", day=22).date(), at("00:00", day=23).date())
    assert [
        (w["day"], w["sku"], w["stock_outs"], w["seconds_out_of_stock"]) for w in asked["windows"]
    ] == [
        ("2026-11-22", "SKU-4", 0, 86400.0),
        ("2026-11-23", "SKU-4", 0, 86400.0),
    ]


def test_each_stock_out_and_commit_once_under_redelivery() -> None:
    stock, clock = _stock()
    events = [
        (out_of_stock("SKU-1", HAM, at("09:40")), at("09:40")),
        (stock_committed("SKU-1", HAM, "O1", 4), at("09:45")),
        (back_in_stock("SKU-1", HAM), at("10:00")),
    ]
    assert [_record(stock, clock, p, w) for p, w in events] == [True, True, True]
    assert [_record(stock, clock, p, w) for p, w in events] == [False, False, False]
    # A second OutOfStock while one is under way is the same stock-out.
    _record(stock, clock, out_of_stock("SKU-1", HAM, at("10:30")), at("10:30"))
    assert not _record(stock, clock, out_of_stock("SKU-1", HAM, at("10:40")), at("10:40"))
    (nine, ten) = stock.report(StockWindow.HOUR)["windows"]
    assert (nine["stock_outs"], nine["seconds_out_of_stock"], nine["units_moved"]) == (
        1,
        1200.0,
        4,
    )
    assert (ten["stock_outs"], ten["seconds_out_of_stock"]) == (1, 600.0)


def test_stock_facts_round_trip_and_a_back_in_stock_before_its_start() -> None:
    facts = StockFacts()
    assert facts.out_of_stock(at("09:00"))
    assert facts.back_in_stock(at("08:59"))  # a clock behind: no negative stock-out
    assert facts.stock_outs == [StockOut(at("09:00"), at("09:00"))]
    assert facts.committed("res-1/sh-1", window_of(at("09:10"), Granularity.HOUR), 2)
    assert StockFacts.from_dict(facts.to_dict()) == facts
    assert StockOut(at("09:00")).seconds_within(at("09:00"), at("10:00"), at("09:30")) == 1800.0


def test_days_closed_give_the_closing_stock_and_the_turnover_over_a_range() -> None:
    """Hamburg closes three days with 10, 20 and 30 T-shirts on hand and ships 12 in them:
    the average on hand is 20, the turnover 0.6, the days of supply 3 / 0.6 = 5."""
    stock, clock = _stock()
    for day, on_hand in ((23, 10), (24, 20), (25, 30)):
        assert _record(
            stock, clock, day_closed("SKU-1", HAM, day, on_hand), at("00:00:01", day + 1)
        )
    # Read again (a redelivery, a second close of a day): nothing changes.
    assert not _record(stock, clock, day_closed("SKU-1", HAM, 24, 99), at("00:00:02", 25))
    _record(stock, clock, stock_committed("SKU-1", HAM, "O1", 5), at("10:05", 23))
    _record(stock, clock, stock_committed("SKU-1", HAM, "O2", 7), at("16:30", 25))
    _record(stock, clock, stock_committed("SKU-1", HAM, "O3", 4), at("09:00", 26))
    _record(stock, clock, stock_committed("SKU-2", MUC, "O4", 2), at("11:00", 24))  # never closed

    days = stock.report(StockWindow.DAY, date(2026, 11, 23), date(2026, 11, 25))["windows"]
    assert [(w["day"][8:], w["sku"], w["units_moved"], w["closing_on_hand"]) for w in days] == [
        ("23", "SKU-1", 5, 10),
        ("24", "SKU-1", 0, 20),
        ("24", "SKU-2", 2, None),
        ("25", "SKU-1", 7, 30),
    ]
    assert "closing_on_hand" not in stock.report(StockWindow.HOUR)["windows"][0]

    report = stock.turnover(date(2026, 11, 23), date(2026, 11, 25))
    assert (report["from"], report["to"]) == ("2026-11-23", "2026-11-25")
    assert report["items"] == [
        {
            "sku": "SKU-1",
            "location": HAM,
            "days_closed": 3,
            "average_on_hand": 20.0,
            "units_moved": 12,
            "turnover": 0.6,
            "days_of_supply": 5.0,
        },
        {
            "sku": "SKU-2",
            "location": MUC,
            "days_closed": 0,
            "average_on_hand": None,
            "units_moved": 2,
            "turnover": None,
            "days_of_supply": None,
        },
    ]
    # By default every day known (23 to 26: the 26th moved 4, closed nothing); filtered.
    everything = stock.turnover(sku="SKU-1")
    assert (everything["from"], everything["to"]) == ("2026-11-23", "2026-11-26")
    [item] = everything["items"]
    assert (item["units_moved"], item["turnover"], item["days_of_supply"]) == (16, 0.8, 5.0)
    assert stock.turnover(date(2026, 11, 27), date(2026, 11, 28))["items"] == []
    assert Stock({}, Clock()).turnover() == {
        "from": None,
        "to": None,
        "sku": None,
        "location": None,
        "as_of": None,
        "items": [],
    }


def test_a_day_closed_round_trips_and_keeps_a_quiet_key_from_expiring() -> None:
    facts = StockFacts()
    assert facts.closed(date(2026, 11, 24), 7)
    assert not facts.closed(date(2026, 11, 24), 8)
    assert StockFacts.from_dict(facts.to_dict()) == facts
    # Kept before days were closed: none.
    assert StockFacts.from_dict({"stock_outs": [], "moved": {}, "commits": []}).closing == {}
    retention = Retention(days=timedelta(days=2), minutes=timedelta(minutes=10))
    assert not stock_expired(facts, retention, at("12:00", 26))  # closed the 24th, ends the 25th
    assert stock_expired(facts, retention, at("00:00:01", 28))
