"""The order saga on the real broker and database, with the order, inventory and orchestration
services as OS processes: sourcing by distance, re-sourcing after a failed reservation, a
split, a backorder filled by a later receipt, and cancellation releasing every reservation."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from oms_events.codec import encode, new_event
from oms_events.fulfilment import FulfilmentOrderRejected, RejectionCause
from oms_events.values import DeliveryMethod, LineQuantity, LocationType
from oms_order.domain.identity import order_id_for
from oms_runtime import key_digest
from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    availability_record,
    events_of,
    events_until,
    feed,
    import_catalogue,
    receipt,
    send,
)
from tests.support.orchestration import SOURCING, three_locations_with_deadlines, write_sourcing
from tests.support.orders import CHANNEL, customer_service_cancels, encoded, order_submitted
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def _services(env: Env, tmp: Path) -> dict[str, ServiceProcess]:
    await import_catalogue(env, tmp)
    services = {
        "order": await env.service("order"),
        "inventory": await env.service("inventory"),
        "orchestration": await env.service(
            "orchestration", OMS_SOURCING_CONFIG=write_sourcing(tmp)
        ),
    }
    for service in services.values():
        await service.wait_ready()
    return services


async def _seen_by_orchestration(env: Env, **available: int) -> None:
    """Orchestration's view of availability, keyed "SKU@location"."""

    async def probe() -> bool:
        rows = await env.fetch(
            "orchestration", "SELECT sku, location_id, available FROM availability"
        )
        seen = {f"{r['sku']}@{r['location_id']}": r["available"] for r in rows}
        return all(seen.get(key) == value for key, value in available.items())

    await wait_for(probe, what=f"orchestration to see {available}")


async def _place(env: Env, external: str, **order: Any) -> str:
    await send(
        env,
        "oms.channel-order-intake",
        [(f"{CHANNEL}:{external}", encoded(order_submitted(external, **order)))],
    )
    return order_id_for(CHANNEL, external)


async def _status(env: Env, order_id: str, *wanted: str) -> str:
    async def probe() -> str | None:
        rows = await env.fetch("order", "SELECT status FROM orders WHERE order_id = $1", order_id)
        return rows[0]["status"] if rows and rows[0]["status"] in wanted else None

    return await wait_for(probe, what=f"{order_id} to be {' or '.join(wanted)}")


async def _decisions(env: Env, order_id: str) -> list[dict[str, Any]]:
    rows = await env.fetch(
        "orchestration",
        "SELECT attempt, profile_id, config_version, explanation FROM decisions"
        " WHERE order_id = $1 ORDER BY attempt",
        order_id,
    )
    return [{**dict(r), "explanation": json.loads(r["explanation"])} for r in rows]


async def _held(env: Env, order_id: str) -> list[tuple[str, str, int]]:
    rows = await env.fetch(
        "inventory",
        "SELECT location_id, sku, quantity FROM reservations WHERE order_id = $1"
        " AND status = 'held' ORDER BY location_id, sku",
        order_id,
    )
    return [(r["location_id"], r["sku"], r["quantity"]) for r in rows]


