"""The platform on the real broker and database: outbox, inbox, crash safety, dead letters."""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from pathlib import Path

import pytest

from oms_events.codec import decode, encode, new_event
from oms_events.envelope import Envelope
from oms_events.orders import OrderAccepted
from oms_order.domain.identity import order_id_for
from tests.support.kafka import committed_and_end_offsets, produce, read_topic
from tests.support.orders import CHANNEL, channel_event, encoded, order_submitted
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "libs" / "oms_events" / "tests" / "golden"


async def _count(env: Env, service: str, query: str, *args: object) -> int:
    return int((await env.fetch(service, query, *args))[0][0])


async def test_event_through_outbox_reaches_other_service_once(env: Env) -> None:
    order_service = await env.service("order")
    notification = await env.service("notification")
    await order_service.wait_ready()
    await notification.wait_ready()
    submitted = channel_event(order_submitted("A-1001"))
    await produce(env.bootstrap, env.topic("oms.channel-order-intake"), [encode(submitted)])

    order_id = order_id_for(CHANNEL, "A-1001")
    rows = await wait_for(
        lambda: env.fetch(
            "notification", "SELECT * FROM notifications WHERE order_id = $1", order_id
        ),
        what="the notification service to queue the confirmed order's message",
    )
    assert [(r["trigger_type"], r["template"]) for r in rows] == [
        ("OrderConfirmed", "order_confirmed")
    ]
    kept = await env.fetch(
        "notification", "SELECT reference FROM customer_orders WHERE order_id = $1", order_id
    )
    assert [r["reference"] for r in kept] == ["A-1001"]
    orders = await env.fetch(
        "order", "SELECT status, sequence FROM orders WHERE order_id = $1", order_id
    )
    assert [(r["status"], r["sequence"]) for r in orders] == [("CONFIRMED", 3)]

    published = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=2)
    events = [decode(r.value).envelope for r in published]
    assert [(e.type, e.subject, e.sequence) for e in events] == [
        ("OrderAccepted", order_id, 1),
        ("OrderConfirmed", order_id, 3),
    ]
    assert {e.correlationid for e in events} == {submitted.correlationid}
    assert {e.causationid for e in events} == {str(submitted.id)}
    assert {r.key for r in published} == {order_id.encode()}
    assert await _count(env, "order", "SELECT count(*) FROM oms_outbox") == 0
    assert await order_service.metric("oms_events_out_total", topic=env.topic("oms.orders")) == 2
    assert await order_service.metric("oms_events_out_total", topic=env.topic("oms.payments")) == 1
    # Accepted, confirmed, payment authorised: every order-lifecycle event (for webhooks).
    await notification.wait_metric("oms_events_in_total", 3, outcome="processed")
    lag = await wait_for(
        lambda: notification.metric_lines("oms_consumer_lag", topic=env.topic("oms.orders")),
        what="the consumer lag gauge",
    )
    assert len(lag) == 6 and all(value == 0 for value in lag)


async def test_same_event_delivered_twice_has_one_effect(env: Env) -> None:
    notification = await env.service("notification")
    await notification.wait_ready()
    accepted = await _accepted_event(env, "B-2001")
    raw = encode(accepted)
    await produce(env.bootstrap, env.topic("oms.orders"), [raw, raw], key=accepted.subject.encode())

    await wait_for(
        lambda: notification.metric("oms_events_in_total", outcome="duplicate"),
        what="the second copy to be seen as a duplicate",
    )
    # The order service's OrderConfirmed follows its OrderAccepted: once its message is
    # queued, every event before it was processed.
    await wait_for(
        lambda: _count(env, "notification", "SELECT count(*) FROM notifications"),
        what="the confirmation's message",
    )
    assert await _count(env, "notification", "SELECT count(*) FROM customer_orders") == 1
    assert await _count(env, "notification", "SELECT count(*) FROM notifications") == 1
    # The order's three events once each (accepted, confirmed, payment authorised).
    await notification.wait_metric("oms_events_in_total", 3, outcome="processed")


