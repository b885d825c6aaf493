"""Two workers of one service share a topic; one leaves while batches are in flight."""

from __future__ import annotations

import signal
from datetime import UTC, datetime

import pytest

from oms_events.codec import encode, new_event
from oms_events.orders import OrderCanceled
from oms_events.values import Actor, ActorRole
from tests.support.kafka import produce
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

_EVENTS = 600


def _canceled(n: int) -> bytes:
    order_id = f"ord_rebalance_{n:04d}"
    payload = OrderCanceled(
        order_id=order_id,
        reason="customer asked",
        canceled_by=Actor(actor_id="agent-1", role=ActorRole.CUSTOMER_SERVICE),
        canceled_at=datetime.now(UTC),
    )
    return encode(new_event(payload, subject=order_id, source="oms/order", correlation_id="t"))


async def test_a_worker_leaving_mid_stream_loses_nothing_and_applies_nothing_twice(
    env: Env,
) -> None:
    first = await env.service("notification", OMS_BATCH_MAX="20")
    await first.wait_ready()
    events = [_canceled(n) for n in range(_EVENTS)]
    await produce(env.bootstrap, env.topic("oms.orders"), events[: _EVENTS // 2])

    # A second worker joins while the first is working through the backlog: the partitions
    # are split, the first finishing its batch in flight before it hands any over.
    second = await env.service("notification", OMS_BATCH_MAX="20")
    await second.wait_ready()
    await produce(env.bootstrap, env.topic("oms.orders"), events[_EVENTS // 2 :])
    # Then the first leaves mid-stream; the second takes every partition.
    first.kill(signal.SIGTERM)
    assert first.wait_exit(timeout=60) == 0

    async def all_applied() -> bool:
        rows = await env.fetch("notification", "SELECT count(*) AS n FROM notifications")
        return rows[0]["n"] == _EVENTS

    await wait_for(all_applied, timeout=120, what="every event applied")
    rows = await env.fetch(
        "notification",
        "SELECT count(DISTINCT trigger_event_id) AS events, count(*) AS effects FROM notifications",
    )
    assert (rows[0]["events"], rows[0]["effects"]) == (_EVENTS, _EVENTS)
    assert await second.metric("oms_events_in_total", outcome="processed") > 0
    assert '"event": "partitions_revoked"' in first.tail(400)