async def test_sourced_by_distance_resourced_after_a_failed_hold_then_canceled(
    env: Env, tmp_path: Path
) -> None:
    await _services(env, tmp_path)
    await feed(env, receipt("rcv-1", TSHIRT, HAMBURG, 5))
    # A stale projection: orchestration is told Munich has T-shirts, inventory knows better.
    key, stale = availability_record(
        TSHIRT, MUNICH, LocationType.WAREHOUSE, 5, datetime.now(UTC), sequence=10**9
    )
    await send(env, "oms.availability", [(key, stale)])
    await _seen_by_orchestration(env, **{f"{TSHIRT}@{HAMBURG}": 5, key: 5})

    # A customer in Munich: Munich is nearest, its hold fails, Hamburg is next.
    order_id = await _place(env, "S-1", lines=[(TSHIRT, 2)], postal_code="80331", city="Muenchen")
    assert await _status(env, order_id, "RELEASED") == "RELEASED"
    assert await _held(env, order_id) == [(HAMBURG, TSHIRT, 2)]
    decisions = await _decisions(env, order_id)
    assert [(d["attempt"], d["profile_id"], d["config_version"]) for d in decisions] == [
        (1, "home", 7),
        (2, "home", 7),
    ]
    first, second = (d["explanation"] for d in decisions)
    assert "every line" in first["chosen_rule"]
    scores = {c["location_id"]: c["total_score"] for c in first["candidates"]}
    assert scores[MUNICH] > scores[HAMBURG]
    assert {c["location_id"]: c["filtered_by"] for c in second["candidates"]}[MUNICH] == (
        "rejected_before"
    )
    sourcing = await events_of(env, "oms.sourcing", 4)
    types = [e.envelope.type for e in sourcing if e.payload.order_id == order_id]
    assert types == [
        "SourcingDecided",
        "SourcingDecided",
        "OrderAllocated",
        "FulfilmentOrderCreated",
    ]
    created = next(e.payload for e in sourcing if e.envelope.type == "FulfilmentOrderCreated")
    assert created.location_id == HAMBURG and created.reservation_ids
    assert created.shipping_address is not None and created.shipping_address.postal_code == "80331"

    # Canceled after release: every reservation goes back, the fulfilment order is called off.
    await customer_service_cancels(env, order_id, "customer asked")

    async def released() -> bool:
        return await _held(env, order_id) == [] and bool(
            await env.fetch(
                "orchestration",
                "SELECT 1 FROM fulfilment_orders WHERE order_id = $1 AND status = 'canceled'",
                order_id,
            )
        )

    await wait_for(released, what="the reservations released")
    rows = await env.fetch(
        "inventory",
        "SELECT reserved FROM stock WHERE sku = $1 AND location_id = $2",
        TSHIRT,
        HAMBURG,
    )
    assert rows[0]["reserved"] == 0
    canceled = await events_of(env, "oms.sourcing", 5, "FulfilmentOrderCanceled")
    assert [c.payload.fulfilment_order_id for c in canceled] == [created.fulfilment_order_id]


async def test_a_split_and_a_backorder_filled_by_a_later_receipt(env: Env, tmp_path: Path) -> None:
    await _services(env, tmp_path)
    await feed(env, receipt("rcv-1", TSHIRT, HAMBURG, 5))
    await _seen_by_orchestration(env, **{f"{TSHIRT}@{HAMBURG}": 5})

    # No single location has both lines: the T-shirts from Hamburg, the mug... nowhere yet.
    order_id = await _place(
        env, "S-2", lines=[(TSHIRT, 2), (MUG, 1)], postal_code="10115", city="Berlin"
    )
    await _status(env, order_id, "BACKORDERED", "RELEASED")
    await wait_for(
        lambda: _held_is(env, order_id, [(HAMBURG, TSHIRT, 2)]), what="the T-shirts held"
    )
    timeline = await env.fetch(
        "order",
        "SELECT detail FROM order_timeline WHERE order_id = $1 AND event_type = 'OrderBackordered'",
        order_id,
    )
    why = json.loads(timeline[0]["detail"])  # the timeline says why the mug waits
    assert (why["status"], why["reason"], why["lines"]) == (
        "BACKORDERED",
        "out_of_stock",
        [{"line_id": "2", "sku": MUG, "quantity": 1}],
    )

    # The mug arrives at Munich: the waiting line is sourced there, the order is allocated.
    await feed(env, receipt("rcv-3", MUG, MUNICH, 3))
    await wait_for(
        lambda: _held_is(env, order_id, [(HAMBURG, TSHIRT, 2), (MUNICH, MUG, 1)]),
        what="the backordered mug held at Munich",
    )
    assert await _status(env, order_id, "RELEASED", "ALLOCATED") in ("RELEASED", "ALLOCATED")
    sourcing = await events_of(env, "oms.sourcing", 6)
    mine = [e for e in sourcing if e.payload.order_id == order_id]
    created = [e.payload.location_id for e in mine if e.envelope.type == "FulfilmentOrderCreated"]
    assert sorted(created) == [HAMBURG, MUNICH]
    assert [e.envelope.type for e in mine].count("OrderBackordered") == 1
    assert [e.envelope.type for e in mine].count("OrderAllocated") == 1


async def _held_is(env: Env, order_id: str, expected: list[tuple[str, str, int]]) -> bool:
    return await _held(env, order_id) == expected


