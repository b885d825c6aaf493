"""Units of a line canceled after its order was released, with the order, inventory,
orchestration and shipping services running as OS processes on the real broker and
database: the location's work, pick list and wave lose them, packing them is refused, the
rest ships to the door, the capture takes only what remains and inventory gives the canceled
unit's hold back once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from oms_events.values import LineQuantity
from oms_order.domain.identity import order_id_for
from oms_runtime import key_digest
from tests.support.inventory import HAMBURG, TSHIRT, events_until, import_catalogue, send
from tests.support.orchestration import stock_received_and_seen, write_sourcing
from tests.support.orders import (
    CHANNEL,
    customer_service_cancels,
    encoded,
    order_in_status,
    order_submitted,
)
from tests.support.shipping import (
    fulfilment_order,
    label_tracking_number,
    now,
    scan,
    send_scans,
    staff_call,
)
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

KEY = "hh-devices-key"
STAFF = {"staff_id": "staff-17"}
# 3 T-shirts at 25.00 with 19 % VAT (89.25) and 4.95 shipping; one T-shirt is 29.75.
GRAND_TOTAL, ONE_SHIRT = 9_420, 2_975


def _parcel(quantity: int) -> dict[str, Any]:
    return {
        "parcels": [
            {
                "parcel_id": "p-1",
                "box": "M-30x20x15",
                "weight_grams": 800,
                "lines": [{"line_id": "1", "sku": TSHIRT, "quantity": quantity}],
            }
        ],
        **STAFF,
    }


async def _world(env: Env, tmp_path: Path) -> str:
    """Every service the order meets, ready, with ten T-shirts at Hamburg; the shipping
    staff API's URL."""
    await import_catalogue(env, tmp_path)
    shipping = await env.service(
        "shipping", OMS_SHIPPING_API_KEYS=json.dumps({key_digest(KEY): {"location": HAMBURG}})
    )
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service("orchestration", OMS_SOURCING_CONFIG=write_sourcing(tmp_path)),
        shipping,
    ]
    for service in services:
        await service.wait_ready()
    await stock_received_and_seen(env, TSHIRT, HAMBURG, 10)
    return shipping.url


async def test_a_unit_canceled_after_release_is_neither_picked_packed_shipped_nor_paid(
    env: Env, tmp_path: Path
) -> None:
    url = await _world(env, tmp_path)
    external = "CL-1"
    submitted = order_submitted(external, lines=[(TSHIRT, 3)])
    await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:{external}", encoded(submitted))])
    order_id = order_id_for(CHANNEL, external)
    await order_in_status(env, order_id, "RELEASED")
    fo = await fulfilment_order(env, order_id, "CREATED")
    fo_id = fo["fulfilment_order_id"]
    assert json.loads(fo["lines"])[0]["quantity"] == 3

    one = LineQuantity(line_id="1", sku=TSHIRT, quantity=1)
    await customer_service_cancels(env, order_id, "customer wants two", one)

    async def two_left() -> dict[str, Any] | None:
        status, view = await staff_call(url, "GET", f"/v1/fulfilment-orders/{fo_id}", KEY)
        return view if status == 200 and view["lines"][0]["quantity"] == 2 else None

    view = await wait_for(two_left, what="the location to hear of the canceled T-shirt")
    assert view["canceled_lines"] == [{"line_id": "1", "sku": TSHIRT, "quantity": 1}]
    status, picks = await staff_call(url, "GET", f"/v1/fulfilment-orders/{fo_id}/pick-list", KEY)
    assert status == 200, picks
    assert [(p["sku"], p["quantity"]) for p in picks["picks"]] == [(TSHIRT, 2)]
    path = f"/v1/fulfilment-orders/{fo_id}"
    assert (await staff_call(url, "POST", f"{path}/accept", KEY, STAFF))[0] == 200
    status, wave = await staff_call(url, "GET", f"/v1/locations/{HAMBURG}/pick-wave", KEY)
    assert status == 200, wave
    assert [(p["sku"], p["quantity"]) for p in wave["picks"]] == [(TSHIRT, 2)]
    assert (await staff_call(url, "POST", f"{path}/start-picking", KEY, STAFF))[0] == 200

    status, problem = await staff_call(url, "POST", f"{path}/pack", KEY, _parcel(3))
    assert (status, problem["code"]) == (409, "units_canceled")
    status, packed = await staff_call(url, "POST", f"{path}/pack", KEY, _parcel(2))
    assert (status, packed["status"]) == (200, "PACKED")
    status, shipped = await staff_call(url, "POST", f"{path}/hand-over", KEY, STAFF)
    assert (status, shipped["status"]) == (200, "SHIPPED")
    tracking = await label_tracking_number(env, fo_id)
    start = now()
    await send_scans(
        env,
        scan(tracking, "PU", start + timedelta(minutes=1)),
        scan(tracking, "DL", start + timedelta(minutes=2)),
    )

    completed = await order_in_status(env, order_id, "COMPLETED")
    assert (completed["payment_status"], completed["captured_minor"]) == (
        "CAPTURED",
        GRAND_TOTAL - ONE_SHIRT,
    )
    captures = await env.fetch(
        "order",
        "SELECT c.amount_minor FROM sandbox_captures c JOIN sandbox_authorizations a"
        " USING (authorization_id) WHERE a.reference = $1",
        order_id,
    )
    assert [c["amount_minor"] for c in captures] == [GRAND_TOTAL - ONE_SHIRT]

    # Inventory: the canceled T-shirt's hold given back once, the two shipped committed.
    released = await events_until(env, "oms.inventory", 1, "ReservationReleased")
    assert [e.payload.quantity for e in released if e.payload.order_id == order_id] == [1]
    reservations = await env.fetch(
        "inventory",
        "SELECT status, quantity, committed FROM reservations WHERE order_id = $1",
        order_id,
    )
    assert [tuple(r) for r in reservations] == [("committed", 2, 2)]
    [stock] = await env.fetch(
        "inventory",
        "SELECT on_hand, reserved FROM stock WHERE sku = $1 AND location_id = $2",
        TSHIRT,
        HAMBURG,
    )
    assert (stock["on_hand"], stock["reserved"]) == (8, 0)
    sourcing = await events_until(env, "oms.sourcing", 1, "FulfilmentOrderLinesCanceled")
    assert [e.payload.lines[0].quantity for e in sourcing] == [1]
