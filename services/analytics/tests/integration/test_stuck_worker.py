"""Stuck orders with the worker as an OS process on the real broker: a known sequence of
lifecycle events on oms.orders, oms.sourcing and oms.shipments (an order that progresses in
time, one left CONFIRMED, one canceled, one left ALLOCATED at a warehouse) publishes exactly one
StuckOrderDetected per stuck order and a StuckOrderCleared when one moves on; the bottleneck
view (JSON and CSV, filtered) has exactly the expected figures; a restart, and every event
delivered a second time, publish nothing more and give the same view."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from oms_events.analytics import StuckOrderCleared, StuckOrderDetected
from oms_events.codec import decode
from oms_events.registry import EventPayload
from tests.support.analytics import (
    accepted,
    allocated,
    at,
    canceled,
    completed,
    confirmed,
    fulfilment_created,
    send_timed,
    shipped,
)
from tests.support.kafka import committed_and_end_offsets, read_topic
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB, MARKET = "web-de", "marketplace"
ORDERS = [
    (accepted("A1", WEB, 1000), at("10:00")),  # progresses in time
    (accepted("S1", WEB, 2000), at("10:00")),  # left CONFIRMED
    (confirmed("S1", at("10:01")), at("10:01")),
    (confirmed("A1", at("10:02")), at("10:02")),
    (accepted("B1", MARKET, 3000), at("10:02")),  # left ALLOCATED at WH-BERLIN
    (confirmed("B1", at("10:03")), at("10:03")),
    (accepted("C1", WEB, 4000), at("10:03")),  # canceled
    (canceled("C1", at("10:06")), at("10:06")),
]
SOURCING = [
    (allocated("B1", "WH-BERLIN"), at("10:04")),
    (allocated("A1", "WH-HAMBURG"), at("10:05")),
    (fulfilment_created("A1", "WH-HAMBURG"), at("10:10")),
]

STUCK_S1 = {
    "order_id": "S1",
    "status": "CONFIRMED",
    "since": "2026-11-24T10:01:00Z",
    "stuck_at": "2026-11-24T10:16:00Z",
    "threshold_s": 900,
    "channel": WEB,
    "locations": [],
}
STUCK_B1 = {
    "order_id": "B1",
    "status": "ALLOCATED",
    "since": "2026-11-24T10:04:00Z",
    "stuck_at": "2026-11-24T12:04:00Z",
    "threshold_s": 7200,
    "channel": MARKET,
    "locations": ["WH-BERLIN"],
}


def _statuses(**stuck: tuple[int, str, str]) -> list[dict[str, Any]]:
    """Every watched status with the default thresholds; ``stuck``: count, oldest since, id."""
    thresholds = {
        "PENDING": 900, "CONFIRMED": 900, "ON_HOLD": 14400, "ALLOCATED": 7200,
        "BACKORDERED": 604800, "RELEASED": 86400, "SHIPPED": 604800, "DELIVERED": 86400,
        "COLLECTED": 86400,
    }  # fmt: skip
    rows = []
    for status, threshold in thresholds.items():
        count, since, order_id = stuck.get(status, (0, None, None))
        rows.append(
            {
                "status": status,
                "threshold_s": threshold,
                "stuck": count,
                "oldest_since": since,
                "oldest_order_id": order_id,
            }
        )
    return rows


async def _get(worker: ServiceProcess, path: str, **query: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}{path}", params=query) as response:
            return response.status, await response.text()


async def _json(worker: ServiceProcess, path: str, **query: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}{path}", params=query) as response:
            assert response.status == 200, await response.text()
            return dict(await response.json())


async def _alerts(env: Env, count: int) -> list[tuple[str, EventPayload, datetime]]:
    records = await read_topic(env.bootstrap, env.topic("oms.analytics-alerts"), at_least=count)
    events = [decode(record.value) for record in records]
    assert [r.key for r in records] == [e.envelope.subject.encode() for e in events]
    return sorted(
        ((str(e.envelope.id), e.payload, e.envelope.time) for e in events),
        key=lambda alert: alert[2],
    )


async def _read_through(env: Env, group: str, topic: str) -> None:
    """Until the worker's group has committed everything on partition 0 of ``topic``."""

    async def done() -> bool:
        committed, end = await committed_and_end_offsets(env.bootstrap, group, env.topic(topic), 6)
        return committed[0] == end[0]

    await wait_for(done, timeout=60, interval=0.5, what=f"{topic} read through")


