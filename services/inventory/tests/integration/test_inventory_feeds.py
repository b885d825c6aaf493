"""Feeds from WMS, ERP and POS on the real broker and database: counts in order, adjustments,
receipts, transfers, returns into stock, alerts, and hostile records dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oms_events.inventory import (
    AdjustmentReason,
    StockReceived,
    StockSnapshot,
    TransferReceived,
    TransferShipped,
)
from oms_events.returns import Disposition, InspectedLine, ReturnInspected
from oms_events.values import Money
from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    adjustment,
    event,
    events_of,
    events_until,
    feed,
    import_catalogue,
    request,
    reserve,
    send,
    snapshot,
    stock,
)
from tests.support.kafka import read_topic
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration


async def levels_are(env: Env, sku: str, location: str, **expected: int) -> dict[str, int]:
    levels = await stock(env, sku, location)
    return levels if all(levels.get(k) == v for k, v in expected.items()) else {}


async def test_counts_adjustments_transfers_and_returns(env: Env, tmp_path: Path) -> None:
    await import_catalogue(env, tmp_path)
    inventory = await env.service("inventory")
    await inventory.wait_ready()

    # A newer count, then an older one arriving late: the older one changes nothing.
    await feed(env, snapshot(TSHIRT, HAMBURG, 40, minutes=10, sequence=7))
    await feed(env, snapshot(TSHIRT, HAMBURG, 99, minutes=5, sequence=6))
    # Same time, lower sequence: also older.
    await feed(env, snapshot(TSHIRT, HAMBURG, 98, minutes=10, sequence=6))
    # An adjustment made before the count is in it already; one made after is applied;
    # the same adjustment again (new event id) is applied once.
    await feed(
        env,
        adjustment("adj-early", HAMBURG, -5, minutes=2, reason=AdjustmentReason.DAMAGED),
        adjustment("adj-late", HAMBURG, -3, minutes=20, reason=AdjustmentReason.DAMAGED),
        adjustment("adj-late", HAMBURG, -3, minutes=20, reason=AdjustmentReason.DAMAGED),
        adjustment("adj-q", HAMBURG, -2, minutes=21, reason=AdjustmentReason.QUARANTINED),
    )
    assert await wait_for(
        lambda: levels_are(env, TSHIRT, HAMBURG, on_hand=35, quarantined=2), what="adjustments"
    )

    # Transfer Hamburg -> Munich: in transit at Munich until received; 1 short on arrival.
    shipped = TransferShipped(
        sku=TSHIRT,
        location_id=HAMBURG,
        transfer_id="tr-1",
        to_location_id=MUNICH,
        quantity=10,
        shipped_at=datetime.now(UTC),
    )
    await feed(env, shipped)
    assert await wait_for(
        lambda: levels_are(env, TSHIRT, MUNICH, on_hand=0, in_transit=10), what="in transit"
    )
    assert (await stock(env, TSHIRT, HAMBURG))["on_hand"] == 25
    received = TransferReceived(
        sku=TSHIRT,
        location_id=MUNICH,
        transfer_id="tr-1",
        from_location_id=HAMBURG,
        quantity=9,
        received_at=datetime.now(UTC),
    )
    await feed(env, received)
    assert await wait_for(
        lambda: levels_are(env, TSHIRT, MUNICH, on_hand=9, in_transit=0), what="received"
    )

    # A transfer whose receipt arrives before its shipment (different partitions).
    early = received.model_copy(update={"transfer_id": "tr-2", "quantity": 4})
    await feed(env, early)
    await wait_for(lambda: levels_are(env, TSHIRT, MUNICH, on_hand=13), what="early receipt")
    await feed(env, shipped.model_copy(update={"transfer_id": "tr-2", "quantity": 4}))
    assert await wait_for(
        lambda: levels_are(env, TSHIRT, HAMBURG, on_hand=21), what="late shipment"
    )
    assert (await stock(env, TSHIRT, MUNICH))["in_transit"] == 0

    # Returns into stock at a store: restocked units sell again, quarantined ones wait.
    inspected = ReturnInspected(
        order_id="ord-r1",
        return_id="ret-1",
        location_id=BERLIN,
        lines=(
            InspectedLine(line_id="1", sku=TSHIRT, quantity=2, disposition=Disposition.RESTOCK),
            # The same line split: one more T-shirt is stained.
            InspectedLine(line_id="1", sku=TSHIRT, quantity=1, disposition=Disposition.QUARANTINE),
            InspectedLine(line_id="2", sku=MUG, quantity=1, disposition=Disposition.QUARANTINE),
        ),
        refund_amount=Money(amount_minor=5990, currency="EUR"),
        inspected_at=datetime.now(UTC),
    )
    value = event(inspected, "ord-r1", "oms/order")
    again = event(inspected, "ord-r1", "oms/order")  # re-sent: a new event id
    await send(env, "oms.returns", [("ord-r1", value), ("ord-r1", again)])
    assert await wait_for(
        lambda: levels_are(env, MUG, BERLIN, on_hand=0, quarantined=1), what="quarantined"
    )
    assert await levels_are(env, TSHIRT, BERLIN, on_hand=2, quarantined=1, safety_stock=2)

    # A count, two adjustments, a restock: four StockAdjusted; the short transfer: a report.
    adjusted = await events_until(
        env, "oms.inventory", 5, "StockAdjusted", "InventoryDiscrepancyReported"
    )
    summary = [
        (e.envelope.type, getattr(e.payload, "delta", None), getattr(e.payload, "reason", None))
        for e in adjusted
    ]
    assert ("StockAdjusted", 40, AdjustmentReason.SNAPSHOT) in summary
    assert summary.count(("StockAdjusted", -3, AdjustmentReason.DAMAGED)) == 1
    assert ("StockAdjusted", 2, AdjustmentReason.RETURN_RESTOCKED) in summary
    assert not any(delta == -5 for _, delta, _ in summary)
    discrepancy = [e.payload for e in adjusted if e.envelope.type == "InventoryDiscrepancyReported"]
    assert [(d.location_id, d.reported_on_hand) for d in discrepancy] == [(MUNICH, 9)]

    # The ledger balances: on hand + in transit + quarantined = what came in - what left.
    ledger = await env.fetch(
        "inventory",
        "SELECT sum(on_hand_delta + in_transit_delta + quarantined_delta) AS units,"
        " (SELECT sum(on_hand + in_transit + quarantined) FROM stock) AS held FROM stock_movements",
    )
    assert ledger[0]["units"] == ledger[0]["held"] == 40 - 3 - 1 + 2 + 1 + 1


async def test_hostile_feed_records_are_dead_lettered_with_their_reason(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)
    inventory = await env.service("inventory")
    await inventory.wait_ready()
    receipt = StockReceived(
        sku="SKU-NOBODY-KNOWS",
        location_id=HAMBURG,
        receipt_id="rcv-x",
        quantity=5,
        received_at=datetime.now(UTC),
    )
    await feed(
        env,
        receipt,
        receipt.model_copy(
            update={"sku": TSHIRT, "location_id": "wh-atlantis", "receipt_id": "r2"}
        ),
        adjustment("adj-neg", HAMBURG, -1, minutes=1, reason=AdjustmentReason.LOST),
    )
    future = snapshot(TSHIRT, MUNICH, 5, minutes=0, sequence=1).model_copy(
        update={"as_of": datetime.now(UTC) + timedelta(days=3650)}
    )
    huge = snapshot(MUG, MUNICH, 3_000_000_000, minutes=0, sequence=1)
    mismatched = TransferReceived(
        sku=MUG,  # the shipped end below says T-shirts
        location_id=MUNICH,
        transfer_id="tr-x",
        from_location_id=HAMBURG,
        quantity=1,
        received_at=datetime.now(UTC),
    )
    await feed(
        env,
        receipt.model_copy(update={"sku": TSHIRT, "receipt_id": "rcv-first"}),
        TransferShipped(
            sku=TSHIRT,
            location_id=HAMBURG,
            transfer_id="tr-x",
            to_location_id=MUNICH,
            quantity=1,
            shipped_at=datetime.now(UTC),
        ),
    )
    await wait_for(lambda: levels_are(env, TSHIRT, MUNICH, in_transit=1), what="the transfer")
    await feed(env, future, huge, mismatched)
    good = receipt.model_copy(update={"sku": TSHIRT, "receipt_id": "rcv-ok"})
    negative = event(receipt, "k").replace(b'"quantity":5', b'"quantity":-5')
    await send(
        env,
        "oms.inventory-feed",
        [("x", b"{not json"), ("x", negative), (f"{TSHIRT}@{HAMBURG}", event(good, "k"))],
    )
    assert await wait_for(lambda: levels_are(env, TSHIRT, HAMBURG, on_hand=9), what="the good ones")
    dead = await read_topic(env.bootstrap, env.topic("oms.inventory-feed.dlq"), at_least=8)
    reasons = sorted(r.headers["oms.dlq.reason"].decode() for r in dead)
    assert reasons == sorted(
        [
            "unknown_sku",
            "unknown_location",
            "negative_stock",
            "future_timestamp",
            "quantity_out_of_range",
            "transfer_mismatch",
            "malformed",
            "invalid_payload",
        ]
    )
    kept = await env.fetch("inventory", "SELECT reason, detail FROM oms_dead_letters")
    assert len(kept) == 8
    assert any("wh-atlantis" in r["detail"] for r in kept if r["reason"] == "unknown_location")


async def test_counts_and_movements_arriving_out_of_order(env: Env, tmp_path: Path) -> None:
    """A movement older than the applied count is in it; a count older than an applied
    movement is stale; huge counts at two locations sum without overflow."""
    await import_catalogue(env, tmp_path)
    inventory = await env.service("inventory")
    await inventory.wait_ready()
    count_at = datetime.now(UTC) - timedelta(minutes=30)
    await feed(
        env,
        StockSnapshot(
            sku=TSHIRT, location_id=HAMBURG, on_hand=50, as_of=count_at, source_sequence=1
        ),
        StockReceived(  # received before the count: the count has it
            sku=TSHIRT,
            location_id=HAMBURG,
            receipt_id="rcv-before",
            quantity=7,
            received_at=count_at - timedelta(minutes=5),
        ),
        StockReceived(  # received after the count: added
            sku=TSHIRT,
            location_id=HAMBURG,
            receipt_id="rcv-after",
            quantity=3,
            received_at=count_at + timedelta(minutes=5),
        ),
        StockSnapshot(  # counted between the two receipts, arriving last: stale
            sku=TSHIRT,
            location_id=HAMBURG,
            on_hand=1,
            as_of=count_at + timedelta(minutes=1),
            source_sequence=2,
        ),
        *(
            StockSnapshot(
                sku=MUG, location_id=loc, on_hand=2_000_000_000, as_of=count_at, source_sequence=1
            )
            for loc in (HAMBURG, MUNICH)
        ),
    )
    assert await wait_for(
        lambda: levels_are(env, MUG, MUNICH, on_hand=2_000_000_000), what="the counts"
    )
    assert await wait_for(lambda: levels_are(env, TSHIRT, HAMBURG, on_hand=53), what="T-shirts")

    async def network_mugs() -> bool:
        network = await events_of(env, "oms.availability", 1, "NetworkAvailabilityChanged")
        mugs = [n.payload.on_hand for n in network if n.payload.sku == MUG]
        return bool(mugs) and mugs[-1] == 4_000_000_000

    assert await wait_for(network_mugs, what="the network total of both huge counts")
    assert (await inventory.health() or {}).get("status") == "ok"


async def test_alerts_fire_on_crossing_the_thresholds(env: Env, tmp_path: Path) -> None:
    await import_catalogue(env, tmp_path)  # T-shirt: low-stock threshold 5
    inventory = await env.service("inventory")
    await inventory.wait_ready()
    await feed(env, snapshot(TSHIRT, MUNICH, 8, minutes=1, sequence=1))
    await wait_for(lambda: levels_are(env, TSHIRT, MUNICH, on_hand=8), what="stock")
    # One at a time: requests of different orders may otherwise be decided in any order,
    # or in one transaction that goes straight from fine to out.
    for order_id, quantity, reserved in (("ord-1", 2, 2), ("ord-2", 2, 4), ("ord-3", 4, 8)):
        await request(env, reserve(order_id, (TSHIRT, MUNICH, quantity)))  # 6, 4 (low), 0 (out)
        await wait_for(
            lambda r=reserved: levels_are(env, TSHIRT, MUNICH, reserved=r), what=order_id
        )
    await feed(env, snapshot(TSHIRT, MUNICH, 20, minutes=2, sequence=2))  # 12: back, fine

    alerts = await events_until(env, "oms.inventory", 4, "LowStock", "OutOfStock", "BackInStock")
    assert [(a.envelope.type, getattr(a.payload, "available", None)) for a in alerts] == [
        ("BackInStock", 8),
        ("LowStock", 4),
        ("OutOfStock", None),
        ("BackInStock", 12),
    ]
    assert alerts[1].payload.threshold == 5
