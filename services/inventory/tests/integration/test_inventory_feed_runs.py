"""The feed's runs on the real PostgreSQL: a batch applied by runs (``Subscription.batch``)
leaves exactly what the same handlers leave taking its records one at a time (``.each``, each
record a run of one): stock rows, the movement ledger and its numbering, applied references,
the events published (availability and alerts included) and the dead letters with their
reasons. The batch mixes several records for one SKU at a location, copies of one reference
and bad records (which send the whole batch one record at a time); transfers likewise."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from oms_events.codec import decode, encode, new_event
from oms_events.inventory import (
    AdjustmentReason,
    StockAdjustment,
    StockReceived,
    StockSnapshot,
    TransferReceived,
    TransferShipped,
)
from oms_events.registry import EventPayload
from oms_inventory.adapters import MIGRATIONS, references, reservations, stock, transfers
from oms_inventory.adapters.projection import publish_changes
from oms_inventory.entrypoints.kafka import subscriptions
from oms_inventory.service_layer.feed import FeedHandlers
from oms_inventory.service_layer.reservations import ReservationHandlers
from oms_inventory.service_layer.returns import ReturnHandlers
from oms_runtime import (
    RUNTIME_MIGRATIONS,
    BatchProcessor,
    ConsumedRecord,
    Received,
    Subscription,
    UnitOfWork,
    apply_migrations,
)
from tests.support.inventory import (
    HAMBURG,
    MUG,
    MUNICH,
    T0,
    TSHIRT,
    adjustment,
    snapshot,
    transfer_in,
    transfer_out,
)
from tests.support.world import Env

pytestmark = pytest.mark.integration

TOPIC = "tx.oms.inventory-feed"
FEED = FeedHandlers(stock=stock, references=references, transfers=transfers)


def by_runs() -> Subscription:
    """The service's own subscription to the feed."""
    hold = ReservationHandlers(900, reservations, stock, references)
    [feed] = [
        s
        for s in subscriptions(hold, FEED, ReturnHandlers(stock, references))
        if s.spec.name == "oms.inventory-feed"
    ]
    return feed


def one_at_a_time() -> Subscription:
    async def counted(work: UnitOfWork, r: Received[StockSnapshot]) -> None:
        await FEED.stock_snapshot(work, [r])

    async def adjust(work: UnitOfWork, r: Received[StockAdjustment]) -> None:
        await FEED.stock_adjustment(work, [r])

    async def receive(work: UnitOfWork, r: Received[StockReceived]) -> None:
        await FEED.stock_received(work, [r])

    async def ship(work: UnitOfWork, r: Received[TransferShipped]) -> None:
        await FEED.transfer_shipped(work, [r])

    async def arrive(work: UnitOfWork, r: Received[TransferReceived]) -> None:
        await FEED.transfer_received(work, [r])

    return (
        Subscription("oms.inventory-feed")
        .each(StockSnapshot, counted)
        .each(StockAdjustment, adjust)
        .each(StockReceived, receive)
        .each(TransferShipped, ship)
        .each(TransferReceived, arrive)
        .finish(publish_changes)
    )


def count(sku: str, on_hand: int, minutes: int, sequence: int = 0) -> StockSnapshot:
    return snapshot(sku, HAMBURG, on_hand, minutes, sequence)


def receipt(receipt_id: str, quantity: int, minutes: int, sku: str = TSHIRT) -> StockReceived:
    return StockReceived(
        sku=sku,
        location_id=HAMBURG,
        receipt_id=receipt_id,
        quantity=quantity,
        received_at=T0 + timedelta(minutes=minutes),
    )


def adjusted(
    adjustment_id: str,
    delta: int,
    minutes: int,
    reason: AdjustmentReason = AdjustmentReason.DAMAGED,
) -> StockAdjustment:
    return adjustment(adjustment_id, HAMBURG, delta, minutes, reason)


