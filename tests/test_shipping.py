"""The shipping service on the real broker and database, as an OS process: an order taken from
release to completion by its staff's actions and its carrier's scans (with the order,
inventory and orchestration services running), refused and dead-lettered staff actions, and
scans out of order."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oms_events.codec import encode, new_event
from oms_events.fulfilment import PickStarted
from oms_events.inventory import StockReceived
from oms_events.sourcing import FulfilmentOrderCreated
from oms_events.values import Address, DeliveryMethod, LineQuantity, LocationType
from oms_order.domain.identity import order_id_for
from tests.conftest import Env
from tests.support.inventory import HAMBURG, TSHIRT, events_until, feed, import_catalogue, send
from tests.support.orchestration import SOURCING, write_sourcing
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.shipping import (
    STAFF,
    fulfilment_order,
    now,
    scan,
    send_scans,
    send_staff,
    work_through,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


async def _place(env: Env, external: str, quantity: int) -> str:
    submitted = order_submitted(external, lines=[(TSHIRT, quantity)])
    await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:{external}", encoded(submitted))])
    return order_id_for(CHANNEL, external)


async def _order(env: Env, order_id: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        rows = await env.fetch(
            "order", "SELECT status, payment_status FROM orders WHERE order_id = $1", order_id
        )
        return dict(rows[0]) if rows and rows[0]["status"] == status else None

    return await wait_for(probe, timeout=60, what=f"{order_id} to be {status}")


async def _orchestration_fulfilment(env: Env, order_id: str) -> list[tuple[str, str]]:
    rows = await env.fetch(
        "orchestration",
        "SELECT location_id, status FROM fulfilment_orders WHERE order_id = $1",
        order_id,
    )
    return [(r["location_id"], r["status"]) for r in rows]


async def test_staff_and_carrier_take_a_released_order_to_completed_never_rerouted(
    env: Env, tmp_path: Path
) -> None:
    config = copy.deepcopy(SOURCING)
    config["profiles"][0]["accept_within_s"] = 10  # the shortest deadline a profile may set
    await import_catalogue(env, tmp_path)
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service(
            "orchestration",
            OMS_SOURCING_CONFIG=write_sourcing(tmp_path, config),
            OMS_DEADLINE_SWEEP_S="0.5",
        ),
        await env.service("shipping"),
    ]
    for service in services:
        await service.wait_ready()
    await feed(
        env,
        StockReceived(
            sku=TSHIRT,
            location_id=HAMBURG,
            receipt_id="rcv-1",
            quantity=10,
            received_at=now(),
        ),
    )

    async def stock_seen() -> bool:
        rows = await env.fetch(
            "orchestration",
            "SELECT available FROM availability WHERE sku = $1 AND location_id = $2",
            TSHIRT,
            HAMBURG,
        )
        return bool(rows) and rows[0]["available"] == 10

    await wait_for(stock_seen, what="orchestration to see the T-shirts")

    # A home-delivery order placed on the intake topic is released to Hamburg.
    order_id = await _place(env, "E2E-1", 2)
    await _order(env, order_id, "RELEASED")
    fo = await fulfilment_order(env, order_id, "CREATED")
    assert fo["location_id"] == HAMBURG
    start = now() - timedelta(minutes=30)
    accept, pick, pack, hand_over = work_through(
        fo, (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),), "00340434100001", start
    )
    await send_staff(env, accept)

    async def accepted_by_orchestration() -> bool:
        return await _orchestration_fulfilment(env, order_id) == [(HAMBURG, "accepted")]

    await wait_for(accepted_by_orchestration, what="orchestration to hear of the acceptance")

    # A second order, released later, is not accepted: once its later deadline has been
    # swept (it is called off at Hamburg), the first one's deadline has passed too.
    control = await _place(env, "E2E-2", 1)
    await fulfilment_order(env, control, "CREATED")
    await fulfilment_order(env, control, "CANCELED")
    assert await _orchestration_fulfilment(env, order_id) == [(HAMBURG, "accepted")]
    assert (await fulfilment_order(env, order_id))["status"] == "ACCEPTED"

    # The rest of the staff's day, then the carrier's scans.
    await send_staff(env, pick, pack, hand_over)
    await fulfilment_order(env, order_id, "SHIPPED")
    await send_scans(
        env,
        scan("00340434100001", "PU", start + timedelta(minutes=10)),
        scan("00340434100001", "OD", start + timedelta(minutes=20)),
        scan("00340434100001", "DL", start + timedelta(minutes=25)),
    )
    completed = await _order(env, order_id, "COMPLETED")
    assert completed["payment_status"] == "CAPTURED"
    await fulfilment_order(env, order_id, "DELIVERED")

    async def committed() -> list[Any]:
        rows = await env.fetch(
            "inventory",
            "SELECT status, quantity FROM reservations WHERE order_id = $1",
            order_id,
        )
        return [tuple(r) for r in rows] if rows and rows[0]["status"] == "committed" else []

    assert await wait_for(committed, what="the stock committed") == [("committed", 2)]
    published = await events_until(env, "oms.shipments", 6)
    assert [e.envelope.type for e in published if e.envelope.subject == order_id] == [
        "FulfilmentOrderAccepted",
        "Packed",
        "ShipmentShipped",
        "InTransit",
        "OutForDelivery",
        "Delivered",
    ]
    # Never rerouted: the one fulfilment order, accepted, no reroute on oms.sourcing.
    sourcing = await events_until(env, "oms.sourcing", 1, "FulfilmentOrderCreated")
    assert [e.payload.order_id for e in sourcing].count(order_id) == 1
    assert await _orchestration_fulfilment(env, order_id) == [(HAMBURG, "accepted")]


def _created(order_id: str, fulfilment_order_id: str) -> FulfilmentOrderCreated:
    return FulfilmentOrderCreated(
        order_id=order_id,
        fulfilment_order_id=fulfilment_order_id,
        location_id=HAMBURG,
        location_type=LocationType.WAREHOUSE,
        delivery_method=DeliveryMethod.HOME_DELIVERY,
        lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=2),),
        shipping_address=Address(
            name="Erika Mustermann",
            line1="Heidestrasse 17",
            city="Koeln",
            postal_code="51147",
            country="DE",
        ),
        accept_by=datetime.now(UTC) + timedelta(hours=1),
    )


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
    created = _created(order_id, "fo-ship-1")
    await send(
        env,
        "oms.sourcing",
        [
            (
                order_id,
                encode(
                    new_event(
                        created, subject=order_id, source="oms/orchestration", correlation_id="c"
                    )
                ),
            )
        ],
    )
    fo = await fulfilment_order(env, order_id, "CREATED")
    start = now() - timedelta(hours=3)
    lines = (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),)
    accept, pick, pack, hand_over = work_through(fo, lines, "TRK-1", start)
    ids = {"order_id": order_id, "location_id": HAMBURG, "staff_id": STAFF}
    ghost = PickStarted(**ids, fulfilment_order_id="fo-nobody", performed_at=start)
    # Picking before accepting, packing before picking: refused, kept, and the rest goes on.
    await send_staff(env, pick, ghost, accept, pack, pick, pack, hand_over, accept)
    await fulfilment_order(env, order_id, "SHIPPED")

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
        scan("TRK-1", "OD", start + timedelta(hours=1)),
        scan("TRK-1", "PU", start + timedelta(minutes=30)),
        scan("TRK-UNKNOWN", "DL", start + timedelta(hours=1)),
        scan("TRK-1", "ZZ", start + timedelta(hours=1)),
        scan("TRK-1", "NA", start + timedelta(hours=2)),
        scan("TRK-1", "DL", start + timedelta(hours=2, minutes=30)),
        scan("TRK-1", "OD", start + timedelta(hours=2, minutes=40)),
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
        "shipping", "SELECT status FROM parcels WHERE tracking_number = $1", "TRK-1"
    )
    assert parcel[0]["status"] == "delivered"
    published = await events_until(env, "oms.shipments", 6)
    assert [e.envelope.type for e in published] == [
        "FulfilmentOrderAccepted",
        "Packed",
        "ShipmentShipped",
        "OutForDelivery",
        "DeliveryException",
        "Delivered",
    ]
    assert {e.payload.shipment_id for e in published[2:]} == {"shp-fo-ship-1"}
