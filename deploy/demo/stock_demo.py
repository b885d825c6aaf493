"""The stock side of the demo: the network and its stock before the orders come, the
orchestration service's decisions for them, and what inventory holds, commits and shows.

The TV's shipment is the shipping service's, driven by staff and carrier inputs
(shipping_demo.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from shipping_demo import CarrierWebhook, deliver, ship

from oms_events.codec import encode, new_event
from oms_events.inventory import (
    ReservationLine,
    ReserveStock,
    StockReceived,
    StockSnapshot,
    TransferShipped,
)
from oms_events.registry import EventPayload

HERE = Path(__file__).resolve().parent
HAMBURG, BERLIN, POPUP = "dc-hamburg", "store-berlin", "popup-berlin"


COUNTS = (
    ("SKU-TSHIRT-M", HAMBURG, 40),
    ("SKU-TV-55", HAMBURG, 6),
    ("SKU-CAP", HAMBURG, 25),
    ("SKU-HOODIE-L", HAMBURG, 30),
    ("SKU-JEANS-32", "dc-munich", 12),
    ("SKU-HOODIE-L", BERLIN, 4),
    ("SKU-CAP", BERLIN, 0),  # sold out: the store's cap order will wait
)
"""What WMS and POS count at the start of the run: (sku, location, units on hand)."""


def _event(payload: EventPayload, subject: str, source: str) -> bytes:
    return encode(new_event(payload, subject=subject, source=source, correlation_id=subject))


def _feed(payload: Any, source: str = "wms/hamburg") -> tuple[str, bytes]:
    key = f"{payload.sku}@{payload.location_id}"
    return key, _event(payload, key, source)


def import_catalogue(database_url: str, service: str = "oms_inventory") -> None:
    """The demo's network and items (deploy/demo/catalogue.yaml), into an empty database:
    inventory's, or shipping's (the items' sizes and weights)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            service,
            "catalogue",
            "import",
            str(HERE / "catalogue.yaml"),
        ],
        env={**os.environ, "OMS_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"demo: catalogue import failed:\n{done.stderr}")


def feed_records(run: str, popup: str) -> list[tuple[str, bytes]]:
    now = datetime.now(UTC)
    sequence = int(now.timestamp())
    counts = [
        StockSnapshot(
            sku=sku,
            location_id=loc,
            on_hand=n,
            as_of=now,
            source_sequence=sequence,
        )
        for sku, loc, n in COUNTS
    ]
    late = StockSnapshot(
        sku="SKU-TSHIRT-M",
        location_id=HAMBURG,
        on_hand=999,
        as_of=now - timedelta(hours=1),
        source_sequence=sequence - 1,
    )
    pos = StockReceived(
        sku="SKU-CAP", location_id=popup, receipt_id=f"rcv-{run}", quantity=8, received_at=now
    )
    transfer = TransferShipped(
        sku="SKU-HOODIE-L",
        location_id=HAMBURG,
        transfer_id=f"tr-{run}",
        to_location_id=BERLIN,
        quantity=5,
        shipped_at=now,
    )
    unknown = StockReceived(
        sku="SKU-NOT-IN-CATALOGUE",
        location_id=HAMBURG,
        receipt_id=f"rcv-x-{run}",
        quantity=3,
        received_at=now,
    )
    return [
        *(_feed(c) for c in counts),
        _feed(late),
        _feed(pos, "pos/popup"),
        _feed(transfer),
        _feed(unknown),
    ]


def rush_requests(run: str, popup: str) -> list[tuple[str, bytes]]:
    """Twenty checkouts holding a cap at the pop-up store at once; it has eight."""
    now = datetime.now(UTC)
    requests = []
    for n in range(20):
        order_id = f"demo-rush-{run}-{n:02d}"
        request = ReserveStock(
            order_id=order_id,
            request_id=f"req-{order_id}",
            lines=(
                ReservationLine(
                    reservation_id=f"res-{order_id}",
                    line_id="1",
                    sku="SKU-CAP",
                    location_id=popup,
                    quantity=1,
                ),
            ),
            requested_at=now,
        )
        requests.append((order_id, _event(request, order_id, "checkout/popup")))
    return requests


def availability(port: int, key: str, skus: list[str]) -> dict[str, Any]:
    query = "&".join(f"sku={s}" for s in skus)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/availability?{query}",
        headers={"Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


async def print_stock(db: Any, popup: str) -> None:
    rows = await db.fetch(
        "SELECT sku, location_id, on_hand, reserved, safety_stock, in_transit, alert_state,"
        " on_hand - reserved - safety_stock AS available FROM stock"
        " WHERE location_id = ANY($1) ORDER BY location_id, sku",
        [HAMBURG, BERLIN, "dc-munich", popup],
    )
    print(
        f"   {'sku':<15}{'location':<22}{'on hand':>8}{'reserved':>9}{'safety':>7}"
        f"{'transit':>8}{'available':>10}  alert"
    )
    for r in rows:
        print(
            f"   {r['sku']:<15}{r['location_id']:<22}{r['on_hand']:>8}{r['reserved']:>9}"
            f"{r['safety_stock']:>7}{r['in_transit']:>8}{r['available']:>10}  {r['alert_state']}"
        )


async def prepare_stock(
    env: dict[str, str],
    run: str,
    *,
    publish: Callable[[str, str, list[tuple[str, bytes]]], Awaitable[None]],
    wait: Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]],
) -> str:
    """The network and its stock, before any order: the pop-up store's id."""
    import_catalogue(env["OMS_INVENTORY_DATABASE_URL"])
    import_catalogue(env["OMS_SHIPPING_DATABASE_URL"], "oms_shipping")
    popup = POPUP
    inventory_db = await asyncpg.connect(env["OMS_INVENTORY_DATABASE_URL"])
    try:
        await publish(
            env["KAFKA_BOOTSTRAP_SERVERS"], "oms.inventory-feed", feed_records(run, popup)
        )

        async def fed() -> bool:
            """Every record applied: they travel on different partitions."""
            rows = await inventory_db.fetch("SELECT sku, location_id, on_hand FROM stock")
            on_hand = {(r["sku"], r["location_id"]): r["on_hand"] for r in rows}
            counted = all(on_hand.get((sku, loc)) == n for sku, loc, n in COUNTS)
            dead = await inventory_db.fetchval(
                "SELECT count(*) FROM oms_dead_letters WHERE key = $1",
                f"SKU-NOT-IN-CATALOGUE@{HAMBURG}".encode(),
            )
            return counted and on_hand.get(("SKU-CAP", popup)) == 8 and dead > 0

        await wait("the stock feed", fed)
    finally:
        await inventory_db.close()
    print(
        "1. an operator imported the catalogue (deploy/demo/catalogue.yaml: 6 items, two DCs,"
        " a store and a pop-up store); WMS and POS fed counts, a receipt, a transfer to the"
        " store, a count from an hour ago and a record for an unknown SKU. Orchestration sources"
        " with deploy/demo/sourcing.yaml.\n"
    )
    return popup


