"""The order service's HTTP API on the real broker and database: capture with idempotency,
one order across the HTTP and topic paths, authentication, bad input, customer-service
look-ups and commands, errors as problem details, the OpenAPI document and Swagger UI, and a
schemathesis fuzzing run."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from oms_events.codec import decode
from oms_order.domain.identity import order_id_for
from tests.support.http import Reply
from tests.support.http import call_api as _http
from tests.support.kafka import produce, read_topic
from tests.support.orders import (
    CHANNEL,
    delivered,
    encoded,
    order_submitted,
    picked_up,
    ready_for_pickup,
    report_shipping,
    shipped,
)
from tests.support.processes import ServiceProcess
from tests.support.stack import REPO
from tests.support.waiting import wait_for
from tests.support.world import Env

WEB_KEY = "test-key-web-de-9b1f0c"
MARKET_KEY = "test-key-marketplace-77aa21"
CS_KEY = "test-key-cs-desk-1-c0ffee"
CS_DESK = "cs-desk-1"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


API_KEYS = json.dumps(
    {
        _digest(WEB_KEY): {"channel": CHANNEL},
        _digest(MARKET_KEY): {"channel": "marketplace"},
        _digest(CS_KEY): {"role": "customer_service", "actor_id": CS_DESK},
    }
)


async def _api_service(env: Env, **settings: str) -> ServiceProcess:
    service = await env.service("order", OMS_ORDER_API_KEYS=API_KEYS, **settings)
    await service.wait_ready()
    return service


def _order_json(external_id: str, **kwargs: Any) -> dict[str, Any]:
    return order_submitted(external_id, **kwargs).model_dump(mode="json")


async def _submit(service: ServiceProcess, body: Any, key: str = WEB_KEY) -> Reply:
    return await _http(
        service, "POST", "/v1/orders", key=key, body=body, idempotency_key=str(uuid.uuid4())
    )


async def _timeline(env: Env, order_id: str) -> list[tuple[str, str]]:
    rows = await env.fetch(
        "order",
        "SELECT event_type, actor FROM order_timeline WHERE order_id = $1 ORDER BY sequence",
        order_id,
    )
    return [(r["event_type"], r["actor"]) for r in rows]


async def _orders(env: Env) -> int:
    return len(await env.fetch("order", "SELECT 1 FROM orders"))


# -- capture ---------------------------------------------------------------------------------


@pytest.mark.integration
async def test_an_order_posted_over_http_is_confirmed_and_announced(env: Env) -> None:
    service = await _api_service(env)
    reply = await _submit(service, _order_json("HTTP-1"))
    order_id = order_id_for(CHANNEL, "HTTP-1")

    assert reply.status == 201, reply
    assert reply.body == {
        "order_id": order_id,
        "status": "CONFIRMED",
        "created": True,
        "reasons": [],
    }
    request_id = uuid.UUID(reply.headers["X-Request-Id"])
    assert await _timeline(env, order_id) == [
        ("OrderAccepted", f"channel:{CHANNEL}"),
        ("PaymentAuthorized", "payments:sandbox"),
        ("OrderConfirmed", "system:order-service"),
    ]
    causes = await env.fetch(
        "order", "SELECT DISTINCT caused_by FROM order_timeline WHERE order_id = $1", order_id
    )
    assert [r["caused_by"] for r in causes] == [request_id]
    records = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=2)
    events = [decode(r.value).envelope for r in records]
    assert [(e.type, e.subject) for e in events] == [
        ("OrderAccepted", order_id),
        ("OrderConfirmed", order_id),
    ]
    assert {e.causationid for e in events} == {str(request_id)}

    view = await _http(service, "GET", f"/v1/orders/{order_id}", key=WEB_KEY)
    assert view.status == 200, view
    assert (view.body["status"], view.body["payment_status"]) == ("CONFIRMED", "AUTHORIZED")
    assert view.body["lines"] == [
        {
            "line_id": "1",
            "sku": "SKU-TSHIRT-M",
            "ordered": 2,
            "canceled": 0,
            "shipped": 0,
            "delivered": 0,
            "collected": 0,
        }
    ]
    assert view.body["shipments"] == []
    assert [e["event_type"] for e in view.body["timeline"]] == [
        "OrderAccepted",
        "PaymentAuthorized",
        "OrderConfirmed",
    ]


@pytest.mark.integration
async def test_look_ups_show_each_lines_fulfilment_and_each_shipments_carrier(env: Env) -> None:
    service = await _api_service(env)
    home = (await _submit(service, _order_json("LOOK-1", quantity=3))).body["order_id"]
    pickup = (await _submit(service, _order_json("LOOK-2", quantity=1))).body["order_id"]
    to_store = (await _submit(service, _order_json("LOOK-3", quantity=1))).body["order_id"]
    await report_shipping(env, shipped(home, "shp-a", 1), home)
    await report_shipping(env, shipped(home, "shp-b", 2), home)
    await report_shipping(env, delivered(home, "shp-a"), home)
    await report_shipping(env, ready_for_pickup(pickup, "shp-c", 1), pickup)
    await report_shipping(env, picked_up(pickup, "shp-c"), pickup)
    # Ship-to-store: a carrier takes it to the store, where it is set aside, then collected.
    await report_shipping(env, shipped(to_store, "shp-d", 1), to_store)
    await report_shipping(env, ready_for_pickup(to_store, "shp-d", 1), to_store)
    await report_shipping(env, picked_up(to_store, "shp-d"), to_store)

    view = (await _http(service, "GET", f"/v1/orders/{home}", key=WEB_KEY)).body
    [line] = view["lines"]
    assert {k: line[k] for k in ("ordered", "shipped", "delivered", "collected")} == {
        "ordered": 3,
        "shipped": 3,
        "delivered": 1,
        "collected": 0,
    }
    assert [
        (s["shipment_id"], s["kind"], s["status"], s["carrier"], s["tracking_number"], s["lines"])
        for s in view["shipments"]
    ] == [
        ("shp-a", "carrier", "delivered", "dhl", "00340shp-a", [{"line_id": "1", "quantity": 1}]),
        ("shp-b", "carrier", "shipped", "dhl", "00340shp-b", [{"line_id": "1", "quantity": 2}]),
    ]
    assert view["shipments"][0]["delivered_at"] is not None
    assert view["shipments"][1]["delivered_at"] is None
    assert [s["tracking_numbers"] for s in view["shipments"]] == [["00340shp-a"], ["00340shp-b"]]

    collected = (await _http(service, "GET", f"/v1/orders/{pickup}", key=WEB_KEY)).body
    assert collected["status"] == "COMPLETED"
    assert {k: collected["lines"][0][k] for k in ("shipped", "delivered", "collected")} == {
        "shipped": 1,
        "delivered": 0,
        "collected": 1,
    }
    [set_aside] = collected["shipments"]
    assert (set_aside["kind"], set_aside["status"], set_aside["carrier"]) == (
        "pickup",
        "collected",
        None,
    )
    assert set_aside["tracking_numbers"] == []

    travelled = (await _http(service, "GET", f"/v1/orders/{to_store}", key=WEB_KEY)).body
    assert travelled["status"] == "COMPLETED"
    assert (travelled["lines"][0]["delivered"], travelled["lines"][0]["collected"]) == (0, 1)
    [stored] = travelled["shipments"]
    assert (stored["kind"], stored["status"], stored["carrier"], stored["tracking_number"]) == (
        "pickup",
        "collected",
        "dhl",
        "00340shp-d",
    )


@pytest.mark.integration
async def test_http_submissions_are_idempotent_and_one_order_across_paths(env: Env) -> None:
    service = await _api_service(env)
    body = _order_json("I-1")
    key = str(uuid.uuid4())
    first = await _http(service, "POST", "/v1/orders", key=WEB_KEY, body=body, idempotency_key=key)
    assert first.status == 201, first
    assert "Idempotent-Replayed" not in first.headers

    # The same key and body (keys reordered): the stored answer again.
    reordered = dict(reversed(list(body.items())))
    again = await _http(
        service, "POST", "/v1/orders", key=WEB_KEY, body=reordered, idempotency_key=key
    )
    assert (again.status, again.body) == (201, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"

    # A new key for the same order: the order exists already.
    resend = await _submit(service, body)
    assert resend.status == 200, resend
    assert resend.body == {**first.body, "created": False}

    # The first key with another body is refused; nothing changes.
    other = _order_json("I-2")
    reused = await _http(
        service, "POST", "/v1/orders", key=WEB_KEY, body=other, idempotency_key=key
    )
    assert (reused.status, reused.code) == (422, "idempotency_key_reused")
    order_id = order_id_for(CHANNEL, "I-1")
    assert len(await _timeline(env, order_id)) == 3
    assert await _orders(env) == 1

    # Topic first, then HTTP.
    await produce(
        env.bootstrap, env.topic("oms.channel-order-intake"), [encoded(order_submitted("T-1"))]
    )
    topic_id = order_id_for(CHANNEL, "T-1")
    await wait_for(
        lambda: env.fetch(
            "order", "SELECT 1 FROM orders WHERE order_id = $1 AND status = 'CONFIRMED'", topic_id
        ),
        what="the topic's order to be confirmed",
    )
    late = await _submit(service, _order_json("T-1"))
    assert late.status == 200, late
    assert (late.body["order_id"], late.body["created"]) == (topic_id, False)

    # HTTP first, then the topic: the topic's copy changes nothing.
    await produce(
        env.bootstrap, env.topic("oms.channel-order-intake"), [encoded(order_submitted("I-1"))]
    )
    # The inbox: both topic submissions, and the three the API took and published to the
    # intake topic (the first, the resend and the late copy), which its consumer skips.
    await wait_for(
        lambda: env.fetch("order", "SELECT 1 FROM oms_inbox HAVING count(*) = 5"),
        what="both topic submissions and the API's three to be processed",
    )
    assert len(await _timeline(env, order_id)) == 3
    assert await _orders(env) == 2


@pytest.mark.integration
async def test_authentication_and_authorisation(env: Env) -> None:
    service = await _api_service(env)
    accepted = await _submit(service, _order_json("AUTH-1"))
    order_id = accepted.body["order_id"]

    missing = await _http(service, "GET", f"/v1/orders/{order_id}")
    assert (missing.status, missing.code) == (401, "unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.headers["Content-Type"] == "application/problem+json"
    request_id = missing.headers["X-Request-Id"]
    assert missing.body == {
        "type": "urn:oms:problem:unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": "send a valid API key as 'Authorization: Bearer <key>'",
        "instance": f"urn:uuid:{request_id}",
        "code": "unauthorized",
        "errors": [],
    }
    unknown = await _http(service, "GET", f"/v1/orders/{order_id}", key="not-a-key")
    assert unknown.status == 401
    basic = await _http(
        service, "GET", f"/v1/orders/{order_id}", headers={"Authorization": f"Basic {CS_KEY}"}
    )
    assert basic.status == 401
    unauthenticated_submit = await _http(
        service, "POST", "/v1/orders", body=_order_json("AUTH-2"), idempotency_key="k"
    )
    assert unauthenticated_submit.status == 401

    assert (await _submit(service, _order_json("AUTH-3"), key=CS_KEY)).status == 403
    foreign = await _submit(service, _order_json("AUTH-4"), key=MARKET_KEY)
    assert (foreign.status, foreign.code) == (403, "channel_mismatch")
    # Another channel neither sees nor changes the order; it does not learn it exists.
    assert (await _http(service, "GET", f"/v1/orders/{order_id}", key=MARKET_KEY)).status == 404
    cancel = await _http(
        service, "POST", f"/v1/orders/{order_id}/cancel", key=MARKET_KEY, body={"reason": "x"}
    )
    assert cancel.status == 404
    by_ids = await _http(
        service,
        "GET",
        f"/v1/orders?channel={CHANNEL}&external_order_id=AUTH-1",
        key=MARKET_KEY,
    )
    assert by_ids.status == 403
    by_email = await _http(
        service, "GET", "/v1/orders?customer_email=erika@example.com", key=WEB_KEY
    )
    assert by_email.status == 403
    for command, verb, body in [
        ("hold", "POST", {"reason": "other"}),
        ("release", "POST", {}),
        ("shipping-address", "PUT", {"address": _order_json("x")["shipping_address"]}),
    ]:
        reply = await _http(
            service, verb, f"/v1/orders/{order_id}/{command}", key=WEB_KEY, body=body
        )
        assert (reply.status, reply.code) == (403, "forbidden"), command

    assert await _orders(env) == 1
    document = await _http(service, "GET", "/openapi.json")
    assert document.status == 200
    assert document.body == json.loads((REPO / "schemas/openapi/order.json").read_text())
    swagger = await _http(service, "GET", "/docs")
    assert swagger.status == 200 and "swagger-ui" in swagger.body
    redoc = await _http(service, "GET", "/redoc")
    assert redoc.status == 200 and "redoc" in redoc.body
    live = await _http(service, "GET", "/live")
    ready = await _http(service, "GET", "/health")
    assert (live.status, live.body) == (200, {"status": "ok"})
    assert (ready.status, ready.body["status"]) == (200, "ok")
    unknown = await _http(service, "GET", "/v1/nothing-here", key=CS_KEY)
    assert (unknown.status, unknown.code) == (404, "not_found")


def _without(data: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in fields}


@pytest.mark.integration
async def test_bad_bodies_are_answered_and_identifiable_orders_kept_as_rejected(
    env: Env,
) -> None:
    service = await _api_service(env)

    no_key = await _http(service, "POST", "/v1/orders", key=WEB_KEY, body=_order_json("B-0"))
    assert (no_key.status, no_key.code) == (400, "idempotency_key_required")
    for raw in (b"{not json", b"[1, 2]", b"", b"\xff\xfe", b'{"a": NaN}', b"[" * 100_000):
        reply = await _http(
            service, "POST", "/v1/orders", key=WEB_KEY, raw=raw, idempotency_key="k-raw"
        )
        assert (reply.status, reply.code) == (422, "invalid_order"), raw[:20]
    huge = json.dumps({**_order_json("B-huge"), "extras": {"comments": ["x" * 1_100_000]}})
    too_large = await _http(
        service, "POST", "/v1/orders", key=WEB_KEY, raw=huge.encode(), idempotency_key="k-big"
    )
    assert (too_large.status, too_large.code) == (413, "payload_too_large")
    anonymous = await _submit(service, _without(_order_json("B-anon"), "external_order_id"))
    assert anonymous.status == 422 and anonymous.body["order_id"] is None
    assert await _orders(env) == 0

    zero = _order_json("B-zero")
    zero["lines"][0]["quantity"] = 0
    nul = _order_json("B-nul")
    nul["extras"] = {"gift_note": "happy\u0000birthday"}
    overflow = _order_json("B-overflow")
    overflow["totals"]["grand_total"]["amount_minor"] = 10**20
    cases = [
        ("B-missing", _without(_order_json("B-missing"), "payment"), "payment"),
        ("B-zero", zero, "lines.0.quantity"),
        ("B-nul", nul, "extras.gift_note"),
        ("B-overflow", overflow, "totals.grand_total.amount_minor"),
    ]
    for external_id, body, field in cases:
        reply = await _submit(service, body)
        order_id = order_id_for(CHANNEL, external_id)
        assert (reply.status, reply.code) == (422, "invalid_order"), reply
        assert reply.body["order_id"] == order_id
        assert reply.headers["Content-Type"] == "application/problem+json"
        assert field in {d["field"] for d in reply.body["errors"]}, reply
        rows = await env.fetch(
            "order", "SELECT status, rejection_reasons FROM orders WHERE order_id = $1", order_id
        )
        assert rows[0]["status"] == "REJECTED"
        reasons = json.loads(rows[0]["rejection_reasons"])
        assert ("invalid_field", field) in {(r["code"], r["field"]) for r in reasons}
        assert await _timeline(env, order_id) == [("OrderRejected", f"channel:{CHANNEL}")]

    # Valid JSON that breaks a business rule: a new order, REJECTED with its reasons.
    mismatch = _order_json("B-total")
    mismatch["totals"]["grand_total"]["amount_minor"] += 1
    reply = await _submit(service, mismatch)
    assert (reply.status, reply.body["status"], reply.body["created"]) == (201, "REJECTED", True)
    assert "grand_total_mismatch" in {r["code"] for r in reply.body["reasons"]}
    rejected = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=5)
    assert {decode(r.value).envelope.type for r in rejected} == {"OrderRejected"}


# -- customer service ------------------------------------------------------------------------


@pytest.mark.integration
async def test_look_ups_by_id_by_channel_id_and_by_email(env: Env) -> None:
    service = await _api_service(env)
    ids = [(await _submit(service, _order_json(f"L-{n}"))).body["order_id"] for n in range(3)]
    other = _order_json("L-other")
    other["customer"]["email"] = "someone@example.org"
    await _submit(service, other)

    by_id = await _http(service, "GET", f"/v1/orders/{ids[0]}", key=CS_KEY)
    assert by_id.status == 200
    assert (by_id.body["channel"], by_id.body["external_order_id"]) == (CHANNEL, "L-0")
    assert by_id.body["shipping_address"]["postal_code"] == "51147"
    missing = await _http(service, "GET", "/v1/orders/ord_missing", key=CS_KEY)
    assert (missing.status, missing.code) == (404, "order_not_found")

    for key in (CS_KEY, WEB_KEY):
        found = await _http(
            service, "GET", f"/v1/orders?channel={CHANNEL}&external_order_id=L-1", key=key
        )
        assert [o["order_id"] for o in found.body["orders"]] == [ids[1]]
    none = await _http(
        service, "GET", f"/v1/orders?channel={CHANNEL}&external_order_id=nope", key=CS_KEY
    )
    assert none.body == {"orders": [], "next_cursor": None}

    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        page = await _http(
            service,
            "GET",
            f"/v1/orders?customer_email=ERIKA@example.com&limit=2{cursor}",
            key=CS_KEY,
        )
        assert page.status == 200, page
        seen += [o["order_id"] for o in page.body["orders"]]
        if page.body["next_cursor"] is None:
            break
        cursor = f"&cursor={page.body['next_cursor']}"
    assert seen == sorted(ids)

    for query in ("", "?channel=web-de", "?customer_email=a@b.c&channel=x", "?limit=0&channel=a"):
        bad = await _http(service, "GET", f"/v1/orders{query}", key=CS_KEY)
        assert (bad.status, bad.code) == (422, "invalid_query"), query


@pytest.mark.integration
async def test_customer_service_commands_over_http(env: Env) -> None:
    service = await _api_service(env)
    order_id = (await _submit(service, _order_json("C-1", quantity=3))).body["order_id"]
    base = f"/v1/orders/{order_id}"

    partial = await _http(
        service,
        "POST",
        f"{base}/cancel",
        key=WEB_KEY,
        body={"lines": [{"line_id": "1", "sku": "SKU-TSHIRT-M", "quantity": 1}], "reason": "x"},
    )
    assert partial.status == 200, partial
    assert partial.body["lines"][0]["canceled"] == 1

    held = await _http(
        service, "POST", f"{base}/hold", key=CS_KEY, body={"reason": "customer_request"}
    )
    assert (held.status, held.body["on_hold"], held.body["hold_reason"]) == (
        200,
        True,
        "customer_request",
    )
    again = await _http(service, "POST", f"{base}/hold", key=CS_KEY, body={"reason": "other"})
    assert (again.status, again.code) == (409, "already_on_hold")
    released = await _http(service, "POST", f"{base}/release", key=CS_KEY)
    assert (released.status, released.body["on_hold"]) == (200, False)
    not_held = await _http(service, "POST", f"{base}/release", key=CS_KEY, body={"note": "twice"})
    assert (not_held.status, not_held.code) == (409, "not_on_hold")

    address = {**_order_json("x")["shipping_address"], "line1": "Domstrasse 1"}
    moved = await _http(
        service, "PUT", f"{base}/shipping-address", key=CS_KEY, body={"address": address}
    )
    assert (moved.status, moved.body["shipping_address"]["line1"]) == (200, "Domstrasse 1")

    bad_reason = await _http(service, "POST", f"{base}/hold", key=CS_KEY, body={"reason": "x"})
    assert (bad_reason.status, bad_reason.code) == (422, "invalid_request")
    assert bad_reason.body["errors"][0]["field"] == "reason"
    bad_quantity = await _http(
        service,
        "POST",
        f"{base}/cancel",
        key=CS_KEY,
        body={"lines": [{"line_id": "1", "sku": "SKU-TSHIRT-M", "quantity": 99}], "reason": "x"},
    )
    assert (bad_quantity.status, bad_quantity.code) == (409, "quantity_not_cancelable")
    unknown = await _http(
        service, "POST", "/v1/orders/ord_nope/cancel", key=CS_KEY, body={"reason": "x"}
    )
    assert (unknown.status, unknown.code) == (404, "order_not_found")
    # An id no order can have (longer than any identifier): not found either, not an error.
    too_long = await _http(
        service, "POST", f"/v1/orders/{'o' * 300}/cancel", key=CS_KEY, body={"reason": "x"}
    )
    assert (too_long.status, too_long.code) == (404, "order_not_found")

    whole = await _http(service, "POST", f"{base}/cancel", key=CS_KEY, body={"reason": "asked"})
    assert (whole.status, whole.body["status"], whole.body["payment_status"]) == (
        200,
        "CANCELED",
        "VOIDED",
    )
    desk = f"customer_service:{CS_DESK}"
    assert (await _timeline(env, order_id))[3:] == [
        ("OrderLinesCanceled", f"customer:{CHANNEL}"),
        ("OrderHeld", desk),
        ("OrderCommandRejected", desk),
        ("OrderReleased", desk),
        ("OrderCommandRejected", desk),
        ("ShippingAddressChanged", desk),
        ("OrderCommandRejected", desk),
        ("OrderCanceled", desk),
        ("PaymentVoided", "system:order-service"),
    ]
    timeline = whole.body["timeline"]
    refusals = [e["detail"] for e in timeline if e["event_type"] == "OrderCommandRejected"]
    assert refusals == [
        {"code": "already_on_hold"},
        {"code": "not_on_hold"},
        {"code": "quantity_not_cancelable"},
    ]

    # Every command taken, applied or refused, is on the command topic under its request's
    # id: eight (the 404s and the 422 took nothing); the consumer skipped each of them.
    taken = [partial, held, again, released, not_held, moved, bad_quantity, whole]
    records = await read_topic(env.bootstrap, env.topic("oms.order-commands"), at_least=8)
    published = [decode(r.value).envelope for r in records]
    assert [(e.id, e.type) for e in published] == [
        (uuid.UUID(reply.headers["X-Request-Id"]), kind)
        for reply, kind in zip(
            taken,
            [
                "CancelOrder",
                "HoldOrder",
                "HoldOrder",
                "ReleaseOrder",
                "ReleaseOrder",
                "ChangeShippingAddress",
                "CancelOrder",
                "CancelOrder",
            ],
            strict=True,
        )
    ]
    inbox = "SELECT count(*) AS n FROM oms_inbox WHERE event_id = ANY($1::uuid[])"
    assert await wait_for(
        lambda: _all_read(env, inbox, [e.id for e in published]), what="the commands read"
    )
    assert len(await _timeline(env, order_id)) == 12  # none of them applied twice


async def _all_read(env: Env, query: str, ids: list[uuid.UUID]) -> bool:
    rows = await env.fetch("order", query, ids)
    return bool(rows[0]["n"] == len(ids))


# -- the contract ----------------------------------------------------------------------------


def _schemathesis(
    service: ServiceProcess, workdir: Path, name: str, *options: str, config: str = ""
) -> int:
    """Run ``st run`` against the service with a customer-service key; the number of
    requests it sent, every one answered without a server error."""
    report = workdir / f"{name}.ndjson"
    config_file = workdir / f"{name}.toml"
    config_file.write_text(config)
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(config_file),
            "run",
            f"{service.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {CS_KEY}",
            "--seed",
            "20261124",
            "--phases",
            "coverage,fuzzing",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
            "--request-timeout",
            "10",
            "--no-color",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=workdir,
    )
    assert run.returncode == 0, f"{run.stdout[-6000:]}\n{run.stderr[-2000:]}\n{service.tail()}"
    statuses = _response_statuses(report)
    assert statuses and max(statuses) < 500, sorted(set(statuses))
    return len(statuses)


def _response_statuses(report: Path) -> list[int]:
    """Status of every response recorded in schemathesis's NDJSON event stream."""
    statuses = []
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        for interaction in finished["recorder"].get("interactions", {}).values():
            response = interaction.get("response")
            if response is not None:
                statuses.append(int(response["status_code"]))
    return statuses


@pytest.mark.integration
async def test_schemathesis_finds_no_server_error(env: Env, tmp_path: Path) -> None:
    service = await _api_service(env)
    order_id = (await _submit(service, _order_json("F-1", quantity=5))).body["order_id"]
    await _submit(service, _order_json("F-2"))

    # Every operation with whatever the schema allows (order ids mostly unknown: 404).
    anything = _schemathesis(service, tmp_path, "all", "--max-examples", "15")
    # The commands again, on an order that exists, so they get past the look-up.
    existing = _schemathesis(
        service,
        tmp_path,
        "existing",
        "--max-examples",
        "25",
        "--include-path-regex",
        "^/v1/orders/",
        config=f'[parameters]\n"path.order_id" = "{order_id}"\n',
    )
    assert anything >= 500 and existing >= 100, (anything, existing)
    timeline = await _timeline(env, order_id)
    assert len(timeline) > 3, "the commands never reached the order"
