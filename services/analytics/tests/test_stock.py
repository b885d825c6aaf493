"""Stock-outs, time out of stock and units moved per SKU and location, on dicts: each
stock-out once by its start, each commit once, time counted on event time up to "now"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oms_analytics.domain.stock import StockFacts, StockOut
from oms_analytics.domain.windows import Granularity, window_of
from oms_analytics.service_layer.stock import Stock, StockWindow
from tests.support.analytics import (
    at,
    back_in_stock,
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
