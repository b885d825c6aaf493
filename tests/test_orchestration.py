"""The order saga on the real broker and database, with the order, inventory and orchestration
services as OS processes: sourcing by distance, re-sourcing after a failed reservation, a
split, a backorder filled by a later receipt, and cancellation releasing every reservation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oms_events.codec import encode, new_event
from oms_events.inventory import AvailabilityChanged, StockReceived
from oms_events.orders import CancelOrder
from oms_events.values import Actor, ActorRole, LocationType
from oms_order.domain.identity import order_id_for
from tests.conftest import Env
from tests.support.inventory import (
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    events_of,
    feed,
    import_catalogue,
    send,
)
from tests.support.orchestration import write_sourcing
from tests.support.orders import CHANNEL, encoded, order_submitted
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def _receipt(n: int, sku: str, location: str, quantity: int) -> StockReceived:
    return StockReceived(
        sku=sku,
        location_id=location,
        receipt_id=f"rcv-{n}",
        quantity=quantity,
        received_at=datetime.now(UTC),
    )


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
    await feed(env, _receipt(1, TSHIRT, HAMBURG, 5))
    # A stale projection: orchestration is told Munich has T-shirts, inventory knows better.
    stale = AvailabilityChanged(
        sku=TSHIRT,
        location_id=MUNICH,
        location_type=LocationType.WAREHOUSE,
        on_hand=5,
        reserved=0,
        safety_stock=0,
        in_transit=0,
        quarantined=0,
        available=5,
        as_of=datetime.now(UTC),
    )
    key = f"{TSHIRT}@{MUNICH}"
    stale_record = encode(
        new_event(stale, subject=key, source="oms/inventory", correlation_id=key, sequence=10**9)
    )
    await send(env, "oms.availability", [(key, stale_record)])
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
    cancel = CancelOrder(
        order_id=order_id,
        reason="customer asked",
        requested_by=Actor(actor_id="cs-1", role=ActorRole.CUSTOMER_SERVICE),
    )
    command = encode(new_event(cancel, subject=order_id, source="cs", correlation_id=order_id))
    await send(env, "oms.order-commands", [(order_id, command)])

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
    await feed(env, _receipt(1, TSHIRT, HAMBURG, 5))
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
        "order", "SELECT event_type FROM order_timeline WHERE order_id = $1", order_id
    )
    assert "OrderBackordered" in {t["event_type"] for t in timeline}

    # The mug arrives at Munich: the waiting line is sourced there, the order is allocated.
    await feed(env, _receipt(3, MUG, MUNICH, 3))
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
    assert "OMS_SOURCING_CONFIG" in done.stderr
    assert "profiles.0.split.max_splits" in done.stderr
