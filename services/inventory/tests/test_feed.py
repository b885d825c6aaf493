"""The feed's and returns' decisions without Kafka or PostgreSQL: what a count, an
adjustment, a receipt, a transfer's two ends and an inspected return do to stock, what they
report, what is applied once, and what is dead-lettered (with which reason)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from oms_events.fulfilment import PickupExpired
from oms_events.inventory import (
    AdjustmentReason,
    InventoryDiscrepancyReported,
    StockAdjusted,
    StockAdjustment,
    StockReceived,
    StockSnapshot,
    TransferReceived,
    TransferShipped,
)
from oms_events.returns import Disposition, InspectedLine, ReturnInspected
from oms_events.values import LineQuantity, Money
from oms_inventory.service_layer.feed import FeedHandlers
from oms_inventory.service_layer.returns import ReturnHandlers
from oms_runtime import RejectedEvent, UnitOfWork, in_memory_unit_of_work
from services.inventory.tests.fakes import (
    FakeReferenceStore,
    FakeStockStore,
    FakeTransferStore,
    emitted,
    received,
    types,
)
from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    transfer_in,
    transfer_out,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(hours=1)


@pytest.fixture
def stock() -> FakeStockStore:
    store = FakeStockStore()
    store.put(TSHIRT, HAMBURG, on_hand=10)
    store.put(TSHIRT, MUNICH, on_hand=4)
    store.skus.add(MUG)
    return store


@pytest.fixture
def feed(stock: FakeStockStore) -> FeedHandlers:
    return FeedHandlers(stock=stock, references=FakeReferenceStore(), transfers=FakeTransferStore())


def work() -> UnitOfWork:
    return in_memory_unit_of_work("inventory", cause=uuid.uuid4())


def count(on_hand: int, *, at: datetime = NOW, sequence: int = 1) -> StockSnapshot:
    return StockSnapshot(
        sku=TSHIRT, location_id=HAMBURG, on_hand=on_hand, as_of=at, source_sequence=sequence
    )


def adjustment(
    delta: int, *, adjustment_id: str = "adj-1", reason: AdjustmentReason = AdjustmentReason.FOUND
) -> StockAdjustment:
    return StockAdjustment(
        sku=TSHIRT,
        location_id=HAMBURG,
        adjustment_id=adjustment_id,
        delta=delta,
        reason=reason,
        occurred_at=NOW,
        source="wms",
    )


async def test_a_count_sets_on_hand_and_reports_the_change(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    unit = work()
    await feed.stock_snapshot(unit, [received(count(7))])

    [adjusted] = emitted(unit, StockAdjusted)
    assert (adjusted.delta, adjusted.on_hand, adjusted.reason) == (
        -3,
        7,
        AdjustmentReason.SNAPSHOT,
    )
    row = stock.rows[(TSHIRT, HAMBURG)]
    assert (row.on_hand, row.snapshot_as_of, row.snapshot_sequence) == (7, NOW, 1)


async def test_a_count_that_matches_changes_nothing_it_reports(feed: FeedHandlers) -> None:
    unit = work()
    await feed.stock_snapshot(unit, [received(count(10))])
    assert types(unit) == []


async def test_a_count_older_than_what_is_applied_is_ignored(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    await feed.stock_snapshot(work(), [received(count(7, sequence=5))])

    same_time_older_sequence, earlier = work(), work()
    await feed.stock_snapshot(same_time_older_sequence, [received(count(3, sequence=4))])
    await feed.stock_snapshot(earlier, [received(count(3, at=EARLIER, sequence=9))])

    assert types(same_time_older_sequence) == types(earlier) == []
    assert stock.levels(TSHIRT, HAMBURG)[0] == 7


async def test_a_count_older_than_the_last_movement_is_ignored(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    await feed.stock_adjustment(work(), [received(adjustment(2))])  # happened at NOW

    unit = work()
    await feed.stock_snapshot(unit, [received(count(3, at=EARLIER))])

    assert types(unit) == []
    assert stock.levels(TSHIRT, HAMBURG)[0] == 12


async def test_a_count_below_what_is_reserved_is_reported_for_a_human(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    stock.put(TSHIRT, HAMBURG, on_hand=10, reserved=6)

    unit = work()
    await feed.stock_snapshot(unit, [received(count(4))])

    assert types(unit) == ["StockAdjusted", "InventoryDiscrepancyReported"]
    [report] = emitted(unit, InventoryDiscrepancyReported)
    assert (report.expected_on_hand, report.reported_on_hand) == (10, 4)


async def test_a_count_dated_in_the_future_is_dead_lettered(feed: FeedHandlers) -> None:
    with pytest.raises(RejectedEvent) as rejected:
        await feed.stock_snapshot(work(), [received(count(1, at=datetime.now(UTC) + timedelta(1)))])
    assert rejected.value.reason == "future_timestamp"


async def test_an_adjustment_is_applied_once_whatever_its_event_id(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    first, again = work(), work()
    await feed.stock_adjustment(first, [received(adjustment(-3))])
    await feed.stock_adjustment(again, [received(adjustment(-3))])

    assert types(first) == ["StockAdjusted"]
    assert types(again) == []
    assert stock.levels(TSHIRT, HAMBURG)[0] == 7


async def test_an_adjustment_that_would_leave_less_than_nothing_is_dead_lettered(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    with pytest.raises(RejectedEvent) as rejected:
        await feed.stock_adjustment(work(), [received(adjustment(-11))])

    assert rejected.value.reason == "negative_stock"
    assert stock.levels(TSHIRT, HAMBURG)[0] == 10
    assert stock.ledger == []


async def test_quarantining_moves_units_from_on_hand_and_back(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    quarantine = AdjustmentReason.QUARANTINED
    await feed.stock_adjustment(work(), [received(adjustment(-4, reason=quarantine))])
    assert stock.levels(TSHIRT, HAMBURG) == (6, 0, 0, 4)

    await feed.stock_adjustment(
        work(), [received(adjustment(3, adjustment_id="adj-2", reason=quarantine))]
    )
    assert stock.levels(TSHIRT, HAMBURG) == (9, 0, 0, 1)

    with pytest.raises(RejectedEvent):  # more out of quarantine than is in it
        await feed.stock_adjustment(
            work(), [received(adjustment(2, adjustment_id="adj-3", reason=quarantine))]
        )


async def test_an_adjustment_a_newer_count_already_has_is_not_applied_again(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    await feed.stock_snapshot(work(), [received(count(8, at=NOW + timedelta(minutes=1)))])

    unit = work()
    await feed.stock_adjustment(unit, [received(adjustment(-3))])

    assert types(unit) == []
    assert stock.levels(TSHIRT, HAMBURG)[0] == 8


def receipt(quantity: int, at: datetime, receipt_id: str = "rcv-1") -> StockReceived:
    return StockReceived(
        sku=TSHIRT, location_id=HAMBURG, receipt_id=receipt_id, quantity=quantity, received_at=at
    )


async def test_a_receipt_adds_to_on_hand_once_unless_a_newer_count_has_it(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    await feed.stock_snapshot(work(), [received(count(10))])

    await feed.stock_received(work(), [received(receipt(5, EARLIER))])  # in the count
    await feed.stock_received(work(), [received(receipt(2, NOW + timedelta(1), "rcv-2"))])
    await feed.stock_received(work(), [received(receipt(2, NOW + timedelta(1), "rcv-2"))])

    assert stock.levels(TSHIRT, HAMBURG)[0] == 12


async def test_a_run_applies_its_records_in_order_each_reference_once(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    unit = work()
    run = [adjustment(-3), adjustment(-3), adjustment(5, adjustment_id="adj-2")]
    await feed.stock_adjustment(unit, [received(a) for a in run])

    assert [(a.delta, a.on_hand) for a in emitted(unit, StockAdjusted)] == [(-3, 7), (5, 12)]
    assert [m.reference for _, _, m in stock.ledger] == ["adj-1", "adj-2"]
    assert stock.levels(TSHIRT, HAMBURG)[0] == 12


async def test_a_run_with_a_record_that_cannot_apply_is_rejected_whole(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    """The runtime then applies the batch one record at a time: only that one is dead-lettered."""
    run = [adjustment(-3), adjustment(-8, adjustment_id="adj-2")]  # 7 left, 8 taken
    with pytest.raises(RejectedEvent) as rejected:
        await feed.stock_adjustment(work(), [received(a) for a in run])
    assert rejected.value.reason == "negative_stock"


async def test_a_record_for_an_unknown_sku_or_location_is_dead_lettered(
    feed: FeedHandlers,
) -> None:
    unknown_sku = StockReceived(
        sku="NOPE", location_id=HAMBURG, receipt_id="r-1", quantity=1, received_at=NOW
    )
    unknown_location = StockReceived(
        sku=TSHIRT, location_id="wh-nowhere", receipt_id="r-2", quantity=1, received_at=NOW
    )

    reasons = []
    for record in (unknown_sku, unknown_location):
        with pytest.raises(RejectedEvent) as rejected:
            await feed.stock_received(work(), [received(record)])
        reasons.append(rejected.value.reason)

    assert reasons == ["unknown_sku", "unknown_location"]


def transfer_shipped(
    quantity: int, *, to: str = MUNICH, transfer_id: str = "tr-1"
) -> TransferShipped:
    return transfer_out(transfer_id, quantity, EARLIER, to)


def transfer_received(quantity: int, *, sku: str = TSHIRT) -> TransferReceived:
    return transfer_in("tr-1", quantity, NOW, sku)


async def test_a_transfer_is_in_transit_until_it_arrives(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    await feed.transfer_shipped(work(), [received(transfer_shipped(3))])
    assert stock.levels(TSHIRT, HAMBURG)[0] == 7
    assert stock.levels(TSHIRT, MUNICH) == (4, 0, 3, 0)

    unit = work()
    await feed.transfer_received(unit, [received(transfer_received(3))])

    assert types(unit) == []
    assert stock.levels(TSHIRT, MUNICH) == (7, 0, 0, 0)


async def test_a_transfer_that_arrives_before_it_shipped_is_never_in_transit(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    await feed.transfer_received(work(), [received(transfer_received(3))])
    await feed.transfer_shipped(work(), [received(transfer_shipped(3))])

    assert stock.levels(TSHIRT, HAMBURG)[0] == 7
    assert stock.levels(TSHIRT, MUNICH) == (7, 0, 0, 0)


async def test_a_transfer_received_short_is_reported(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    await feed.transfer_shipped(work(), [received(transfer_shipped(3))])

    unit = work()
    await feed.transfer_received(unit, [received(transfer_received(2))])

    [report] = emitted(unit, InventoryDiscrepancyReported)
    assert (report.location_id, report.expected_on_hand, report.reported_on_hand) == (
        MUNICH,
        7,
        6,
    )
    assert stock.levels(TSHIRT, MUNICH) == (6, 0, 0, 0)


async def test_transfers_that_cannot_be_true_are_dead_lettered(
    feed: FeedHandlers, stock: FakeStockStore
) -> None:
    # Each under its own id: a dead-lettered event's transaction (and what it wrote) is
    # rolled back, which the fakes do not model.
    reasons = []
    for handle in (
        feed.transfer_shipped(work(), [received(transfer_shipped(11, transfer_id="tr-2"))]),
        feed.transfer_shipped(
            work(), [received(transfer_shipped(1, to=HAMBURG, transfer_id="tr-3"))]
        ),
    ):
        with pytest.raises(RejectedEvent) as rejected:
            await handle
        reasons.append(rejected.value.reason)
    await feed.transfer_shipped(work(), [received(transfer_shipped(2))])
    with pytest.raises(RejectedEvent) as mismatch:
        await feed.transfer_received(work(), [received(transfer_received(2, sku=MUG))])

    assert reasons == ["negative_stock", "invalid_transfer"]
    assert mismatch.value.reason == "transfer_mismatch"
    assert stock.levels(TSHIRT, HAMBURG)[0] == 8


def inspected(*lines: tuple[int, Disposition]) -> ReturnInspected:
    return ReturnInspected(
        order_id="ord-1",
        return_id="ret-1",
        location_id=HAMBURG,
        lines=tuple(
            InspectedLine(line_id=str(n), sku=TSHIRT, quantity=q, disposition=d)
            for n, (q, d) in enumerate(lines, start=1)
        ),
        refund_amount=Money(amount_minor=1000, currency="EUR"),
        inspected_at=NOW,
    )


async def test_an_inspected_return_restocks_quarantines_and_disposes_once(
    stock: FakeStockStore,
) -> None:
    returns = ReturnHandlers(stock=stock, references=FakeReferenceStore())
    inspection = inspected(
        (2, Disposition.RESTOCK), (1, Disposition.QUARANTINE), (1, Disposition.DISPOSE)
    )

    unit, again = work(), work()
    await returns.return_inspected(unit, received(inspection, "oms.returns"))
    await returns.return_inspected(again, received(inspection, "oms.returns"))

    [restocked] = emitted(unit, StockAdjusted)
    assert (restocked.delta, restocked.reason) == (2, AdjustmentReason.RETURN_RESTOCKED)
    assert types(again) == []
    assert stock.levels(TSHIRT, HAMBURG) == (12, 0, 0, 1)
    assert [m.kind for _, _, m in stock.ledger] == [
        "returned:restock",
        "returned:quarantine",
        "returned:dispose",
    ]


async def test_a_pickup_nobody_collected_goes_back_on_the_stores_shelf_once(
    stock: FakeStockStore,
) -> None:
    returns = ReturnHandlers(stock=stock, references=FakeReferenceStore())
    stock.put(TSHIRT, BERLIN, on_hand=3)
    expired = PickupExpired(
        order_id="ord-1",
        fulfilment_order_id="fo-1",
        location_id=BERLIN,
        shipment_id="shp-fo-1",
        lines=(LineQuantity(line_id="1", sku=TSHIRT, quantity=2),),
        hold_until=NOW - timedelta(minutes=1),
        expired_at=NOW,
    )

    unit, again = work(), work()
    await returns.pickup_expired(unit, received(expired, "oms.shipments"))
    await returns.pickup_expired(again, received(expired, "oms.shipments"))

    [restocked] = emitted(unit, StockAdjusted)
    assert (restocked.location_id, restocked.delta, restocked.on_hand) == (BERLIN, 2, 5)
    assert types(again) == []
    assert stock.levels(TSHIRT, BERLIN)[0] == 5
    assert [(m.kind, m.reference) for _, _, m in stock.ledger][-1] == ("uncollected", "shp-fo-1")
