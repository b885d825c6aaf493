"""An order's parcels handed over at different times, with the order, inventory,
orchestration, shipping and notification services running as OS processes on the real
broker and database: each hand-over is a shipment, captured, committed, told and delivered
on its own; the order is fulfilled with its last parcel and completed with its last
delivery."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from oms_events.fulfilment import HandedOver, Parcel, ShipmentShipped
from oms_events.values import LineQuantity
from oms_order.domain.identity import order_id_for
from tests.support.inventory import (
    HAMBURG,
    MUG,
    TSHIRT,
    events_until,
    send,
)
from tests.support.orchestration import stock_received_and_seen
from tests.support.orders import CHANNEL, encoded, order_in_status, order_submitted
from tests.support.services import every_service
from tests.support.shipping import (
    STAFF,
    fulfilment_order,
    now,
    scan,
    send_scans,
    send_staff,
    work_through,
)
from tests.support.smtp import SmtpServer, text_of
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

SHIRTS = LineQuantity(line_id="1", sku=TSHIRT, quantity=2)
A_MUG = LineQuantity(line_id="2", sku=MUG, quantity=1)
# 2 x 25.00 and 1 x 25.00, each with 19 % VAT; 4.95 shipping.
SHIRTS_MINOR, MUG_MINOR, TOTAL_MINOR = 5950, 2975, 5950 + 2975 + 495


async def _reservations(env: Env, order_id: str) -> dict[str, tuple[str, int]]:
    rows = await env.fetch(
        "inventory",
        "SELECT sku, status, committed FROM reservations WHERE order_id = $1",
        order_id,
    )
    return {r["sku"]: (r["status"], r["committed"]) for r in rows}


async def _labels(env: Env, fulfilment_order_id: str) -> dict[str, str]:
    rows = await env.fetch(
        "shipping",
        "SELECT parcel_id, tracking_number FROM labels WHERE fulfilment_order_id = $1"
        " AND kind = 'outbound'",
        fulfilment_order_id,
    )
    return {r["parcel_id"]: r["tracking_number"] for r in rows}


async def test_two_parcels_leave_apart_each_captured_committed_and_delivered_on_its_own(
    env: Env, smtp: SmtpServer, tmp_path: Path
) -> None:
    await every_service(env, smtp, tmp_path)
    await stock_received_and_seen(env, TSHIRT, HAMBURG, 10)
    await stock_received_and_seen(env, MUG, HAMBURG, 10)

    # Two T-shirts and a mug, released to Hamburg together.
    submitted = order_submitted("PART-1", lines=[(TSHIRT, 2), (MUG, 1)])
    await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:PART-1", encoded(submitted))])
    order_id = order_id_for(CHANNEL, "PART-1")
    fo = await fulfilment_order(env, order_id, "CREATED")
    assert fo["location_id"] == HAMBURG
    fo_id = fo["fulfilment_order_id"]

    # Packed into two parcels: the shirts, and the mug in a box of its own.
    start = now() - timedelta(hours=2)
    accept, pick, pack, _ = work_through(fo, (SHIRTS,), start)
    ids = {k: fo[k] for k in ("order_id", "fulfilment_order_id", "location_id")}
    both = pack.model_copy(
        update={
            "parcels": (
                Parcel(parcel_id="p-1", box="M-30x20x15", weight_grams=800, lines=(SHIRTS,)),
                Parcel(parcel_id="p-2", box="S-25x17x10", weight_grams=600, lines=(A_MUG,)),
            )
        }
    )
    await send_staff(env, accept, pick, both)
    await fulfilment_order(env, order_id, "PACKED")
    numbers = await wait_for(lambda: _labels(env, fo_id), what="both parcels' labels")
    assert sorted(numbers) == ["p-1", "p-2"]

    # The mug leaves first: fulfilled in part, its line's value captured, its stock committed.
    def hand_over(minutes: int, *parcel_ids: str) -> HandedOver:
        at = start + timedelta(minutes=minutes)
        return HandedOver(**ids, staff_id=STAFF, performed_at=at, parcel_ids=parcel_ids)

    await send_staff(env, hand_over(10, "p-2"))
    await fulfilment_order(env, order_id, "PARTIALLY_SHIPPED")
    partly = await order_in_status(env, order_id, "PARTIALLY_FULFILLED")
    assert (partly["payment_status"], partly["captured_minor"]) == (
        "PARTIALLY_CAPTURED",
        MUG_MINOR,
    )

    async def mug_committed() -> dict[str, tuple[str, int]] | None:
        found = await _reservations(env, order_id)
        return found if found.get(MUG, ("", 0))[0] == "committed" else None

    assert await wait_for(mug_committed, what="the mug's stock committed") == {
        MUG: ("committed", 1),
        TSHIRT: ("held", 0),
    }

    # The same parcel handed over again is refused and kept; the mug is delivered meanwhile,
    # which does not complete an order whose shirts are still at the warehouse.
    await send_staff(env, hand_over(11, "p-2"))
    await send_scans(env, scan(numbers["p-2"], "DL", start + timedelta(minutes=50)))

    async def first_delivered() -> bool:
        rows = await env.fetch(
            "order",
            "SELECT delivered_at FROM order_shipments WHERE shipment_id = $1",
            f"shp-{fo_id}",
        )
        return bool(rows) and rows[0]["delivered_at"] is not None

    await wait_for(first_delivered, what="the mug's shipment delivered")
    assert (await order_in_status(env, order_id, "PARTIALLY_FULFILLED"))[
        "captured_minor"
    ] == MUG_MINOR

    # The shirts leave later: fulfilled, the whole authorisation captured, then completed.
    await send_staff(env, hand_over(60))
    await fulfilment_order(env, order_id, "SHIPPED")
    fulfilled = await order_in_status(env, order_id, "FULFILLED")
    assert (fulfilled["payment_status"], fulfilled["captured_minor"]) == ("CAPTURED", TOTAL_MINOR)
    await send_scans(env, scan(numbers["p-1"], "DL", start + timedelta(minutes=90)))
    completed = await order_in_status(env, order_id, "COMPLETED")
    assert (completed["payment_status"], completed["captured_minor"]) == ("CAPTURED", TOTAL_MINOR)
    await fulfilment_order(env, order_id, "DELIVERED")

    async def all_committed() -> dict[str, tuple[str, int]] | None:
        found = await _reservations(env, order_id)
        return found if {s for s, _ in found.values()} == {"committed"} else None

    assert await wait_for(all_committed, what="the shirts' stock committed") == {
        MUG: ("committed", 1),
        TSHIRT: ("committed", 2),
    }
    stock = await env.fetch(
        "inventory",
        "SELECT sku, on_hand, reserved FROM stock WHERE location_id = $1",
        HAMBURG,
    )
    assert {r["sku"]: (r["on_hand"], r["reserved"]) for r in stock} == {
        TSHIRT: (8, 0),
        MUG: (9, 0),
    }

    # Two shipments on the topic, each with its parcel and units; each delivered.
    shipped = [
        e.payload
        for e in await events_until(env, "oms.shipments", 2, "ShipmentShipped")
        if e.envelope.subject == order_id
    ]
    assert all(isinstance(s, ShipmentShipped) for s in shipped)
    assert [(s.shipment_id, s.lines, [p.parcel_id for p in s.parcels]) for s in shipped] == [
        (f"shp-{fo_id}", (A_MUG,), ["p-2"]),
        (f"shp-{fo_id}-2", (SHIRTS,), ["p-1"]),
    ]
    delivered = await events_until(env, "oms.shipments", 2, "Delivered")
    assert sorted(e.payload.shipment_id for e in delivered if e.envelope.subject == order_id) == [
        f"shp-{fo_id}",
        f"shp-{fo_id}-2",
    ]
    captures = await env.fetch(
        "order",
        "SELECT shipment_id, captured_minor, tracking_numbers FROM order_shipments"
        " WHERE order_id = $1 ORDER BY shipped_at",
        order_id,
    )
    assert [tuple(r) for r in captures] == [
        (f"shp-{fo_id}", MUG_MINOR, [numbers["p-2"]]),
        # The shirts and the shipping costs.
        (f"shp-{fo_id}-2", TOTAL_MINOR - MUG_MINOR, [numbers["p-1"]]),
    ]
    refusals = await env.fetch(
        "shipping", "SELECT action, reason FROM refused_actions WHERE order_id = $1", order_id
    )
    assert [tuple(r) for r in refusals] == [("hand_over", "parcel_already_shipped")]

    # The customer hears of each shipment with its own units and tracking number.
    async def both_told() -> list[Any] | None:
        subject = "Ihre Bestellung PART-1 ist unterwegs"
        mails = [m for m in smtp.sink.received() if str(m["Subject"]) == subject]
        return mails if len(mails) == 2 else None

    first, second = (text_of(m) for m in await wait_for(both_told, what="two shipped e-mails"))
    assert f"Sendungsnummer: {numbers['p-2']}" in first and MUG in first and TSHIRT not in first
    assert f"Sendungsnummer: {numbers['p-1']}" in second and TSHIRT in second
