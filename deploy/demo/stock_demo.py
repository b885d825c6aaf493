"""Part 3 of the demo: the inventory service keeps stock and holds it for orders.

Until the orchestration service lands, the demo stands in for it: it asks inventory to
reserve the confirmed orders' lines at the Hamburg DC, and it sends the TV's shipment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from oms_events.codec import encode, new_event
from oms_events.fulfilment import ShipmentShipped
from oms_events.inventory import (
    ReservationLine,
    ReserveStock,
    StockReceived,
    StockSnapshot,
    TransferShipped,
)
from oms_events.registry import EventPayload
from oms_events.values import LineQuantity

HERE = Path(__file__).resolve().parent
HAMBURG, BERLIN = "dc-hamburg", "store-berlin"


def _event(payload: EventPayload, subject: str, source: str) -> bytes:
    return encode(new_event(payload, subject=subject, source=source, correlation_id=subject))


def _feed(payload: Any, source: str = "wms/hamburg") -> tuple[str, bytes]:
    key = f"{payload.sku}@{payload.location_id}"
    return key, _event(payload, key, source)


def import_catalogue(database_url: str, run: str) -> str:
    """The demo catalogue, plus a pop-up store opened for this run (so reruns start clean)."""
    popup = f"popup-{run}"
    env = {**os.environ, "OMS_DATABASE_URL": database_url}
    extra = {
        "locations": [
            {
                "location_id": popup,
                "name": "Pop-up store",
                "type": "store",
                "latitude": 52.5163,
                "longitude": 13.3777,
                "capabilities": ["pickup"],
                "channels": ["web-de"],
            }
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(extra, handle)
    for path in (HERE / "catalogue.yaml", Path(handle.name)):
        done = subprocess.run(
            [sys.executable, "-m", "oms_inventory", "catalogue", "import", str(path)],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(f"demo: catalogue import failed:\n{done.stderr}")
    os.unlink(handle.name)
    return popup


def feed_records(run: str, popup: str) -> list[tuple[str, bytes]]:
    now = datetime.now(UTC)
    sequence = int(now.timestamp())
    counts = [
        StockSnapshot(sku=sku, location_id=loc, on_hand=n, as_of=now, source_sequence=sequence)
        for sku, loc, n in (
            ("SKU-TSHIRT-M", HAMBURG, 40),
            ("SKU-TV-55", HAMBURG, 6),
            ("SKU-CAP", HAMBURG, 25),
            ("SKU-HOODIE-L", HAMBURG, 30),
            ("SKU-JEANS-32", "dc-munich", 12),
            ("SKU-HOODIE-L", BERLIN, 4),
        )
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


async def confirmed_lines(orders_db: Any, externals: list[str]) -> list[asyncpg.Record]:
    return list(
        await orders_db.fetch(
            "SELECT o.order_id, o.external_order_id, l.line_id, l.sku, l.ordered"
            " FROM orders o JOIN order_lines l USING (order_id)"
            " WHERE o.external_order_id = ANY($1) AND o.status = 'CONFIRMED'"
            " ORDER BY o.order_id, l.line_id",
            externals,
        )
    )


def reservation_requests(lines: list[asyncpg.Record], run: str, popup: str) -> list[Any]:
    now = datetime.now(UTC)
    requests = [
        (
            line["order_id"],
            ReserveStock(
                order_id=line["order_id"],
                request_id=f"req-{line['order_id']}",
                lines=(
                    ReservationLine(
                        reservation_id=f"res-{line['order_id']}-{line['line_id']}",
                        line_id=line["line_id"],
                        sku=line["sku"],
                        location_id=HAMBURG,
                        quantity=line["ordered"],
                    ),
                ),
                requested_at=now,
            ),
        )
        for line in lines
    ]
    # Twenty click & collect shoppers at once for the pop-up store's 8 caps.
    for n in range(20):
        order_id = f"demo-rush-{run}-{n:02d}"
        requests.append(
            (
                order_id,
                ReserveStock(
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
                ),
            )
        )
    return [(oid, _event(r, oid, "oms/orchestration")) for oid, r in requests]


def shipment(order_id: str, line: asyncpg.Record, run: str) -> tuple[str, bytes]:
    shipped = ShipmentShipped(
        order_id=order_id,
        fulfilment_order_id=f"fo-{run}",
        location_id=HAMBURG,
        shipment_id=f"shp-{run}",
        carrier="dhl",
        tracking_number=f"00340{run}",
        lines=(LineQuantity(line_id=line["line_id"], sku=line["sku"], quantity=line["ordered"]),),
        shipped_at=datetime.now(UTC),
    )
    return order_id, _event(shipped, order_id, "oms/shipping")


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


async def show_stock(
    env: dict[str, str],
    orders_db: Any,
    externals: list[str],
    run: str,
    *,
    publish: Callable[[str, str, list[tuple[str, bytes]]], Awaitable[None]],
    wait: Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]],
    port: int,
    api_key: str,
) -> None:
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    popup = import_catalogue(env["OMS_INVENTORY_DATABASE_URL"], run)
    print(
        "\n3. an operator imported the catalogue (deploy/demo/catalogue.yaml: 6 items, two DCs,"
        " a store) and a pop-up store; WMS and POS fed counts, a receipt, a transfer to the"
        " store, a count from an hour ago and a record for an unknown SKU"
    )
    await publish(bootstrap, "oms.inventory-feed", feed_records(run, popup))
    inventory_db = await asyncpg.connect(env["OMS_INVENTORY_DATABASE_URL"])
    try:

        async def fed() -> bool:
            received = await inventory_db.fetchval(
                "SELECT on_hand FROM stock WHERE sku = 'SKU-CAP' AND location_id = $1", popup
            )
            dead = await inventory_db.fetchval(
                "SELECT count(*) FROM oms_dead_letters WHERE key = $1",
                f"SKU-NOT-IN-CATALOGUE@{HAMBURG}".encode(),
            )
            return received == 8 and dead > 0

        await wait("the feed", fed)
        lines = await confirmed_lines(orders_db, externals)
        requests = reservation_requests(lines, run, popup)
        await publish(bootstrap, "oms.reservation-requests", requests)
        print(
            f"   standing in for orchestration, the demo asked inventory to reserve the"
            f" {len(lines)} confirmed orders' lines at {HAMBURG}, and 20 shoppers asked at once"
            " for the pop-up store's 8 caps"
        )

        async def decided() -> bool:
            count = await inventory_db.fetchval(
                "SELECT count(*) FROM reservations WHERE request_id = ANY($1)",
                [f"req-{oid}" for oid, _ in requests],
            )
            return bool(count == len(requests))

        await wait("the reservations", decided)
        tv = [line for line in lines if line["sku"] == "SKU-TV-55"]
        if tv:
            await publish(bootstrap, "oms.shipments", [shipment(tv[0]["order_id"], tv[0], run)])

            async def committed() -> bool:
                status = await inventory_db.fetchval(
                    "SELECT status FROM reservations WHERE order_id = $1", tv[0]["order_id"]
                )
                return status == "committed"

            await wait("the TV's shipment to commit its stock", committed)

            async def captured() -> Any:
                return await orders_db.fetchrow(
                    "SELECT status, payment_status FROM orders"
                    " WHERE order_id = $1 AND payment_status = 'CAPTURED'",
                    tv[0]["order_id"],
                )

            order = await wait("the TV's payment capture", captured)
            print(
                "   the TV left Hamburg (ShipmentShipped): inventory committed its reservation and"
                f" on hand went down; the order service captured the payment: {order['status']},"
                f" {order['payment_status']}"
            )
        held = await inventory_db.fetchval(
            "SELECT count(*) FROM reservations WHERE location_id = $1 AND status = 'held'", popup
        )
        print(f"   caps held at the pop-up store: {held} of 20 asked (8 in stock, never more)\n")
        await print_stock(inventory_db, popup)
        alerts = await inventory_db.fetch(
            "SELECT sku, location_id, alert_state FROM stock WHERE location_id = $1", popup
        )
        dead = await inventory_db.fetchrow(
            "SELECT reason, detail FROM oms_dead_letters WHERE key = $1",
            f"SKU-NOT-IN-CATALOGUE@{HAMBURG}".encode(),
        )
        print(
            f"\n   the hour-old count was ignored (the newer one stands); the unknown SKU went to"
            f" oms.inventory-feed.dlq ({dead['reason']}); the pop-up's caps are now"
            f" '{alerts[0]['alert_state']}' and an OutOfStock alert is on oms.inventory"
        )
        web = availability(port, api_key, ["SKU-HOODIE-L", "SKU-TSHIRT-M"])
        shown = ", ".join(
            f"{item['sku']} {item['available']} ("
            + ", ".join(f"{loc['location_id']} {loc['available']}" for loc in item["locations"])
            + ")"
            for item in web["items"]
        )
        print(f"   GET /v1/availability for the web-de channel: {shown}")
    finally:
        await inventory_db.close()
