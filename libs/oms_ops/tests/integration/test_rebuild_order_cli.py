"""``oms rebuild order`` on the real broker and database, the order service as a process fed on
its input topics and over its HTTP API: orders from the intake topic and over HTTP (a card
authorised, one declined, a prepaid one captured at once), a channel's cancellation before its
order and one whose order never came, an unreadable order on the topic and one over HTTP,
partial and whole cancellations, a hold, an address change and a release over HTTP, a refused
command, a cancellation from the command topic, a shipment captured and delivered, a return
requested, received and inspected over HTTP (refunded from the shipment's capture), one
requested on the command topic, and a pickup nobody collected (refunded). The rebuild reads the
payment provider's answers and the returns' opening moments back from the service's topics,
applies what the API published under each request's id, publishes nothing, asks the provider
nothing and matches every table; a changed live row is reported."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from oms_events.codec import encode, new_event
from oms_events.fulfilment import PickupExpired
from oms_events.orders import OrderCancellationRequested, PaymentMethod
from oms_events.returns import RequestReturn, ReturnedUnits, ReturnReason
from oms_events.values import Actor, ActorRole, LineQuantity
from oms_order.domain.identity import order_id_for
from oms_order.service_layer.returns import return_id_for
from oms_runtime import key_digest
from tests.support.http import Reply, call_api
from tests.support.kafka import produce
from tests.support.operator import oms
from tests.support.orders import (
    CHANNEL,
    channel_event,
    customer_service_cancels,
    delivered,
    encoded,
    order_in_status,
    order_submitted,
    ready_for_pickup,
    report_shipping,
    shipped,
)
from tests.support.processes import ServiceProcess
from tests.support.rebuild import end_offsets, fetch, group_idle
from tests.support.shipping import released, send_released
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB_KEY = "test-key-web-de-rebuild-1"
CS_KEY = "test-key-cs-desk-rebuild-2"
API_KEYS = json.dumps(
    {
        key_digest(WEB_KEY): {"channel": CHANNEL},
        key_digest(CS_KEY): {"role": "customer_service", "actor_id": "cs-desk-1"},
    }
)
_INTAKE = "oms.channel-order-intake"
_TABLES = {
    "orders",
    "order_lines",
    "order_timeline",
    "pending_cancellations",
    "order_shipments",
    "order_returns",
    "oms_inbox",
}


async def _post(
    service: ServiceProcess, path: str, body: Any, key: str = CS_KEY, method: str = "POST"
) -> Reply:
    return await call_api(
        service, method, path, key=key, body=body, idempotency_key=str(uuid.uuid4())
    )


async def _intake(env: Env, external_id: str, *records: bytes) -> None:
    """``records`` of one order, keyed as the channels key them (in order, on one partition)."""
    key = f"{CHANNEL}:{external_id}".encode()
    await produce(env.bootstrap, env.topic(_INTAKE), list(records), key=key)


def _unreadable(external_id: str) -> dict[str, Any]:
    """An order whose first line has no units: kept REJECTED with why."""
    document = order_submitted(external_id).model_dump(mode="json")
    document["lines"][0]["quantity"] = 0
    return document


async def _http_order(
    service: ServiceProcess,
    external_id: str,
    lines: list[tuple[str, int]] | None = None,
    method: PaymentMethod = PaymentMethod.CARD,
) -> str:
    submitted = order_submitted(external_id, lines=lines)
    if method != PaymentMethod.CARD:
        payment = submitted.payment.model_copy(update={"method": method, "card_token": None})
        submitted = submitted.model_copy(update={"payment": payment})
    reply = await _post(service, "/v1/orders", submitted.model_dump(mode="json"), WEB_KEY)
    assert reply.status == 201, reply
    return order_id_for(CHANNEL, external_id)


async def _ok(reply: Reply, status: int = 200) -> dict[str, Any]:
    assert reply.status == status, reply
    body: dict[str, Any] = reply.body
    return body


async def _settled(env: Env) -> bool:
    """Every event published and no record waiting in the dead letters."""
    rows = await env.fetch(
        "order",
        "SELECT (SELECT count(*) FROM oms_outbox) AS unsent,"
        " (SELECT count(*) FROM oms_dead_letters) AS dead",
    )
    assert rows[0]["dead"] == 0, "nothing of this test is meant to fail"
    return rows[0]["unsent"] == 0


async def test_order_rebuild_recalls_the_provider_applies_the_api_s_requests_and_matches(
    env: Env,
) -> None:
    service = await env.service("order", OMS_ORDER_API_KEYS=API_KEYS)
    await service.wait_ready()

    # From the intake topic: a card authorised, one declined; a channel's cancellation that
    # came before its order, one whose order never comes; an unreadable order.
    shipped_id, declined_id = order_id_for(CHANNEL, "RB-A"), order_id_for(CHANNEL, "RB-C")
    early_id = order_id_for(CHANNEL, "RB-E")
    cancellation = OrderCancellationRequested(
        channel=CHANNEL, external_order_id="RB-E", reason="changed mind", requested_at=_now()
    )
    never = cancellation.model_copy(update={"external_order_id": "RB-F"})
    unreadable = channel_event(order_submitted("RB-G"))
    data = json.loads(json.dumps(unreadable.data))
    data["lines"][0]["quantity"] = 0
    declined = order_submitted("RB-C")
    declined = declined.model_copy(
        update={"payment": declined.payment.model_copy(update={"card_token": "tok_decline"})}
    )
    await _intake(env, "RB-E", encoded(cancellation), encoded(order_submitted("RB-E")))
    await _intake(env, "RB-F", encoded(never))
    await _intake(env, "RB-A", encoded(order_submitted("RB-A")))
    await _intake(env, "RB-C", encoded(declined))
    await _intake(env, "RB-J", encoded(order_submitted("RB-J")))
    await _intake(env, "RB-K", encoded(order_submitted("RB-K")))
    await _intake(env, "RB-G", encode(unreadable.model_copy(update={"data": data})))
    await order_in_status(env, early_id, "CANCELED")
    await order_in_status(env, order_id_for(CHANNEL, "RB-G"), "REJECTED")
    failed = "SELECT 1 FROM orders WHERE order_id = $1 AND payment_status = 'FAILED'"
    await wait_for(lambda: env.fetch("order", failed, declined_id), what="the card declined")

    # Over HTTP: a prepaid order (captured at once) with two lines, one of them canceled, held,
    # readdressed and released; a card order canceled whole (voided); an unreadable order.
    prepaid = await _http_order(
        service, "RB-B", [("SKU-TSHIRT-M", 1), ("SKU-MUG", 1)], PaymentMethod.PAYPAL
    )
    canceled_whole = await _http_order(service, "RB-D")
    refused_body = await _post(service, "/v1/orders", _unreadable("RB-H"), WEB_KEY)
    assert (refused_body.status, refused_body.code) == (422, "invalid_order"), refused_body
    await order_in_status(env, prepaid, "CONFIRMED")
    await order_in_status(env, canceled_whole, "CONFIRMED")
    cancel_line = {"lines": [{"line_id": "2", "sku": "SKU-MUG", "quantity": 1}], "reason": "oos"}
    await _ok(await _post(service, f"/v1/orders/{prepaid}/cancel", cancel_line))
    await _ok(await _post(service, f"/v1/orders/{prepaid}/hold", {"reason": "customer_request"}))
    address = order_submitted("RB-B").shipping_address
    assert address is not None
    moved = {"address": address.model_copy(update={"line1": "Domstrasse 1"}).model_dump()}
    await _ok(await _post(service, f"/v1/orders/{prepaid}/shipping-address", moved, method="PUT"))
    await _ok(await _post(service, f"/v1/orders/{prepaid}/release", {"note": "checked"}))
    await _ok(await _post(service, f"/v1/orders/{canceled_whole}/cancel", {"reason": "dup"}))

    # Released, shipped and delivered; then its address may not change (refused, kept in the
    # timeline); returned over HTTP, received and inspected: refunded from the capture.
    await order_in_status(env, shipped_id, "CONFIRMED")
    await send_released(env, released(shipped_id, "fo-rb-a"))
    await order_in_status(env, shipped_id, "RELEASED")
    late = await _post(service, f"/v1/orders/{shipped_id}/shipping-address", moved, method="PUT")
    assert (late.status, late.code) == (409, "order_released"), late
    await report_shipping(env, shipped(shipped_id, "RB-A-s1", 2), shipped_id)
    await report_shipping(env, delivered(shipped_id, "RB-A-s1"), shipped_id)
    await order_in_status(env, shipped_id, "COMPLETED")
    asked = {"lines": [{"line_id": "1", "quantity": 1, "reason": "size_or_fit"}]}
    opened = await _ok(await _post(service, f"/v1/orders/{shipped_id}/returns", asked), 201)
    units = {"lines": [{"line_id": "1", "quantity": 1}], "location_id": "store-berlin"}
    return_path = f"/v1/returns/{opened['return_id']}"
    await _ok(await _post(service, f"{return_path}/receipt", units))
    inspected = {**units, "lines": [{"line_id": "1", "quantity": 1, "disposition": "restock"}]}
    refunded = await _ok(await _post(service, f"{return_path}/inspection", inspected))
    assert refunded["refunded_minor"] > 0
    # The other unit's return asked by a store's app on the command topic: opened by the
    # live clock, which a rebuild recalls from its ReturnRequested.
    by_store = RequestReturn(
        order_id=shipped_id,
        channel="store-berlin",
        lines=(ReturnedUnits(line_id="1", quantity=1, reason=ReturnReason.DAMAGED),),
        requested_by=Actor(actor_id="berlin-pos-1", role=ActorRole.STAFF),
    )
    command = new_event(by_store, subject=shipped_id, source="store-app", correlation_id="c")
    await produce(
        env.bootstrap,
        env.topic("oms.order-commands"),
        [encode(command)],
        key=shipped_id.encode(),
    )
    opened_here = "SELECT 1 FROM order_returns WHERE return_id = $1"
    await wait_for(
        lambda: env.fetch("order", opened_here, return_id_for(command.id)),
        what="the store's return opened",
    )

    # Canceled from the command topic; a pickup set aside and never collected (refunded).
    topic_canceled, uncollected = order_id_for(CHANNEL, "RB-J"), order_id_for(CHANNEL, "RB-K")
    await order_in_status(env, topic_canceled, "CONFIRMED")
    await customer_service_cancels(env, topic_canceled, "customer asked")
    await order_in_status(env, topic_canceled, "CANCELED")
    await order_in_status(env, uncollected, "CONFIRMED")
    set_aside = ready_for_pickup(uncollected, "RB-K-p1", 2)
    await report_shipping(env, set_aside, uncollected)
    expired = PickupExpired(
        order_id=uncollected,
        fulfilment_order_id=set_aside.fulfilment_order_id,
        location_id=set_aside.location_id,
        shipment_id="RB-K-p1",
        lines=(LineQuantity(line_id="1", sku="SKU-TSHIRT-M", quantity=2),),
        hold_until=_now(),
        expired_at=_now(),
    )
    await report_shipping(env, expired, uncollected)
    await order_in_status(env, uncollected, "CANCELED")
    await wait_for(lambda: _settled(env), what="every event of the order service published")

    service.stop()
    live_db = (await env.database("order")).rsplit("/", 1)[1]
    env.databases.append(f"{live_db}_rebuild")  # dropped with the test's own
    await wait_for(lambda: group_idle(env, "order"), what="the order group empty")
    before = await end_offsets(env)
    operator = {"order": None}

    # A live row changed behind the service's back: reported, table by table.
    await env.fetch("order", "UPDATE order_returns SET refunded_minor = refunded_minor + 1")
    differs = await oms(env, "rebuild", "order", "--json", services=operator)
    assert differs.code == 8, differs.stderr
    assert [t["table"] for t in differs.json()["tables"] if not t["match"]] == ["order_returns"]
    await env.fetch("order", "UPDATE order_returns SET refunded_minor = refunded_minor - 1")

    done = await oms(env, "rebuild", "order", "--json", services=operator)
    assert done.code == 0, done.stderr
    report = done.json()
    assert report["match"] is True, report["tables"]
    tables = {t["table"]: t for t in report["tables"]}
    assert set(tables) == _TABLES
    assert all(t["match"] and t["rows_rebuilt"] for t in tables.values()), tables
    assert tables["orders"]["rows_rebuilt"] == 9  # A-E, G, H, J, K (F never came)
    assert report["events"] > report["input_events"]  # and oms.payments and oms.orders
    assert await end_offsets(env) == before  # nothing published

    # The provider was asked nothing: its books in the rebuilt database are the live copy.
    calls = "SELECT idempotency_key, result::text FROM sandbox_payment_calls ORDER BY 1"
    assert await fetch(env, f"{live_db}_rebuild", calls) == await env.fetch("order", calls)
    assert not await fetch(env, f"{live_db}_rebuild", "SELECT 1 FROM recalled_decisions")


def _now() -> datetime:
    return datetime.now(UTC)
