"""The shipping side of the demo: the location's staff and the carrier drive the shipping
service the way real actors do, with staff actions on oms.staff-actions and carrier scans on
oms.carrier-tracking; the shipping service publishes what happened on oms.shipments."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from oms_events.codec import encode, new_event
from oms_events.fulfilment import (
    Collected,
    FulfilmentAccepted,
    HandedOver,
    Parcel,
    ParcelPacked,
    PickStarted,
    ReceivedAtStore,
)
from oms_events.registry import EventPayload
from oms_events.values import LineQuantity
from oms_shipping.domain.carrier_signature import sign

Publish = Callable[[str, str, list[tuple[str, bytes]]], Awaitable[None]]
Wait = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


def _staff(action: EventPayload, order_id: str, location_id: str) -> tuple[str, bytes]:
    envelope = new_event(
        action, subject=order_id, source=f"staff-app/{location_id}", correlation_id=order_id
    )
    return order_id, encode(envelope)


@dataclass(frozen=True)
class CarrierWebhook:
    """Where DHL pushes its scans, and the secret it signs them with."""

    url: str
    secret: str

    def push(self, tracking: str, code: str, where: str) -> int:
        """One scan, signed as a carrier signs it; the HTTP status."""
        body = json.dumps(
            {
                "updates": [
                    {
                        "tracking_number": tracking,
                        "status_code": code,
                        "location": where,
                        "occurred_at": datetime.now(UTC).isoformat(),
                    }
                ]
            }
        ).encode()
        sent = int(time.time())
        request = urllib.request.Request(
            f"{self.url}/v1/carriers/dhl/tracking",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Carrier-Timestamp": str(sent),
                "X-Carrier-Signature": sign(self.secret, sent, body),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)


async def _status(db: Any, fulfilment_order_id: str, wanted: str) -> Any:
    return await db.fetchval(
        "SELECT status FROM fulfilment_orders WHERE fulfilment_order_id = $1 AND status = $2",
        fulfilment_order_id,
        wanted,
    )


def _advice(staff_api: tuple[str, str], fulfilment_order_id: str, what: str) -> Any:
    """A staff app's read of the shipping API (an operator's key here)."""
    url, key = staff_api
    request = urllib.request.Request(
        f"{url}/v1/fulfilment-orders/{fulfilment_order_id}/{what}",
        headers={"Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


async def ship(
    env: dict[str, str],
    fulfilment: Any,
    run: str,
    *,
    publish: Publish,
    wait: Wait,
    staff_api: tuple[str, str],
) -> str:
    """The location accepts the TV's work, picks and packs it; rate shopping chooses its
    carrier and prints its label (written to files); the parcel is handed over under the
    label: returns the tracking number."""
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    order_id, location = fulfilment["order_id"], fulfilment["location_id"]
    fo_id = fulfilment["fulfilment_order_id"]
    ids = {
        "order_id": order_id,
        "fulfilment_order_id": fo_id,
        "location_id": location,
        "staff_id": "staff-hh-07",
    }
    db = await asyncpg.connect(env["OMS_SHIPPING_DATABASE_URL"])
    try:
        row = await wait("shipping to receive the TV's work", lambda: _work(db, fo_id))
        lines = tuple(LineQuantity(**line) for line in json.loads(row["lines"]))
        steps: list[tuple[str, EventPayload, str]] = [
            ("accepted", FulfilmentAccepted(**ids, performed_at=datetime.now(UTC)), "ACCEPTED"),
            ("started picking", PickStarted(**ids, performed_at=datetime.now(UTC)), "PICKING"),
            (
                "packed one parcel",
                ParcelPacked(
                    **ids,
                    performed_at=datetime.now(UTC),
                    parcels=(
                        Parcel(
                            parcel_id="p-1", box="TV-140x90x20", weight_grams=18000, lines=lines
                        ),
                    ),
                ),
                "PACKED",
            ),
        ]
        print(f"\n5. the staff at {location} work the TV's fulfilment order {fo_id}:")
        for pick in _advice(staff_api, fo_id, "pick-list")["picks"]:
            where = f"bin {pick['bin']}" if pick["bin"] else pick["no_bin"]
            print(f"   pick list: {pick['quantity']} x {pick['sku']} ({where})")
        for parcel in _advice(staff_api, fo_id, "packing-suggestion")["parcels"]:
            outer = "x".join(
                str(parcel["outer"][k]) for k in ("length_mm", "width_mm", "height_mm")
            )
            print(
                f"   packing suggestion: box {parcel['box']} ({outer} mm),"
                f" about {parcel['estimated_weight_g']} g"
            )
        for said, action, status in steps:
            await publish(bootstrap, "oms.staff-actions", [_staff(action, order_id, location)])
            await wait(f"the work to be {status}", lambda s=status: _status(db, fo_id, s))
            print(f"   {said:<36} -> {status}")
        tracking = await _print_choice_and_labels(db, fo_id, run)
        handed = HandedOver(**ids, performed_at=datetime.now(UTC))  # under the label's number
        await publish(bootstrap, "oms.staff-actions", [_staff(handed, order_id, location)])
        await wait("the work to be SHIPPED", lambda: _status(db, fo_id, "SHIPPED"))
        print(f"   {'handed it over (' + tracking + ')':<36} -> SHIPPED")
        # A late double tap in the app: refused and kept, nothing published.
        late = PickStarted(**ids, performed_at=datetime.now(UTC))
        await publish(bootstrap, "oms.staff-actions", [_staff(late, order_id, location)])
        refusal = await wait(
            "the late action's refusal",
            lambda: db.fetchrow(
                "SELECT action, reason FROM refused_actions WHERE fulfilment_order_id = $1",
                fo_id,
            ),
        )
        print(
            f"   a second 'start picking' from the app was refused and kept:"
            f" {refusal['action']} ({refusal['reason']})"
        )
    finally:
        await db.close()
    return tracking


LABELS = Path(os.environ.get("OMS_STACK_DIR", Path(__file__).resolve().parents[2] / ".stack"))


async def _print_choice_and_labels(db: Any, fulfilment_order_id: str, run: str) -> str:
    """Each parcel's carrier choice with the alternatives and why they lost; its label as
    PDF and ZPL written to files. Returns the first parcel's tracking number."""
    rows = await db.fetch(
        "SELECT parcel_id, carrier, service, tracking_number, cost_minor, estimated_delivery,"
        " alternatives, pdf, zpl FROM labels WHERE fulfilment_order_id = $1"
        " AND kind = 'outbound' ORDER BY parcel_id",
        fulfilment_order_id,
    )
    folder = LABELS / "demo-labels" / run
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        print(
            f"   rate shopping chose for parcel {row['parcel_id']}: {row['carrier']}"
            f" {row['service']}, {row['cost_minor'] / 100:.2f} EUR, arriving"
            f" {row['estimated_delivery']}"
        )
        for alternative in json.loads(row["alternatives"]):
            cost = alternative["cost_minor"]
            print(
                f"     not {alternative['carrier']} {alternative['service']}"
                f" ({'no offer' if cost is None else f'{cost / 100:.2f} EUR'}):"
                f" {alternative['lost_because']}"
            )
        pdf, zpl = (
            folder / f"{row['tracking_number']}.pdf",
            folder / f"{row['tracking_number']}.zpl",
        )
        pdf.write_bytes(row["pdf"])
        zpl.write_text(row["zpl"])
        print(f"     label {row['tracking_number']}: {pdf}\n{'':<11}and {zpl}")
    return str(rows[0]["tracking_number"])


