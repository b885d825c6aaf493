"""The staff API on the real broker and database, the shipping service as an OS process:
a location's key sees and works only its own fulfilment orders, an action applies at once
(its event published), an action out of place answers 409 with the refusal's code and is
kept, and bad requests get specific problems."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oms_events.codec import encode, new_event
from oms_events.fulfilment import FulfilmentAccepted
from oms_events.values import DeliveryMethod, LineQuantity
from oms_runtime import key_digest
from tests.support.inventory import BERLIN, HAMBURG, TSHIRT, events_until, send
from tests.support.shipping import (
    fulfilment_order,
    label_tracking_number,
    released,
    send_released,
    staff_call,
)
from tests.support.world import Env

pytestmark = pytest.mark.integration

HAMBURG_KEY, BERLIN_KEY, OPS_KEY = "hh-devices-key", "be-devices-key", "ops-key"
API_KEYS = (
    "{"
    f'"{key_digest(HAMBURG_KEY)}": {{"location": "{HAMBURG}"}},'
    f'"{key_digest(BERLIN_KEY)}": {{"location": "{BERLIN}"}},'
    f'"{key_digest(OPS_KEY)}": {{"role": "operator", "actor_id": "ops-1"}}'
    "}"
)
LINES = (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),)


async def test_a_locations_devices_work_its_orders_over_http(env: Env) -> None:
    shipping = await env.service("shipping", OMS_SHIPPING_API_KEYS=API_KEYS)
    await shipping.wait_ready()
    await send_released(env, released("ord-api-1", "fo-ord-api-1"))
    await fulfilment_order(env, "ord-api-1", "CREATED")
    url, fo = shipping.url, "/v1/fulfilment-orders/fo-ord-api-1"

    status, listed = await staff_call(
        url, "GET", "/v1/fulfilment-orders?status=CREATED", HAMBURG_KEY
    )
    assert status == 200
    assert [f["fulfilment_order_id"] for f in listed["fulfilment_orders"]] == ["fo-ord-api-1"]
    assert listed["fulfilment_orders"][0]["lines"] == [
        {"line_id": "1", "sku": TSHIRT, "quantity": 2}
    ]
    # Another location's devices neither see nor work it; nor list another location.
    assert (await staff_call(url, "GET", "/v1/fulfilment-orders", BERLIN_KEY))[1] == {
        "fulfilment_orders": []
    }
    status, problem = await staff_call(url, "POST", fo + "/accept", BERLIN_KEY, {"staff_id": "s-1"})
    assert (status, problem["code"]) == (404, "not_found")
    status, problem = await staff_call(
        url, "GET", f"/v1/fulfilment-orders?location_id={HAMBURG}", BERLIN_KEY
    )
    assert (status, problem["code"]) == (403, "forbidden")
    assert (await staff_call(url, "GET", fo, None))[0] == 401

    # Accepted at once, the fact published; packing before picking refused and kept.
    status, accepted = await staff_call(
        url, "POST", fo + "/accept", HAMBURG_KEY, {"staff_id": "s-7"}
    )
    assert (status, accepted["status"]) == (200, "ACCEPTED")
    [published] = await events_until(env, "oms.shipments", 1, "FulfilmentOrderAccepted")
    assert published.payload.fulfilment_order_id == "fo-ord-api-1"
    parcel = {
        "parcel_id": "p-1",
        "box": "M-30x20x15",
        "weight_grams": 800,
        "lines": [LINES[0].model_dump()],
    }
    status, problem = await staff_call(
        url, "POST", fo + "/pack", HAMBURG_KEY, {"staff_id": "s-7", "parcels": [parcel]}
    )
    assert (status, problem["code"]) == (409, "pack_before_pick")
    refusals = await env.fetch(
        "shipping", "SELECT action, reason FROM refused_actions WHERE order_id = 'ord-api-1'"
    )
    assert [tuple(r) for r in refusals] == [("pack", "pack_before_pick")]

    # Bad bodies get specific problems and change nothing.
    status, problem = await staff_call(url, "POST", fo + "/start-picking", HAMBURG_KEY, {})
    assert (status, problem["code"]) == (422, "invalid_request")
    status, problem = await staff_call(
        url, "POST", fo + "/hand-over", OPS_KEY, {"staff_id": "s-7", "tracking_numbers": "T"}
    )
    assert (status, problem["code"]) == (422, "invalid_request")

    # The rest of the day over HTTP, an operator's key works any location.
    for path, body in (
        ("/start-picking", {"staff_id": "s-7"}),
        ("/pack", {"staff_id": "s-7", "parcels": [parcel]}),
    ):
        status, now = await staff_call(url, "POST", fo + path, OPS_KEY, body)
        assert status == 200, now
    assert (now["status"], now["policy"], now["promise_at_risk"]) == (
        "PACKED",
        "cheapest_meeting_promise",
        False,
    )
    # Handed over under another number than the label's: refused; under the label: shipped.
    tracking = await label_tracking_number(env, "fo-ord-api-1")
    typed = {"staff_id": "s-7", "carrier": "dhl", "tracking_numbers": ["T-API-1"]}
    status, problem = await staff_call(url, "POST", fo + "/hand-over", OPS_KEY, typed)
    assert (status, problem["code"]) == (409, "not_the_labels")
    status, now = await staff_call(url, "POST", fo + "/hand-over", OPS_KEY, {"staff_id": "s-7"})
    assert (status, now["status"], now["carrier"], now["tracking_numbers"]) == (
        200,
        "SHIPPED",
        "dhl",
        [tracking],
    )
    [shipped] = await events_until(env, "oms.shipments", 1, "ShipmentShipped")
    assert shipped.payload.lines == LINES


async def test_the_pickup_store_receives_ship_to_store_work_and_hands_it_over(env: Env) -> None:
    shipping = await env.service("shipping", OMS_SHIPPING_API_KEYS=API_KEYS)
    await shipping.wait_ready()
    to_store = released("ord-api-2", "fo-ord-api-2").model_copy(
        update={
            "delivery_method": DeliveryMethod.SHIP_TO_STORE,
            "pickup_store_id": BERLIN,
            "shipping_address": None,
        }
    )
    await send_released(env, to_store)
    await fulfilment_order(env, "ord-api-2", "CREATED")
    url, fo = shipping.url, "/v1/fulfilment-orders/fo-ord-api-2"
    parcel = {
        "parcel_id": "p-1",
        "box": "M-30x20x15",
        "weight_grams": 800,
        "lines": [LINES[0].model_dump()],
    }
    status, problem = await staff_call(
        url, "POST", fo + "/receive", BERLIN_KEY, {"staff_id": "s-2"}
    )
    assert (status, problem["code"]) == (409, "not_shipped")
    for path, body in (
        ("/accept", {"staff_id": "s-7"}),
        ("/start-picking", {"staff_id": "s-7"}),
        ("/pack", {"staff_id": "s-7", "parcels": [parcel]}),
        ("/hand-over", {"staff_id": "s-7"}),  # the label's carrier and tracking number
    ):
        status, now = await staff_call(url, "POST", fo + path, HAMBURG_KEY, body)
        assert status == 200, now

    # On its way: the store lists it; only the store receives it, once.
    status, listed = await staff_call(
        url, "GET", "/v1/fulfilment-orders?status=SHIPPED", BERLIN_KEY
    )
    assert [
        (f["fulfilment_order_id"], f["pickup_store_id"]) for f in listed["fulfilment_orders"]
    ] == [("fo-ord-api-2", BERLIN)]
    status, problem = await staff_call(
        url, "POST", fo + "/receive", HAMBURG_KEY, {"staff_id": "s-7"}
    )
    assert (status, problem["code"]) == (409, "wrong_location")
    status, now = await staff_call(url, "POST", fo + "/receive", BERLIN_KEY, {"staff_id": "s-2"})
    assert (status, now["status"]) == (200, "READY_FOR_PICKUP")
    status, problem = await staff_call(
        url, "POST", fo + "/receive", BERLIN_KEY, {"staff_id": "s-2"}
    )
    assert (status, problem["code"]) == (409, "already_received")
    [ready] = await events_until(env, "oms.shipments", 1, "ReadyForPickup")
    assert (ready.payload.location_id, ready.payload.shipment_id) == (BERLIN, "shp-fo-ord-api-2")

    body = {"staff_id": "s-2", "pickup_code": ready.payload.pickup_code}
    status, now = await staff_call(url, "POST", fo + "/collect", BERLIN_KEY, body)
    assert (status, now["status"]) == (200, "COLLECTED")
    refusals = await env.fetch(
        "shipping",
        "SELECT action, reason FROM refused_actions WHERE order_id = 'ord-api-2' ORDER BY taken",
    )
    assert [tuple(r) for r in refusals] == [
        ("receive", "not_shipped"),
        ("receive", "wrong_location"),
        ("receive", "already_received"),
    ]


async def test_an_action_that_only_claims_the_staff_api_s_source_is_applied(env: Env) -> None:
    # The live consumer skips the actions the staff API took, known by their ids; a staff app
    # that writes the API's source on its own action does not get it skipped.
    shipping = await env.service("shipping", OMS_SHIPPING_API_KEYS=API_KEYS)
    await shipping.wait_ready()
    await send_released(env, released("ord-api-3", "fo-ord-api-3"))
    await fulfilment_order(env, "ord-api-3", "CREATED")
    accept = FulfilmentAccepted(
        order_id="ord-api-3",
        fulfilment_order_id="fo-ord-api-3",
        location_id=HAMBURG,
        staff_id="s-9",
        performed_at=datetime.now(UTC),
    )
    claimed = new_event(accept, subject="ord-api-3", source="oms/shipping", correlation_id="c")
    await send(env, "oms.staff-actions", [("ord-api-3", encode(claimed))])
    await fulfilment_order(env, "ord-api-3", "ACCEPTED")
    taken = await env.fetch("shipping", "SELECT 1 FROM staff_api_actions")
    assert taken == []
