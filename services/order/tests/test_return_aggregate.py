"""The return aggregate: what may be asked back, receipts and inspections in parts, refunds
that add up to what the units were paid, refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oms_order.domain.order import LineState, Order, PaymentStatus, TransitionRefused
from oms_order.domain.returns import AskedLine, Return, Returnable, ReturnStatus, request_return
from oms_order.domain.status import OrderStatus

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)


def _order() -> Order:
    return Order(
        order_id="ord_1",
        status=OrderStatus.COMPLETED,
        payment_status=PaymentStatus.CAPTURED,
        delivery_method="home_delivery",
        currency="EUR",
        grand_total_minor=1_495,
        lines=[
            LineState(line_id="1", sku="A", ordered=3, line_total_minor=1_000, shipped=3),
            LineState(line_id="2", sku="B", ordered=1, line_total_minor=0, shipped=1),
        ],
    )


def _returnable(
    delivered: dict[str, int] | None = None,
    in_returns: dict[str, int] | None = None,
    at: datetime | None = NOW - timedelta(days=2),
) -> Returnable:
    return Returnable(delivered or {"1": 3, "2": 1}, in_returns or {}, at)


def _request(returnable: Returnable, *asked: AskedLine, now: datetime = NOW) -> Return:
    return request_return(
        _order(),
        returnable,
        asked,
        return_id="ret_1",
        rma_number="RMA-1",
        channel="web-de",
        drop_off_location_id=None,
        now=now,
        window=WINDOW,
    )


def test_a_return_values_its_units_at_their_share_of_the_line() -> None:
    ret = _request(_returnable(), AskedLine("1", 2, "damaged"))
    assert [(line.sku, line.quantity, line.value_minor) for line in ret.lines] == [("A", 2, 666)]
    assert ret.status is ReturnStatus.REQUESTED


@pytest.mark.parametrize(
    ("returnable", "asked", "now", "code"),
    [
        (_returnable(at=None), AskedLine("1", 1, "damaged"), NOW, "nothing_delivered"),
        (_returnable(), AskedLine("1", 1, "damaged"), NOW + WINDOW, "return_window_closed"),
        (_returnable(), AskedLine("9", 1, "damaged"), NOW, "unknown_line"),
        (_returnable(), AskedLine("1", 4, "damaged"), NOW, "quantity_not_returnable"),
        (_returnable({"1": 1}), AskedLine("1", 2, "damaged"), NOW, "quantity_not_returnable"),
        (
            _returnable(in_returns={"1": 2}),
            AskedLine("1", 2, "damaged"),
            NOW,
            "quantity_not_returnable",
        ),
    ],
)
def test_a_return_is_refused_for_units_that_may_not_come_back(
    returnable: Returnable, asked: AskedLine, now: datetime, code: str
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        _request(returnable, asked, now=now)
    assert refused.value.code == code


def test_the_window_is_open_until_its_last_moment() -> None:
    last_day = NOW - timedelta(days=2) + WINDOW
    assert _request(_returnable(), AskedLine("1", 1, "other"), now=last_day).lines[0].quantity == 1


def test_a_line_named_twice_is_refused() -> None:
    with pytest.raises(TransitionRefused) as refused:
        _request(_returnable(), AskedLine("1", 1, "damaged"), AskedLine("1", 1, "other"))
    assert refused.value.code == "duplicate_line"


def test_receipts_and_inspections_in_parts_refund_exactly_what_was_paid() -> None:
    ret = _request(_returnable(), AskedLine("1", 3, "size_or_fit"))
    assert ret.lines[0].value_minor == 1_000
    refunds = []
    for location in ("store-berlin", "wh-koeln", "store-berlin"):
        ret.receive(location, [("1", 1)])
        assert ret.status is ReturnStatus.RECEIVED
        refund = ret.inspect([("1", 1)], None)
        ret.refunded(refund)
        refunds.append(refund)
        assert ret.status is ReturnStatus.REFUNDED
    assert refunds == [333, 333, 334]
    assert ret.locations == ["store-berlin", "wh-koeln"]


def test_staff_may_grant_less_never_more_and_a_refusal_changes_nothing() -> None:
    ret = _request(_returnable(), AskedLine("1", 2, "damaged"))
    ret.receive("wh-koeln", [("1", 2)])
    with pytest.raises(TransitionRefused) as refused:
        ret.inspect([("1", 2)], 667)
    assert refused.value.code == "refund_exceeds_value"
    assert ret.lines[0].inspected == 0
    with pytest.raises(TransitionRefused) as too_many:
        ret.receive("wh-koeln", [("1", 1)])
    assert too_many.value.code == "quantity_not_received"
    assert ret.inspect([("1", 2)], 0) == 0
    assert ret.status is ReturnStatus.INSPECTED


def test_only_received_units_can_be_inspected() -> None:
    ret = _request(_returnable(), AskedLine("1", 2, "damaged"))
    ret.receive("wh-koeln", [("1", 1)])
    with pytest.raises(TransitionRefused) as refused:
        ret.inspect([("1", 2)], None)
    assert refused.value.code == "quantity_not_inspected"
    with pytest.raises(TransitionRefused) as unknown:
        ret.inspect([("2", 1)], None)
    assert unknown.value.code == "unknown_line"
