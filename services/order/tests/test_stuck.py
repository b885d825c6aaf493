"""The stuck-order sweep on fakes: which stays are reported, and that each is reported once."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from oms_events.codec import decode
from oms_events.orders import OrderStuck
from oms_order.config import OrderSettings
from oms_order.domain.status import OrderStatus
from oms_order.domain.stuck import StuckPolicy
from oms_order.service_layer.stuck import StuckOrders
from oms_runtime import in_memory_unit_of_work
from services.order.tests.fakes import FakeStuckStore

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
POLICY = StuckPolicy(
    {OrderStatus.CONFIRMED: timedelta(minutes=30), OrderStatus.BACKORDERED: timedelta(days=7)}
)


async def sweep(sweeper: StuckOrders, now: datetime = NOW) -> list[OrderStuck]:
    unit = in_memory_unit_of_work("order")
    count = await sweeper.sweep(unit, now)
    events = [decode(r.payload) for r in unit.outbox.records]
    assert count == len(events)
    assert all(
        r.topic == "oms.orders" and r.key == e.envelope.subject.encode()
        for r, e in zip(unit.outbox.records, events, strict=True)
    )
    return [e.payload for e in events if isinstance(e.payload, OrderStuck)]


async def test_a_stay_past_its_status_threshold_is_reported_once() -> None:
    store = FakeStuckStore(
        {
            "late": (OrderStatus.CONFIRMED, NOW - timedelta(minutes=31)),
            "on-time": (OrderStatus.CONFIRMED, NOW - timedelta(minutes=29)),
            "waiting": (OrderStatus.BACKORDERED, NOW - timedelta(days=2)),
            "unwatched": (OrderStatus.FULFILLED, NOW - timedelta(days=30)),
        }
    )
    sweeper = StuckOrders(store=store, policy=POLICY)
    [stuck] = await sweep(sweeper)
    assert stuck == OrderStuck(
        order_id="late",
        status="CONFIRMED",
        since=NOW - timedelta(minutes=31),
        threshold_s=1800,
        detected_at=NOW,
    )
    assert await sweep(sweeper, NOW + timedelta(minutes=1)) == [
        # the next sweep: "late" is not told again, "on-time" has passed its threshold now
        OrderStuck(
            order_id="on-time",
            status="CONFIRMED",
            since=NOW - timedelta(minutes=29),
            threshold_s=1800,
            detected_at=NOW + timedelta(minutes=1),
        )
    ]


async def test_a_new_stay_in_the_same_status_is_reported_again() -> None:
    store = FakeStuckStore(
        {"o1": (OrderStatus.CONFIRMED, NOW - timedelta(hours=1))}, sequences={"o1": 4}
    )
    sweeper = StuckOrders(store=store, policy=POLICY)
    unit = in_memory_unit_of_work("order", cause=uuid.uuid4())
    assert await sweeper.sweep(unit, NOW) == 1
    # The report takes the order's next sequence: its timeline entry's and its event's.
    [record] = unit.outbox.records
    assert decode(record.payload).envelope.sequence == 5
    assert store.timeline == [("o1", 5, unit.cause)]
    store.stays["o1"] = (OrderStatus.BACKORDERED, NOW - timedelta(days=8))
    [moved] = await sweep(sweeper)
    assert (moved.status, moved.threshold_s) == ("BACKORDERED", 7 * 24 * 3600)
    assert await sweep(sweeper) == []


async def test_a_sweep_reports_at_most_its_share_oldest_first() -> None:
    store = FakeStuckStore(
        {f"o{i}": (OrderStatus.CONFIRMED, NOW - timedelta(hours=i)) for i in range(1, 6)}
    )
    sweeper = StuckOrders(store=store, policy=replace(POLICY, per_sweep=2))
    assert [s.order_id for s in await sweep(sweeper)] == ["o5", "o4"]
    assert [s.order_id for s in await sweep(sweeper)] == ["o3", "o2"]


def settings(**values: object) -> OrderSettings:
    return OrderSettings(database_url="postgresql://unused/db", **values)  # type: ignore[arg-type]


def test_thresholds_default_per_status_and_refuse_final_statuses() -> None:
    policy = settings().stuck_policy()
    assert policy.thresholds[OrderStatus.PENDING] == timedelta(minutes=15)
    assert policy.thresholds[OrderStatus.BACKORDERED] == timedelta(days=7)
    assert policy.is_stuck(OrderStatus.RELEASED, NOW - timedelta(hours=49), NOW)
    assert not policy.is_stuck(OrderStatus.COMPLETED, NOW - timedelta(days=99), NOW)
    with pytest.raises(ValidationError, match="final statuses are never stuck: COMPLETED"):
        settings(order_stuck_after_s={"COMPLETED": 60})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        settings(order_stuck_after_s={"PENDING": 0})
