"""The notification service's adapters against real counterparts: an SMS provider's HTTP
endpoint (pytest-httpserver), an SMTP server that refuses, and the recipients' retention on
PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from oms_notification.adapters import MIGRATIONS
from oms_notification.adapters.messages import CustomerOrder, purge_recipients, upsert_orders
from oms_notification.adapters.sms import HttpSmsSender
from oms_notification.adapters.smtp import SmtpSender
from oms_notification.domain.delivery import DeliveryStatus, Email, Sms
from oms_runtime import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from tests.support.processes import free_port
from tests.support.smtp import SmtpServer
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_text_messages_reach_the_provider_and_its_refusals_are_told_apart(
    httpserver: HTTPServer,
) -> None:
    received: list[dict[str, object]] = []

    def accept(request: Request) -> Response:
        assert request.headers["Authorization"] == "Bearer sms-token"
        assert request.headers["Idempotency-Key"] == json.loads(request.data)["reference"]
        received.append(json.loads(request.data))
        return Response(json.dumps({"id": "prov-1"}), 201, content_type="application/json")

    httpserver.expect_request("/sms", method="POST").respond_with_handler(accept)
    httpserver.expect_request("/sms-refusing").respond_with_data("no", status=400)
    httpserver.expect_request("/sms-busy").respond_with_data("later", status=503)
    sms = Sms(reference="ntf_1", to="+49 221 1234567", text="Ihre Bestellung ist unterwegs")
    [sent] = await HttpSmsSender(httpserver.url_for("/sms"), "sms-token").send([sms])
    assert (sent.status, sent.provider_message_id) == (DeliveryStatus.SENT, "prov-1")
    assert received == [
        {"to": "+49 221 1234567", "text": "Ihre Bestellung ist unterwegs", "reference": "ntf_1"}
    ]
    [refused] = await HttpSmsSender(httpserver.url_for("/sms-refusing")).send([sms])
    [busy] = await HttpSmsSender(httpserver.url_for("/sms-busy")).send([sms])
    assert (refused.status, refused.reason) == (DeliveryStatus.REFUSED, "sms_http_400")
    assert (busy.status, busy.reason) == (DeliveryStatus.FAILED, "sms_http_503")
    [unreachable] = await HttpSmsSender(f"http://127.0.0.1:{free_port()}/sms").send([sms])
    assert unreachable.status is DeliveryStatus.FAILED


async def test_an_smtp_server_away_or_refusing_is_told_apart(smtp: SmtpServer) -> None:
    email = Email("<ntf_1@oms.example.com>", "erika@example.com", "Betreff", "Text", "<p>x</p>")
    away = SmtpSender(host="127.0.0.1", port=free_port(), sender="shop@example.com")
    [not_reached] = await away.send([email])
    assert not_reached.status is DeliveryStatus.FAILED
    assert not_reached.reason.startswith("smtp_connect")
    sender = SmtpSender(host=smtp.host, port=smtp.port, sender="Shop <shop@example.com>")
    smtp.sink.answers = {
        "gone@example.com": "550 5.1.1 mailbox unavailable",
        "full@example.com": "452 4.2.2 mailbox full",
    }
    refused_email = Email("<ntf_2@oms.example.com>", "gone@example.com", "B", "T", "<p>x</p>")
    deferred_email = Email("<ntf_3@oms.example.com>", "full@example.com", "B", "T", "<p>x</p>")
    [sent, refused, deferred] = await sender.send([email, refused_email, deferred_email])
    assert (sent.status, sent.provider_message_id) == (
        DeliveryStatus.SENT,
        "ntf_1@oms.example.com",
    )
    assert (refused.status, refused.reason) == (
        DeliveryStatus.REFUSED,
        "smtp_550: recipient refused",
    )
    assert (deferred.status, deferred.reason) == (
        DeliveryStatus.FAILED,
        "smtp_452: recipient refused",
    )
    [message] = smtp.sink.received()
    assert (message["Message-ID"], message["From"]) == (
        "<ntf_1@oms.example.com>",
        "Shop <shop@example.com>",
    )


async def test_recipients_of_quiet_orders_are_forgotten(env: Env) -> None:
    pool = await create_pool(await env.database("notification"), 2)
    try:
        await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, "notification": MIGRATIONS})
        async with pool.acquire() as conn:
            orders = [
                CustomerOrder(o, "cus-1", "erika@example.com", None, "DE", o, datetime.now(UTC), {})
                for o in ("ord-old", "ord-new")
            ]
            await upsert_orders(conn, orders)
            await conn.execute(
                "UPDATE customer_orders SET last_event_at = now() - interval '91 days'"
                " WHERE order_id = 'ord-old'"
            )
            assert await purge_recipients(conn, datetime.now(UTC) - timedelta(days=90)) == 1
            rows: list[asyncpg.Record] = await conn.fetch(
                "SELECT order_id, email FROM customer_orders"
            )
            assert [tuple(r) for r in rows] == [("ord-new", "erika@example.com")]
    finally:
        await pool.close()
