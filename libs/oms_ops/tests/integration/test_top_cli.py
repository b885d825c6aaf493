"""``oms top`` on the real broker and databases, with the order and inventory services running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.inventory import HAMBURG, TSHIRT, feed, import_catalogue, receipt
from tests.support.kafka import produce
from tests.support.operator import oms
from tests.support.orders import encoded, order_submitted
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def test_top_shows_orders_services_and_stock_alerts(env: Env, tmp_path: Path) -> None:
    order, inventory = await env.service("order"), await env.service("inventory")
    await order.wait_ready()
    await inventory.wait_ready()
    await import_catalogue(env, tmp_path)
    await feed(env, receipt("R-1", TSHIRT, HAMBURG, 3))  # under its low-stock threshold of 5
    await produce(
        env.bootstrap, env.topic("oms.channel-order-intake"), [encoded(order_submitted("TOP-1"))]
    )
    await wait_for(
        lambda: env.fetch("order", "SELECT 1 FROM orders WHERE status = 'CONFIRMED'"),
        what="the order confirmed",
    )
    await wait_for(
        lambda: env.fetch("inventory", "SELECT 1 FROM stock WHERE on_hand = 3"),
        what="the receipt applied",
    )
    services: dict[str, str | None] = {"order": order.url, "inventory": inventory.url}

    ran = await oms(env, "top", "--frames", "2", "--interval", "0.3", "--json", services=services)

    assert ran.code == 0, ran.stderr
    frames = [line for line in ran.stdout.splitlines() if line]
    assert len(frames) == 2
    frame = json.loads(frames[-1])
    assert frame["orders"] == {"by_status": {"CONFIRMED": 1}, "error": None}
    alerts = frame["stock_alerts"]
    assert (alerts["low"], alerts["error"]) == (1, None)
    shown = [
        (a["sku"], a["location_id"], a["alert_state"], a["available"]) for a in alerts["items"]
    ]
    assert (TSHIRT, HAMBURG, "low", 3) in shown
    by_service = {s["service"]: s for s in frame["services"]}
    assert set(by_service) == {"order", "inventory"}
    assert all(s["status"] == "ok" and s["events_per_s"] >= 0 for s in by_service.values())
    assert by_service["order"]["lag"] == 0
    assert 0.3 <= frame["interval_s"] < 10

    table = await oms(env, "top", "--frames", "1", "--interval", "0.2", services=services)
    assert table.code == 0, table.stderr
    for shown in ("Orders by status", "CONFIRMED", "Stock alerts: ", TSHIRT, "events/s"):
        assert shown in table.stdout


async def test_top_says_what_it_cannot_read(env: Env) -> None:
    ran = await oms(env, "top", "--frames", "1", "--interval", "0.2", "--json")
    assert ran.code == 0, ran.stderr
    frame = ran.json()
    # Only notification is configured: no order or inventory database to read.
    assert frame["orders"] == {"by_status": None, "error": "not configured"}
    assert frame["stock_alerts"]["error"] == "not configured"
    [notification] = frame["services"]
    assert notification["status"] == "unreachable"

    unknown = await oms(env, "top", "--service", "nope", "--frames", "1")
    assert unknown.code == 2
    assert "unknown service 'nope'" in unknown.stderr