def test_a_bad_sourcing_configuration_stops_the_worker_naming_the_problem(tmp_path: Path) -> None:
    bad = json.loads(Path(write_sourcing(tmp_path)).read_text())
    bad["profiles"][0]["split"] = {"policy": "max_splits", "max_splits": 0}
    bad["profiles"][0]["filters"]["exclude_locations"] = ["wh-atlantis"]
    bad["profiles"][0]["accept_within_s"] = 8
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    done = subprocess.run(
        [sys.executable, "-m", "oms_orchestration", "worker"],
        env={
            **os.environ,
            "OMS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            "OMS_SOURCING_CONFIG": str(path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    # The variable's value on its line, each problem of the file with the value found.
    assert any(ln.startswith("  OMS_SOURCING_CONFIG: ") and f"(got '{path}')" in ln for ln in lines)
    assert f"{path}: profiles.0.split.max_splits: " in done.stderr
    too_short = "profiles.0.accept_within_s: Input should be greater than or equal to 10 (got 8)"
    assert any(ln.endswith(too_short) for ln in lines), done.stderr


async def test_a_rejected_fulfilment_order_is_rerouted_and_a_missed_deadline_moves_on(
    env: Env, tmp_path: Path
) -> None:
    await three_locations_with_deadlines(env, tmp_path)

    # A customer in Berlin: the Berlin store (0 km), then Hamburg (255), then Munich (505).
    order_id = await _place(env, "S-3", lines=[(TSHIRT, 2)], postal_code="10115", city="Berlin")
    first = await wait_for(
        lambda: env.fetch(
            "orchestration",
            "SELECT fulfilment_order_id, location_id FROM fulfilment_orders WHERE order_id = $1",
            order_id,
        ),
        what="the first fulfilment order",
    )
    assert first[0]["location_id"] == BERLIN
    # The store cannot find the T-shirts.
    rejection = FulfilmentOrderRejected(
        order_id=order_id,
        fulfilment_order_id=first[0]["fulfilment_order_id"],
        location_id=BERLIN,
        cause=RejectionCause.NO_STOCK,
        lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=2),),
    )
    value = encode(
        new_event(rejection, subject=order_id, source="oms/shipping", correlation_id=order_id)
    )
    await send(env, "oms.shipments", [(order_id, value)])
    await wait_for(
        lambda: _held_is(env, order_id, [(HAMBURG, TSHIRT, 2)]), what="the lines held at Hamburg"
    )

    # Inventory heard: the units are taken off the store's count and the gap reported.
    async def store_levels() -> bool:
        rows = await env.fetch(
            "inventory",
            "SELECT on_hand, reserved FROM stock WHERE sku = $1 AND location_id = $2",
            TSHIRT,
            BERLIN,
        )
        return (rows[0]["on_hand"], rows[0]["reserved"]) == (2, 0)

    await wait_for(store_levels, what="the store's count corrected and its hold given back")
    reported = await events_until(env, "oms.inventory", 1, "InventoryDiscrepancyReported")
    assert [(d.payload.location_id, d.payload.reported_on_hand) for d in reported] == [(BERLIN, 2)]

    # Hamburg does not accept within 10 s: the work moves on to the next location.
    await wait_for(
        lambda: _held_is(env, order_id, [(MUNICH, TSHIRT, 2)]),
        timeout=40,
        what="Hamburg's deadline to pass and Munich to hold the lines",
    )
    hamburg = await env.fetch(
        "orchestration",
        "SELECT status, reason FROM fulfilment_orders WHERE order_id = $1 AND location_id = $2",
        order_id,
        HAMBURG,
    )
    assert (hamburg[0]["status"], hamburg[0]["reason"]) == ("rejected", "not accepted in time")
    called_off = await events_until(env, "oms.sourcing", 1, "FulfilmentOrderCanceled")
    assert [(c.payload.location_id, c.payload.reason) for c in called_off] == [
        (HAMBURG, "not accepted in time")
    ]
    rerouted = await events_until(env, "oms.sourcing", 2, "FulfilmentOrderRerouted")
    assert [(r.payload.from_location_id, r.payload.to_location_id) for r in rerouted] == [
        (BERLIN, HAMBURG),
        (HAMBURG, MUNICH),
    ]
    assert "no_stock" in rerouted[0].payload.reason
    decisions = await _decisions(env, order_id)
    last = decisions[-1]["explanation"]
    filtered = {c["location_id"]: c["filtered_by"] for c in last["candidates"]}
    assert filtered[BERLIN] == filtered[HAMBURG] == "rejected_before"


