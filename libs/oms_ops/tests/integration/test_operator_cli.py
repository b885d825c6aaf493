"""The ``oms`` operator command on the real broker and database, with services as processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from tests.support.kafka import committed_and_end_offsets
from tests.support.operator import audit_events, oms, publish_cancellations
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

_FAULT = """
CREATE FUNCTION refuse_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.order_id = 'ORD-BROKEN' THEN
        RAISE EXCEPTION 'template store unavailable for %', NEW.order_id;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER refuse_order BEFORE INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION refuse_order();
"""
_FIX = "DROP TRIGGER refuse_order ON notifications; DROP FUNCTION refuse_order();"


async def _execute(env: Env, service: str, sql: str) -> None:
    conn = await asyncpg.connect(await env.database(service))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _notifications(env: Env, order_id: str) -> int:
    rows = await env.fetch(
        "notification", "SELECT count(*) AS n FROM notifications WHERE order_id = $1", order_id
    )
    return int(rows[0]["n"])


async def test_a_dead_letter_is_listed_and_redriven_once_after_the_fix(env: Env) -> None:
    notification = await env.service("notification", OMS_HANDLER_ATTEMPTS="2")
    await notification.wait_ready()
    services: dict[str, str | None] = {"notification": notification.url}
    await _execute(env, "notification", _FAULT)

    await publish_cancellations(env, "ORD-FINE", "ORD-BROKEN")
    dead = await wait_for(
        lambda: env.fetch("notification", "SELECT * FROM oms_dead_letters"),
        what="the broken order's event dead-lettered",
    )
    assert await _notifications(env, "ORD-FINE") == 1

    listed = await oms(env, "dlq", "list", "--json", services=services)
    assert listed.code == 0, listed.stderr
    [entry] = listed.json()["dead_letters"]
    assert entry["service"] == "notification"
    assert entry["reason"] == "handler_failed"
    assert entry["event_type"] == "OrderCanceled"
    assert entry["topic"] == env.topic("oms.orders")
    assert (entry["partition"], entry["offset"]) == (dead[0]["partition"], dead[0]["offset"])
    assert entry["redriven_at"] is None
    by_filter = await oms(
        env, "dlq", "list", "--json", "--reason", "invalid_payload", services=services
    )
    assert by_filter.json()["dead_letters"] == []

    shown = await oms(env, "dlq", "show", entry["id"], "--json", services=services)
    assert shown.code == 0, shown.stderr
    assert "template store unavailable" in shown.json()["dead_letters"][0]["detail"]
    assert (await oms(env, "dlq", "show", "notification:nope:0:0", services=services)).code == 4

    await _execute(env, "notification", _FIX)

    dry = await oms(env, "dlq", "redrive", entry["id"], "--dry-run", "--json", services=services)
    assert dry.code == 0, dry.stderr
    assert [d["id"] for d in dry.json()["would_send"]] == [entry["id"]]
    marked = await env.fetch("notification", "SELECT redriven_at FROM oms_dead_letters")
    assert marked[0]["redriven_at"] is None
    assert await _notifications(env, "ORD-BROKEN") == 0

    sent = await oms(
        env, "dlq", "redrive", entry["id"], "--json", "--note", "fixed", services=services
    )
    assert sent.code == 0, sent.stderr
    assert [d["id"] for d in sent.json()["sent"]] == [entry["id"]]
    await wait_for(lambda: _notifications(env, "ORD-BROKEN"), what="the re-driven event applied")

    again = await oms(env, "dlq", "redrive", "--all", "--json", services=services)
    assert again.code == 0, again.stderr
    assert again.json()["sent"] == []
    assert await _notifications(env, "ORD-BROKEN") == 1
    assert await _notifications(env, "ORD-FINE") == 1
    pending = await oms(env, "dlq", "list", "--pending", "--json", services=services)
    assert pending.json()["dead_letters"] == []

    # Two re-drives changed something (the dry run did not): two audit events.
    audits = await audit_events(env, at_least=2)
    assert [(a["action"], a["parameters"]["sent"]) for a in audits] == [
        ("redrive_dead_letters", "1"),
        ("redrive_dead_letters", "0"),
    ]
    first = audits[0]
    assert first["operator"] == {"actor_id": "ops-mara", "role": "operator"}
    assert first["parameters"]["outcome"] == "ok"
    assert first["parameters"]["sent_ids"] == entry["id"]
    assert first["reason"] == "fixed"


async def test_replay_from_start_reprocesses_without_repeating_side_effects(env: Env) -> None:
    notification = await env.service("notification")
    await notification.wait_ready()
    services: dict[str, str | None] = {"notification": notification.url}
    group = f"oms-notification-{env.run}"
    orders = env.topic("oms.orders")
    await publish_cancellations(env, "ORD-1", "ORD-2", "ORD-3")
    await wait_for(
        _caught_up(env, group, orders, 3), what="the notification group to commit its events"
    )
    assert all([await _notifications(env, o) == 1 for o in ("ORD-1", "ORD-2", "ORD-3")])
    before, _ = await committed_and_end_offsets(env.bootstrap, group, orders, 6)

    # While the workers run: refused, with or without --force (then Kafka refuses).
    refused = await oms(env, "replay", "notification", "--from-start", services=services)
    assert refused.code == 3, refused.stderr
    assert "active member" in refused.stderr
    forced = await oms(env, "replay", "notification", "--from-start", "--force", services=services)
    assert forced.code == 3, forced.stderr
    assert "refused" in forced.stderr
    assert (await committed_and_end_offsets(env.bootstrap, group, orders, 6))[0] == before

    notification.stop()
    await publish_cancellations(env, "ORD-4")
    status = await oms(env, "status", "--json", services=services)
    assert status.code == 5  # the service is down
    [report] = status.json()["services"]
    assert report["status"] == "unreachable"
    assert report["group"] == group
    assert report["members"] == 0
    assert report["lag"] == 1
    assert report["dead_letters"] == 0
    assert sum(p["lag"] for p in report["partitions"] if p["topic"] == orders) == 1

    dry = await oms(
        env, "replay", "notification", "--from-start", "--dry-run", "--json", services=services
    )
    assert dry.code == 0, dry.stderr
    plan = dry.json()
    assert plan["dry_run"] is True
    assert sum(m["reprocessed"] for m in plan["moves"] if m["topic"] == orders) == 3
    assert {m["target"] for m in plan["moves"]} == {0}
    assert (await committed_and_end_offsets(env.bootstrap, group, orders, 6))[0] == before

    done = await oms(env, "replay", "notification", "--from-start", "--json", services=services)
    assert done.code == 0, done.stderr
    committed, _ = await committed_and_end_offsets(env.bootstrap, group, orders, 6)
    assert set(committed.values()) == {0}

    restarted = await env.service("notification")
    await restarted.wait_ready()
    await wait_for(
        lambda: _notifications(env, "ORD-4"), what="the event published while it was down"
    )

    async def duplicates() -> float:
        return await restarted.metric("oms_events_in_total", outcome="duplicate")

    assert await wait_for(duplicates, what="the replayed events counted as duplicates") == 3
    await wait_for(_caught_up(env, group, orders, 4), what="the group caught up again")
    for order_id in ("ORD-1", "ORD-2", "ORD-3", "ORD-4"):
        assert await _notifications(env, order_id) == 1
    assert await restarted.metric("oms_events_in_total", outcome="processed") == 1

    audits = await audit_events(env, at_least=3)
    assert [(a["action"], a["parameters"]["outcome"]) for a in audits] == [
        ("replay_stream", "refused"),
        ("replay_stream", "refused"),
        ("replay_stream", "ok"),
    ]
    assert audits[2]["subject"] == group
    assert audits[2]["parameters"]["reprocessed"] == "3"


def _caught_up(env: Env, group: str, topic: str, total: int) -> Callable[[], Awaitable[bool]]:
    """Probe: ``total`` records on ``topic`` and the group committed up to its end."""

    async def probe() -> bool:
        committed, end = await committed_and_end_offsets(env.bootstrap, group, topic, 6)
        return sum(end.values()) == total and all((committed[p] or 0) == end[p] for p in end)

    return probe


async def test_trace_shows_an_orders_events_in_time_order(env: Env) -> None:
    await publish_cancellations(env, "ORD-T", "ORD-OTHER", "ORD-T")

    async def both_traced() -> list[dict[str, Any]] | None:
        # A topic created for this test may still be settling its partitions' leaders.
        traced = await oms(env, "trace", "ORD-T", "--json")
        events: list[dict[str, Any]] = traced.json()["events"] if traced.code == 0 else []
        return events if len(events) >= 2 else None

    events = await wait_for(both_traced, timeout=30, what="the trace of both cancellations")
    assert [(e["topic"], e["type"]) for e in events] == [("oms.orders", "OrderCanceled")] * 2
    assert events[0]["offset"] < events[1]["offset"]
    assert events[0]["time"] <= events[1]["time"]
    assert (await oms(env, "trace", "ORD-NONE")).code == 4
