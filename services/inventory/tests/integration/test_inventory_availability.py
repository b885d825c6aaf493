"""The availability projection on the real broker and database: the compacted topic matches
the stock table after a burst of changes, and the HTTP query shows each caller what it may."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from oms_events.inventory import (
    AdjustmentReason,
    ReleaseReservations,
    StockAdjustment,
)
from oms_runtime import key_digest
from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    events_of,
    feed,
    import_catalogue,
    receipt,
    request,
    reserve,
)
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

LOCATIONS = (HAMBURG, MUNICH, BERLIN)
WEB_KEY, MARKETPLACE_KEY, OPS_KEY = (
    "key-web-" + "w" * 24,
    "key-mkt-" + "m" * 24,
    "key-ops-" + "o" * 24,
)
API_KEYS = (
    "{"
    f'"{key_digest(WEB_KEY)}": {{"channel": "web-de"}},'
    f'"{key_digest(MARKETPLACE_KEY)}": {{"channel": "marketplace"}},'
    f'"{key_digest(OPS_KEY)}": {{"role": "operator", "actor_id": "ops-1"}}'
    "}"
)


async def test_the_availability_topic_matches_the_database_after_a_burst(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)
    first = await env.service("inventory")
    second = await env.service("inventory")
    await first.wait_ready()
    await second.wait_ready()
    rng = random.Random(7)
    await feed(
        env,
        *(
            receipt(f"rcv-{n}", sku, loc, 40)
            for n, (sku, loc) in enumerate((s, loc) for s in (TSHIRT, MUG) for loc in LOCATIONS)
        ),
    )
    # A burst: receipts, adjustments, reservations and releases in random order.
    changes: list[Any] = []
    for n in range(300):
        sku, location = rng.choice((TSHIRT, MUG)), rng.choice(LOCATIONS)
        kind = rng.random()
        if kind < 0.2:
            changes.append(("feed", receipt(f"rcv-{1000 + n}", sku, location, rng.randint(1, 5))))
        elif kind < 0.35:
            changes.append(
                (
                    "feed",
                    StockAdjustment(
                        sku=sku,
                        location_id=location,
                        adjustment_id=f"adj-{n}",
                        delta=-1,
                        reason=AdjustmentReason.DAMAGED,
                        occurred_at=datetime.now(UTC),
                        source="wms",
                    ),
                )
            )
        elif kind < 0.9:
            changes.append(("request", reserve(f"ord-{n}", (sku, location, rng.randint(1, 4)))))
        else:
            changes.append(("request", ReleaseReservations(order_id=f"ord-{n - 3}", reason="x")))
    await feed(env, *(p for kind, p in changes if kind == "feed"))
    await request(env, *(p for kind, p in changes if kind == "request"))
    reservations = sum(1 for kind, p in changes if kind == "request" and hasattr(p, "lines"))

    sent = len(LOCATIONS) * 2 + len(changes)

    async def decided() -> bool:
        """Every record consumed (applied, or dead-lettered) and every event published."""
        rows = await env.fetch(
            "inventory",
            "SELECT (SELECT count(*) FROM oms_inbox) + (SELECT count(*) FROM oms_dead_letters)"
            " AS consumed, (SELECT count(*) FROM reservations) AS reservations,"
            " (SELECT count(*) FROM oms_outbox) AS unpublished",
        )
        found = rows[0]
        return (found["consumed"], found["reservations"], found["unpublished"]) == (
            sent,
            reservations,
            0,
        )

    await wait_for(decided, timeout=60, what="every request decided and published")
    stock = await env.fetch(
        "inventory",
        "SELECT sku, location_id, on_hand, reserved, safety_stock, in_transit, quarantined,"
        " on_hand - reserved - safety_stock AS available FROM stock",
    )
    expected = {f"{r['sku']}@{r['location_id']}": dict(r) for r in stock}
    records = await events_of(env, "oms.availability", len(expected), "AvailabilityChanged")
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        payload = record.payload
        key = f"{payload.sku}@{payload.location_id}"
        previous = latest.get(key)
        assert previous is None or record.envelope.sequence > previous["sequence"], key
        latest[key] = {"sequence": record.envelope.sequence, **payload.model_dump()}
    assert set(latest) == set(expected)
    for key, row in expected.items():
        shown = {k: latest[key][k] for k in row if k in latest[key]}
        assert shown == {k: v for k, v in row.items() if k in shown}, key

    network = await events_of(env, "oms.availability", 1, "NetworkAvailabilityChanged")
    last_network = {n.payload.sku: n.payload for n in network}
    for sku in (TSHIRT, MUG):
        rows = [r for r in stock if r["sku"] == sku]
        assert last_network[sku].on_hand == sum(r["on_hand"] for r in rows)
        assert last_network[sku].reserved == sum(r["reserved"] for r in rows)
        assert last_network[sku].available == sum(max(r["available"], 0) for r in rows)


async def _get(url: str, key: str | None, query: str) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v1/availability{query}", headers=headers) as response:
            return response.status, await response.json(content_type=None)


async def test_the_availability_query_shows_each_channel_its_own_locations(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)
    inventory = await env.service("inventory", OMS_INVENTORY_API_KEYS=API_KEYS)
    await inventory.wait_ready()
    await feed(
        env,
        receipt("rcv-1", TSHIRT, HAMBURG, 10),
        receipt("rcv-2", TSHIRT, MUNICH, 7),
        receipt("rcv-3", TSHIRT, BERLIN, 3),  # safety stock 2 at the store
    )

    async def received() -> bool:
        rows = await env.fetch("inventory", "SELECT sum(on_hand) AS units FROM stock")
        return bool(rows[0]["units"] == 20)

    await wait_for(received, what="the receipts")  # requests and feeds are separate topics
    await request(env, reserve("ord-1", (TSHIRT, HAMBURG, 4)))

    async def settled() -> dict[str, Any]:
        status, body = await _get(inventory.url, OPS_KEY, f"?sku={TSHIRT}")
        hamburg = [loc for loc in body["items"][0]["locations"] if loc["location_id"] == HAMBURG]
        return body if status == 200 and hamburg and hamburg[0]["reserved"] == 4 else {}

    ops = await wait_for(settled, what="stock and the reservation")
    assert ops["items"][0]["available"] == 6 + 7 + 1
    assert {loc["location_id"] for loc in ops["items"][0]["locations"]} == set(LOCATIONS)

    status, web_view = await _get(inventory.url, WEB_KEY, f"?sku={TSHIRT}&sku=NOPE-1")
    assert status == 200
    assert web_view["channel"] == "web-de"
    assert web_view["items"][0]["available"] == 14
    assert web_view["unknown_skus"] == ["NOPE-1"]
    assert "on_hand" not in web_view["items"][0]["locations"][0]

    status, marketplace = await _get(inventory.url, MARKETPLACE_KEY, f"?sku={TSHIRT}")
    assert status == 200
    assert [loc["location_id"] for loc in marketplace["items"][0]["locations"]] == [MUNICH]
    assert marketplace["items"][0]["available"] == 7

    for key, query, expected_status, code in (
        (None, f"?sku={TSHIRT}", 401, "unauthorized"),
        ("wrong-key", f"?sku={TSHIRT}", 401, "unauthorized"),
        (WEB_KEY, "", 422, "invalid_query"),
        (WEB_KEY, "?sku=a%40b", 422, "invalid_query"),
        (WEB_KEY, "?" + "&".join(f"sku=S{n}" for n in range(101)), 422, "invalid_query"),
    ):
        status, body = await _get(inventory.url, key, query)
        assert (status, body["code"], body["status"]) == (expected_status, code, status), query