async def test_stuck_orders_alert_once_clear_and_survive_a_restart(env: Env) -> None:
    worker = await env.service("analytics")
    await worker.wait_ready()
    group = f"{env.prefix}oms-analytics-{env.run}"

    # Each topic read through before the next, so the statuses arrive in their order.
    await send_timed(env, "oms.orders", ORDERS)
    await _read_through(env, group, "oms.orders")
    await send_timed(env, "oms.sourcing", SOURCING)
    await _read_through(env, group, "oms.sourcing")
    # A1 ships at 10:40: the watermark passes S1's 15 minutes in CONFIRMED (since 10:01).
    await send_timed(env, "oms.shipments", [(shipped("A1", at("10:40")), at("10:40"))])
    await _read_through(env, group, "oms.shipments")
    # A1 completes at 12:30: past B1's two hours in ALLOCATED (since 10:04).
    await send_timed(env, "oms.orders", [(completed("A1", at("12:30")), at("12:30"))])
    (s1, b1) = await _alerts(env, 2)
    assert s1[1:] == (
        StuckOrderDetected(
            order_id="S1",
            status="CONFIRMED",
            since=at("10:01"),
            threshold_s=900,
            stuck_at=at("10:16"),
            channel=WEB,
        ),
        at("10:16"),
    )
    assert b1[1:] == (
        StuckOrderDetected(
            order_id="B1",
            status="ALLOCATED",
            since=at("10:04"),
            threshold_s=7200,
            stuck_at=at("12:04"),
            channel=MARKET,
            locations=("WH-BERLIN",),
        ),
        at("12:04"),
    )

    async def both_stuck() -> dict[str, Any] | None:
        view = await _json(worker, "/v1/reports/stuck")
        return view if len(view["orders"]) == 2 else None

    view = await wait_for(both_stuck, timeout=30, interval=0.3, what="the view of both")
    assert view == {
        "status": None,
        "channel": None,
        "location": None,
        "statuses": _statuses(
            CONFIRMED=(1, "2026-11-24T10:01:00Z", "S1"), ALLOCATED=(1, "2026-11-24T10:04:00Z", "B1")
        ),
        "orders": [STUCK_S1, STUCK_B1],
    }
    at_berlin = await _json(worker, "/v1/reports/stuck/orders", location="WH-BERLIN")
    assert at_berlin["orders"] == [STUCK_B1] and at_berlin["location"] == "WH-BERLIN"
    web = await _json(worker, "/v1/reports/stuck/orders", channel=WEB)
    assert web["orders"] == [STUCK_S1]
    confirmed_only = await _json(worker, "/v1/reports/stuck", status="CONFIRMED")
    assert confirmed_only["statuses"] == [_statuses(CONFIRMED=(1, "2026-11-24T10:01:00Z", "S1"))[1]]
    status, csv = await _get(worker, "/v1/reports/stuck/orders", format="csv")
    assert (status, csv) == (
        200,
        "order_id,status,since,stuck_at,threshold_s,channel,locations\n"
        "S1,CONFIRMED,2026-11-24T10:01:00Z,2026-11-24T10:16:00Z,900,web-de,\n"
        "B1,ALLOCATED,2026-11-24T10:04:00Z,2026-11-24T12:04:00Z,7200,marketplace,WH-BERLIN\n",
    )
    status, csv = await _get(worker, "/v1/reports/stuck", format="csv", status="ALLOCATED")
    assert (status, csv) == (
        200,
        "status,threshold_s,stuck,oldest_since,oldest_order_id\n"
        "ALLOCATED,7200,1,2026-11-24T10:04:00Z,B1\n",
    )
    status, problem = await _get(worker, "/v1/reports/stuck", status="LOST")
    assert status == 400 and json.loads(problem)["errors"][0]["field"] == "status"

    # S1 moves on at 12:40: cleared, and out of the view.
    await send_timed(env, "oms.sourcing", [(allocated("S1", "WH-HAMBURG"), at("12:40"))])
    alerts = await _alerts(env, 3)
    assert alerts[:2] == [s1, b1]
    assert alerts[2][1] == StuckOrderCleared(
        order_id="S1",
        status="CONFIRMED",
        since=at("10:01"),
        left_at=at("12:40"),
        next_status="ALLOCATED",
    )

    async def one_stuck() -> dict[str, Any] | None:
        view = await _json(worker, "/v1/reports/stuck")
        return view if len(view["orders"]) == 1 else None

    after = await wait_for(one_stuck, timeout=30, interval=0.3, what="S1 out of the view")
    assert after["orders"] == [STUCK_B1]
    assert after["statuses"] == _statuses(ALLOCATED=(1, "2026-11-24T10:04:00Z", "B1"))

    # Restarted (the stays recovered from their changelog), then every event delivered again:
    # nothing is published twice.
    worker.stop()
    restarted = await env.service("analytics")
    await restarted.wait_ready()
    assert await _json(restarted, "/v1/reports/stuck") == after
    await send_timed(env, "oms.orders", ORDERS)
    await send_timed(env, "oms.sourcing", SOURCING)
    await send_timed(env, "oms.shipments", [(shipped("A1", at("10:40")), at("10:40"))])
    for topic in ("oms.orders", "oms.sourcing", "oms.shipments"):
        await _read_through(env, group, topic)
    assert await _alerts(env, 3) == alerts
    assert await _json(restarted, "/v1/reports/stuck") == after
    assert (await _json(restarted, "/health"))["stuck_orders"] == 1
    assert worker.log_path.read_text().count('"order_stuck"') == 2
    assert '"order_stuck"' not in restarted.log_path.read_text()