async def _work(db: Any, fulfilment_order_id: str) -> Any:
    return await db.fetchrow(
        "SELECT lines FROM fulfilment_orders WHERE fulfilment_order_id = $1", fulfilment_order_id
    )


async def deliver(
    env: dict[str, str],
    orders_db: Any,
    fulfilment: Any,
    tracking: str,
    *,
    carrier: CarrierWebhook,
    wait: Wait,
) -> None:
    """DHL scans the parcel on its way and pushes each scan to the signed webhook; delivered,
    the order completes."""
    order_id, fo_id = fulfilment["order_id"], fulfilment["fulfilment_order_id"]
    db = await asyncpg.connect(env["OMS_SHIPPING_DATABASE_URL"])
    try:
        print(f"\n6. DHL pushes the scans of parcel {tracking} to the signed tracking webhook:")
        for code, where in (("PU", "Hamburg hub"), ("OD", "Koeln depot"), ("DL", "Koeln")):
            answered = await asyncio.to_thread(carrier.push, tracking, code, where)
            assert answered == 202, answered
            row = await wait(
                f"scan {code} to be taken",
                lambda c=code: db.fetchrow(
                    "SELECT status FROM tracking_updates WHERE tracking_number = $1"
                    " AND carrier_status_code = $2",
                    tracking,
                    c,
                ),
            )
            print(f"   DHL code {code:<3} at {where:<12} -> {row['status']}")
        await wait("the work to be DELIVERED", lambda: _status(db, fo_id, "DELIVERED"))
        order = await wait(
            "the order to complete",
            lambda: orders_db.fetchrow(
                "SELECT status, payment_status FROM orders WHERE order_id = $1"
                " AND status = 'COMPLETED'",
                order_id,
            ),
        )
        timeline = await orders_db.fetch(
            "SELECT event_type FROM order_timeline WHERE order_id = $1 ORDER BY sequence",
            order_id,
        )
        print(
            f"   fulfilment order {fo_id}: DELIVERED; order {order_id}: {order['status']},"
            f" payment {order['payment_status']}"
        )
        print("   the order's journey: " + " -> ".join(t["event_type"] for t in timeline))
    finally:
        await db.close()


