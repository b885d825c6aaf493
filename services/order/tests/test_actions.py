"""The order service's use cases, without Kafka or PostgreSQL: the runtime's in-memory unit
of work (whose connection fails any use) with in-memory stores and payment provider."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from oms_events.orders import OrderSubmitted, OrderTotals
from oms_events.values import Actor, ActorRole, LineQuantity, Money
from oms_order.domain.identity import order_id_for
from oms_order.domain.status import OrderStatus
from oms_order.domain.validation import RiskPolicy, ValidationPolicy
from oms_order.service_layer.actions import OrderActions, Progress
from oms_runtime import UnitOfWork, in_memory_unit_of_work
from services.order.tests.fakes import FakePayments, InMemoryOrders, InMemoryShipments
from tests.support.orders import CHANNEL, order_submitted

AGENT = Actor(actor_id="agent-7", role=ActorRole.CUSTOMER_SERVICE)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def payments() -> FakePayments:
    return FakePayments()


@pytest.fixture
def orders() -> InMemoryOrders:
    return InMemoryOrders()


@pytest.fixture
def actions(payments: FakePayments, orders: InMemoryOrders) -> OrderActions:
    return OrderActions(
        payments=payments,
        orders=orders,
        shipments=InMemoryShipments(),
        validation=ValidationPolicy(),
        risk=RiskPolicy(),
        clock=lambda: NOW,
    )


def work() -> UnitOfWork:
    """A unit of work for one incoming event or request."""
    return in_memory_unit_of_work("order", cause=uuid.uuid4())


def emitted(unit: UnitOfWork) -> list[str]:
    return [json.loads(record.payload)["type"] for record in unit.outbox.records]


async def placed(actions: OrderActions, external: str) -> str:
    unit = work()
    result = await actions.submit(unit, order_submitted(external))
    assert result.created
    return result.order_id


async def test_a_valid_order_is_accepted_authorised_and_confirmed(
    actions: OrderActions, payments: FakePayments, orders: InMemoryOrders
) -> None:
    unit, order = work(), order_submitted("A-1")
    result = await actions.submit(unit, order)
    assert (result.created, result.status) == (True, OrderStatus.CONFIRMED.value)
    assert emitted(unit) == ["OrderAccepted", "PaymentAuthorized", "OrderConfirmed"]
    assert payments.calls == [("authorize", result.order_id, order.payment.amount.amount_minor)]
    assert orders.orders[result.order_id].authorization_id == f"auth-{result.order_id}"


async def test_a_second_copy_of_an_order_changes_nothing(
    actions: OrderActions, payments: FakePayments
) -> None:
    first, second = work(), work()
    [one, two] = await actions.submit_all(
        [(first, order_submitted("A-2")), (second, order_submitted("A-2"))]
    )
    assert (one.created, two.created) == (True, False)
    assert two.status == OrderStatus.CONFIRMED.value, "the copy is told the order's status"
    assert emitted(second) == []
    assert len(payments.calls) == 1, "never authorised twice"


async def test_an_order_that_does_not_add_up_is_rejected_with_its_reasons(
    actions: OrderActions, payments: FakePayments, orders: InMemoryOrders
) -> None:
    good = order_submitted("A-3")
    wrong = good.model_copy(
        update={
            "totals": OrderTotals(
                **(
                    good.totals.model_dump()
                    | {"grand_total": Money(amount_minor=1, currency="EUR")}
                )
            )
        }
    )
    unit = work()
    result = await actions.submit(unit, OrderSubmitted.model_validate(wrong.model_dump()))
    assert result.status == OrderStatus.REJECTED.value
    assert emitted(unit) == ["OrderRejected"]
    assert payments.calls == []
    assert orders.rejected[result.order_id], "kept with its reasons"


async def test_a_declined_card_fails_the_payment_and_confirms_nothing(
    actions: OrderActions, payments: FakePayments
) -> None:
    payments.declined.add(order_id_for(CHANNEL, "A-4"))
    unit = work()
    result = await actions.submit(unit, order_submitted("A-4"))
    assert result.status == OrderStatus.PENDING.value
    assert emitted(unit) == ["OrderAccepted", "PaymentFailed"]


async def test_a_cancellation_that_arrives_first_cancels_the_order_when_it_comes(
    actions: OrderActions, orders: InMemoryOrders, payments: FakePayments
) -> None:
    early = work()
    order_id = await actions.request_cancellation(
        early,
        channel=CHANNEL,
        external_order_id="A-5",
        lines=(),
        reason="changed my mind",
        requested_at=NOW,
    )
    assert emitted(early) == [] and orders.pending, "kept for later"
    unit = work()
    result = await actions.submit(unit, order_submitted("A-5"))
    assert result.order_id == order_id
    assert result.status == OrderStatus.CANCELED.value
    assert emitted(unit) == ["OrderAccepted", "OrderCanceled"]
    assert payments.calls == [], "nothing to authorise for an order canceled on arrival"


async def test_canceling_a_confirmed_order_voids_its_authorisation(
    actions: OrderActions, payments: FakePayments
) -> None:
    order_id = await placed(actions, "A-6")
    unit = work()
    canceled = await actions.cancel(unit, order_id, lines=(), reason="fraud", actor=AGENT)
    assert canceled.status == OrderStatus.CANCELED
    assert emitted(unit) == ["OrderCanceled", "PaymentVoided"]
    assert payments.calls[-1] == ("void", order_id, 0)


async def test_sourcing_moves_orders_on_and_a_late_event_never_moves_one_back(
    actions: OrderActions, orders: InMemoryOrders
) -> None:
    order_id = await placed(actions, "A-7")
    unit = work()
    await actions.progress(
        [
            Progress(unit, order_id, OrderStatus.RELEASED, "FulfilmentOrderCreated"),
            Progress(unit, order_id, OrderStatus.ALLOCATED, "OrderAllocated"),
        ]
    )
    assert orders.orders[order_id].status == OrderStatus.RELEASED


async def test_the_order_shows_the_latest_promise_of_its_fulfilment_orders(
    actions: OrderActions, orders: InMemoryOrders
) -> None:
    order_id = await placed(actions, "A-P")
    assert order_id not in orders.promises  # the channel promised nothing
    wednesday, friday = datetime(2026, 11, 25, 23, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)
    unit = work()
    await actions.progress(
        [
            Progress(unit, order_id, OrderStatus.RELEASED, "FulfilmentOrderCreated", None, friday),
            # The second location's work moves the order nowhere, but its promise counts.
            Progress(
                unit, order_id, OrderStatus.RELEASED, "FulfilmentOrderCreated", None, wednesday
            ),
        ]
    )
    assert orders.promises[order_id] == friday


async def test_the_channels_promise_is_kept_with_the_order(
    actions: OrderActions, orders: InMemoryOrders
) -> None:
    promised = datetime(2026, 11, 30, 17, tzinfo=UTC)
    await actions.submit(
        work(), order_submitted("A-Q").model_copy(update={"promised_by": promised})
    )
    assert list(orders.promises.values()) == [promised]


async def test_shipping_captures_what_shipped_and_delivery_completes_the_order(
    actions: OrderActions, payments: FakePayments, orders: InMemoryOrders
) -> None:
    order_id = await placed(actions, "A-8")
    await actions.progress([Progress(work(), order_id, OrderStatus.RELEASED, "Created")])
    shipped = work()
    lines = (LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=2),)
    await actions.shipment_shipped(shipped, order_id, "shp-1", lines, NOW)
    await actions.shipment_shipped(work(), order_id, "shp-1", lines, NOW)  # redelivered
    assert emitted(shipped) == ["PaymentCaptured"]
    assert [c[0] for c in payments.calls].count("capture") == 1
    delivered = work()
    await actions.shipment_delivered(delivered, order_id, "shp-1", NOW)
    assert emitted(delivered) == ["OrderCompleted"]
    assert orders.orders[order_id].status == OrderStatus.COMPLETED


async def test_a_use_case_never_reaches_for_the_database_behind_the_stores() -> None:
    unit = in_memory_unit_of_work("order")
    with pytest.raises(AssertionError, match="no database"):
        await unit.conn.fetchval("SELECT 1")


async def test_a_pickup_never_collected_cancels_the_order_and_refunds_its_capture(
    actions: OrderActions, payments: FakePayments, orders: InMemoryOrders
) -> None:
    order_id = await placed(actions, "A-9")
    await actions.progress([Progress(work(), order_id, OrderStatus.RELEASED, "Created")])
    lines = (LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=2),)
    await actions.shipment_shipped(work(), order_id, "shp-1", lines, NOW, for_pickup=True)
    captured = orders.orders[order_id].captured_minor

    expired = work()
    await actions.pickup_expired(expired, order_id, "shp-1", lines, NOW, NOW)
    again = work()
    await actions.pickup_expired(again, order_id, "shp-1", lines, NOW, NOW)  # redelivered

    assert emitted(expired) == ["OrderCanceled", "RefundIssued"]
    assert emitted(again) == []
    assert payments.calls[-1] == ("refund", order_id, captured)
    order = orders.orders[order_id]
    assert (order.status, order.payment_status) == (OrderStatus.CANCELED, "REFUNDED")
    assert [(line.shipped, line.canceled) for line in order.lines] == [(0, 2)]


async def test_an_uncollected_part_is_refunded_and_the_delivered_rest_completes_the_order(
    actions: OrderActions, payments: FakePayments, orders: InMemoryOrders
) -> None:
    submitted = order_submitted("A-10", lines=[("SKU-TSHIRT-M", 1), ("SKU-MUG", 1)])
    order_id = (await actions.submit(work(), submitted)).order_id
    await actions.progress([Progress(work(), order_id, OrderStatus.RELEASED, "Created")])
    shirt = (LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=1),)
    mug = (LineQuantity(line_id="2", sku="SKU-MUG", quantity=1),)
    await actions.shipment_shipped(work(), order_id, "shp-1", shirt, NOW)
    await actions.shipment_shipped(work(), order_id, "shp-2", mug, NOW, for_pickup=True)
    await actions.shipment_delivered(work(), order_id, "shp-1", NOW)

    expired = work()
    await actions.pickup_expired(expired, order_id, "shp-2", mug, NOW, NOW)

    assert emitted(expired) == ["OrderLinesCanceled", "RefundIssued", "OrderCompleted"]
    mug_value = submitted.lines[1].line_total.amount_minor
    assert payments.calls[-1] == ("refund", order_id, mug_value)
    order = orders.orders[order_id]
    assert (order.status, order.refunded_minor) == (OrderStatus.COMPLETED, mug_value)


async def test_ship_to_store_is_captured_when_it_leaves_and_set_aside_when_the_store_has_it(
    actions: OrderActions, payments: FakePayments, orders: InMemoryOrders
) -> None:
    order_id = await placed(actions, "A-11")
    await actions.progress([Progress(work(), order_id, OrderStatus.RELEASED, "Created")])
    lines = (LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=2),)
    await actions.shipment_shipped(work(), order_id, "shp-1", lines, NOW, carrier="dhl")
    captures = [call for call in payments.calls if call[0] == "capture"]

    at_store = work()
    await actions.shipment_shipped(at_store, order_id, "shp-1", lines, NOW, for_pickup=True)

    assert emitted(at_store) == []  # captured once, when it left the warehouse
    assert [call for call in payments.calls if call[0] == "capture"] == captures
    shipments = actions.shipments
    assert isinstance(shipments, InMemoryShipments)
    assert shipments.shipments["shp-1"].for_pickup