async def test_kill_after_commit_before_offset_commit_has_no_second_effect(env: Env) -> None:
    notification = await env.service("notification", OMS_FAULT_KILL_AT="after_commit:1")
    await notification.wait_ready()
    # The accepted order alone: the service processes every order-lifecycle event (webhooks),
    # and the order service's next ones could be committed first on their own topics.
    accepted = OrderAccepted(order_id="ord-C-3001", **order_submitted("C-3001").model_dump())
    await produce(
        env.bootstrap,
        env.topic("oms.orders"),
        [encode(new_event(accepted, subject="ord-C-3001", source="oms/order", correlation_id="c"))],
        key=b"ord-C-3001",
    )

    assert notification.wait_exit(timeout=60) == -signal.SIGKILL
    # Its effect committed: the order kept for its messages.
    assert await _count(env, "notification", "SELECT count(*) FROM customer_orders") == 1

    restarted = await env.service("notification")
    await restarted.wait_ready()
    await wait_for(
        lambda: restarted.metric("oms_events_in_total", outcome="duplicate"),
        timeout=60,
        what="the redelivered event to be dropped by the inbox",
    )
    assert await _count(env, "notification", "SELECT count(*) FROM customer_orders") == 1
    assert await restarted.metric("oms_events_in_total", outcome="processed") == 0


async def test_poison_record_is_dead_lettered_and_the_partition_moves_on(env: Env) -> None:
    order_service = await env.service("order")
    await order_service.wait_ready()
    # A NUL byte passes the contract but not PostgreSQL: the handler fails on every attempt.
    poison = encoded(order_submitted("D-\x00-poison"))
    later = [encoded(order_submitted(f"D-{n}")) for n in range(3)]
    offsets = await produce(
        env.bootstrap, env.topic("oms.channel-order-intake"), [poison, *later], partition=0
    )

    dead = await read_topic(env.bootstrap, env.topic("oms.channel-order-intake.dlq"), at_least=1)
    assert len(dead) == 1
    headers = dead[0].headers
    assert headers["oms.dlq.reason"] == b"handler_failed"
    assert headers["oms.dlq.topic"] == env.topic("oms.channel-order-intake").encode()
    assert headers["oms.dlq.partition"] == b"0"
    assert headers["oms.dlq.offset"] == str(offsets[0]).encode()
    assert headers["oms.dlq.attempts"] == b"3"
    assert dead[0].value == poison

    await wait_for(
        lambda: _count(env, "order", "SELECT count(*) = 3 FROM orders WHERE true"),
        what="the records after the poison to be processed",
    )
    assert await _count(env, "order", "SELECT count(*) FROM orders") == 3
    kept = await env.fetch("order", 'SELECT reason, detail, "offset" FROM oms_dead_letters')
    assert [(r["reason"], r["offset"]) for r in kept] == [("handler_failed", offsets[0])]
    assert kept[0]["detail"].startswith("CharacterNotInRepertoireError")


async def test_old_version_event_is_upcast_and_processed(env: Env) -> None:
    order_service = await env.service("order")
    await order_service.wait_ready()
    v1 = json.loads((GOLDEN / "OrderSubmitted.v1.json").read_text())
    assert v1["dataversion"] == 1 and "customer_email" in v1["data"]
    await produce(env.bootstrap, env.topic("oms.channel-order-intake"), [json.dumps(v1).encode()])

    order_id = order_id_for(v1["data"]["channel"], v1["data"]["external_order_id"])
    published = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=1)
    accepted = decode(published[0].value)
    assert accepted.envelope.subject == order_id
    assert accepted.payload.customer.email == v1["data"]["customer_email"]  # type: ignore[attr-defined]
    assert accepted.payload.delivery_method == "home_delivery"  # type: ignore[attr-defined]


