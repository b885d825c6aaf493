"""``oms rebuild orchestration`` on the real broker and database, with the order, inventory and
orchestration services as processes: an order sourced to a store that rejects it, rerouted to
a warehouse that lets its deadline pass (the sweep moves it on) and accepted at the third; an
order backordered until stock arrives; an order canceled after release; and an availability
record that came late but carries an early timestamp (so a rebuild, which interleaves the
topics by timestamp, sees it before a decision the live service made without it). The rebuild
takes each decision's plan and each fulfilment order's deadline from oms.sourcing, moves the
late one on again at its place in time, publishes nothing and matches every table; a changed
live row is reported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from oms_events.codec import encode, new_event
from oms_events.fulfilment import FulfilmentOrderAccepted, FulfilmentOrderRejected, RejectionCause
from oms_events.registry import EventPayload
from oms_events.values import LineQuantity, LocationType
from oms_order.domain.identity import order_id_for
from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    availability_record,
    feed,
    receipt,
    send,
)
from tests.support.operator import oms
from tests.support.orchestration import three_locations_with_deadlines
from tests.support.orders import CHANNEL, customer_service_cancels, encoded, order_submitted
from tests.support.rebuild import end_offsets, group_idle
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

_FULFILMENT = (
    "SELECT order_id, location_id, status, reason FROM fulfilment_orders"
    " ORDER BY order_id, created_at"
)


async def _place(env: Env, external: str, sku: str, quantity: int, postal_code: str) -> str:
    submitted = order_submitted(external, lines=[(sku, quantity)], postal_code=postal_code)
    await send(env, "oms.channel-order-intake", [(f"{CHANNEL}:{external}", encoded(submitted))])
    return order_id_for(CHANNEL, external)


async def _from_location(env: Env, order_id: str, answer: EventPayload) -> None:
    value = encode(
        new_event(answer, subject=order_id, source="oms/shipping", correlation_id=order_id)
    )
    await send(env, "oms.shipments", [(order_id, value)])


async def _open_at(env: Env, order_id: str, location_id: str) -> str:
    """The fulfilment order waiting for ``location_id`` to take it."""

    async def probe() -> str | None:
        rows = await env.fetch(
            "orchestration",
            "SELECT fulfilment_order_id FROM fulfilment_orders"
            " WHERE order_id = $1 AND location_id = $2 AND status = 'created'",
            order_id,
            location_id,
        )
        return rows[0]["fulfilment_order_id"] if rows else None

    return await wait_for(probe, timeout=60, what=f"{order_id}'s work released to {location_id}")


async def _accept(env: Env, order_id: str, location_id: str) -> None:
    fulfilment_order_id = await _open_at(env, order_id, location_id)
    await _from_location(
        env,
        order_id,
        FulfilmentOrderAccepted(
            order_id=order_id,
            fulfilment_order_id=fulfilment_order_id,
            location_id=location_id,
            accepted_at=datetime.now(UTC),
        ),
    )


async def _late_with_an_early_timestamp(env: Env, timestamp: datetime) -> None:
    """Mugs at the Berlin store, produced now with the record timestamp ``timestamp``."""
    key, record = availability_record(MUG, BERLIN, LocationType.STORE, 50, timestamp, sequence=1)
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            env.topic("oms.availability"),
            record,
            key=key.encode(),
            timestamp_ms=int(timestamp.timestamp() * 1000),
        )
    finally:
        await producer.stop()


async def test_orchestration_rebuild_takes_plans_and_deadlines_back_and_matches(
    env: Env, tmp_path: Path
) -> None:
    # 20 s to accept: the test's own acceptances must arrive in time on a busy machine too.
    services, sourcing = await three_locations_with_deadlines(env, tmp_path, accept_within_s=20)

    # A customer in Berlin: the store rejects, Hamburg lets its deadline pass, Munich takes it.
    rerouted = await _place(env, "RB-1", TSHIRT, 2, "10115")
    await _from_location(
        env,
        rerouted,
        FulfilmentOrderRejected(
            order_id=rerouted,
            fulfilment_order_id=await _open_at(env, rerouted, BERLIN),
            location_id=BERLIN,
            cause=RejectionCause.NO_STOCK,
            lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=2),),
        ),
    )
    await _open_at(env, rerouted, HAMBURG)
    # A mug nobody has: backordered until Munich receives some.
    before_the_mug = datetime.now(UTC)
    backordered = await _place(env, "RB-2", MUG, 1, "80331")
    canceled = await _place(env, "RB-3", TSHIRT, 1, "80331")
    await _accept(env, canceled, MUNICH)
    await customer_service_cancels(env, canceled, "customer asked")
    waiting = "SELECT 1 FROM sagas WHERE order_id = $1 AND state = 'backordered'"
    await wait_for(
        lambda: env.fetch("orchestration", waiting, backordered), what="the mug backordered"
    )
    await feed(env, receipt("rcv-4", MUG, MUNICH, 3))
    await _accept(env, backordered, MUNICH)
    await _accept(env, rerouted, MUNICH)

    expected = sorted(
        [
            (rerouted, BERLIN, "rejected", f"rejected by {BERLIN}: no_stock"),
            (rerouted, HAMBURG, "rejected", "not accepted in time"),
            (rerouted, MUNICH, "accepted", None),
            (backordered, MUNICH, "accepted", None),
            (canceled, MUNICH, "canceled", None),
        ]
    )

    async def settled() -> bool:
        rows = await env.fetch("orchestration", _FULFILMENT)
        unsent = await env.fetch("orchestration", "SELECT count(*) AS n FROM oms_outbox")
        found = sorted((r["order_id"], r["location_id"], r["status"], r["reason"]) for r in rows)
        return found == expected and unsent[0]["n"] == 0

    await wait_for(settled, timeout=60, what="every fulfilment order settled and published")
    # Sourced anew, the mug order would go to Berlin in a rebuild: the plan must be recalled.
    await _late_with_an_early_timestamp(env, before_the_mug)
    berlin_mugs = "SELECT 1 FROM availability WHERE sku = $1 AND location_id = $2"
    await wait_for(
        lambda: env.fetch("orchestration", berlin_mugs, MUG, BERLIN), what="the late record seen"
    )
    for service in services:
        service.stop()
    await wait_for(lambda: group_idle(env, "orchestration"), what="the orchestration group empty")
    before = await end_offsets(env)
    operator = {"orchestration": None}
    extra = {"OMS_SOURCING_CONFIG": sourcing}

    # A live row changed behind the service's back: reported, table by table.
    await env.fetch("orchestration", "UPDATE capacity_used SET used = used + 1")
    differs = await oms(env, "rebuild", "orchestration", "--json", services=operator, extra=extra)
    assert differs.code == 8, differs.stderr
    assert [t["table"] for t in differs.json()["tables"] if not t["match"]] == ["capacity_used"]
    await env.fetch("orchestration", "UPDATE capacity_used SET used = used - 1")

    done = await oms(env, "rebuild", "orchestration", "--json", services=operator, extra=extra)
    assert done.code == 0, done.stderr
    report = done.json()
    assert report["match"] is True, report["tables"]
    tables = {t["table"]: t for t in report["tables"]}
    assert set(tables) == {
        "orders",
        "availability",
        "sagas",
        "decisions",
        "allocations",
        "fulfilment_orders",
        "capacity_used",
        "oms_inbox",
    }
    assert all(t["match"] and t["rows_rebuilt"] for t in tables.values()), tables
    assert tables["decisions"]["rows_rebuilt"] >= 5  # three first decisions, a reroute, a retry
    assert report["events"] > report["input_events"]  # and oms.sourcing, read back
    assert await end_offsets(env) == before  # nothing published