async def print_decisions(env: dict[str, str], order_ids: list[str]) -> None:
    db = await asyncpg.connect(env["OMS_ORCHESTRATION_DATABASE_URL"])
    try:
        rows = await db.fetch(
            "SELECT d.order_id, d.attempt, d.explanation,"
            " (SELECT string_agg(DISTINCT a.location_id, ', ') FROM allocations a"
            "   WHERE a.decision_id = d.decision_id) AS locations"
            " FROM decisions d WHERE d.order_id = ANY($1) ORDER BY d.decided_at",
            order_ids,
        )
    finally:
        await db.close()
    print("\nsourcing decisions (orchestration, each stored with its explanation):")
    for r in rows:
        explanation = json.loads(r["explanation"])
        filtered = ", ".join(
            f"{c['location_id']} ({c['filtered_by']})"
            for c in explanation["candidates"]
            if c["filtered_by"]
        )
        print(
            f"  {r['order_id']} attempt {r['attempt']}, profile {explanation['profile']}:"
            f" {r['locations'] or 'nothing held'} - {explanation['chosen_rule']}"
            + (f"; filtered out: {filtered}" if filtered else "")
        )


async def show_stock(
    env: dict[str, str],
    orders_db: Any,
    run: str,
    popup: str,
    *,
    tv_order: str,
    backordered: str,
    publish: Callable[[str, str, list[tuple[str, bytes]]], Awaitable[None]],
    wait: Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]],
    port: int,
    api_key: str,
    carrier: CarrierWebhook,
) -> None:
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    inventory_db = await asyncpg.connect(env["OMS_INVENTORY_DATABASE_URL"])
    orchestration_db = await asyncpg.connect(env["OMS_ORCHESTRATION_DATABASE_URL"])
    try:
        # The backordered cap order: the Berlin store receives caps.
        restock = StockReceived(
            sku="SKU-CAP",
            location_id=BERLIN,
            receipt_id=f"rcv-caps-{run}",
            quantity=5,
            received_at=datetime.now(UTC),
        )
        await publish(bootstrap, "oms.inventory-feed", [_feed(restock, "pos/berlin")])

        async def sourced_again() -> Any:
            return await orders_db.fetchval(
                "SELECT status FROM orders WHERE order_id = $1 AND status = 'RELEASED'",
                backordered,
            )

        await wait("the backordered order to be sourced again", sourced_again)
        print(
            "\n4. the Berlin store received caps: orchestration sourced the backordered"
            " pos-berlin order again, and it was released to the store"
        )
        fulfilment = await wait(
            "the TV's fulfilment order",
            lambda: orchestration_db.fetchrow(
                "SELECT order_id, fulfilment_order_id, location_id FROM fulfilment_orders"
                " WHERE order_id = $1",
                tv_order,
            ),
        )
        tracking = await ship(
            env, fulfilment, run, publish=publish, wait=wait, staff_api=(carrier.url, api_key)
        )

        async def captured() -> Any:
            return await orders_db.fetchrow(
                "SELECT status, payment_status FROM orders"
                " WHERE order_id = $1 AND payment_status = 'CAPTURED'",
                tv_order,
            )

        order = await wait("the TV's payment capture", captured)
        print(
            f"   the TV left {fulfilment['location_id']} (ShipmentShipped from the shipping"
            " service): inventory committed its reservation and on hand went down; the order"
            f" service captured the payment: {order['status']}, {order['payment_status']}"
        )
        await deliver(env, orders_db, fulfilment, tracking, carrier=carrier, wait=wait)
        print()
        requests = rush_requests(run, popup)
        await publish(bootstrap, "oms.reservation-requests", requests)

        async def decided() -> Any:
            count = await inventory_db.fetchval(
                "SELECT count(*) FROM reservations WHERE location_id = $1", popup
            )
            return count == len(requests)

        await wait("the pop-up store's rush", decided)
        held = await inventory_db.fetchval(
            "SELECT count(*) FROM reservations WHERE location_id = $1 AND status = 'held'", popup
        )
        print(
            f"   twenty checkouts asked at once for the pop-up store's 8 caps: {held} held,"
            " the rest answered out_of_stock\n"
        )
        await print_stock(inventory_db, popup)
        dead = await inventory_db.fetchrow(
            "SELECT reason FROM oms_dead_letters WHERE key = $1",
            f"SKU-NOT-IN-CATALOGUE@{HAMBURG}".encode(),
        )
        print(
            "\n   the hour-old count was ignored (the newer one stands); the unknown SKU went to"
            f" oms.inventory-feed.dlq ({dead['reason']}); the pop-up's caps are out of stock and"
            " an OutOfStock alert is on oms.inventory"
        )
        web = availability(port, api_key, ["SKU-HOODIE-L", "SKU-TSHIRT-M"])
        shown = ", ".join(
            f"{item['sku']} {item['available']} ("
            + ", ".join(f"{loc['location_id']} {loc['available']}" for loc in item["locations"])
            + ")"
            for item in web["items"]
        )
        print(f"   GET /v1/availability for the web-de channel: {shown}\n")
    finally:
        await inventory_db.close()
        await orchestration_db.close()
