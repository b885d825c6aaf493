"""The funds use case on plain dicts (the worker passes faust tables): ledgers per order, a
redelivery counted once, days per channel added up across partitions, the exception list,
and the changed keys handed out as history rows."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from oms_analytics.adapters.history import DayRow, LedgerRow
from oms_analytics.service_layer.funds import Funds
from tests.support.analytics import (
    accepted,
    at,
    authorized,
    canceled,
    captured,
    completed,
    envelope,
    refunded,
    voided,
)

DAY = date(2026, 11, 24)


def _record(funds: Funds, payload: Any, when: str, partition: int = 0, day: int = 24) -> None:
    funds.record(envelope(payload, at(when, day)), payload, partition)


def _funds() -> Funds:
    """Three orders: C1 clean; X1 refunded more than captured; K1 canceled, left authorised."""
    funds = Funds({}, {})
    for payload, when in (
        (accepted("C1", "web", 3000), "09:00"),
        (authorized("C1", 3000), "09:01"),
        (captured("C1", "cap-C1", 3000, 3000), "10:00"),
        (captured("C1", "cap-C1", 3000, 3000), "10:00"),  # redelivered
        (completed("C1", at("12:00")), "12:00"),
        (accepted("X1", "web", 2000), "09:10"),
        (authorized("X1", 2000), "09:11"),
        (captured("X1", "cap-X1", 2000, 2000), "10:10"),
    ):
        _record(funds, payload, when)
    _record(funds, refunded("X1", "ref-X1", 2500, 2500), "08:00", day=25)
    for payload, when in (
        (accepted("K1", "pos", 1500), "09:20"),
        (authorized("K1", 1500), "09:21"),
        (canceled("K1", at("09:30")), "09:30"),
    ):
        _record(funds, payload, when, partition=3)
    return funds


def test_days_per_channel_and_the_exceptions_of_the_orders_placed_that_day() -> None:
    report = _funds().reconciliation(None, None, None)
    assert report["days"] == [
        {
            "day": "2026-11-24",
            "channel": "pos",
            "authorised_minor": {"EUR": 1500},
            "captured_minor": {},
            "voided_minor": {},
            "refunded_minor": {},
            "orders_with_exceptions": 1,
        },
        {
            "day": "2026-11-24",
            "channel": "web",
            "authorised_minor": {"EUR": 5000},
            "captured_minor": {"EUR": 5000},
            "voided_minor": {},
            "refunded_minor": {},
            "orders_with_exceptions": 1,
        },
        {
            "day": "2026-11-25",
            "channel": "web",
            "authorised_minor": {},
            "captured_minor": {},
            "voided_minor": {},
            "refunded_minor": {"EUR": 2500},
            "orders_with_exceptions": 0,
        },
    ]
    assert [
        (e["order_id"], e["channel"], e["placed_on"], e["code"]) for e in report["exceptions"]
    ] == [
        ("K1", "pos", "2026-11-24", "authorisation_left_open"),
        ("X1", "web", "2026-11-24", "refund_exceeds_capture"),
    ]


def test_the_report_filters_by_day_and_channel() -> None:
    funds = _funds()
    only_25 = funds.reconciliation(date(2026, 11, 25), None, None)
    assert [(d["day"], d["channel"]) for d in only_25["days"]] == [("2026-11-25", "web")]
    assert only_25["exceptions"] == []
    pos = funds.reconciliation(DAY, DAY, "pos")
    assert (pos["from"], pos["to"], pos["channel"]) == ("2026-11-24", "2026-11-24", "pos")
    assert [d["channel"] for d in pos["days"]] == ["pos"]


def test_an_orders_ledger_and_a_void_clearing_its_exception() -> None:
    funds = _funds()
    _record(funds, voided("K1", 1500), "09:31", partition=3)
    order = funds.order("K1")
    assert order == {
        "order_id": "K1",
        "channel": "pos",
        "placed_at": "2026-11-24T09:20:00Z",
        "grand_total": {"currency": "EUR", "amount_minor": 1500},
        "closure": "canceled",
        "closed_at": "2026-11-24T09:30:00Z",
        "authorised_minor": {"EUR": 1500},
        "captured_minor": {},
        "voided_minor": {"EUR": 1500},
        "refunded_minor": {},
        "movements": [
            {
                "id": "pay-K1",
                "flow": "authorised",
                "currency": "EUR",
                "amount_minor": 1500,
                "at": "2026-11-24T09:21:00Z",
                "running_total_minor": None,
            },
            {
                "id": "pay-K1",
                "flow": "voided",
                "currency": "EUR",
                "amount_minor": 1500,
                "at": "2026-11-24T09:31:00Z",
                "running_total_minor": None,
            },
        ],
        "exceptions": [],
    }
    assert funds.reconciliation(None, None, "pos")["days"][0]["orders_with_exceptions"] == 0
    assert funds.order("unknown") is None


def test_changed_keys_become_history_rows_once_and_again_when_asked_for_all() -> None:
    funds = _funds()
    ledgers, days = funds.take_changes()
    assert [row.order_id for row in ledgers] == ["C1", "K1", "X1"]
    x1 = ledgers[2]
    assert x1 == LedgerRow(
        order_id="X1",
        channel="web",
        placed_on=DAY,
        closure=None,
        total_currency="EUR",
        total_minor=2000,
        totals=x1.totals,
        exceptions=x1.exceptions,
        version=4,
        source_partition=0,
    )
    assert json.loads(x1.totals) == {
        "authorised": {"EUR": 2000},
        "captured": {"EUR": 2000},
        "voided": {},
        "refunded": {"EUR": 2500},
    }
    assert [e["code"] for e in json.loads(x1.exceptions)] == ["refund_exceeds_capture"]
    assert sorted(days) == [
        DayRow(DAY, "pos", 3, "EUR", 1500, 0, 0, 0, 2),
        DayRow(DAY, "web", 0, "EUR", 5000, 5000, 0, 0, 5),
        DayRow(date(2026, 11, 25), "web", 0, "EUR", 0, 0, 0, 2500, 1),
    ]
    assert funds.take_changes() == ([], [])
    funds.keep_changes(ledgers[:1], days[:1])  # the write failed: they come again
    assert funds.take_changes() == (ledgers[:1], days[:1])
    assert funds.take_changes(everything=True) == (ledgers, days)