async def _promise(url: str, key: str | None, body: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/promise", json=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)


async def test_an_order_placed_on_a_promise_gets_the_promised_plan(
    env: Env, tmp_path: Path
) -> None:
    web_key = "promise-key-" + "p" * 20
    keys = json.dumps({key_digest(web_key): {"channel": CHANNEL}})
    await import_catalogue(env, tmp_path)
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service(
            "orchestration",
            OMS_SOURCING_CONFIG=write_sourcing(tmp_path),
            OMS_ORCHESTRATION_API_KEYS=keys,
        ),
    ]
    for service in services:
        await service.wait_ready()
    orchestration = services[2]
    await feed(env, receipt("rcv-1", TSHIRT, HAMBURG, 5), receipt("rcv-2", TSHIRT, MUNICH, 5))
    await _seen_by_orchestration(env, **{f"{TSHIRT}@{HAMBURG}": 5, f"{TSHIRT}@{MUNICH}": 5})

    cart = {"lines": [{"sku": TSHIRT, "quantity": 2}]}
    berlin = {**cart, "destination": {"country": "DE", "postal_code": "10115"}}
    status, answer = await _promise(orchestration.url, web_key, berlin)
    assert status == 200, answer
    [option] = answer["options"]
    assert (option["delivery_method"], option["locations"], option["service_id"]) == (
        "home_delivery",
        [HAMBURG],
        "standard",
    )
    assert option["promised_date"] and option["cost"] == {"amount_minor": 495, "currency": "EUR"}
    too_much = {**berlin, "lines": [{"sku": TSHIRT, "quantity": 50}]}
    assert (await _promise(orchestration.url, web_key, too_much))[1]["options"] == []

    order_id = await _place(env, "S-4", lines=[(TSHIRT, 2)], postal_code="10115", city="Berlin")
    await _status(env, order_id, "RELEASED")
    assert await _held(env, order_id) == [(HAMBURG, TSHIRT, 2)]  # the promised location

    for key, body, expected, code in (
        (None, berlin, 401, "unauthorized"),
        (web_key, cart, 422, "invalid_request"),
        (web_key, {**berlin, "channel": "marketplace"}, 403, "forbidden"),
        (web_key, {**berlin, "lines": [{"sku": TSHIRT, "quantity": "2"}]}, 422, "invalid_request"),
        (web_key, {**cart, "pickup_store_id": "store-atlantis"}, 422, "invalid_request"),
    ):
        status, answer = await _promise(orchestration.url, key, body)
        assert (status, answer["code"], answer["status"]) == (expected, code, status), answer


async def test_click_and_collect_from_the_store_and_ship_to_store_from_a_warehouse(
    env: Env, tmp_path: Path
) -> None:
    await _services(env, tmp_path)
    await feed(env, receipt("rcv-1", TSHIRT, BERLIN, 5), receipt("rcv-2", MUG, HAMBURG, 5))
    await _seen_by_orchestration(env, **{f"{TSHIRT}@{BERLIN}": 3, f"{MUG}@{HAMBURG}": 5})

    async def place(external: str, sku: str, method: DeliveryMethod) -> str:
        order = order_submitted(external, lines=[(sku, 1)]).model_copy(
            update={"delivery_method": method, "pickup_store_id": BERLIN}
        )
        await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:{external}", encoded(order))])
        return order_id_for(CHANNEL, external)

    collect = await place("C-1", TSHIRT, DeliveryMethod.CLICK_AND_COLLECT)
    to_store = await place("C-2", MUG, DeliveryMethod.SHIP_TO_STORE)
    await _status(env, collect, "RELEASED")
    await _status(env, to_store, "RELEASED")
    assert await _held(env, collect) == [(BERLIN, TSHIRT, 1)]  # the store's own stock
    assert await _held(env, to_store) == [(HAMBURG, MUG, 1)]  # a warehouse sends it
    created = {
        e.payload.order_id: e.payload
        for e in await events_of(env, "oms.sourcing", 6, "FulfilmentOrderCreated")
    }
    assert created[collect].delivery_method is DeliveryMethod.CLICK_AND_COLLECT
    assert created[to_store].delivery_method is DeliveryMethod.SHIP_TO_STORE
    assert created[to_store].pickup_store_id == BERLIN
    assert [(await _decisions(env, o))[0]["profile_id"] for o in (collect, to_store)] == [
        "pickup",
        "pickup",
    ]

    # Bad input is answered and kept: a store that is not in the network, a channel no
    # profile covers. Both orders wait, backordered, with a decision that says why.
    nowhere = order_submitted("C-3", lines=[(TSHIRT, 1)]).model_copy(
        update={"delivery_method": DeliveryMethod.CLICK_AND_COLLECT, "pickup_store_id": "atlantis"}
    )
    unknown = order_submitted("C-5", lines=[("SKU-NOBODY-STOCKS", 1)], postal_code="10115")
    foreign = order_submitted("C-4", lines=[(TSHIRT, 1)]).model_copy(
        update={
            "channel": "pos-nowhere",
            "delivery_method": DeliveryMethod.CLICK_AND_COLLECT,
            "pickup_store_id": BERLIN,
        }
    )
    await send(
        env,
        "oms.channel-order-intake",
        [
            (f"{CHANNEL}:C-3", encoded(nowhere)),
            ("pos-nowhere:C-4", encoded(foreign)),
            (f"{CHANNEL}:C-5", encoded(unknown)),
        ],
    )
    for order_id, why in (
        (order_id_for(CHANNEL, "C-3"), "pickup store 'atlantis' is not in the network"),
        (
            order_id_for("pos-nowhere", "C-4"),
            "no sourcing profile applies to channel 'pos-nowhere' and click_and_collect",
        ),
        (order_id_for(CHANNEL, "C-5"), "no eligible location has any of the lines"),
    ):
        await _status(env, order_id, "BACKORDERED")
        [decision] = await _decisions(env, order_id)
        assert why in decision["explanation"]["chosen_rule"]


