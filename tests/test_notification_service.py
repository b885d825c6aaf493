"""The notification service queues one message per customer-visible change, and delivers the
order service's events to webhook subscribers, signed."""

from __future__ import annotations

import json

import pytest

from oms_events.codec import decode, encode, new_event
from oms_events.orders import CancelOrder
from oms_events.values import Actor, ActorRole
from oms_order.domain.identity import order_id_for
from tests.support.kafka import produce, read_topic
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.waiting import wait_for
from tests.support.webhooks import WEBHOOK_SETTINGS, Receiver, documented_verifier, subscribe
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_each_customer_visible_change_queues_one_message(env: Env) -> None:
    order_service = await env.service("order")
    notification = await env.service("notification")
    await order_service.wait_ready()
    await notification.wait_ready()
    declined = order_submitted("N-declined").model_copy(
        update={
            "payment": order_submitted("x").payment.model_copy(update={"card_token": "tok_decline"})
        }
    )
    await produce(
        env.bootstrap,
        env.topic("oms.channel-order-intake"),
        [encoded(order_submitted("N-ok")), encoded(declined)],
    )
    ok = order_id_for(CHANNEL, "N-ok")
    await wait_for(
        lambda: env.fetch(
            "order", "SELECT 1 FROM orders WHERE order_id = $1 AND status = 'CONFIRMED'", ok
        ),
        what="the order to be confirmed",
    )
    cancel = CancelOrder(
        order_id=ok,
        reason="customer asked",
        requested_by=Actor(actor_id="agent-1", role=ActorRole.CUSTOMER_SERVICE),
    )
    envelope = new_event(cancel, subject=ok, source="cs/desk", correlation_id="t-1")
    await produce(
        env.bootstrap, env.topic("oms.order-commands"), [encode(envelope)], key=ok.encode()
    )

    async def queued() -> list[tuple[str, str]]:
        rows = await env.fetch("notification", "SELECT order_id, template FROM notifications")
        found = sorted((r["order_id"], r["template"]) for r in rows)
        return found if len(found) == 4 else []

    declined_id = order_id_for(CHANNEL, "N-declined")
    assert await wait_for(queued, what="four notifications") == sorted(
        [
            (ok, "order_received"),
            (ok, "order_canceled"),
            (declined_id, "order_received"),
            (declined_id, "payment_failed"),
        ]
    )


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