async def test_bad_bytes_unknown_types_and_versions_are_dead_lettered_with_reasons(
    env: Env,
) -> None:
    order_service = await env.service("order")
    await order_service.wait_ready()
    good = channel_event(order_submitted("E-1")).model_dump(mode="json")
    unknown_type = {**good, "id": str(uuid.uuid4()), "type": "OrderTeleported"}
    unknown_version = {**good, "id": str(uuid.uuid4()), "dataversion": 99}
    nameless = {**good, "id": str(uuid.uuid4()), "data": {"lines": []}}
    unreadable_order = {**good, "id": str(uuid.uuid4()), "data": {**good["data"], "lines": []}}
    records = [
        b"\xff\xfe not json",
        b'{"specversion": "1.0"}',
        json.dumps(unknown_type).encode(),
        json.dumps(unknown_version).encode(),
        json.dumps(nameless).encode(),
        json.dumps(unreadable_order).encode(),
        encoded(order_submitted("E-2")),
    ]
    await produce(env.bootstrap, env.topic("oms.channel-order-intake"), records, partition=1)

    dead = await read_topic(env.bootstrap, env.topic("oms.channel-order-intake.dlq"), at_least=5)
    by_offset = sorted(dead, key=lambda r: int(r.headers["oms.dlq.offset"]))
    reasons = [r.headers["oms.dlq.reason"].decode() for r in by_offset]
    assert reasons == [
        "malformed",
        "malformed",
        "unknown_event_type",
        "unknown_event_version",
        "invalid_payload",
    ]
    details = {
        r.headers["oms.dlq.reason"].decode(): r.headers["oms.dlq.detail"].decode() for r in dead
    }
    assert "OrderTeleported" in details["unknown_event_type"]
    assert "99" in details["unknown_event_version"]
    assert "channel" in details["invalid_payload"]
    # An order that names its channel and external id is an order, even unreadable: rejected.
    rejected = await wait_for(
        lambda: env.fetch(
            "order",
            "SELECT status, rejection_reasons FROM orders WHERE external_order_id = 'E-1'",
        ),
        what="the unreadable order to be stored as rejected",
    )
    assert rejected[0]["status"] == "REJECTED"
    assert [r["field"] for r in json.loads(rejected[0]["rejection_reasons"])] == ["lines"]
    await wait_for(
        lambda: _count(env, "order", "SELECT count(*) FROM orders WHERE external_order_id = 'E-2'"),
        what="the valid order after the bad records",
    )
    assert (await order_service.health())["status"] == "ok"
    assert await _count(env, "order", "SELECT count(*) FROM oms_dead_letters") == 5


async def _accepted_event(env: Env, external_id: str) -> Envelope:
    """An OrderAccepted as the order service publishes it, made by the real order service."""
    order_service = await env.service("order")
    await order_service.wait_ready()
    await produce(
        env.bootstrap,
        env.topic("oms.channel-order-intake"),
        [encoded(order_submitted(external_id))],
    )
    published = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=1)
    order_service.stop()
    return decode(published[0].value).envelope


async def test_sigterm_stops_gracefully_and_commits_offsets(env: Env) -> None:
    notification = await env.service("notification")
    await notification.wait_ready()
    await _accepted_event(env, "F-1")
    await wait_for(
        lambda: _count(env, "notification", "SELECT count(*) FROM notifications"),
        what="the notification to be stored",
    )
    notification.kill(signal.SIGTERM)
    assert notification.wait_exit(timeout=60) == 0
    assert '"event": "service_stopped"' in notification.tail(200)

    committed, end = await committed_and_end_offsets(
        env.bootstrap, f"oms-notification-{env.run}", env.topic("oms.orders"), partitions=6
    )
    assert sum(end.values()) == 2  # OrderAccepted, OrderConfirmed
    assert {p: committed[p] or 0 for p in end} == end