@asynccontextmanager
async def _placed(
    env: dict[str, str], order: tuple[str, str, bytes], publish: Publish, wait: Wait
) -> AsyncIterator[tuple[Any, Any]]:
    """The pickup order placed on the intake topic: the shipping database and the order's
    work, once released."""
    _, key, record = order
    await publish(env["KAFKA_BOOTSTRAP_SERVERS"], "oms.channel-order-intake", [(key, record)])
    db = await asyncpg.connect(env["OMS_SHIPPING_DATABASE_URL"])
    try:
        work = await wait(
            "shipping to receive the pickup order's work",
            lambda: db.fetchrow(
                "SELECT order_id, fulfilment_order_id, location_id, lines FROM fulfilment_orders"
                " WHERE order_id = $1",
                order[0],
            ),
        )
        yield db, work
    finally:
        await db.close()


async def _ready(db: Any, fo_id: str, wait: Wait) -> Any:
    return await wait(
        "the work to be set aside",
        lambda: db.fetchrow(
            "SELECT pickup_code, hold_until FROM fulfilment_orders"
            " WHERE fulfilment_order_id = $1 AND status = 'READY_FOR_PICKUP'",
            fo_id,
        ),
    )


async def _collected(
    env: dict[str, str],
    dbs: tuple[Any, Any],
    ids: dict[str, str],
    codes: tuple[str, ...],
    *,
    publish: Publish,
    wait: Wait,
) -> Any:
    """The customer shows ``codes`` at the counter, the last one right: the order, completed."""
    db, orders_db = dbs
    order_id, store = ids["order_id"], ids["location_id"]
    for code in codes:
        collected = Collected(**ids, performed_at=datetime.now(UTC), pickup_code=code)
        await publish(
            env["KAFKA_BOOTSTRAP_SERVERS"],
            "oms.staff-actions",
            [_staff(collected, order_id, store)],
        )
    await wait(
        "the work to be COLLECTED", lambda: _status(db, ids["fulfilment_order_id"], "COLLECTED")
    )
    return await wait(
        "the pickup order to complete",
        lambda: orders_db.fetchrow(
            "SELECT status, payment_status FROM orders WHERE order_id = $1"
            " AND status = 'COMPLETED'",
            order_id,
        ),
    )


