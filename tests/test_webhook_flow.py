"""The order service's events delivered to a webhook subscriber by the notification service,
signed, with both services running as OS processes on the real broker and database."""

from __future__ import annotations

import json

import pytest

from oms_events.codec import decode
from oms_order.domain.identity import order_id_for
from tests.support.kafka import produce, read_topic
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.waiting import wait_for
from tests.support.webhooks import WEBHOOK_SETTINGS, Receiver, documented_verifier, subscribe
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_an_orders_events_reach_its_webhook_subscriber_signed(env: Env) -> None:
    async with Receiver({"erp": 200}) as receiver:
        order_service = await env.service("order")
        notification = await env.service("notification", **WEBHOOK_SETTINGS)
        await order_service.wait_ready()
        await notification.wait_ready()
        erp = await subscribe(
            notification,
            receiver.url("erp"),
            "OrderAccepted",
            "OrderConfirmed",
            "PaymentAuthorized",
        )
        await produce(
            env.bootstrap, env.topic("oms.channel-order-intake"), [encoded(order_submitted("W-1"))]
        )
        order_id = order_id_for(CHANNEL, "W-1")

        async def three() -> bool:
            return len(receiver.accepted("erp")) >= 3

        await wait_for(three, what="three deliveries")
        delivered = [decode(r.body).envelope for r in receiver.accepted("erp")]
        assert sorted(e.type for e in delivered) == [
            "OrderAccepted",
            "OrderConfirmed",
            "PaymentAuthorized",
        ]
        assert {e.subject for e in delivered} == {order_id}
        verify = documented_verifier()
        assert all(verify(erp["secret"], r.headers, r.body) for r in receiver.requests)
        records = await read_topic(env.bootstrap, env.topic("oms.notifications"), at_least=3)
        outcomes = [json.loads(r.value) for r in records]
        assert sorted(o["data"]["event_id"] for o in outcomes) == sorted(
            str(e.id) for e in delivered
        )
        assert {
            (o["type"], o["subject"], r.key) for o, r in zip(outcomes, records, strict=True)
        } == {("WebhookDelivered", order_id, order_id.encode())}
