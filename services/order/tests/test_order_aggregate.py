"""The order aggregate's transitions: allowed ones change it, refused ones change nothing."""

from __future__ import annotations

import pytest

from oms_order.domain.order import LineState, Order, PaymentStatus, TransitionRefused
from oms_order.domain.status import OrderStatus


def order(status: OrderStatus = OrderStatus.PENDING, **fields: object) -> Order:
    values: dict[str, object] = {
        "order_id": "ord_1",
        "status": status,
        "payment_status": PaymentStatus.NOT_PAID,
        "delivery_method": "home_delivery",
        "currency": "EUR",
        "grand_total_minor": 10_495,
        "lines": [
            LineState(line_id="1", sku="A", ordered=2, line_total_minor=6_000),
            LineState(line_id="2", sku="B", ordered=1, line_total_minor=4_000),
        ],
    }
    values.update(fields)
    return Order(**values)  # type: ignore[arg-type]


def test_authorisation_confirms_a_pending_order_without_hold() -> None:
    o = order()
    assert o.payment_authorized("auth-1") is True
    assert (o.status, o.payment_status) == (OrderStatus.CONFIRMED, PaymentStatus.AUTHORIZED)


def test_a_held_order_is_confirmed_on_release_not_before() -> None:
    o = order()
    o.hold("risk_review")
    assert o.payment_authorized("auth-1") is False
    assert o.status == OrderStatus.PENDING
    assert o.release() is True
    assert o.status == OrderStatus.CONFIRMED


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (lambda o: o.release(), "not_on_hold"),
        (lambda o: o.cancel([("9", 1)]), "unknown_line"),
        (lambda o: o.cancel([("1", 3)]), "quantity_not_cancelable"),
    ],
)
def test_refusals_say_why_and_change_nothing(action: object, code: str) -> None:
    o = order(OrderStatus.CONFIRMED)
    with pytest.raises(TransitionRefused) as refused:
        action(o)  # type: ignore[operator]
    assert refused.value.code == code
    assert o == order(OrderStatus.CONFIRMED)


@pytest.mark.parametrize(
    "status", [OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.COMPLETED]
)
def test_final_orders_cannot_be_held_or_canceled(status: OrderStatus) -> None:
    o = order(status)
    with pytest.raises(TransitionRefused, match="cannot be held"):
        o.hold("other")
    with pytest.raises(TransitionRefused, match="cannot be canceled"):
        o.cancel()


def test_address_changes_only_before_release_and_only_for_home_delivery() -> None:
    order(OrderStatus.ALLOCATED).check_address_change()
    with pytest.raises(TransitionRefused) as refused:
        order(OrderStatus.RELEASED).check_address_change()
    assert refused.value.code == "order_released"
    with pytest.raises(TransitionRefused) as refused:
        order(delivery_method="click_and_collect").check_address_change()
    assert refused.value.code == "not_home_delivery"


def test_canceling_every_open_unit_cancels_the_order() -> None:
    o = order(OrderStatus.CONFIRMED, payment_status=PaymentStatus.AUTHORIZED)
    partial = o.cancel([("1", 1)])
    assert (partial.whole_order, partial.refund_due_minor, o.status) == (
        False,
        3_000,
        OrderStatus.CONFIRMED,
    )
    rest = o.cancel()
    assert rest.whole_order and rest.lines == (("1", 1), ("2", 1))
    assert o.status == OrderStatus.CANCELED
    assert o.compensation() == "void"


def test_shipments_capture_line_values_and_the_last_captures_the_rest() -> None:
    o = order(OrderStatus.RELEASED, payment_status=PaymentStatus.AUTHORIZED)
    first = o.shipped([("1", 1)])
    o.captured(first)
    assert (first, o.status, o.payment_status) == (
        3_000,
        OrderStatus.PARTIALLY_FULFILLED,
        PaymentStatus.PARTIALLY_CAPTURED,
    )
    last = o.shipped([("1", 1), ("2", 1)])
    o.captured(last)
    assert last == 10_495 - 3_000  # shipping included
    assert (o.status, o.payment_status, o.captured_minor) == (
        OrderStatus.FULFILLED,
        PaymentStatus.CAPTURED,
        10_495,
    )
    with pytest.raises(ValueError, match="does not fit"):
        o.shipped([("2", 1)])


def test_a_prepaid_order_is_refunded_never_beyond_its_capture() -> None:
    o = order(OrderStatus.CONFIRMED, payment_status=PaymentStatus.AUTHORIZED)
    o.captured_in_full("cap-1")
    o.refunded(4_000)
    assert o.payment_status == PaymentStatus.PARTIALLY_REFUNDED
    with pytest.raises(ValueError, match="exceeds"):
        o.refunded(6_496)
    assert o.shipped([("1", 2), ("2", 1)]) == 0  # paid in full already: nothing to capture
    o.refunded(6_495)
    assert (o.payment_status, o.compensation()) == (PaymentStatus.REFUNDED, None)


def test_late_events_never_move_the_order_back() -> None:
    o = order(OrderStatus.RELEASED)
    assert o.advance(OrderStatus.ALLOCATED) is False
    assert o.advance(OrderStatus.COMPLETED) is False  # only a fulfilled order completes
    assert o.status == OrderStatus.RELEASED
    assert o.advance(OrderStatus.FULFILLED) and o.advance(OrderStatus.COMPLETED)
    assert o.advance(OrderStatus.RELEASED) is False


def test_a_partly_canceled_order_captures_only_what_remains() -> None:
    o = order(OrderStatus.RELEASED, payment_status=PaymentStatus.AUTHORIZED)
    o.cancel([("1", 1)])
    last = o.shipped([("1", 1), ("2", 1)])
    assert last == 10_495 - 3_000  # the canceled T-shirt is not taken
    o.captured(last)
    assert (o.status, o.payment_status) == (OrderStatus.FULFILLED, PaymentStatus.CAPTURED)


def test_units_shipped_before_their_cancellation_reached_the_location_count_as_shipped() -> None:
    o = order(OrderStatus.RELEASED, payment_status=PaymentStatus.AUTHORIZED)
    o.cancel([("1", 1)])
    assert o.shipped_despite_cancel([("1", 2), ("2", 1)]) == [("1", 1)]
    assert o.shipped([("1", 2), ("2", 1)]) == 10_495  # they left: their value is taken
    assert [line.canceled for line in o.lines] == [0, 0]
    assert o.shipped_despite_cancel([("1", 2)]) == []