async def collect_at_store(
    env: dict[str, str],
    orders_db: Any,
    order: tuple[str, str, bytes],
    *,
    publish: Publish,
    wait: Wait,
) -> None:
    """A click & collect order: the Berlin store packs it and sets it aside with a pickup
    code; the customer shows a wrong code, then the right one, and the order completes."""
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    async with _placed(env, order, publish, wait) as (db, work):
        order_id = work["order_id"]
        fo_id, store = work["fulfilment_order_id"], work["location_id"]
        ids = {
            "order_id": order_id,
            "fulfilment_order_id": fo_id,
            "location_id": store,
            "staff_id": "staff-be-02",
        }
        lines = tuple(LineQuantity(**line) for line in json.loads(work["lines"]))
        print(f"\n7. a click & collect order for {store} was released there ({fo_id}):")
        for action in (
            FulfilmentAccepted(**ids, performed_at=datetime.now(UTC)),
            PickStarted(**ids, performed_at=datetime.now(UTC)),
            ParcelPacked(
                **ids,
                performed_at=datetime.now(UTC),
                parcels=(Parcel(parcel_id="bag-1", box="BAG-M", weight_grams=700, lines=lines),),
            ),
        ):
            await publish(bootstrap, "oms.staff-actions", [_staff(action, order_id, store)])
        ready = await _ready(db, fo_id, wait)
        print(
            f"   accepted, picked, packed -> READY_FOR_PICKUP (ReadyForPickup: code"
            f" {ready['pickup_code']}, held until {ready['hold_until']:%Y-%m-%d %H:%M} UTC)"
        )
        order_row = await _collected(
            env,
            (db, orders_db),
            ids,
            ("WRONG123", ready["pickup_code"]),
            publish=publish,
            wait=wait,
        )
        refusal = await db.fetchval(
            "SELECT reason FROM refused_actions WHERE fulfilment_order_id = $1", fo_id
        )
        print(
            f"   the customer showed a wrong code first (refused: {refusal}), then the right"
            f" one -> COLLECTED; order {order_row['status']}, payment"
            f" {order_row['payment_status']} (captured when set aside)"
        )


async def ship_to_store(
    env: dict[str, str],
    orders_db: Any,
    order: tuple[str, str, bytes],
    *,
    publish: Publish,
    wait: Wait,
) -> None:
    """A ship-to-store order: Hamburg ships it to the Berlin store, which receives the parcel
    and sets it aside with a pickup code; the customer collects it with the code."""
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    async with _placed(env, order, publish, wait) as (db, work):
        order_id = work["order_id"]
        fo_id, warehouse = work["fulfilment_order_id"], work["location_id"]
        at = {"order_id": order_id, "fulfilment_order_id": fo_id}
        lines = tuple(LineQuantity(**line) for line in json.loads(work["lines"]))
        here = {**at, "location_id": warehouse, "staff_id": "staff-hh-11"}
        parcel = Parcel(parcel_id="p-1", box="M-30x20x15", weight_grams=600, lines=lines)
        for action in (
            FulfilmentAccepted(**here, performed_at=datetime.now(UTC)),
            PickStarted(**here, performed_at=datetime.now(UTC)),
            ParcelPacked(**here, performed_at=datetime.now(UTC), parcels=(parcel,)),
            # Rate shopping chose the carrier to the store and printed its label.
            HandedOver(**here, performed_at=datetime.now(UTC)),
        ):
            await publish(bootstrap, "oms.staff-actions", [_staff(action, order_id, warehouse)])
        await wait("the work to be SHIPPED", lambda: _status(db, fo_id, "SHIPPED"))
        tracking = await db.fetchval(
            "SELECT tracking_number FROM labels WHERE fulfilment_order_id = $1"
            " AND kind = 'outbound' ORDER BY parcel_id LIMIT 1",
            fo_id,
        )
        print(f"\n8. a ship-to-store order: {warehouse} shipped it to store-berlin ({tracking})")
        store = {**at, "location_id": "store-berlin", "staff_id": "staff-be-02"}
        received = ReceivedAtStore(**store, performed_at=datetime.now(UTC))
        await publish(bootstrap, "oms.staff-actions", [_staff(received, order_id, "store-berlin")])
        ready = await _ready(db, fo_id, wait)
        print(
            f"   the store scanned the parcel in -> READY_FOR_PICKUP (code {ready['pickup_code']},"
            f" held until {ready['hold_until']:%Y-%m-%d %H:%M} UTC)"
        )
        order_row = await _collected(
            env, (db, orders_db), store, (ready["pickup_code"],), publish=publish, wait=wait
        )
        print(
            f"   collected with the code -> COLLECTED; order {order_row['status']}, payment"
            f" {order_row['payment_status']} (captured when it left {warehouse})"
        )


