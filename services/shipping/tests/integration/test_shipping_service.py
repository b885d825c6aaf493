"""The shipping service alone on the real broker and database, as an OS process: staff
actions out of order refused and kept, an unknown fulfilment order dead-lettered, and carrier
scans out of order, unknown or unmapped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oms_events.fulfilment import PickStarted
from oms_events.values import LineQuantity
from tests.support.inventory import HAMBURG, TSHIRT, events_until
from tests.support.shipping import (
    STAFF,
    fulfilment_order,
    label_tracking_number,
    now,
    released,
    scan,
    send_released,
    send_scans,
    send_staff,
    work_through,
)
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def _dead_letters(env: Env, topic: str, count: int) -> list[tuple[str, str]]:
    async def probe() -> list[tuple[str, str]] | None:
        rows = await env.fetch(
            "shipping",
            'SELECT reason, event_type FROM oms_dead_letters WHERE topic = $1 ORDER BY "offset"',
            env.topic(topic),
        )
        return [(r["reason"], r["event_type"]) for r in rows] if len(rows) >= count else None

    return await wait_for(probe, what=f"{count} dead letters of {topic}")


async def test_out_of_order_actions_are_refused_and_kept_scans_never_go_back(env: Env) -> None:
    shipping = await env.service("shipping")
    await shipping.wait_ready()
    order_id = "ord-ship-1"
    await send_released(env, released(order_id, "fo-ship-1"))
    fo = await fulfilment_order(env, order_id, "CREATED")
    start = now() - timedelta(hours=3)
    lines = (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),)
    accept, pick, pack, hand_over = work_through(fo, lines, start)
    ids = {"order_id": order_id, "location_id": HAMBURG, "staff_id": STAFF}
    ghost = PickStarted(**ids, fulfilment_order_id="fo-nobody", performed_at=start)
    # Picking before accepting, packing before picking: refused, kept, and the rest goes on.
    await send_staff(env, pick, ghost, accept, pack, pick, pack, hand_over, accept)
    await fulfilment_order(env, order_id, "SHIPPED")
    tracking = await label_tracking_number(env, "fo-ship-1")

    async def refusals() -> list[tuple[str, str]] | None:
        rows = await env.fetch(
            "shipping", "SELECT action, reason FROM refused_actions ORDER BY taken"
        )
        return [(r["action"], r["reason"]) for r in rows] if len(rows) >= 3 else None

    assert await wait_for(refusals, what="three refusals") == [
        ("start_picking", "pick_before_accept"),
        ("pack", "pack_before_pick"),
        ("accept", "already_shipped"),
    ]
    assert await _dead_letters(env, "oms.staff-actions", 1) == [
        ("unknown_fulfilment_order", "PickStarted")
    ]

    # Scans out of order: the older pick-up scan is kept but does not take the parcel back;
    # an unknown tracking number and an unmapped code are dead-lettered.
    await send_scans(
        env,
        scan(tracking, "OD", start + timedelta(hours=1)),
        scan(tracking, "PU", start + timedelta(minutes=30)),
        scan("TRK-UNKNOWN", "DL", start + timedelta(hours=1)),
        scan(tracking, "ZZ", start + timedelta(hours=1)),
        scan(tracking, "NA", start + timedelta(hours=2)),
        scan(tracking, "DL", start + timedelta(hours=2, minutes=30)),
        scan(tracking, "OD", start + timedelta(hours=2, minutes=40)),
    )
    await fulfilment_order(env, order_id, "DELIVERED")
    assert sorted(await _dead_letters(env, "oms.carrier-tracking", 2)) == [
        ("unknown_carrier_status_code", "TrackingUpdateReceived"),
        ("unknown_tracking_number", "TrackingUpdateReceived"),
    ]

    async def scans() -> list[tuple[str, bool, str | None]] | None:
        rows = await env.fetch(
            "shipping",
            "SELECT carrier_status_code, applied, note FROM tracking_updates ORDER BY taken",
        )
        return [tuple(r) for r in rows] if len(rows) >= 5 else None

    assert await wait_for(scans, what="five scans kept") == [
        ("OD", True, None),
        ("PU", False, "older_than_latest"),
        ("NA", True, None),
        ("DL", True, None),
        ("OD", False, "after_final"),
    ]
    parcel = await env.fetch(
        "shipping", "SELECT status FROM parcels WHERE tracking_number = $1", tracking
    )
    assert parcel[0]["status"] == "delivered"
    published = await events_until(env, "oms.shipments", 7)
    assert [e.envelope.type for e in published] == [
        "FulfilmentOrderAccepted",
        "Packed",
        "ReadyToShip",
        "ShipmentShipped",
        "OutForDelivery",
        "DeliveryException",
        "Delivered",
    ]
    assert {e.payload.shipment_id for e in published[2:]} == {"shp-fo-ship-1"}
    assert published[3].payload.tracking_number == tracking
