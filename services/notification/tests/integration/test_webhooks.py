"""Webhooks on the real broker and database, the notification service as its own process,
subscribers as a local HTTP server: every delivery signed, failures retried with backoff until
accepted once, dead-lettered and re-sent over HTTP, a slow subscriber delaying no other, a
replay queuing nothing again, operations alerts rate-limited, bad requests refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from oms_events.codec import decode, encode, new_event
from oms_events.inventory import LowStock, OutOfStock
from oms_events.orders import OrderAccepted, OrderConfirmed
from oms_events.registry import EventPayload
from tests.support.kafka import produce, read_topic
from tests.support.orders import order_submitted
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.webhooks import (
    WEB_KEY,
    WEBHOOK_SETTINGS,
    Receiver,
    Request,
    documented_verifier,
    subscribe,
    webhook_api,
)
from tests.support.world import Env

pytestmark = pytest.mark.integration

TIMEOUT_S = 5.0
SETTINGS = {
    **WEBHOOK_SETTINGS,
    "OMS_WEBHOOK_MAX_ATTEMPTS": "3",
    "OMS_WEBHOOK_BACKOFF_FIRST_S": "0.1",
    "OMS_WEBHOOK_BACKOFF_MAX_S": "0.3",
    "OMS_WEBHOOK_TIMEOUT_S": str(TIMEOUT_S),
    "OMS_WEBHOOK_PER_SUBSCRIPTION": "2",
    "OMS_ALERT_LIMIT": "2",
    "OMS_ALERT_WINDOW_S": "3600",
}
verify = documented_verifier()
_http = webhook_api
_subscribe = subscribe


async def _log(service: ServiceProcess, subscription_id: str) -> list[dict[str, Any]]:
    status, body = await _http(
        service, "GET", f"/v1/webhooks/subscriptions/{subscription_id}/deliveries"
    )
    assert status == 200, body
    return list(body["deliveries"])


def _event(payload: EventPayload, subject: str) -> bytes:
    return encode(new_event(payload, subject=subject, source="oms/order", correlation_id=subject))


def _order_events(order_id: str) -> list[bytes]:
    accepted = OrderAccepted(order_id=order_id, **order_submitted(order_id).model_dump())
    confirmed = OrderConfirmed(order_id=order_id, confirmed_at=datetime.now(UTC))
    return [_event(accepted, order_id), _event(confirmed, order_id)]


def _all_verified(requests: list[Request], secrets: dict[str, str]) -> None:
    assert requests
    for request in requests:
        assert verify(secrets[request.endpoint], request.headers, request.body), request.headers
        assert request.headers["content-type"].startswith("application/cloudevents+json")
        assert not verify(secrets[request.endpoint], request.headers, request.body + b" ")


async def test_signed_retried_dead_lettered_and_resent_and_a_slow_subscriber_delays_none(
    env: Env,
) -> None:
    async with Receiver(
        {"fast": 200, "flaky": [500, 503, 200], "down": 500, "slow": "hang"}
    ) as receiver:
        service = await env.service("notification", **SETTINGS)
        await service.wait_ready()
        both = ("OrderAccepted", "OrderConfirmed")
        subs = {
            "fast": await _subscribe(service, receiver.url("fast"), *both),
            "flaky": await _subscribe(service, receiver.url("flaky"), "OrderConfirmed"),
            "down": await _subscribe(service, receiver.url("down"), "OrderAccepted"),
            "slow": await _subscribe(service, receiver.url("slow"), *both),
        }
        secrets = {name: sub["secret"] for name, sub in subs.items()}
        sent: dict[str, bytes] = {}
        for order_id in ("ord-wh-1", "ord-wh-2"):
            events = _order_events(order_id)
            sent.update((str(decode(e).envelope.id), e) for e in events)
            await produce(env.bootstrap, env.topic("oms.orders"), events, key=order_id.encode())

        # The fast subscriber has every event while the slow one still holds its first.
        await wait_for(lambda: _ready(receiver.accepted("fast"), 4), what="fast deliveries")
        first_slow = min(r.started for r in receiver.to("slow"))
        last_fast = max(r.finished or 0 for r in receiver.accepted("fast"))
        assert last_fast - first_slow < TIMEOUT_S
        assert all(r.answered is None for r in receiver.to("slow"))
        assert {decode(r.body).envelope.id.hex for r in receiver.accepted("fast")} == {
            uuid.UUID(i).hex for i in sent
        }
        for request in receiver.accepted("fast"):  # the event exactly as its topic carries it
            assert request.body == sent[str(decode(request.body).envelope.id)]

        # Fails twice, then accepted: exactly one accepted delivery per event, one webhook-id.
        flaky_log = await wait_for(
            lambda: _settled(service, subs["flaky"]["subscription_id"], "delivered", 2),
            what="flaky deliveries recorded",
        )
        assert [d["attempts"] for d in flaky_log] == [3, 3]
        assert len(receiver.accepted("flaky")) == 2
        for delivery in flaky_log:
            tries = [
                r
                for r in receiver.to("flaky")
                if r.headers["webhook-id"] == delivery["delivery_id"]
            ]
            assert [r.answered for r in tries] == [500, 503, 200]

        # Always failing: dead-lettered after three attempts, WebhookDeadLettered published.
        down_id = subs["down"]["subscription_id"]

        dead_log = await wait_for(
            lambda: _settled(service, down_id, "dead", 2), what="dead-lettered deliveries"
        )
        assert {d["attempts"] for d in dead_log} == {3}
        assert {d["last_error"] for d in dead_log} == {"answered HTTP 500"}
        assert len(receiver.to("down")) == 6
        outcomes = await _outcomes(env, at_least=4 + 2 + 2)
        dead_ids = {d["delivery_id"] for d in dead_log}
        pages = f"/v1/webhooks/subscriptions/{down_id}/deliveries?status=dead&limit=1"
        status, first = await _http(service, "GET", pages)
        assert status == 200
        [page_1] = [d["delivery_id"] for d in first["deliveries"]]
        [page_2] = [
            d["delivery_id"]
            for d in (await _http(service, "GET", f"{pages}&after={page_1}"))[1]["deliveries"]
        ]
        assert {page_1, page_2} == dead_ids
        assert (await _http(service, "GET", f"{pages}&after={page_2}"))[1]["deliveries"] == []
        assert {
            o["data"]["delivery_id"] for o in outcomes if o["type"] == "WebhookDeadLettered"
        } == dead_ids

        # After the fix, an operator re-sends them over HTTP: each accepted once.
        receiver.behaviours["down"] = 200
        status, resent = await _http(
            service, "POST", f"/v1/webhooks/subscriptions/{down_id}/resend-dead-letters"
        )
        assert status == 202, resent
        assert set(resent["delivery_ids"]) == dead_ids and resent["requested_by"] == "ops-1"
        await wait_for(
            lambda: _settled(service, down_id, "delivered", 2), what="re-sent and accepted"
        )
        assert {r.headers["webhook-id"] for r in receiver.accepted("down")} == dead_ids
        audit = await env.fetch(
            "notification", "SELECT delivery_id, previous_status, requested_by FROM webhook_resends"
        )
        assert {(r["delivery_id"], r["previous_status"], r["requested_by"]) for r in audit} == {
            (i, "dead", "ops-1") for i in dead_ids
        }
        outcomes = await _outcomes(env, at_least=4 + 2 + 2 + 2)
        assert dead_ids <= {
            o["data"]["delivery_id"] for o in outcomes if o["type"] == "WebhookDelivered"
        }
        # A delivered one can be re-sent too; a pending one cannot.
        [one, _] = dead_ids
        path = f"/v1/webhooks/subscriptions/{down_id}/deliveries/{one}/resend"
        assert (await _http(service, "POST", path))[0] == 202
        await wait_for(lambda: _ready(receiver.accepted("down"), 3), what="one re-sent again")

        for name in ("fast", "flaky", "down"):
            _all_verified(receiver.to(name), secrets)
        assert not any(secret in service.tail(10_000) for secret in secrets.values())


async def test_replay_queues_nothing_again_alerts_are_rate_limited_bad_input_refused(
    env: Env,
) -> None:
    async with Receiver({"erp": 200, "ops": 200}) as receiver:
        service = await env.service("notification", **SETTINGS)
        await service.wait_ready()
        erp = await _subscribe(service, receiver.url("erp"), "OrderAccepted", "OrderConfirmed")
        ops = await _subscribe(
            service, receiver.url("ops"), "LowStock", "OutOfStock", operations=True
        )
        await _refusals(service, erp["subscription_id"])

        await produce(
            env.bootstrap, env.topic("oms.orders"), _order_events("ord-r-1"), key=b"ord-r-1"
        )
        now = datetime.now(UTC)
        alerts = [
            _event(LowStock(sku=f"SKU-{n}", location_id="DC-1", available=1, threshold=5), "x")
            for n in range(3)
        ] + [_event(OutOfStock(sku="SKU-9", location_id="DC-1", since=now), "x")]
        await produce(env.bootstrap, env.topic("oms.inventory"), alerts, key=b"SKU@DC-1")
        await wait_for(lambda: _ready(receiver.accepted("erp"), 2), what="erp deliveries")
        await wait_for(lambda: _ready(receiver.accepted("ops"), 3), what="ops alerts")
        assert sorted(decode(r.body).envelope.type for r in receiver.accepted("ops")) == [
            "LowStock",
            "LowStock",
            "OutOfStock",
        ]
        windows = await env.fetch(
            "notification", "SELECT kind, sent, suppressed FROM alert_windows ORDER BY kind"
        )
        assert [tuple(w) for w in windows] == [("LowStock", 2, 1), ("OutOfStock", 1, 0)]
        _all_verified(receiver.requests, {"erp": erp["secret"], "ops": ops["secret"]})
        seen = len(receiver.requests)

        # Replay every topic from the start into a worker whose inbox forgot them all.
        service.stop()
        await _execute(env, "DELETE FROM oms_inbox")
        replayed = await env.service("notification", **SETTINGS, OMS_GROUP_SUFFIX=f"-r{env.run}")
        await replayed.wait_ready()
        await wait_for(
            lambda: _processed_at_least(replayed, 6), what="the replayed events processed"
        )
        rows = await env.fetch("notification", "SELECT count(*) AS n FROM webhook_deliveries")
        assert rows[0]["n"] == 5
        assert len(receiver.requests) == seen

        # Paused, then removed with its log.
        path = f"/v1/webhooks/subscriptions/{erp['subscription_id']}"
        status, paused = await _http(replayed, "PATCH", path, {"active": False})
        assert status == 200 and paused["active"] is False
        assert (await _http(replayed, "GET", path))[1]["active"] is False
        assert (await _http(replayed, "DELETE", path))[0] == 204
        assert (await _http(replayed, "GET", f"{path}/deliveries"))[0] == 404
        assert (await _http(replayed, "DELETE", path))[0] == 404


async def _refusals(service: ServiceProcess, subscription_id: str) -> None:
    subscriptions = "/v1/webhooks/subscriptions"
    asked = {"url": "https://erp.example/hook", "event_types": ["OrderAccepted"]}
    for body, field in (
        ({**asked, "url": "https://user:pw@erp.example/hook"}, "url"),
        ({**asked, "url": "ftp://erp.example/hook"}, "url"),
        ({**asked, "event_types": ["OrderTeleported"]}, "event_types"),
        ({**asked, "event_types": ["StockReserved"]}, "event_types"),
        ({**asked, "event_types": ["OrderAccepted"], "operations": True}, "event_types"),
    ):
        status, problem = await _http(service, "POST", subscriptions, body)
        assert status == 422, problem
        assert problem["code"] == "invalid_request"
        assert [e["field"] for e in problem["errors"]] == [field], problem
    assert (await _http(service, "POST", subscriptions, asked, key=None))[0] == 401
    assert (await _http(service, "POST", subscriptions, asked, key=WEB_KEY))[0] == 403
    assert (await _http(service, "GET", f"{subscriptions}/whs_nope"))[0] == 404
    status, view = await _http(service, "GET", f"{subscriptions}/{subscription_id}")
    assert status == 200 and "secret" not in view
    status, listed = await _http(service, "GET", subscriptions)
    assert status == 200 and all("secret" not in s for s in listed["subscriptions"])


async def _settled(
    service: ServiceProcess, subscription_id: str, status: str, count: int
) -> list[dict[str, Any]]:
    """The delivery log once it has ``count`` deliveries, all in ``status``."""
    log = await _log(service, subscription_id)
    return log if [d["status"] for d in log] == [status] * count else []


async def _ready(found: list[Any], count: int) -> bool:
    return len(found) >= count


async def _processed_at_least(service: ServiceProcess, count: int) -> bool:
    report = await service.health()
    return bool(report and report["processed_events"] >= count)


async def _execute(env: Env, statement: str) -> None:
    await env.fetch("notification", statement)


async def _outcomes(env: Env, at_least: int) -> list[dict[str, Any]]:
    records = await read_topic(env.bootstrap, env.topic("oms.notifications"), at_least=at_least)
    return [json.loads(r.value) for r in records]
