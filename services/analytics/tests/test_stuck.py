"""Stuck orders on plain dicts (the worker passes a faust table): stays moved by lifecycle
events in any order, each stay past its threshold reported once and cleared when the order
moves on, nothing kept until the alerts are out, the bottleneck view, the settings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from oms_analytics.config import AnalyticsSettings
from oms_analytics.domain.stuck import (
    DEFAULT_STUCK_AFTER,
    Cleared,
    Detected,
    FlowStatus,
    StuckPolicy,
)
from oms_analytics.service_layer.stuck import Outcome, StuckOrders, alert_event
from oms_events.analytics import StuckOrderCleared, StuckOrderDetected
from oms_events.codec import decode, encode
from oms_events.registry import EventPayload
from tests.support.analytics import (
    accepted,
    allocated,
    at,
    canceled,
    confirmed,
    envelope,
    fulfilment_created,
    held,
    released,
    shipped,
)

CONFIRMED, ALLOCATED = FlowStatus.CONFIRMED, FlowStatus.ALLOCATED
POLICY = StuckPolicy.of_seconds({FlowStatus.PENDING: 600, CONFIRMED: 900, ALLOCATED: 3600})


class Reader:
    """Reads events as the worker does: the watermark of the partition is the latest event
    time read on it; alerts go out (here: into a list), then the stays are kept."""

    def __init__(self, stays: dict[str, Any] | None = None) -> None:
        self.stays: dict[str, Any] = {} if stays is None else stays
        self.stuck = StuckOrders(self.stays, POLICY)
        self.marks: dict[int, datetime] = {}
        self.sent: list[Detected | Cleared] = []

    def read(self, payload: EventPayload, when: datetime, partition: int = 0) -> Outcome:
        mark = max(self.marks.get(partition, when), when)
        self.marks[partition] = mark
        outcome = self.stuck.observe(envelope(payload, when), payload, partition, mark)
        self.sent.extend(outcome.alerts)
        self.stuck.apply(outcome)
        return outcome


def _detected(order_id: str, status: FlowStatus, since: str, threshold_s: int) -> Detected:
    moment = at(since)
    threshold = timedelta(seconds=threshold_s)
    return Detected(order_id, status, moment, threshold, moment + threshold, "web", ())


def test_a_stay_past_its_threshold_is_reported_once_and_cleared_when_the_order_moves() -> None:
    reader = Reader()
    reader.read(accepted("S1", "web", 100), at("10:00"))
    reader.read(confirmed("S1", at("10:01")), at("10:01"))
    reader.read(accepted("P1", "web", 100), at("10:10"))  # another order moves the watermark
    assert reader.sent == []
    reader.read(confirmed("P1", at("10:16")), at("10:16"))  # S1 is stuck since 10:16
    assert reader.sent == [_detected("S1", CONFIRMED, "10:01", 900)]
    reader.read(allocated("P1", "WH-1"), at("10:30"))
    reader.read(accepted("P2", "web", 100), at("11:00"))
    assert len(reader.sent) == 1  # once, however far the watermark goes
    reader.read(allocated("S1", "WH-1"), at("11:05"))
    assert reader.sent[1:] == [Cleared("S1", CONFIRMED, at("10:01"), at("11:05"), ALLOCATED)]
    assert reader.stuck.stay("S1") is not None
    assert reader.stuck.stay("S1").stuck_at is None  # type: ignore[union-attr]


def test_orders_that_move_in_time_or_are_canceled_raise_nothing() -> None:
    reader = Reader()
    reader.read(accepted("A1", "web", 100), at("10:00"))
    reader.read(confirmed("A1", at("10:05")), at("10:05"))
    reader.read(allocated("A1", "WH-1"), at("10:15"))
    reader.read(accepted("C1", "web", 100), at("10:20"))
    reader.read(canceled("C1", at("10:25")), at("10:25"))
    reader.read(fulfilment_created("A1", "WH-1"), at("11:00"))
    reader.read(shipped("A1", at("11:30")), at("11:30"))
    # A final status stays: a stray later event does not reopen the order.
    reader.read(confirmed("C1", at("12:00")), at("12:00"))
    reader.read(accepted("Z1", "web", 100), at("23:00"))
    assert reader.sent == []
    assert reader.stuck.stay("C1").status is FlowStatus.CANCELED  # type: ignore[union-attr]
    assert reader.stuck.stay("A1").locations == ("WH-1", "WH-HAMBURG")  # type: ignore[union-attr]


def test_a_stay_that_outlasted_its_threshold_unseen_is_reported_and_cleared_as_it_ends() -> None:
    """Its partition read nothing else in the meantime: the next event of the order itself
    shows the stay was too long, so the stuck stays do not depend on the interleaving."""
    reader = Reader()
    reader.read(accepted("S1", "web", 100), at("10:00"))
    reader.read(confirmed("S1", at("10:01")), at("10:01"))
    reader.read(allocated("S1", "WH-1"), at("10:20"))
    assert reader.sent == [
        _detected("S1", CONFIRMED, "10:01", 900),
        Cleared("S1", CONFIRMED, at("10:01"), at("10:20"), ALLOCATED),
    ]


def test_events_read_out_of_order_keep_the_latest_status_and_fill_in_the_channel() -> None:
    reader = Reader()
    reader.read(allocated("S1", "WH-1"), at("10:10"), partition=2)  # oms.sourcing read first
    reader.read(accepted("S1", "web", 100), at("10:00"), partition=2)
    stay = reader.stuck.stay("S1")
    assert stay is not None
    assert (stay.status, stay.since, stay.channel) == (ALLOCATED, at("10:10"), "web")
    reader.read(accepted("P1", "web", 100), at("11:10"), partition=2)
    assert reader.sent == [
        Detected("S1", ALLOCATED, at("10:10"), timedelta(hours=1), at("11:10"), "web", ("WH-1",))
    ]


def test_an_end_read_after_a_later_status_still_ends_the_order() -> None:
    reader = Reader()
    reader.read(allocated("C1", "WH-1"), at("10:10"))  # oms.sourcing read first
    reader.read(canceled("C1", at("10:08")), at("10:08"))
    reader.read(canceled("T1", at("13:00")), at("13:00"))
    stay = reader.stuck.stay("C1")
    assert stay is not None and (stay.status, stay.since) == (FlowStatus.CANCELED, at("10:08"))
    assert reader.sent == []


def test_watermarks_are_per_partition() -> None:
    reader = Reader()
    reader.read(confirmed("S1", at("10:00")), at("10:00"), partition=1)
    reader.read(accepted("P1", "web", 100), at("12:00"), partition=4)
    assert reader.sent == []
    reader.read(accepted("P2", "web", 100), at("10:15"), partition=1)
    assert [alert.order_id for alert in reader.sent] == ["S1"]


def test_a_released_hold_goes_back_to_the_status_before_it() -> None:
    reader = Reader()
    reader.read(accepted("H1", "web", 100), at("10:00"))
    reader.read(held("H1"), at("10:02"))  # ON_HOLD is not watched by this policy
    reader.read(accepted("P1", "web", 100), at("12:00"))
    assert reader.sent == []
    reader.read(released("H1"), at("12:01"))
    stay = reader.stuck.stay("H1")
    assert stay is not None and (stay.status, stay.since) == (FlowStatus.PENDING, at("12:01"))
    reader.read(released("H1"), at("12:02"))  # no hold to release: nothing changes
    assert reader.stuck.stay("H1") == stay


def test_nothing_is_kept_until_the_alerts_are_out_and_a_restart_reports_nothing_twice() -> None:
    reader = Reader()
    reader.read(confirmed("S1", at("10:00")), at("10:00"))
    tick = canceled("T1", at("10:20"))  # an order that is over moves only the watermark
    # The alert was not acknowledged (the worker then dies, or the next event finds it again).
    lost = reader.stuck.observe(envelope(tick, at("10:20")), tick, 0, at("10:20"))
    again = reader.stuck.observe(envelope(tick, at("10:20")), tick, 0, at("10:20"))
    assert lost.alerts == again.alerts and len(lost.alerts) == 1
    assert alert_event(lost.alerts[0]).id == alert_event(again.alerts[0]).id
    reader.stuck.apply(again)
    assert reader.stuck.observe(envelope(tick, at("10:21")), tick, 0, at("10:21")).alerts == []
    # A new worker on the same table (recovered from its changelog) builds its schedule anew.
    restarted = Reader(reader.stays)
    restarted.marks = dict(reader.marks)
    assert restarted.stuck.stuck_count() == 1
    restarted.read(canceled("T2", at("11:00")), at("11:00"))
    restarted.read(confirmed("S2", at("11:00")), at("11:00"))
    restarted.read(canceled("T3", at("11:30")), at("11:30"))
    assert [(a.order_id, type(a).__name__) for a in restarted.sent] == [("S2", "Detected")]


def test_a_query_while_the_table_recovers_does_not_leave_the_schedule_empty() -> None:
    before = Reader()
    before.read(confirmed("S1", at("10:00")), at("10:00"))
    table: dict[str, Any] = {}
    stuck = StuckOrders(table, POLICY)
    assert stuck.stuck_count() == 0  # /health, asked before the changelog is read
    table.update(before.stays)
    tick = canceled("T1", at("10:20"))
    outcome = stuck.observe(envelope(tick, at("10:20")), tick, 0, at("10:20"))
    assert [alert.order_id for alert in outcome.alerts] == ["S1"]
    stuck.apply(outcome)
    assert stuck.stuck_count() == 1


def test_alerts_as_events_with_ids_derived_from_the_stay() -> None:
    detected = Detected(
        "S1", CONFIRMED, at("10:00"), timedelta(minutes=15), at("10:15"), "web", ("WH-1",)
    )
    cleared = Cleared("S1", CONFIRMED, at("10:00"), at("11:00"), ALLOCATED)
    first = decode(encode(alert_event(detected)))
    assert first.envelope.time == at("10:15") and first.envelope.subject == "S1"
    assert first.payload == StuckOrderDetected(
        order_id="S1",
        status="CONFIRMED",
        since=at("10:00"),
        threshold_s=900,
        stuck_at=at("10:15"),
        channel="web",
        locations=("WH-1",),
    )
    second = decode(encode(alert_event(cleared)))
    assert second.payload == StuckOrderCleared(
        order_id="S1",
        status="CONFIRMED",
        since=at("10:00"),
        left_at=at("11:00"),
        next_status="ALLOCATED",
    )
    assert first.envelope.id != second.envelope.id
    assert alert_event(detected).id == first.envelope.id


def test_the_bottleneck_view_per_status_and_the_stuck_orders_filtered() -> None:
    reader = Reader()
    reader.read(accepted("S1", "web", 100), at("09:00"))
    reader.read(confirmed("S1", at("09:01")), at("09:01"))
    reader.read(accepted("S2", "pos", 100), at("09:05"))
    reader.read(confirmed("S2", at("09:06")), at("09:06"))
    reader.read(allocated("S2", "WH-2"), at("09:10"))
    reader.read(accepted("S3", "web", 100), at("09:30"))
    reader.read(accepted("P1", "web", 100), at("11:00"))
    view = reader.stuck.bottlenecks(None, None, None)
    assert view["statuses"] == [
        {
            "status": "PENDING",
            "threshold_s": 600,
            "stuck": 1,
            "oldest_since": "2026-11-24T09:30:00Z",
            "oldest_order_id": "S3",
        },
        {
            "status": "CONFIRMED",
            "threshold_s": 900,
            "stuck": 1,
            "oldest_since": "2026-11-24T09:01:00Z",
            "oldest_order_id": "S1",
        },
        {
            "status": "ALLOCATED",
            "threshold_s": 3600,
            "stuck": 1,
            "oldest_since": "2026-11-24T09:10:00Z",
            "oldest_order_id": "S2",
        },
    ]
    assert [row["order_id"] for row in view["orders"]] == ["S1", "S2", "S3"]
    assert view["orders"][1] == {
        "order_id": "S2",
        "status": "ALLOCATED",
        "since": "2026-11-24T09:10:00Z",
        "stuck_at": "2026-11-24T10:10:00Z",
        "threshold_s": 3600,
        "channel": "pos",
        "locations": ["WH-2"],
    }
    web = reader.stuck.stuck_orders(None, "web", None)
    assert [row["order_id"] for row in web["orders"]] == ["S1", "S3"]
    at_wh2 = reader.stuck.stuck_orders(None, None, "WH-2")
    assert [row["order_id"] for row in at_wh2["orders"]] == ["S2"]
    only = reader.stuck.bottlenecks(FlowStatus.PENDING, "pos", None)
    assert only["statuses"][0]["stuck"] == 0 and only["orders"] == []
    assert reader.stuck.stuck_count() == 3


def test_the_policy_refuses_final_statuses_and_thresholds_under_a_second() -> None:
    with pytest.raises(ValueError, match="final statuses are never stuck: CANCELED"):
        StuckPolicy({FlowStatus.CANCELED: timedelta(hours=1)})
    with pytest.raises(ValueError, match="at least one second: SHIPPED"):
        StuckPolicy({FlowStatus.SHIPPED: timedelta(milliseconds=10)})
    assert POLICY.deadline(FlowStatus.SHIPPED, at("10:00")) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"CANCELED": 60}', "final statuses are never stuck: CANCELED"),
        ('{"SHIPPED": 0}', "greater than or equal to 1"),
        ('{"SHIPPED": "600"}', "valid integer"),
        ('{"LOST": 60}', "Input should be 'PENDING'"),
    ],
)
def test_bad_thresholds_are_refused_at_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://localhost/analytics")
    monkeypatch.setenv("OMS_ANALYTICS_STUCK_AFTER_S", value)
    with pytest.raises(ValidationError, match=message) as refused:
        AnalyticsSettings()
    assert refused.value.errors()[0]["loc"][0] == "analytics_stuck_after_s"


def test_thresholds_default_and_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://localhost/analytics")
    default = AnalyticsSettings().stuck_policy()
    assert default.thresholds[CONFIRMED] == timedelta(minutes=15)
    assert set(default.thresholds) == set(DEFAULT_STUCK_AFTER)
    monkeypatch.setenv("OMS_ANALYTICS_STUCK_AFTER_S", '{"RELEASED": 7200}')
    assert AnalyticsSettings().stuck_policy().thresholds == {
        FlowStatus.RELEASED: timedelta(hours=2)
    }
