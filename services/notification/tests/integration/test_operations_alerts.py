"""Operations alerts from other services, on the real broker and database with the order and
notification services as processes and operators' webhook as a local HTTP server: an order
left in a status past its threshold is told once, and a poison record the order service
dead-letters is told once, without its value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oms_events.codec import decode
from oms_events.operations import RecordDeadLettered
from oms_events.orders import OrderStuck
from tests.support.kafka import produce, read_topic
from tests.support.orders import encoded, order_submitted
from tests.support.waiting import wait_for
from tests.support.webhooks import WEBHOOK_SETTINGS, Receiver, Request, documented_verifier
from tests.support.webhooks import subscribe as _subscribe
from tests.support.world import Env

pytestmark = pytest.mark.integration

verify = documented_verifier()


def _alerts(requests: list[Request], event_type: str) -> list[Any]:
    return [decode(r.body) for r in requests if decode(r.body).envelope.type == event_type]


async def test_a_stuck_order_and_a_dead_letter_each_reach_operations_once(env: Env) -> None:
    async with Receiver({"ops": 200}) as receiver:
        notification = await env.service(
            "notification", **WEBHOOK_SETTINGS, OMS_ALERT_LIMIT="10", OMS_ALERT_WINDOW_S="3600"
        )
        # Confirmed at once by the sandbox provider; with no sourcing running it stays there.
        order = await env.service(
            "order",
            OMS_ORDER_STUCK_AFTER_S=json.dumps({"CONFIRMED": 1}),
            OMS_STUCK_SWEEP_S="0.2",
        )
        await notification.wait_ready()
        await order.wait_ready()
        sub = await _subscribe(
            notification, receiver.url("ops"), "OrderStuck", "RecordDeadLettered", operations=True
        )
        intake = env.topic("oms.channel-order-intake")
        email = "poison.customer@example.com"
        poison = b'{"type": "OrderSubmitted", "email": "' + email.encode() + b'"'  # cut short
        await produce(env.bootstrap, intake, [encoded(order_submitted("stuck-1")), poison])

        first = await wait_for(
            _arrived(receiver, "OrderStuck", 1),
            what="the first stuck-order alert",
        )
        # A second order stuck later: many sweeps have run since the first was told.
        await produce(env.bootstrap, intake, [encoded(order_submitted("stuck-2"))])
        stuck = await wait_for(
            _arrived(receiver, "OrderStuck", 2),
            what="the second stuck-order alert",
        )
        payloads = [e.payload for e in stuck]
        assert all(isinstance(p, OrderStuck) for p in payloads)
        assert len({p.order_id for p in payloads}) == 2, "each stay is told once"
        assert [(p.status, p.threshold_s) for p in payloads] == [("CONFIRMED", 1)] * 2
        assert first[0].payload.order_id == payloads[0].order_id
        on_topic = [
            decode(r.value).envelope.subject
            for r in await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=1)
            if decode(r.value).envelope.type == "OrderStuck"
        ]
        assert sorted(on_topic) == sorted(p.order_id for p in payloads)
        for event in stuck:  # and in the order's timeline, under the event's sequence
            rows = await env.fetch(
                "order",
                "SELECT sequence FROM order_timeline WHERE order_id = $1"
                " AND event_type = 'OrderStuck'",
                event.payload.order_id,
            )
            assert [r["sequence"] for r in rows] == [event.envelope.sequence]

        [dead] = await wait_for(
            _arrived(receiver, "RecordDeadLettered", 1),
            what="the dead-letter alert",
        )
        assert isinstance(dead.payload, RecordDeadLettered)
        assert (dead.payload.service, dead.payload.topic) == ("order", intake)
        assert (dead.payload.reason, dead.payload.record_type) == ("malformed", None)
        operations = await read_topic(env.bootstrap, env.topic("oms.operations"), at_least=1)
        assert [decode(r.value).envelope.id for r in operations] == [dead.envelope.id]
        for request in receiver.accepted("ops"):
            assert verify(sub["secret"], request.headers, request.body)
            assert email.encode() not in request.body
        assert len(receiver.accepted("ops")) == 3


def _arrived(receiver: Receiver, event_type: str, count: int) -> Any:
    async def probe() -> list[Any] | None:
        found = _alerts(receiver.accepted("ops"), event_type)
        return found if len(found) >= count else None

    return probe
