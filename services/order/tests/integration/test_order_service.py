"""The order service on the real broker and database: capture, validation, payment,
customer-service commands and the state machine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from oms_events.codec import decode, encode, new_event
from oms_events.orders import (
    CancelOrder,
    ChangeShippingAddress,
    HoldOrder,
    OrderCancellationRequested,
    ReleaseOrder,
)
from oms_events.registry import EventPayload
from oms_events.sourcing import FulfilmentOrderCreated, OrderAllocated
from oms_events.values import Actor, ActorRole, Address, LineQuantity
from oms_order.domain.identity import order_id_for
from tests.support.kafka import produce, read_topic
from tests.support.orders import (
    CHANNEL,
    channel_event,
    delivered,
    encoded,
    order_submitted,
    report_shipping,
    shipped,
)
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

AGENT = Actor(actor_id="agent-7", role=ActorRole.CUSTOMER_SERVICE)
NEW_ADDRESS = Address(
    name="Erika Mustermann", line1="Domstrasse 1", city="Koeln", postal_code="50668", country="DE"
)


async def _order_service(env: Env, **settings: str) -> ServiceProcess:
    service = await env.service("order", **settings)
    await service.wait_ready()
    return service


async def _submit(env: Env, *orders: bytes) -> None:
    await produce(env.bootstrap, env.topic("oms.channel-order-intake"), list(orders))


async def _command(env: Env, payload: EventPayload, order_id: str) -> None:
    envelope = new_event(payload, subject=order_id, source="cs/desk", correlation_id="ticket-1")
    await produce(
        env.bootstrap, env.topic("oms.order-commands"), [encode(envelope)], key=order_id.encode()
    )


async def _order(env: Env, order_id: str, until: Callable[[Any], bool]) -> Any:
    async def probe() -> Any:
        rows = await env.fetch("order", "SELECT * FROM orders WHERE order_id = $1", order_id)
        return rows[0] if rows and until(rows[0]) else None

    return await wait_for(probe, what=f"order {order_id} to reach the expected state")


async def _timeline(env: Env, order_id: str) -> list[str]:
    rows = await env.fetch(
        "order",
        "SELECT event_type FROM order_timeline WHERE order_id = $1 ORDER BY sequence",
        order_id,
    )
    return [r["event_type"] for r in rows]


async def _events(env: Env, topic: str, order_id: str, at_least: int) -> list[str]:
    records = await read_topic(env.bootstrap, env.topic(topic), at_least=at_least)
    return [e.type for e in (decode(r.value).envelope for r in records) if e.subject == order_id]


async def test_happy_path_confirms_the_order_with_payment_authorised(env: Env) -> None:
    await _order_service(env)
    await _submit(env, encoded(order_submitted("H-1")))
    order_id = order_id_for(CHANNEL, "H-1")

    row = await _order(env, order_id, lambda r: r["status"] == "CONFIRMED")
    assert (row["payment_status"], row["on_hold"]) == ("AUTHORIZED", False)
    assert row["authorization_id"].startswith("sbx_auth_")
    assert await _timeline(env, order_id) == [
        "OrderAccepted",
        "PaymentAuthorized",
        "OrderConfirmed",
    ]
    assert await _events(env, "oms.orders", order_id, 2) == ["OrderAccepted", "OrderConfirmed"]
    assert await _events(env, "oms.payments", order_id, 1) == ["PaymentAuthorized"]


async def test_the_same_order_twice_makes_one_order(env: Env) -> None:
    await _order_service(env)
    first = encoded(order_submitted("D-1"))
    again = encoded(order_submitted("D-1"))  # a new event id: a resend, not a redelivery
    await _submit(env, first, again, first)
    order_id = order_id_for(CHANNEL, "D-1")

    await _order(env, order_id, lambda r: r["status"] == "CONFIRMED")
    await wait_for(
        lambda: env.fetch("order", "SELECT 1 FROM oms_inbox HAVING count(*) = 2"),
        what="both distinct submissions to be processed",
    )
    assert await _timeline(env, order_id) == [
        "OrderAccepted",
        "PaymentAuthorized",
        "OrderConfirmed",
    ]
    assert len(await env.fetch("order", "SELECT 1 FROM orders")) == 1


def _mutated(external_id: str, change: Callable[[dict[str, Any]], None]) -> bytes:
    envelope = channel_event(order_submitted(external_id))
    data = json.loads(json.dumps(envelope.data))
    change(data)
    return encode(envelope.model_copy(update={"data": data}))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(leaf) if leaf.isdigit() else leaf] = value

    return change


def _add(path: str, delta: int) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        node["amount_minor"] += delta

    return change


def _duplicate_line(data: dict[str, Any]) -> None:
    data["lines"].append(dict(data["lines"][0]))


INVALID_ORDERS: list[tuple[str, Callable[[dict[str, Any]], None], str, str | None]] = [
    ("line-total", _add("lines.0.line_total", 1), "line_total_mismatch", "lines[0].line_total"),
    ("subtotal", _add("totals.subtotal", 1), "subtotal_mismatch", "totals.subtotal"),
    ("tax", _add("totals.tax_total", 1), "tax_total_mismatch", "totals.tax_total"),
    (
        "discount",
        _add("totals.discount_total", 1),
        "discount_total_mismatch",
        "totals.discount_total",
    ),
    ("grand", _add("totals.grand_total", 1), "grand_total_mismatch", "totals.grand_total"),
    ("payment", _add("payment.amount", -1), "payment_amount_mismatch", "payment.amount"),
    (
        "line-currency",
        _set("lines.0.tax.currency", "USD"),
        "currency_mismatch",
        "lines[0].tax.currency",
    ),
    (
        "discount-line",
        _set("lines.0.discount.amount_minor", 999_999),
        "discount_exceeds_line",
        "lines[0].discount",
    ),
    ("no-address", _set("shipping_address", None), "shipping_address_required", "shipping_address"),
    (
        "no-store",
        _set("delivery_method", "click_and_collect"),
        "pickup_store_required",
        "pickup_store_id",
    ),
    (
        "store-too",
        _set("pickup_store_id", "store-koeln"),
        "unexpected_pickup_store",
        "pickup_store_id",
    ),
    ("dup-line", _duplicate_line, "duplicate_line_id", "lines[1].line_id"),
    ("no-token", _set("payment.card_token", None), "card_token_required", "payment.card_token"),
    ("future", _set("placed_at", "2099-01-01T00:00:00Z"), "placed_in_future", "placed_at"),
    (
        "huge",
        _set("lines.0.unit_price.amount_minor", 10**19),
        "amount_too_large",
        "lines[0].unit_price",
    ),
    ("currency", _set("currency", "ZZZ"), "invalid_field", "currency"),
    ("country", _set("billing_address.country", "XX"), "invalid_field", "billing_address.country"),
    ("zero-qty", _set("lines.0.quantity", 0), "invalid_field", "lines.0.quantity"),
    ("float-qty", _set("lines.0.quantity", 1.5), "invalid_field", "lines.0.quantity"),
]


async def test_invalid_orders_are_rejected_with_their_reasons_and_kept(env: Env) -> None:
    await _order_service(env)
    await _submit(env, *(_mutated(f"bad-{name}", change) for name, change, _, _ in INVALID_ORDERS))

    for name, _, code, field in INVALID_ORDERS:
        order_id = order_id_for(CHANNEL, f"bad-{name}")
        row = await _order(env, order_id, lambda r: r["status"] == "REJECTED")
        reasons = {(r["code"], r["field"]) for r in json.loads(row["rejection_reasons"])}
        assert (code, field) in reasons, (name, reasons)
        assert await _timeline(env, order_id) == ["OrderRejected"]
    kinds = {code for _, _, code, _ in INVALID_ORDERS if code != "invalid_field"}
    kinds |= {
        f"invalid_field:{field}" for _, _, code, field in INVALID_ORDERS if code == "invalid_field"
    }
    assert len(kinds) >= 15
    rejected = await read_topic(
        env.bootstrap, env.topic("oms.orders"), at_least=len(INVALID_ORDERS)
    )
    assert {decode(r.value).envelope.type for r in rejected} == {"OrderRejected"}
    assert await env.fetch("order", "SELECT 1 FROM oms_dead_letters") == []


async def test_a_cancel_that_arrives_before_its_order_is_applied(env: Env) -> None:
    await _order_service(env)
    cancel = OrderCancellationRequested(
        channel=CHANNEL,
        external_order_id="C-1",
        requested_at=datetime.now(UTC),
        reason="changed mind",
    )
    await _submit(env, encode(channel_event(cancel)))
    await wait_for(
        lambda: env.fetch("order", "SELECT 1 FROM pending_cancellations"),
        what="the early cancellation to be kept",
    )
    await _submit(env, encoded(order_submitted("C-1")))
    order_id = order_id_for(CHANNEL, "C-1")

    row = await _order(env, order_id, lambda r: r["status"] == "CANCELED")
    assert row["payment_status"] == "NOT_PAID"  # never authorised: nothing to void
    assert await _timeline(env, order_id) == ["OrderAccepted", "OrderCanceled"]
    assert await env.fetch("order", "SELECT 1 FROM pending_cancellations") == []


async def test_a_declined_card_fails_the_payment_and_a_timeout_is_retried(env: Env) -> None:
    await _order_service(env, OMS_PAYMENT_BACKOFF_S="0.05")
    await _submit(
        env,
        _mutated("P-decline", _set("payment.card_token", "tok_decline")),
        _mutated("P-timeout", _set("payment.card_token", "tok_timeout_then_approve")),
    )

    declined_id = order_id_for(CHANNEL, "P-decline")
    row = await _order(env, declined_id, lambda r: r["payment_status"] == "FAILED")
    assert row["status"] == "PENDING"
    assert await _timeline(env, declined_id) == ["OrderAccepted", "PaymentFailed"]
    payments = await read_topic(env.bootstrap, env.topic("oms.payments"), at_least=2)
    failed = [decode(r.value) for r in payments if decode(r.value).envelope.type == "PaymentFailed"]
    assert [f.payload.code for f in failed] == ["declined"]  # type: ignore[attr-defined]

    timeout_id = order_id_for(CHANNEL, "P-timeout")
    row = await _order(env, timeout_id, lambda r: r["status"] == "CONFIRMED")
    assert row["payment_status"] == "AUTHORIZED"


async def test_cancel_voids_the_authorisation_and_lines_cancel_alone(env: Env) -> None:
    await _order_service(env)
    await _submit(env, encoded(order_submitted("X-1")), encoded(order_submitted("X-2", quantity=3)))
    whole, partial = order_id_for(CHANNEL, "X-1"), order_id_for(CHANNEL, "X-2")
    await _order(env, whole, lambda r: r["status"] == "CONFIRMED")
    await _order(env, partial, lambda r: r["status"] == "CONFIRMED")

    await _command(
        env, CancelOrder(order_id=whole, reason="customer asked", requested_by=AGENT), whole
    )
    row = await _order(env, whole, lambda r: r["status"] == "CANCELED")
    assert row["payment_status"] == "VOIDED"
    assert (await _timeline(env, whole))[-2:] == ["OrderCanceled", "PaymentVoided"]
    why = await env.fetch(
        "order",
        "SELECT actor, detail FROM order_timeline"
        " WHERE order_id = $1 AND event_type = 'OrderCanceled'",
        whole,
    )
    assert (why[0]["actor"], json.loads(why[0]["detail"])) == (
        "customer_service:agent-7",
        {"reason": "customer asked"},
    )

    line = LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=1)
    await _command(
        env,
        CancelOrder(order_id=partial, lines=(line,), reason="one too many", requested_by=AGENT),
        partial,
    )
    await wait_for(
        lambda: env.fetch(
            "order", "SELECT 1 FROM order_lines WHERE order_id = $1 AND canceled = 1", partial
        ),
        what="one unit of the line to be canceled",
    )
    row = await _order(env, partial, lambda r: True)
    assert (row["status"], row["payment_status"]) == ("CONFIRMED", "AUTHORIZED")
    assert (await _timeline(env, partial))[-1] == "OrderLinesCanceled"


async def test_hold_and_release_and_a_risk_hold(env: Env) -> None:
    await _order_service(
        env, OMS_ORDER_POLICIES=json.dumps({"risk": {"review_amount_minor": 20_000}})
    )
    await _submit(
        env, encoded(order_submitted("R-1")), encoded(order_submitted("R-big", quantity=8))
    )
    small, big = order_id_for(CHANNEL, "R-1"), order_id_for(CHANNEL, "R-big")

    row = await _order(env, big, lambda r: r["payment_status"] == "AUTHORIZED")
    assert (row["status"], row["on_hold"], row["hold_reason"]) == ("PENDING", True, "risk_review")
    await _command(
        env, ReleaseOrder(order_id=big, note="checked by phone", requested_by=AGENT), big
    )
    row = await _order(env, big, lambda r: r["status"] == "CONFIRMED")
    assert row["on_hold"] is False
    assert await _timeline(env, big) == [
        "OrderAccepted",
        "OrderHeld",
        "PaymentAuthorized",
        "OrderReleased",
        "OrderConfirmed",
    ]

    await _order(env, small, lambda r: r["status"] == "CONFIRMED")
    await _command(
        env, HoldOrder(order_id=small, reason="customer_request", requested_by=AGENT), small
    )
    await _order(env, small, lambda r: r["on_hold"])
    await _command(env, HoldOrder(order_id=small, reason="other", requested_by=AGENT), small)
    await _command(env, ReleaseOrder(order_id=small, requested_by=AGENT), small)
    row = await _order(env, small, lambda r: not r["on_hold"])
    assert row["status"] == "CONFIRMED"
    assert (await _timeline(env, small))[-3:] == [
        "OrderHeld",
        "OrderCommandRejected",
        "OrderReleased",
    ]
    refusal = await env.fetch(
        "order",
        "SELECT detail FROM order_timeline WHERE order_id = $1 AND event_type = $2",
        small,
        "OrderCommandRejected",
    )
    assert json.loads(refusal[0]["detail"]) == {"code": "already_on_hold"}


async def test_address_changes_before_release_and_is_refused_after(env: Env) -> None:
    await _order_service(env)
    await _submit(env, encoded(order_submitted("A-1")))
    order_id = order_id_for(CHANNEL, "A-1")
    await _order(env, order_id, lambda r: r["status"] == "CONFIRMED")

    change = ChangeShippingAddress(order_id=order_id, address=NEW_ADDRESS, requested_by=AGENT)
    await _command(env, change, order_id)
    row = await _order(env, order_id, lambda r: "Domstrasse" in (r["shipping_address"] or ""))
    assert json.loads(row["shipping_address"])["postal_code"] == "50668"

    await _sourcing(env, order_id, released=True)
    await _order(env, order_id, lambda r: r["status"] == "RELEASED")
    moved = ChangeShippingAddress(
        order_id=order_id,
        address=NEW_ADDRESS.model_copy(update={"line1": "Hohe Strasse 9"}),
        requested_by=AGENT,
    )
    await _command(env, moved, order_id)
    await wait_for(lambda: _timeline_has(env, order_id, "OrderCommandRejected"), what="the refusal")
    row = await _order(env, order_id, lambda r: True)
    assert "Domstrasse" in row["shipping_address"]
    events = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=4)
    refusals = [
        decode(r.value).payload
        for r in events
        if decode(r.value).envelope.type == "OrderCommandRejected"
    ]
    assert [(p.code, p.command_type) for p in refusals] == [
        ("order_released", "ChangeShippingAddress")
    ]  # type: ignore[attr-defined]


async def test_an_invalid_transition_is_refused_and_late_events_never_move_back(env: Env) -> None:
    await _order_service(env)
    await _submit(env, encoded(order_submitted("T-1")))
    order_id = order_id_for(CHANNEL, "T-1")
    await _order(env, order_id, lambda r: r["status"] == "CONFIRMED")

    await _command(env, ReleaseOrder(order_id=order_id, requested_by=AGENT), order_id)  # not held
    await _command(
        env, CancelOrder(order_id="ord_missing", reason="x", requested_by=AGENT), "ord_missing"
    )
    await _sourcing(env, order_id, released=True)
    await _order(env, order_id, lambda r: r["status"] == "RELEASED")
    await _sourcing(env, order_id, released=False)  # a late OrderAllocated
    await wait_for(
        lambda: env.fetch(
            "order", "SELECT 1 FROM oms_inbox WHERE topic LIKE '%sourcing' HAVING count(*) = 2"
        ),
        what="the late sourcing event to be processed",
    )
    row = await _order(env, order_id, lambda r: True)
    assert row["status"] == "RELEASED"
    events = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=4)
    refusals = {
        (p.order_id, p.code)  # type: ignore[attr-defined]
        for p in (decode(r.value).payload for r in events)
        if p.event_type == "OrderCommandRejected"
    }
    assert refusals == {(order_id, "not_on_hold"), ("ord_missing", "order_not_found")}


async def _timeline_has(env: Env, order_id: str, event_type: str) -> bool:
    return event_type in await _timeline(env, order_id)


async def _sourcing(env: Env, order_id: str, *, released: bool) -> None:
    """What orchestration would publish for the order."""
    line = LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=2)
    payload: EventPayload
    if released:
        payload = FulfilmentOrderCreated(
            order_id=order_id,
            fulfilment_order_id=f"fo-{uuid.uuid4().hex[:8]}",
            location_id="wh-koeln",
            location_type="warehouse",
            delivery_method="home_delivery",
            lines=(line,),
            accept_by=datetime(2030, 1, 1, tzinfo=UTC),
        )
    else:
        payload = OrderAllocated.model_validate(
            {
                "order_id": order_id,
                "decision_id": "dec-1",
                "allocations": [
                    {
                        "location_id": "wh-koeln",
                        "location_type": "warehouse",
                        "lines": [line.model_dump()],
                    }
                ],
            }
        )
    envelope = new_event(
        payload, subject=order_id, source="oms/orchestration", correlation_id=order_id
    )
    await produce(
        env.bootstrap, env.topic("oms.sourcing"), [encode(envelope)], key=order_id.encode()
    )


async def test_cancel_after_allocation_voids_and_announces_for_the_reservations(env: Env) -> None:
    await _order_service(env)
    await _submit(env, encoded(order_submitted("AL-1")))
    order_id = order_id_for(CHANNEL, "AL-1")
    await _order(env, order_id, lambda r: r["status"] == "CONFIRMED")
    await _sourcing(env, order_id, released=False)
    await _order(env, order_id, lambda r: r["status"] == "ALLOCATED")

    await _command(
        env, CancelOrder(order_id=order_id, reason="fraud", requested_by=AGENT), order_id
    )
    row = await _order(env, order_id, lambda r: r["status"] == "CANCELED")
    assert row["payment_status"] == "VOIDED"
    # Inventory and orchestration release the reservations when they read OrderCanceled.
    assert "OrderCanceled" in await _events(env, "oms.orders", order_id, 3)


async def test_each_shipment_is_captured_and_delivery_completes_the_order(env: Env) -> None:
    await _order_service(env)
    await _submit(env, encoded(order_submitted("S-1", quantity=3)))  # 3 x 25.00 + 19% + 4.95
    order_id = order_id_for(CHANNEL, "S-1")
    row = await _order(env, order_id, lambda r: r["status"] == "CONFIRMED")
    grand_total = row["grand_total_minor"]

    await report_shipping(env, shipped(order_id, "shp-1", 1), order_id)
    row = await _order(env, order_id, lambda r: r["payment_status"] == "PARTIALLY_CAPTURED")
    assert (row["status"], row["captured_minor"]) == ("PARTIALLY_FULFILLED", 8925 // 3)
    # The same shipment again: no effect.
    await report_shipping(env, shipped(order_id, "shp-1", 1), order_id)
    await report_shipping(env, shipped(order_id, "shp-2", 2), order_id)
    row = await _order(env, order_id, lambda r: r["payment_status"] == "CAPTURED")
    assert (row["status"], row["captured_minor"]) == ("FULFILLED", grand_total)

    await report_shipping(env, delivered(order_id, "shp-2"), order_id)
    await report_shipping(env, delivered(order_id, "shp-1"), order_id)
    row = await _order(env, order_id, lambda r: r["status"] == "COMPLETED")
    timeline = await _timeline(env, order_id)
    assert timeline.count("PaymentCaptured") == 2
    assert timeline[-1] == "OrderCompleted"
    payments = await read_topic(env.bootstrap, env.topic("oms.payments"), at_least=3)
    captures = [
        decode(r.value).payload
        for r in payments
        if decode(r.value).envelope.type == "PaymentCaptured"
    ]
    assert [c.amount.amount_minor for c in captures] == [2975, grand_total - 2975]  # type: ignore[attr-defined]
    assert captures[-1].captured_total.amount_minor == grand_total  # type: ignore[attr-defined]


async def test_a_prepaid_order_is_captured_at_once_and_refunded_on_cancel(env: Env) -> None:
    await _order_service(env)
    await _submit(env, _mutated("PP-1", _set("payment.method", "paypal")))
    order_id = order_id_for(CHANNEL, "PP-1")
    row = await _order(env, order_id, lambda r: r["status"] == "CONFIRMED")
    assert (row["payment_status"], row["captured_minor"]) == ("CAPTURED", row["grand_total_minor"])

    line = LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=1)
    await _command(
        env,
        CancelOrder(order_id=order_id, lines=(line,), reason="too many", requested_by=AGENT),
        order_id,
    )
    row = await _order(env, order_id, lambda r: r["payment_status"] == "PARTIALLY_REFUNDED")
    assert row["refunded_minor"] == 2975
    await _command(
        env, CancelOrder(order_id=order_id, reason="all of it", requested_by=AGENT), order_id
    )
    row = await _order(env, order_id, lambda r: r["status"] == "CANCELED")
    assert (row["payment_status"], row["refunded_minor"]) == ("REFUNDED", row["grand_total_minor"])
    assert await _timeline(env, order_id) == [
        "OrderAccepted",
        "PaymentAuthorized",
        "PaymentCaptured",
        "OrderConfirmed",
        "OrderLinesCanceled",
        "RefundIssued",
        "OrderCanceled",
        "RefundIssued",
    ]
    payments = await read_topic(env.bootstrap, env.topic("oms.payments"), at_least=4)
    refunds = [
        decode(r.value).payload for r in payments if decode(r.value).envelope.type == "RefundIssued"
    ]
    assert [r.refunded_total.amount_minor for r in refunds] == [2975, row["grand_total_minor"]]  # type: ignore[attr-defined]