GOOD: list[EventPayload] = [
    # One SKU at one location: a count, receipts (one in the count, one repeated, one after a
    # repeat of another kind), adjustments, a stale count, a count below what is reserved.
    count(TSHIRT, 10, minutes=5, sequence=1),
    receipt("r-1", 5, minutes=6),
    receipt("r-1", 5, minutes=6),
    receipt("r-0", 4, minutes=1),
    receipt("r-2", 3, minutes=7),
    adjusted("a-1", -3, minutes=8),
    adjusted("a-1", -3, minutes=8),
    adjusted("a-q", -2, minutes=9, reason=AdjustmentReason.QUARANTINED),
    adjusted("a-0", 7, minutes=2),
    count(TSHIRT, 99, minutes=5, sequence=9),
    count(TSHIRT, 4, minutes=10, sequence=2),
    count(TSHIRT, 6, minutes=10, sequence=3),
    receipt("r-3", 1, minutes=11),
    # Another SKU at the same location, interleaved.
    receipt("m-1", 8, minutes=1, sku=MUG),
    receipt("m-2", 2, minutes=2, sku=MUG),
    adjusted("m-q", -1, minutes=3, reason=AdjustmentReason.QUARANTINED).model_copy(
        update={"sku": MUG}
    ),
    count(MUG, 0, minutes=4),
]

BAD: list[EventPayload] = [
    adjusted("a-neg", -500, minutes=12),  # negative_stock
    receipt("r-future", 1, minutes=0).model_copy(
        update={"received_at": datetime.now(UTC) + timedelta(days=1)}
    ),  # future_timestamp
    receipt("r-nope", 1, minutes=12, sku="NOPE"),  # unknown_sku
    StockReceived(
        sku=TSHIRT,
        location_id="wh-nowhere",
        receipt_id="r-nowhere",
        quantity=1,
        received_at=T0,
    ),  # unknown_location
    adjusted("a-neg", 2, minutes=13),  # the rejected reference's next copy is applied
]


def records(payloads: Sequence[EventPayload]) -> list[ConsumedRecord]:
    """One record per payload, keyed sku@location like the WMS keys them, all on one
    partition in the given order (the same event ids for both ways of applying them)."""
    out = []
    for offset, p in enumerate(payloads):
        key = f"{p.sku}@{p.location_id}"  # type: ignore[attr-defined]
        envelope = new_event(p, subject=key, source="wms/hamburg", correlation_id=key)
        out.append(ConsumedRecord(TOPIC, 0, offset, key.encode(), encode(envelope)))
    return out


