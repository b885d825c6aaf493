"""``oms top``'s events/s between two frames; the stuck orders analytics reports."""

from __future__ import annotations

from typing import Any

from oms_ops.top import rates, stuck_orders


def _frame(at: float, **committed: list[int | None]) -> dict[str, Any]:
    return {
        "taken_at": at,
        "services": [
            {"service": name, "partitions": [{"committed": c} for c in offsets]}
            for name, offsets in committed.items()
        ],
    }


def test_events_per_second_are_the_records_committed_over_the_interval() -> None:
    before = _frame(10.0, order=[100, 40], inventory=[None, 5])
    after = _frame(12.0, order=[180, 60], inventory=[7, 5])
    frame = rates(before, after)
    assert frame["interval_s"] == 2.0
    assert {s["service"]: s["events_per_s"] for s in frame["services"]} == {
        "order": 50.0,
        "inventory": 3.5,
    }


def test_a_replay_counts_as_no_events_and_a_new_service_starts_at_zero() -> None:
    frame = rates(_frame(0.0, order=[100]), _frame(1.0, order=[0], shipping=[30]))
    assert {s["service"]: s["events_per_s"] for s in frame["services"]} == {
        "order": 0.0,
        "shipping": 0.0,
    }


def test_the_stuck_orders_are_analytics_own_count() -> None:
    order = {"service": "order", "health": {"status": "ok"}}
    analytics = {"service": "analytics", "health": {"status": "ok", "stuck_orders": 3}}
    assert stuck_orders([order, analytics]) == 3
    assert stuck_orders([order, {**analytics, "health": None}]) is None  # unreachable
    assert stuck_orders([order]) is None