async def _both_works(db: Any, order_id: str) -> Any:
    rows = await db.fetch(
        "SELECT order_id, fulfilment_order_id, location_id, lines FROM fulfilment_orders"
        " WHERE order_id = $1 ORDER BY location_id",
        order_id,
    )
    return rows if len(rows) == 2 else None


async def ship_split(
    env: dict[str, str],
    orders_db: Any,
    order: tuple[str, str, bytes],
    *,
    publish: Publish,
    wait: Wait,
) -> None:
    """A web order of a T-shirt and jeans, which no location has both of: sourcing splits it,
    each location packs and hands over its own part under its own label, and the order is
    captured in full once the second part has left."""
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    order_id, key, record = order
    await publish(bootstrap, "oms.channel-order-intake", [(key, record)])
    db = await asyncpg.connect(env["OMS_SHIPPING_DATABASE_URL"])
    try:
        works = await wait(
            "the split order's two fulfilment orders", lambda: _both_works(db, order_id)
        )
        print(f"\n9. a web order of a T-shirt and jeans ({order_id}): no location has both,")
        print("   so sourcing split it and each location ships its own part:")
        for work in works:
            fo_id, location = work["fulfilment_order_id"], work["location_id"]
            lines = tuple(LineQuantity(**line) for line in json.loads(work["lines"]))
            ids = {
                "order_id": order_id,
                "fulfilment_order_id": fo_id,
                "location_id": location,
                "staff_id": f"staff-{location}",
            }
            weight = 300 + sum(650 if line.sku == "SKU-JEANS-32" else 180 for line in lines)
            parcel = Parcel(parcel_id="p-1", box="L-40x30x20", weight_grams=weight, lines=lines)
            for action, status in (
                (FulfilmentAccepted(**ids, performed_at=datetime.now(UTC)), "ACCEPTED"),
                (PickStarted(**ids, performed_at=datetime.now(UTC)), "PICKING"),
                (
                    ParcelPacked(**ids, performed_at=datetime.now(UTC), parcels=(parcel,)),
                    "PACKED",
                ),
                (HandedOver(**ids, performed_at=datetime.now(UTC)), "SHIPPED"),
            ):
                await publish(bootstrap, "oms.staff-actions", [_staff(action, order_id, location)])
                await wait(f"{fo_id} to be {status}", lambda s=status, f=fo_id: _status(db, f, s))
            label = await db.fetchrow(
                "SELECT carrier, tracking_number FROM labels WHERE fulfilment_order_id = $1"
                " AND kind = 'outbound'",
                fo_id,
            )
            skus = ", ".join(f"{line.quantity} x {line.sku}" for line in lines)
            print(
                f"   {location:<11} {skus:<18} -> SHIPPED by {label['carrier']}"
                f" ({label['tracking_number']})"
            )
        shipped = await wait(
            "the split order to be fulfilled",
            lambda: orders_db.fetchrow(
                "SELECT status, payment_status, captured_minor FROM orders WHERE order_id = $1"
                " AND status = 'FULFILLED'",
                order_id,
            ),
        )
        print(
            f"   order {order_id}: {shipped['status']}, payment {shipped['payment_status']}"
            f" ({shipped['captured_minor'] / 100:.2f} EUR, one capture per shipment)"
        )
    finally:
        await db.close()
