"""``oms rebuild shipping`` on the real broker and database, the shipping service as a process
fed straight on its input topics and over its staff API: a home delivery labelled, handed over
and scanned to delivered, a click & collect packed over HTTP and collected with its pickup
code, one expired uncollected by the sweep, a staff action refused over HTTP and a carrier
webhook request refused, a return label issued. The rebuild reads the tracking numbers, the
pickup codes and the expiry back from oms.shipments, copies what came over HTTP only,
publishes nothing and matches every table; a changed live row is reported; the swapped state
serves the restarted worker, whose next label takes the next tracking number."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from oms_events.fulfilment import Collected, FulfilmentAccepted, Parcel, ParcelPacked, PickStarted
from oms_events.sourcing import FulfilmentOrderCreated
from oms_events.values import DeliveryMethod, LineQuantity, LocationType
from oms_runtime import key_digest
from oms_shipping.domain.tracking_numbers import serial_of
from tests.support.inventory import BERLIN, TSHIRT
from tests.support.operator import oms
from tests.support.processes import ServiceProcess
from tests.support.rebuild import end_offsets, exists, group_idle
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
    staff_call,
    work_through,
)
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

OPS_KEY = "ops-key"
_OPERATOR = '{"role": "operator", "actor_id": "ops-1"}'
_SETTINGS = {
    "OMS_SHIPPING_API_KEYS": f'{{"{key_digest(OPS_KEY)}": {_OPERATOR}}}',
    "OMS_PICKUP_SWEEP_S": "0.5",
}
LINES = (LineQuantity(line_id="1", sku=TSHIRT, quantity=2),)
_BAG = {"parcel_id": "bag-1", "box": "BAG-M", "weight_grams": 500, "lines": [LINES[0].model_dump()]}


def _collect_at_berlin(order_id: str) -> FulfilmentOrderCreated:
    return released(order_id, f"fo-{order_id}").model_copy(
        update={
            "location_id": BERLIN,
            "location_type": LocationType.STORE,
            "delivery_method": DeliveryMethod.CLICK_AND_COLLECT,
            "pickup_store_id": BERLIN,
            "shipping_address": None,
        }
    )


def _ids(order_id: str, location: str = BERLIN) -> dict[str, str]:
    return {
        "order_id": order_id,
        "fulfilment_order_id": f"fo-{order_id}",
        "location_id": location,
        "staff_id": STAFF,
    }


_CODES = "SELECT fulfilment_order_id, pickup_code FROM fulfilment_orders ORDER BY 1"


async def _count(env: Env, query: str) -> int:
    rows = await env.fetch("shipping", query)
    return int(rows[0][0])


async def _start(env: Env) -> ServiceProcess:
    service = await env.service("shipping", **_SETTINGS)
    await service.wait_ready()
    return service


async def _pickup_code(env: Env, fulfilment_order_id: str) -> str:
    rows = await env.fetch(
        "shipping",
        "SELECT pickup_code FROM fulfilment_orders WHERE fulfilment_order_id = $1",
        fulfilment_order_id,
    )
    return str(rows[0]["pickup_code"])


async def test_shipping_rebuild_reads_numbers_codes_and_expiries_back_and_swaps(env: Env) -> None:
    live = await _start(env)
    services: dict[str, str | None] = {"shipping": live.url}
    live_db = f"t{env.run}_shipping"
    env.databases.append(f"{live_db}_rebuild")
    start = now() - timedelta(days=8)

    await send_released(
        env,
        released("ord-home", "fo-ord-home"),
        _collect_at_berlin("ord-cc"),
        _collect_at_berlin("ord-late"),
    )
    home = await fulfilment_order(env, "ord-home", "CREATED")
    await fulfilment_order(env, "ord-late", "CREATED")
    await fulfilment_order(env, "ord-cc", "CREATED")
    accept, pick, pack, hand_over = work_through(home, LINES, start)
    late_bag = Parcel(parcel_id="bag-1", box="BAG-M", weight_grams=500, lines=LINES)
    await send_staff(
        env,
        accept,
        pick,
        pack,
        hand_over,
        FulfilmentAccepted(**_ids("ord-cc"), performed_at=start),
        PickStarted(**_ids("ord-cc"), performed_at=start),
        # Set aside eight days ago, held for seven: the sweep expires it by the clock.
        FulfilmentAccepted(**_ids("ord-late"), performed_at=start),
        PickStarted(**_ids("ord-late"), performed_at=start),
        ParcelPacked(**_ids("ord-late"), performed_at=start, parcels=(late_bag,)),
    )
    await fulfilment_order(env, "ord-late", "UNCOLLECTED")
    await fulfilment_order(env, "ord-cc", "PICKING")
    await fulfilment_order(env, "ord-home", "SHIPPED")
    tracking = await label_tracking_number(env, "fo-ord-home")
    await send_scans(
        env,
        scan(tracking, "PU", start + timedelta(hours=1)),
        scan(tracking, "DL", start + timedelta(hours=2)),
    )

    # Over HTTP: the click & collect packed (its code drawn at random), an action refused.
    path = "/v1/fulfilment-orders/fo-ord-cc"
    status, packed = await staff_call(
        live.url, "POST", f"{path}/pack", OPS_KEY, {"staff_id": STAFF, "parcels": [_BAG]}
    )
    assert (status, packed["status"]) == (200, "READY_FOR_PICKUP")
    status, problem = await staff_call(
        live.url, "POST", f"{path}/accept", OPS_KEY, {"staff_id": STAFF}
    )
    assert (status, problem["code"]) == (409, "ready_for_pickup")
    status, _ = await staff_call(
        live.url, "POST", "/v1/carriers/nobody/tracking", None, {"updates": []}
    )
    assert status == 404  # kept in refused_carrier_requests
    # A return label, issued over HTTP and published nowhere: copied by the rebuild.
    status, returned = await staff_call(
        live.url, "POST", "/v1/fulfilment-orders/fo-ord-home/parcels/p-1/return-label", OPS_KEY
    )
    assert (status, returned["kind"]) == (200, "return"), returned
    code = await _pickup_code(env, "fo-ord-cc")
    await send_staff(env, Collected(**_ids("ord-cc"), performed_at=now(), pickup_code=code))

    async def settled() -> bool:
        statuses = await env.fetch(
            "shipping", "SELECT order_id, status FROM fulfilment_orders ORDER BY order_id"
        )
        applied = await _count(env, "SELECT count(*) FROM oms_inbox")
        unsent = await _count(env, "SELECT count(*) FROM oms_outbox")
        return [tuple(r) for r in statuses] == [
            ("ord-cc", "COLLECTED"),
            ("ord-home", "DELIVERED"),
            ("ord-late", "UNCOLLECTED"),
        ] and (applied, unsent) == (3 + 12 + 2, 0)

    await wait_for(settled, what="every action and scan applied, every event published")
    live.stop()
    await wait_for(lambda: group_idle(env, "shipping"), what="the shipping group empty")
    before = await end_offsets(env)

    live_codes = await env.fetch("shipping", _CODES)

    # A live row changed behind the service's back: reported, the swap refused.
    change = "UPDATE fulfilment_orders SET pickup_code = $1 WHERE order_id = 'ord-cc'"
    await env.fetch("shipping", change, "ZZZZZZZZ")
    differs = await oms(env, "rebuild", "shipping", "--swap", "--json", services=services)
    assert differs.code == 8, differs.stderr
    mismatch = differs.json()
    assert [t["table"] for t in mismatch["tables"] if not t["match"]] == ["fulfilment_orders"]
    assert mismatch["swapped"] is False
    await env.fetch("shipping", change, code)

    done = await oms(env, "rebuild", "shipping", "--swap", "--json", services=services)
    assert done.code == 0, done.stderr
    report = done.json()
    assert (report["match"], report["swapped"]) == (True, True), report["tables"]
    env.databases.append(report["kept_as"])
    assert await exists(env, report["kept_as"])
    assert not await exists(env, f"{live_db}_rebuild")
    # Releases, staff actions (the two taken over HTTP published with them) and scans.
    assert report["input_events"] == 17
    assert report["events"] > 17  # and oms.shipments, read back
    assert report["seeded"] == {
        "items": 0,
        "refused_carrier_requests": 1,
        "tracking_number_counters": 1,
        "labels": 1,  # the return label
        "staff_api_actions": 2,  # the two actions taken over HTTP
        "refused_actions": 0,
    }
    tables = {t["table"]: t for t in report["tables"]}
    assert set(tables) == {
        "fulfilment_orders",
        "parcels",
        "labels",
        "tracking_number_counters",
        "tracking_updates",
        "refused_actions",
        "oms_inbox",
    }
    assert all(t["match"] and t["rows_rebuilt"] for t in tables.values()), tables
    # The live database now holds the rebuilt state: the live pickup codes, nothing left in
    # the outbox or the recalled decisions; and neither rebuild published anything.
    assert await env.fetch("shipping", _CODES) == live_codes
    for table in ("oms_outbox", "recalled_decisions"):
        assert await _count(env, f"SELECT count(*) FROM {table}") == 0
    assert await end_offsets(env) == before

    # The worker goes on from the rebuilt state: the next label takes the next number (after
    # the outbound label's and the return label's).
    again = await _start(env)
    await send_released(env, released("ord-next", "fo-ord-next"))
    following = await fulfilment_order(env, "ord-next", "CREATED")
    await send_staff(env, *work_through(following, LINES, now())[:3])
    next_tracking = await label_tracking_number(env, "fo-ord-next")
    serials: list[Any] = [serial_of(n) for n in (tracking, returned["tracking_number"])]
    assert serials[1] == serials[0] + 1
    assert serial_of(next_tracking) == serials[1] + 1, (tracking, next_tracking)
    again.stop()
