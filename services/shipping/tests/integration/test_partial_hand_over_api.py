"""Partial hand-overs over the staff API, the shipping service as an OS process on the real
broker and database: named parcels leave now, the rest later, each hand-over its own
shipment; a parcel that left or was never packed answers 409 and is kept; a parcel that
left gets its return label and appears on the manifest while the rest of its work waits."""

from __future__ import annotations

import pytest

from oms_events.values import LineQuantity
from oms_runtime import key_digest
from tests.support.inventory import HAMBURG, TSHIRT, events_until
from tests.support.shipping import fulfilment_order, released, send_released, staff_call
from tests.support.world import Env

pytestmark = pytest.mark.integration

KEY = "hh-devices-key"
API_KEYS = f'{{"{key_digest(KEY)}": {{"location": "{HAMBURG}"}}}}'
ONE = LineQuantity(line_id="1", sku=TSHIRT, quantity=1).model_dump()
STAFF = {"staff_id": "s-7"}


async def test_parcels_handed_over_apart_over_http(env: Env) -> None:
    shipping = await env.service("shipping", OMS_SHIPPING_API_KEYS=API_KEYS)
    await shipping.wait_ready()
    await send_released(env, released("ord-part-1", "fo-part-1"))
    await fulfilment_order(env, "ord-part-1", "CREATED")
    url, fo = shipping.url, "/v1/fulfilment-orders/fo-part-1"
    parcels = [
        {"parcel_id": p, "box": "M-30x20x15", "weight_grams": 400, "lines": [ONE]}
        for p in ("p-1", "p-2")
    ]
    for path, body in (
        ("/accept", STAFF),
        ("/start-picking", STAFF),
        ("/pack", {**STAFF, "parcels": parcels}),
    ):
        status, answer = await staff_call(url, "POST", fo + path, KEY, body)
        assert status == 200, answer

    status, now = await staff_call(
        url, "POST", fo + "/hand-over", KEY, {**STAFF, "parcel_ids": ["p-2"]}
    )
    assert (status, now["status"]) == (200, "PARTIALLY_SHIPPED")
    [shipment] = now["shipments"]
    assert (shipment["shipment_id"], shipment["parcel_ids"], shipment["lines"]) == (
        "shp-fo-part-1",
        ["p-2"],
        [ONE],
    )
    status, listed = await staff_call(
        url, "GET", "/v1/fulfilment-orders?status=PARTIALLY_SHIPPED", KEY
    )
    assert [f["fulfilment_order_id"] for f in listed["fulfilment_orders"]] == ["fo-part-1"]

    # A parcel that left, or one never packed: refused, kept, nothing published.
    for parcel_ids, code in ((["p-2"], "parcel_already_shipped"), (["p-9"], "unknown_parcel")):
        status, problem = await staff_call(
            url, "POST", fo + "/hand-over", KEY, {**STAFF, "parcel_ids": parcel_ids}
        )
        assert (status, problem["code"]) == (409, code)
    # The parcel that left has its return label; the one still here not yet.
    status, back = await staff_call(url, "POST", fo + "/parcels/p-2/return-label", KEY)
    assert (status, back["kind"]) == (200, "return")
    status, problem = await staff_call(url, "POST", fo + "/parcels/p-1/return-label", KEY)
    assert (status, problem["code"]) == (409, "not_shipped")
    status, manifest = await staff_call(url, "GET", f"/v1/manifests/{HAMBURG}/dhl", KEY)
    assert [p["parcel_id"] for p in manifest["parcels"]] == ["p-2"]

    # The rest leaves: the second shipment, and the work SHIPPED.
    status, now = await staff_call(url, "POST", fo + "/hand-over", KEY, STAFF)
    assert (status, now["status"]) == (200, "SHIPPED")
    assert [(s["shipment_id"], s["parcel_ids"]) for s in now["shipments"]] == [
        ("shp-fo-part-1", ["p-2"]),
        ("shp-fo-part-1-2", ["p-1"]),
    ]
    shipped = await events_until(env, "oms.shipments", 2, "ShipmentShipped")
    assert [(e.payload.shipment_id, e.payload.parcels[0].parcel_id) for e in shipped] == [
        ("shp-fo-part-1", "p-2"),
        ("shp-fo-part-1-2", "p-1"),
    ]
    refusals = await env.fetch(
        "shipping",
        "SELECT action, reason FROM refused_actions WHERE order_id = 'ord-part-1' ORDER BY taken",
    )
    assert [tuple(r) for r in refusals] == [
        ("hand_over", "parcel_already_shipped"),
        ("hand_over", "unknown_parcel"),
        ("return_label", "not_shipped"),
    ]