async def database(env: Env, name: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(await env.database(name), min_size=1, max_size=2)
    assert pool is not None
    await apply_migrations(pool, {"runtime": RUNTIME_MIGRATIONS, "inventory": MIGRATIONS})
    await pool.execute(
        "INSERT INTO items (sku, name, low_stock_threshold)"
        " VALUES ($1, 'T-shirt', 5), ($2, 'Mug', 0)",
        TSHIRT,
        MUG,
    )
    await pool.execute(
        "INSERT INTO locations (location_id, name, location_type, latitude, longitude)"
        " VALUES ($1, 'Hamburg', 'warehouse', 53.5, 10.0), ($2, 'Munich', 'warehouse', 48.1, 11.6)",
        HAMBURG,
        MUNICH,
    )
    # Held units, so a low count is reported as a discrepancy.
    await pool.execute(
        "INSERT INTO stock (sku, location_id, on_hand, reserved, low_stock_threshold)"
        " VALUES ($1, $2, 9, 5, 5)",
        TSHIRT,
        HAMBURG,
    )
    return pool


async def outcome(pool: asyncpg.Pool, *, ids: bool) -> dict[str, Any]:
    """Everything the batch left, but the clock's readings and the new events' own ids."""
    stock_rows = await pool.fetch(
        "SELECT sku, location_id, on_hand, reserved, safety_stock, in_transit, quarantined,"
        " low_stock_threshold, alert_state, snapshot_as_of, snapshot_sequence, version,"
        " last_movement_at FROM stock ORDER BY 1, 2"
    )
    movements = await pool.fetch(
        "SELECT movement_id, sku, location_id, kind, on_hand_delta, reserved_delta,"
        " in_transit_delta, quarantined_delta, reference FROM stock_movements ORDER BY 1"
    )
    applied = await pool.fetch("SELECT kind, reference FROM applied_references ORDER BY 1, 2")
    dead = await pool.fetch(
        'SELECT "offset", reason, detail FROM oms_dead_letters ORDER BY "offset"'
    )
    inbox = await pool.fetch('SELECT "offset" FROM oms_inbox ORDER BY 1')
    published = []
    for row in await pool.fetch("SELECT topic, key, payload FROM oms_outbox ORDER BY id"):
        if row["topic"].endswith(".dlq"):
            published.append((row["topic"], row["key"], row["payload"]))
            continue
        event = decode(row["payload"])
        data = event.payload.model_dump(mode="json", exclude={"as_of", "since"})
        data.pop("dead_lettered_at", None)
        published.append(
            (row["topic"], row["key"], event.envelope.type, event.envelope.causationid, data)
        )
    ledger = [tuple(m.values())[0 if ids else 1 :] for m in movements]
    return {
        "stock": [tuple(r.values()) for r in stock_rows],
        "movements": ledger,
        "applied": [tuple(r.values()) for r in applied],
        "dead_letters": [tuple(r.values()) for r in dead],
        "inbox": [r[0] for r in inbox],
        "published": published,
    }


async def applied_both_ways(
    env: Env, batch: Sequence[ConsumedRecord], *, ids: bool
) -> tuple[dict[str, Any], dict[str, Any], int]:
    found = []
    processed = 0
    for name, subscription in (("runs", by_runs()), ("each", one_at_a_time())):
        pool = await database(env, f"feed_{name}_{uuid.uuid4().hex[:8]}")
        try:
            processor = BatchProcessor(
                service="inventory",
                database=pool,
                handlers=subscription.handlers,
                topic_prefix="tx.",
                attempts=1,
                finish=subscription.finish_step,
            )
            result = await processor.process(batch)
            processed = result.processed
            found.append(await outcome(pool, ids=ids))
        finally:
            await pool.close()
    return found[0], found[1], processed


async def test_a_batch_by_runs_leaves_what_one_record_at_a_time_leaves(env: Env) -> None:
    batch = records(GOOD)
    envelope_ids = [decode(r.value or b"").envelope.id for r in batch]
    by_runs, one_by_one, processed = await applied_both_ways(env, batch, ids=True)

    assert by_runs == one_by_one
    assert processed == len(GOOD)
    assert by_runs["dead_letters"] == []
    # What one at a time gives, spelled out: the count (10), r-1 once (+5), r-0 in the count
    # (0), r-2 (+3), a-1 once (-3), a-q into quarantine (-2), a-0 in the count, a stale
    # count, a count of 4 (reported: 5 are held), a newer count of 6, r-3 (+1).
    tshirt = next(r for r in by_runs["stock"] if r[0] == TSHIRT)
    assert tshirt[2:7] == (7, 5, 0, 0, 2)
    assert [(m[3], m[4], m[7], m[8]) for m in by_runs["movements"] if m[1] == TSHIRT] == [
        ("snapshot", 1, 0, str(envelope_ids[0])),
        ("received", 5, 0, "r-1"),
        ("received", 0, 0, "r-0"),
        ("received", 3, 0, "r-2"),
        ("adjusted:damaged", -3, 0, "a-1"),
        ("adjusted:quarantined", -2, 2, "a-q"),
        ("snapshot", -9, 0, str(envelope_ids[10])),
        ("snapshot", 2, 0, str(envelope_ids[11])),
        ("received", 1, 0, "r-3"),
    ]
    assert [m[0] for m in by_runs["movements"]] == list(range(1, 14))
    reported = [p[4] for p in by_runs["published"] if p[2] == "InventoryDiscrepancyReported"]
    assert [(r["expected_on_hand"], r["reported_on_hand"]) for r in reported] == [(13, 4)]
    alerts = [p[2] for p in by_runs["published"] if p[2] in ("LowStock", "OutOfStock")]
    assert alerts == ["LowStock"]  # the T-shirt: 2 available; the mug stays out of stock


async def test_bad_records_in_a_batch_are_dead_lettered_as_one_at_a_time_would(
    env: Env,
) -> None:
    payloads = [*GOOD[:6], BAD[0], *GOOD[6:12], *BAD[1:], *GOOD[12:]]
    by_runs, one_by_one, processed = await applied_both_ways(env, records(payloads), ids=False)

    assert by_runs == one_by_one
    assert processed == len(payloads) - 4
    assert [(offset, reason) for offset, reason, _ in by_runs["dead_letters"]] == [
        (6, "negative_stock"),
        (13, "future_timestamp"),
        (14, "unknown_sku"),
        (15, "unknown_location"),
    ]
    assert ("adjustment", "a-neg") in by_runs["applied"]


def shipped(transfer_id: str, quantity: int, minutes: int, to: str = MUNICH) -> TransferShipped:
    return transfer_out(transfer_id, quantity, T0 + timedelta(minutes=minutes), to)


def arrived(transfer_id: str, quantity: int, minutes: int, sku: str = TSHIRT) -> TransferReceived:
    return transfer_in(transfer_id, quantity, T0 + timedelta(minutes=minutes), sku)


TRANSFERS: list[EventPayload] = [
    receipt("t-0", 10, minutes=1),
    shipped("tr-1", 2, minutes=2),
    shipped("tr-1", 2, minutes=2),
    shipped("tr-2", 1, minutes=3),
    arrived("tr-1", 2, minutes=4),
    arrived("tr-2", 3, minutes=5),  # received more than shipped: reported
    arrived("tr-3", 4, minutes=6),
    shipped("tr-3", 4, minutes=7),
]

BAD_TRANSFERS: list[EventPayload] = [
    shipped("tr-self", 1, minutes=8, to=HAMBURG),  # invalid_transfer
    shipped("tr-big", 500, minutes=8),  # negative_stock
    arrived("tr-5", 1, minutes=8, sku=MUG),  # a transfer whose other end is still to come
    arrived("tr-3", 4, minutes=8),  # a copy: nothing
]


async def test_transfers_by_runs_leave_what_one_at_a_time_leaves(env: Env) -> None:
    by_runs, one_by_one, processed = await applied_both_ways(env, records(TRANSFERS), ids=True)

    assert by_runs == one_by_one
    assert processed == len(TRANSFERS)
    levels = {(r[0], r[1]): r[2:7] for r in by_runs["stock"]}
    assert levels[(TSHIRT, HAMBURG)] == (12, 5, 0, 0, 0)
    assert levels[(TSHIRT, MUNICH)] == (9, 0, 0, 0, 0)
    reported = [p[4] for p in by_runs["published"] if p[2] == "InventoryDiscrepancyReported"]
    assert [(r["expected_on_hand"], r["reported_on_hand"]) for r in reported] == [(3, 5)]


async def test_bad_transfers_are_dead_lettered_as_one_at_a_time_would(env: Env) -> None:
    payloads = [
        *TRANSFERS[:3],
        shipped("tr-4", 1, minutes=3),
        *TRANSFERS[3:4],
        *BAD_TRANSFERS[:2],
        *TRANSFERS[4:],
        *BAD_TRANSFERS[2:],
        arrived("tr-4", 1, minutes=9, sku=MUG),  # transfer_mismatch: tr-4 moves T-shirts
    ]
    by_runs, one_by_one, processed = await applied_both_ways(env, records(payloads), ids=False)

    assert by_runs == one_by_one
    assert [(offset, reason) for offset, reason, _ in by_runs["dead_letters"]] == [
        (5, "invalid_transfer"),
        (6, "negative_stock"),
        (13, "transfer_mismatch"),
    ]
    assert processed == len(payloads) - 3
