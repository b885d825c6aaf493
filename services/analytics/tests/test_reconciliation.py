"""An order's money ledger (each money event once, by its id) and every reconciliation rule,
with the figures each names."""

from __future__ import annotations

from datetime import UTC, datetime

from oms_analytics.domain.funds_days import DayFunds
from oms_analytics.domain.ledger import Closure, Flow, FundsLedger, Movement
from oms_analytics.domain.reconciliation import FundsException, exceptions


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=UTC)


def _ledger(*moves: tuple[str, Flow, int, int | None], currency: str = "EUR") -> FundsLedger:
    ledger = FundsLedger()
    ledger.placed("web", at(9), "EUR", 3000)
    for money_id, flow, amount, running in moves:
        ledger.moved(money_id, Movement(flow, currency, amount, at(10), running))
    return ledger


def _codes(ledger: FundsLedger) -> list[str]:
    return [e.code for e in exceptions(ledger)]


AUTH = ("pay-1", Flow.AUTHORISED, 3000, None)


def test_each_money_event_counts_once_by_its_id_and_the_ledger_round_trips() -> None:
    ledger = _ledger(AUTH, ("cap-1", Flow.CAPTURED, 1000, 1000))
    assert not ledger.moved("cap-1", Movement(Flow.CAPTURED, "EUR", 1000, at(11), 1000))
    assert ledger.moved("pay-1", Movement(Flow.VOIDED, "EUR", 2000, at(11)))  # its own flow
    assert ledger.totals() == {
        Flow.AUTHORISED: {"EUR": 3000},
        Flow.CAPTURED: {"EUR": 1000},
        Flow.VOIDED: {"EUR": 2000},
        Flow.REFUNDED: {},
    }
    assert ledger.version == 4  # placed and three movements
    assert FundsLedger.from_dict(ledger.to_dict()) == ledger
    assert exceptions(ledger) == []


def test_movements_wait_for_the_channel_and_count_once() -> None:
    ledger = FundsLedger()
    capture = Movement(Flow.CAPTURED, "EUR", 500, at(10), 500)
    ledger.moved("cap-1", capture)
    assert ledger.uncounted() == []
    ledger.closed(Closure.COMPLETED, at(12))
    ledger.placed("web", at(9), "EUR", 500)
    assert ledger.uncounted() == [capture]
    assert ledger.uncounted() == []
    ledger.closed(Closure.CANCELED, at(13))  # an order ends once
    assert (ledger.closure, ledger.closed_at) == (Closure.COMPLETED, at(12))


def test_refund_exceeding_capture() -> None:
    ledger = _ledger(
        AUTH, ("cap-1", Flow.CAPTURED, 3000, 3000), ("ref-1", Flow.REFUNDED, 3500, 3500)
    )
    assert exceptions(ledger) == [
        FundsException("refund_exceeds_capture", "refunded 3500 EUR, more than the 3000 captured")
    ]


def test_capture_exceeding_the_authorisation() -> None:
    ledger = _ledger(AUTH, ("cap-1", Flow.CAPTURED, 3200, 3200))
    assert exceptions(ledger) == [
        FundsException(
            "capture_exceeds_authorisation", "captured 3200 EUR, more than the 3000 authorised"
        )
    ]


def test_capture_and_void_exceeding_the_authorisation() -> None:
    ledger = _ledger(AUTH, ("cap-1", Flow.CAPTURED, 2000, 2000), ("pay-1", Flow.VOIDED, 2000, None))
    assert exceptions(ledger) == [
        FundsException(
            "captured_and_voided_exceed_authorisation",
            "captured 2000 and voided 2000 EUR, more than the 3000 authorised",
        )
    ]


def test_a_running_total_that_the_events_read_do_not_reach() -> None:
    # The first capture (1000) was never read: the second says 3000 have been captured.
    ledger = _ledger(AUTH, ("cap-2", Flow.CAPTURED, 2000, 3000))
    assert exceptions(ledger) == [
        FundsException(
            "running_total_mismatch",
            "an event's captured_total is 3000 EUR but the captured events read add up to 2000:"
            " one is missing or counted twice upstream",
        )
    ]
    ledger.moved("cap-1", Movement(Flow.CAPTURED, "EUR", 1000, at(9, 30), 1000))
    assert exceptions(ledger) == []  # the missing one came


def test_an_authorisation_left_open_is_flagged_only_once_the_order_is_closed() -> None:
    ledger = _ledger(AUTH, ("cap-1", Flow.CAPTURED, 1000, 1000))
    assert exceptions(ledger) == []  # still in progress
    ledger.closed(Closure.COMPLETED, at(15))
    assert exceptions(ledger) == [
        FundsException(
            "authorisation_left_open",
            "the order is completed but 2000 EUR of the authorisation was neither captured"
            " nor voided",
        )
    ]


def test_a_canceled_order_whose_capture_was_not_refunded() -> None:
    ledger = _ledger(
        AUTH, ("cap-1", Flow.CAPTURED, 3000, 3000), ("ref-1", Flow.REFUNDED, 1000, 1000)
    )
    assert exceptions(ledger) == []
    ledger.closed(Closure.CANCELED, at(15))
    assert exceptions(ledger) == [
        FundsException(
            "canceled_but_not_refunded",
            "the order was canceled after capturing 3000 EUR but only 1000 was refunded",
        )
    ]
    ledger.moved("ref-2", Movement(Flow.REFUNDED, "EUR", 2000, at(16), 3000))
    assert exceptions(ledger) == []


def test_money_in_another_currency_than_the_order() -> None:
    ledger = _ledger(("pay-1", Flow.AUTHORISED, 3000, None), currency="CHF")
    assert exceptions(ledger) == [
        FundsException(
            "mixed_currencies", "the order and its money are in several currencies: CHF, EUR"
        )
    ]


def test_several_exceptions_come_in_rule_order() -> None:
    ledger = _ledger(("cap-1", Flow.CAPTURED, 500, 500), ("ref-1", Flow.REFUNDED, 800, 900))
    assert _codes(ledger) == [
        "capture_exceeds_authorisation",
        "refund_exceeds_capture",
        "running_total_mismatch",
    ]


def test_day_figures_add_movements_flag_orders_and_add_up_across_partitions() -> None:
    first, second = DayFunds(), DayFunds()
    first.add(Movement(Flow.AUTHORISED, "EUR", 3000, at(9)))
    first.add(Movement(Flow.CAPTURED, "EUR", 1000, at(10), 1000))
    assert first.flag("A1", True) and not first.flag("A1", True)
    second.add(Movement(Flow.REFUNDED, "CHF", 700, at(11), 700))
    assert second.flag("B1", True) and second.flag("B1", False)
    whole = DayFunds.total([first, DayFunds.from_dict(second.to_dict())])
    assert whole.summary() == {
        "authorised_minor": {"EUR": 3000},
        "captured_minor": {"EUR": 1000},
        "voided_minor": {},
        "refunded_minor": {"CHF": 700},
        "orders_with_exceptions": 1,
    }
    assert whole.currencies() == ["CHF", "EUR"]
    assert (first.version, second.version, whole.version) == (3, 3, 6)