async def test_a_split_in_one_decision_then_a_store_at_its_daily_capacity_skipped(
    env: Env, tmp_path: Path
) -> None:
    config = copy.deepcopy(SOURCING)
    config["locations"][2]["daily_capacity"] = 1  # the Berlin store
    config["profiles"][0]["filters"]["location_types"] = ["warehouse", "store"]
    await import_catalogue(env, tmp_path)
    services = [
        await env.service("order"),
        await env.service("inventory"),
        await env.service("orchestration", OMS_SOURCING_CONFIG=write_sourcing(tmp_path, config)),
    ]
    for service in services:
        await service.wait_ready()
    await feed(
        env,
        receipt("rcv-1", TSHIRT, BERLIN, 4),  # 2 of them safety stock
        receipt("rcv-2", TSHIRT, HAMBURG, 5),
        receipt("rcv-3", MUG, MUNICH, 5),
    )
    await _seen_by_orchestration(
        env, **{f"{TSHIRT}@{BERLIN}": 2, f"{TSHIRT}@{HAMBURG}": 5, f"{MUG}@{MUNICH}": 5}
    )

    # No location has both lines: one decision over two locations (the profile allows two),
    # the T-shirt from the store next door.
    first = await _place(
        env, "K-1", lines=[(TSHIRT, 1), (MUG, 1)], postal_code="10115", city="Berlin"
    )
    await _status(env, first, "RELEASED")
    assert await _held(env, first) == [(BERLIN, TSHIRT, 1), (MUNICH, MUG, 1)]
    [decision] = await _decisions(env, first)
    assert "split over 2" in decision["explanation"]["chosen_rule"]

    # The store has taken its one fulfilment order of the day: the next goes to Hamburg.
    second = await _place(env, "K-2", lines=[(TSHIRT, 1)], postal_code="10115", city="Berlin")
    await _status(env, second, "RELEASED")
    assert await _held(env, second) == [(HAMBURG, TSHIRT, 1)]
    [decision] = await _decisions(env, second)
    filtered = {c["location_id"]: c["filtered_by"] for c in decision["explanation"]["candidates"]}
    assert filtered[BERLIN] == "daily_capacity"


async def test_a_canceled_line_gives_its_hold_back(env: Env, tmp_path: Path) -> None:
    await _services(env, tmp_path)
    await feed(env, receipt("rcv-1", TSHIRT, HAMBURG, 5), receipt("rcv-2", MUG, HAMBURG, 5))
    await _seen_by_orchestration(env, **{f"{TSHIRT}@{HAMBURG}": 5, f"{MUG}@{HAMBURG}": 5})
    order_id = await _place(env, "L-1", lines=[(TSHIRT, 1), (MUG, 1)])
    await _status(env, order_id, "RELEASED")
    assert await _held(env, order_id) == [(HAMBURG, MUG, 1), (HAMBURG, TSHIRT, 1)]

    await customer_service_cancels(
        env,
        order_id,
        "customer changed their mind",
        LineQuantity(line_id="2", sku=MUG, quantity=1),
    )
    await wait_for(
        lambda: _held_is(env, order_id, [(HAMBURG, TSHIRT, 1)]), what="the mug's hold released"
    )
    fulfilment = await env.fetch(
        "orchestration", "SELECT status FROM fulfilment_orders WHERE order_id = $1", order_id
    )
    assert [f["status"] for f in fulfilment] == ["created"]  # the T-shirt still ships
