"""Returns over the order service's HTTP API on the real broker and database: opened by
customer service, a channel or staff, received and inspected at a location, refunded from
the shipments' captures (never more than they took), refusals kept, retries answered once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oms_events.codec import decode, encode, new_event
from oms_events.returns import (
    Disposition,
    InspectedUnits,
    InspectReturn,
    ReceiveReturn,
    RequestReturn,
    ReturnedUnits,
    ReturnReason,
    UnitsArrived,
)
from oms_events.values import Actor, ActorRole
from oms_order.domain.identity import order_id_for
from oms_order.service_layer.returns import return_id_for
from oms_runtime import key_digest
from tests.support.http import Reply, call_api
from tests.support.kafka import produce, read_topic
from tests.support.orders import (
    CHANNEL,
    delivered,
    order_in_status,
    order_submitted,
    report_shipping,
    shipped,
)
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB_KEY = "test-key-web-de-returns-1"
OTHER_KEY = "test-key-marketplace-returns-2"
CS_KEY = "test-key-cs-desk-returns-3"
STAFF_KEY = "test-key-staff-berlin-returns-4"


API_KEYS = json.dumps(
    {
        key_digest(WEB_KEY): {"channel": CHANNEL},
        key_digest(OTHER_KEY): {"channel": "marketplace"},
        key_digest(CS_KEY): {"role": "customer_service", "actor_id": "cs-desk-1"},
        key_digest(STAFF_KEY): {
            "role": "staff",
            "actor_id": "berlin-pos-1",
            "location_id": "store-berlin",
        },
    }
)


async def _service(env: Env) -> ServiceProcess:
    service = await env.service("order", OMS_ORDER_API_KEYS=API_KEYS)
    await service.wait_ready()
    return service


async def _post(
    service: ServiceProcess, path: str, body: Any, key: str, idempotency_key: str | None = None
) -> Reply:
    return await call_api(
        service,
        "POST",
        path,
        key=key,
        body=body,
        idempotency_key=idempotency_key or str(uuid.uuid4()),
    )


async def _placed_and_shipped(env: Env, service: ServiceProcess, external_id: str) -> str:
    """Three units of line 1 (3 x 29.75 = 89.25, shipping 4.95: 94.20), shipped in two
    shipments: 1 unit (capture 29.75), then 2 (capture 64.45, with the shipping)."""
    reply = await _post(
        service,
        "/v1/orders",
        order_submitted(external_id, quantity=3).model_dump(mode="json"),
        WEB_KEY,
    )
    assert reply.status == 201, reply
    order_id = order_id_for(CHANNEL, external_id)
    await order_in_status(env, order_id, "CONFIRMED")
    await report_shipping(env, shipped(order_id, f"{external_id}-s1", 1), order_id)
    await report_shipping(env, shipped(order_id, f"{external_id}-s2", 2), order_id)
    return order_id


def _lines(*units: tuple[str, int], **extra: Any) -> list[dict[str, Any]]:
    return [{"line_id": line, "quantity": quantity, **extra} for line, quantity in units]


async def _events(env: Env, topic: str, order_id: str, at_least: int) -> list[Any]:
    records = await read_topic(env.bootstrap, env.topic(topic), at_least=at_least)
    return [decode(r.value) for r in records if decode(r.value).envelope.subject == order_id]


async def test_a_return_is_requested_received_inspected_and_refunded(env: Env) -> None:
    service = await _service(env)
    order_id = await _placed_and_shipped(env, service, "RET-1")
    asked = {"lines": _lines(("1", 2), reason="size_or_fit")}

    early = await _post(service, f"/v1/orders/{order_id}/returns", asked, CS_KEY)
    assert (early.status, early.code) == (409, "nothing_delivered"), early

    await report_shipping(env, delivered(order_id, "RET-1-s1"), order_id)
    await report_shipping(env, delivered(order_id, "RET-1-s2"), order_id)
    await order_in_status(env, order_id, "COMPLETED")

    key = str(uuid.uuid4())
    opened = await _post(service, f"/v1/orders/{order_id}/returns", asked, CS_KEY, key)
    assert opened.status == 201, opened
    ret = opened.body
    return_id = ret["return_id"]
    assert (ret["status"], ret["channel"], ret["refunded_minor"]) == ("REQUESTED", CHANNEL, 0)
    assert ret["rma_number"].startswith("RMA-")
    assert [(line["quantity"], line["value_minor"]) for line in ret["lines"]] == [(2, 5950)]

    again = await _post(service, f"/v1/orders/{order_id}/returns", asked, CS_KEY, key)
    assert (again.status, again.body["return_id"]) == (201, return_id)
    assert again.headers["Idempotent-Replayed"] == "true"
    too_many = await _post(
        service,
        f"/v1/orders/{order_id}/returns",
        {"lines": _lines(("1", 2), reason="damaged")},
        WEB_KEY,
    )
    assert (too_many.status, too_many.code) == (409, "quantity_not_returnable"), too_many

    # Staff at a store take in one unit, then inspect it back into stock: refunded in full.
    receipt = f"/v1/returns/{return_id}/receipt"
    got = await _post(service, receipt, {"lines": _lines(("1", 1))}, STAFF_KEY)
    assert (got.status, got.body["status"], got.body["locations"]) == (
        200,
        "RECEIVED",
        ["store-berlin"],
    ), got
    over = await _post(service, receipt, {"lines": _lines(("1", 2))}, STAFF_KEY)
    assert (over.status, over.code) == (409, "quantity_not_received"), over
    elsewhere = await _post(
        service, receipt, {"lines": _lines(("1", 1)), "location_id": "wh-koeln"}, STAFF_KEY
    )
    assert (elsewhere.status, elsewhere.code) == (403, "location_mismatch")

    inspection = f"/v1/returns/{return_id}/inspection"
    not_here = await _post(
        service,
        inspection,
        {"lines": _lines(("1", 1), disposition="restock"), "location_id": "wh-koeln"},
        CS_KEY,
    )
    assert (not_here.status, not_here.code) == (409, "not_received_here"), not_here
    done = await _post(
        service, inspection, {"lines": _lines(("1", 1), disposition="restock")}, STAFF_KEY
    )
    assert (done.status, done.body["status"], done.body["refunded_minor"]) == (
        200,
        "REFUNDED",
        2975,
    ), done

    # The second unit arrives damaged by its customer: staff grant 10.00 of its 29.75.
    await _post(service, receipt, {"lines": _lines(("1", 1))}, STAFF_KEY)
    greedy = await _post(
        service,
        inspection,
        {"lines": _lines(("1", 1), disposition="quarantine"), "refund_minor": 3000},
        STAFF_KEY,
    )
    assert (greedy.status, greedy.code) == (409, "refund_exceeds_value"), greedy
    partial = await _post(
        service,
        inspection,
        {"lines": _lines(("1", 1), disposition="quarantine"), "refund_minor": 1000},
        STAFF_KEY,
    )
    assert (partial.body["status"], partial.body["refunded_minor"]) == ("REFUNDED", 3975)

    # The last unit comes back through the web shop's own return, received by customer
    # service at the warehouse: its 29.75 is more than the latest capture has left (24.70),
    # so the refund draws on both captures.
    third = await _post(
        service,
        f"/v1/orders/{order_id}/returns",
        {"lines": _lines(("1", 1), reason="changed_mind")},
        WEB_KEY,
    )
    assert third.status == 201, third
    third_id = third.body["return_id"]
    at = {"location_id": "wh-koeln"}
    await _post(
        service, f"/v1/returns/{third_id}/receipt", {"lines": _lines(("1", 1)), **at}, CS_KEY
    )
    last = await _post(
        service,
        f"/v1/returns/{third_id}/inspection",
        {"lines": _lines(("1", 1), disposition="restock"), **at},
        CS_KEY,
    )
    assert (last.status, last.body["refunded_minor"]) == (200, 2975), last

    order = await env.fetch(
        "order", "SELECT payment_status, refunded_minor FROM orders WHERE order_id = $1", order_id
    )
    assert dict(order[0]) == {"payment_status": "PARTIALLY_REFUNDED", "refunded_minor": 6950}
    captures = await env.fetch(
        "order",
        "SELECT shipment_id, captured_minor, refunded_minor FROM order_shipments"
        " WHERE order_id = $1 ORDER BY shipment_id",
        order_id,
    )
    assert [tuple(r) for r in captures] == [("RET-1-s1", 2975, 505), ("RET-1-s2", 6445, 6445)]
    provider = await env.fetch(
        "order",
        "SELECT c.amount_minor, c.refunded_minor FROM sandbox_captures c"
        " JOIN sandbox_authorizations a USING (authorization_id) WHERE a.reference = $1"
        " ORDER BY c.amount_minor",
        order_id,
    )
    assert [tuple(r) for r in provider] == [(2975, 505), (6445, 6445)]

    returns = await _events(env, "oms.returns", order_id, at_least=10)
    assert [e.envelope.type for e in returns] == [
        "ReturnRequested",
        "ReturnAuthorized",
        "ReturnReceived",
        "ReturnInspected",
        "ReturnReceived",
        "ReturnInspected",
        "ReturnRequested",
        "ReturnAuthorized",
        "ReturnReceived",
        "ReturnInspected",
    ]
    assert [
        e.payload.refund_amount.amount_minor
        for e in returns
        if e.envelope.type == "ReturnInspected"
    ] == [2975, 1000, 2975]
    assert [e.payload.location_id for e in returns if e.envelope.type == "ReturnReceived"] == [
        "store-berlin",
        "store-berlin",
        "wh-koeln",
    ]
    payments = await _events(env, "oms.payments", order_id, at_least=7)
    refunds = [e.payload for e in payments if e.envelope.type == "RefundIssued"]
    assert [(r.amount.amount_minor, r.refunded_total.amount_minor) for r in refunds] == [
        (2975, 2975),
        (1000, 3975),
        (2470, 6445),
        (505, 6950),
    ]
    rejected = await env.fetch(
        "order",
        "SELECT detail ->> 'code' AS code FROM order_timeline"
        " WHERE order_id = $1 AND event_type = 'OrderCommandRejected' ORDER BY sequence",
        order_id,
    )
    assert [r["code"] for r in rejected] == [
        "nothing_delivered",
        "quantity_not_returnable",
        "quantity_not_received",
        "not_received_here",
        "refund_exceeds_value",
    ]

    listed = await call_api(service, "GET", f"/v1/orders/{order_id}/returns", key=WEB_KEY)
    assert [r["return_id"] for r in listed.body["returns"]] == [return_id, third_id]
    stranger = await call_api(service, "GET", f"/v1/returns/{return_id}", key=OTHER_KEY)
    assert (stranger.status, stranger.code) == (404, "return_not_found")


async def test_returns_refused_outside_the_window_and_for_callers_without_the_right(
    env: Env,
) -> None:
    service = await _service(env)
    order_id = await _placed_and_shipped(env, service, "RET-2")
    long_ago = datetime.now(UTC) - timedelta(days=31)
    for shipment in ("RET-2-s1", "RET-2-s2"):
        late = delivered(order_id, shipment).model_copy(update={"occurred_at": long_ago})
        await report_shipping(env, late, order_id)
    asked = {"lines": _lines(("1", 1), reason="damaged")}

    closed = await _post(service, f"/v1/orders/{order_id}/returns", asked, CS_KEY)
    assert (closed.status, closed.code) == (409, "return_window_closed"), closed
    foreign = await _post(service, f"/v1/orders/{order_id}/returns", asked, OTHER_KEY)
    assert (foreign.status, foreign.code) == (404, "order_not_found")
    mismatch = await _post(
        service, f"/v1/orders/{order_id}/returns", {**asked, "channel": "marketplace"}, WEB_KEY
    )
    assert (mismatch.status, mismatch.code) == (403, "channel_mismatch")
    no_key = await call_api(
        service, "POST", f"/v1/orders/{order_id}/returns", key=CS_KEY, body=asked
    )
    assert (no_key.status, no_key.code) == (400, "idempotency_key_required")
    unknown_reason = await _post(
        service,
        f"/v1/orders/{order_id}/returns",
        {"lines": _lines(("1", 1), reason="bored")},
        CS_KEY,
    )
    assert (unknown_reason.status, unknown_reason.code) == (422, "invalid_request")
    by_channel = await _post(
        service,
        "/v1/returns/ret_missing/receipt",
        {"lines": _lines(("1", 1)), "location_id": "wh-koeln"},
        WEB_KEY,
    )
    assert (by_channel.status, by_channel.code) == (403, "forbidden")
    missing = await _post(
        service,
        "/v1/returns/ret_missing/receipt",
        {"lines": _lines(("1", 1)), "location_id": "wh-koeln"},
        CS_KEY,
    )
    assert (missing.status, missing.code) == (404, "return_not_found")
    rows = await env.fetch("order", "SELECT 1 FROM order_returns WHERE order_id = $1", order_id)
    assert rows == []


async def test_a_return_asked_received_and_inspected_on_the_command_topic(env: Env) -> None:
    # A store's app sends the return's steps as commands (oms.order-commands): the order's and
    # the return's rules as over HTTP, the return's id derived from the command's; a command
    # naming a return of another order is refused (return_not_found), kept in that order's
    # timeline, and one for no order at all is refused (order_not_found), announced only.
    service = await _service(env)
    order_id = await _placed_and_shipped(env, service, "RET-3")
    other_id = await _placed_and_shipped(env, service, "RET-4")
    for shipment in ("RET-3-s1", "RET-3-s2"):
        await report_shipping(env, delivered(order_id, shipment), order_id)
    staff = Actor(actor_id="berlin-pos-1", role=ActorRole.STAFF)
    asked = RequestReturn(
        order_id=order_id,
        channel="store-berlin",
        lines=(ReturnedUnits(line_id="1", quantity=1, reason=ReturnReason.DAMAGED),),
        requested_by=staff,
    )
    request_id = await _command(env, asked)
    return_id = return_id_for(request_id)
    returns = "SELECT status, refunded_minor FROM order_returns WHERE return_id = $1"
    await wait_for(lambda: env.fetch("order", returns, return_id), what="the return opened")
    # A command whose id makes the same return id (its first 24 hex digits) is refused.
    tail = "0" * 8 if request_id.hex[24:] != "0" * 8 else "1" * 8
    twin = uuid.UUID(request_id.hex[:24] + tail)
    await _command(env, asked, event_id=twin)

    units = (UnitsArrived(line_id="1", quantity=1),)
    wrong = ReceiveReturn(
        order_id=other_id,
        return_id=return_id,
        location_id="store-berlin",
        lines=units,
        received_by=staff,
    )
    refused_id = await _command(env, wrong)
    # Claiming to come from the order API does not get a command skipped: the API's own are
    # known by their request in the timeline.
    await _command(env, wrong.model_copy(update={"order_id": order_id}), source="oms/order")
    inspected = (InspectedUnits(line_id="1", quantity=1, disposition=Disposition.RESTOCK),)
    await _command(
        env,
        InspectReturn(
            order_id=order_id,
            return_id=return_id,
            location_id="store-berlin",
            lines=inspected,
            inspected_by=staff,
        ),
    )

    async def refunded() -> Any:
        rows = await env.fetch("order", returns, return_id)
        return rows if rows[0]["status"] == "REFUNDED" else None

    nowhere = await _command(env, wrong.model_copy(update={"order_id": "ord_nowhere"}))
    [row] = await wait_for(refunded, what="the return refunded")
    assert row["refunded_minor"] == 2975
    refusal = (
        "SELECT detail FROM order_timeline WHERE order_id = $1 AND caused_by = $2"
        " AND event_type = 'OrderCommandRejected'"
    )
    [kept] = await wait_for(
        lambda: env.fetch("order", refusal, other_id, refused_id), what="the refusal kept"
    )
    assert json.loads(kept["detail"]) == {"code": "return_not_found"}
    twin_refusal = await wait_for(
        lambda: env.fetch("order", refusal, order_id, twin), what="the twin return refused"
    )
    assert json.loads(twin_refusal[0]["detail"]) == {"code": "return_exists"}

    async def announced() -> list[Any]:
        records = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=1)
        answers = [decode(r.value) for r in records]
        return [
            e.payload
            for e in answers
            if e.envelope.type == "OrderCommandRejected" and e.payload.command_id == str(nowhere)
        ]

    [unknown] = await wait_for(announced, what="the command for no order refused")
    assert (unknown.order_id, unknown.code) == ("ord_nowhere", "order_not_found")


async def _command(
    env: Env, command: Any, source: str = "store-app/berlin", event_id: uuid.UUID | None = None
) -> uuid.UUID:
    """``command`` on oms.order-commands as a store's app sends it; its id."""
    envelope = new_event(
        command, subject=command.order_id, source=source, correlation_id="c", event_id=event_id
    )
    await produce(
        env.bootstrap,
        env.topic("oms.order-commands"),
        [encode(envelope)],
        key=command.order_id.encode(),
    )
    return envelope.id