async def test_an_idle_worker_commits_its_offsets_at_once_however_long_the_interval(
    env: Env,
) -> None:
    # Under load offsets wait for the interval; a worker with nothing more to read commits
    # what it processed when its next poll comes back empty, not a minute later.
    notification = await env.service("notification", OMS_OFFSET_COMMIT_INTERVAL_MS="60000")
    await notification.wait_ready()
    await _accepted_event(env, "F-2")

    async def all_committed() -> bool:
        committed, end = await committed_and_end_offsets(
            env.bootstrap, f"oms-notification-{env.run}", env.topic("oms.orders"), partitions=6
        )
        return sum(end.values()) == 2 and {p: committed[p] or 0 for p in end} == end

    await wait_for(all_committed, what="the idle worker's offsets committed", timeout=20)
    assert notification.proc is not None and notification.proc.poll() is None  # still running


async def test_killed_after_publishing_on_commit_the_relay_republishes_and_copies_are_dropped(
    env: Env,
) -> None:
    notification = await env.service("notification")
    await notification.wait_ready()
    order_service = await env.service("order", OMS_FAULT_KILL_AT="after_publish:1")
    await order_service.wait_ready()
    await produce(
        env.bootstrap, env.topic("oms.channel-order-intake"), [encoded(order_submitted("G-1"))]
    )
    assert order_service.wait_exit(timeout=60) == -signal.SIGKILL
    assert await _count(env, "order", "SELECT count(*) FROM oms_outbox") > 0  # not marked sent

    restarted = await env.service("order")
    await restarted.wait_ready()
    await wait_for(
        lambda: _count(env, "order", "SELECT count(*) = 0 FROM oms_outbox WHERE true"),
        what="the outbox to be published again",
    )
    published = await read_topic(env.bootstrap, env.topic("oms.orders"), at_least=3)
    ids = [decode(r.value).envelope.id for r in published]
    assert len(ids) > len(set(ids)), "the same events were published twice"
    await wait_for(
        lambda: notification.metric("oms_events_in_total", outcome="duplicate"),
        what="the notification service to drop the copies",
    )
    assert await _count(env, "notification", "SELECT count(*) FROM notifications") == 1


async def test_killed_between_commit_and_send_the_relay_publishes_what_was_committed(
    env: Env,
) -> None:
    order_service = await env.service("order", OMS_FAULT_KILL_AT="after_commit:1")
    await order_service.wait_ready()
    await produce(
        env.bootstrap, env.topic("oms.channel-order-intake"), [encoded(order_submitted("H-1"))]
    )
    assert order_service.wait_exit(timeout=60) == -signal.SIGKILL
    stranded = await env.fetch("order", "SELECT event_id, topic FROM oms_outbox")
    assert stranded, "the committed events were left in the outbox"
    per_topic = Counter(r["topic"] for r in stranded)
    assert set(per_topic) <= {env.topic("oms.orders"), env.topic("oms.payments")}

    restarted = await env.service("order")
    await restarted.wait_ready()
    await wait_for(
        lambda: _count(env, "order", "SELECT count(*) = 0 FROM oms_outbox WHERE true"),
        what="the relay to publish the stranded rows",
    )
    published = [
        record
        for topic, count in per_topic.items()
        for record in await read_topic(env.bootstrap, topic, at_least=count)
    ]
    ids = [decode(r.value).envelope.id for r in published]
    # Sent once each (never before the crash), and the redelivered intake record had no effect.
    assert sorted(ids) == sorted({r["event_id"] for r in stranded})
    # The relay publishes at start, whatever the consumer has reached: the redelivered intake
    # record may come after the outbox emptied.
    await wait_for(
        lambda: restarted.metric("oms_events_in_total", outcome="duplicate"),
        what="the redelivered intake record dropped as a duplicate",
    )
    assert await restarted.metric("oms_events_in_total", outcome="duplicate") == 1
    assert await _count(env, "order", "SELECT count(*) FROM orders") == 1
