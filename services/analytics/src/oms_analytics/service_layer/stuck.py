"""The stuck-orders use case: lifecycle events move each order's stay; the watermark of the
event's partition reports the stays that outlasted their threshold; the bottleneck view.

``observe`` works out what an event does without writing: the worker publishes the alerts,
waits for the broker's acknowledgement, and only then ``apply`` keeps the stays. A stay is
marked reported only once its alert is out, so a crash in between publishes it again (with
the same event id, derived from the stay) rather than never.

Due stays are found through an in-memory schedule per source partition (a heap of deadlines),
built from the table by the first event after a start or a rebalance (events are read only
once the table is recovered); the table stays the truth, so an entry whose stay has moved on
is skipped when it comes up.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from oms_analytics.domain.expiry import Retention, stay_expired
from oms_analytics.domain.moments import utc_iso
from oms_analytics.domain.stuck import (
    Alert,
    Detected,
    FlowStatus,
    Stay,
    Step,
    StuckPolicy,
    move,
)
from oms_analytics.service_layer.sweeping import Sweep
from oms_events.analytics import StuckOrderCleared, StuckOrderDetected
from oms_events.codec import new_event
from oms_events.envelope import Envelope
from oms_events.fulfilment import Delivered, PickedUpByCustomer, ShipmentShipped
from oms_events.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderCompleted,
    OrderConfirmed,
    OrderHeld,
    OrderRejected,
    OrderReleased,
)
from oms_events.registry import EventPayload
from oms_events.sourcing import FulfilmentOrderCreated, OrderAllocated, OrderBackordered

__all__ = ["STUCK_TRACKED", "Outcome", "StuckOrders", "alert_event"]

Store = MutableMapping[str, Any]

STUCK_TRACKED: tuple[type[EventPayload], ...] = (
    OrderAccepted,
    OrderRejected,
    OrderConfirmed,
    OrderHeld,
    OrderReleased,
    OrderAllocated,
    OrderBackordered,
    FulfilmentOrderCreated,
    ShipmentShipped,
    Delivered,
    PickedUpByCustomer,
    OrderCompleted,
    OrderCanceled,
)
"""The event types that move an order's stay."""

_ALERT_NAMESPACE = uuid.UUID("5f0c8a52-7d1e-4b39-9a64-2c3e8f1d7b06")


@dataclass
class Outcome:
    alerts: list[Alert] = field(default_factory=list)
    stays: dict[str, Stay] = field(default_factory=dict)
    """The stays to keep once the alerts are out, by order id."""


class StuckOrders:
    def __init__(self, stays: Store, policy: StuckPolicy) -> None:
        self.stays = stays
        self.policy = policy
        self._schedule: dict[int, list[tuple[datetime, str]]] | None = None
        self._stuck_now: set[str] = set()
        """The orders stuck now, kept with the schedule: ``/health`` counts them often."""

    def observe(
        self,
        envelope: Envelope,
        payload: EventPayload | None,
        partition: int,
        watermark: datetime | None,
    ) -> Outcome:
        """What the event (``payload`` None: not a tracked type) read from ``partition`` does,
        and the stays of that partition that ``watermark`` (its latest event time) makes
        stuck."""
        outcome = Outcome()
        candidates: list[str] = []
        step = self._move(envelope, payload, partition)
        if step is not None:
            outcome.stays[step.stay.order_id] = step.stay
            outcome.alerts.extend(step.alerts)
            candidates.append(step.stay.order_id)
        if watermark is None:
            return outcome
        due = self._due(partition, watermark)
        for order_id in [*candidates, *due]:
            stay = outcome.stays.get(order_id) or self.stay(order_id)
            detected = stay.detect(self.policy, watermark) if stay else None
            if stay is not None and detected is not None:
                outcome.alerts.append(detected)
                outcome.stays[order_id] = replace(stay, stuck_at=detected.stuck_at)
                if order_id in due:
                    # Due again until ``apply`` keeps the stay as reported (then skipped),
                    # so an alert that never got out is found again.
                    self._plan(stay)
        return outcome

    def apply(self, outcome: Outcome) -> None:
        """Keep the stays (their alerts are out) and schedule the open ones."""
        for order_id, stay in outcome.stays.items():
            self.stays[order_id] = stay.to_dict()
            self._plan(stay)

    def expire(self, retention: Retention, sweep: Sweep) -> Iterator[None]:
        """Delete the final stays begun more than the retention before the watermark of their
        source partition (``sweep.now``). A final stay is never stuck nor scheduled."""
        for order_id in list(self.stays.keys()):
            yield from sweep.tick()
            stay = self.stay(order_id)
            if stay is not None and stay_expired(stay, retention, sweep.now(stay.partition)):
                sweep.delete("stays", self.stays, order_id, stay.partition)

    def forget_schedule(self) -> None:
        """The partitions changed hands: rebuild the schedule from the table when next used."""
        self._schedule = None

    def stay(self, order_id: str) -> Stay | None:
        known = self.stays.get(order_id)
        return Stay.from_dict(order_id, known) if known is not None else None

    def bottlenecks(
        self, status: FlowStatus | None, channel: str | None, location: str | None
    ) -> dict[str, Any]:
        """Per watched status (or the one asked for): its threshold, how many orders are stuck
        in it and the oldest of them; then those orders, oldest first."""
        stuck = self._stuck(status, channel, location)
        watched = [s for s in FlowStatus if s in self.policy.thresholds]
        rows = []
        for each in watched if status is None else [status]:
            mine = [stay for stay in stuck if stay.status is each]
            threshold = self.policy.thresholds.get(each)
            rows.append(
                {
                    "status": str(each),
                    "threshold_s": int(threshold.total_seconds()) if threshold else None,
                    "stuck": len(mine),
                    "oldest_since": utc_iso(mine[0].since) if mine else None,
                    "oldest_order_id": mine[0].order_id if mine else None,
                }
            )
        return {**_filters(status, channel, location), "statuses": rows, "orders": _rows(stuck)}

    def stuck_orders(
        self, status: FlowStatus | None, channel: str | None, location: str | None
    ) -> dict[str, Any]:
        """The orders stuck now, oldest first, with the filters applied."""
        stuck = self._stuck(status, channel, location)
        return {**_filters(status, channel, location), "orders": _rows(stuck)}

    def stuck_count(self) -> int:
        # Only an event builds the schedule: events are read once the tables are recovered,
        # while a query can come before.
        if self._schedule is None:
            return len(self._stuck(None, None, None))
        return len(self._stuck_now)

    def _stuck(
        self, status: FlowStatus | None, channel: str | None, location: str | None
    ) -> list[Stay]:
        found = []
        for order_id, value in list(self.stays.items()):
            if value["stuck_at"] is None:
                continue
            stay = Stay.from_dict(order_id, value)
            if (
                (status is None or stay.status is status)
                and (channel is None or stay.channel == channel)
                and (location is None or location in stay.locations)
            ):
                found.append(stay)
        return sorted(found, key=lambda stay: (stay.since, stay.order_id))

    def _move(
        self, envelope: Envelope, payload: EventPayload | None, partition: int
    ) -> Step | None:
        change = _change(payload) if payload is not None else None
        if change is None:
            return None
        order_id, status, channel, locations, release = change
        return move(
            self.stay(order_id),
            order_id,
            status,
            envelope.time,
            partition,
            self.policy,
            channel=channel,
            locations=locations,
            release=release,
        )

    def _due(self, partition: int, watermark: datetime) -> list[str]:
        """Pop the orders whose scheduled deadline ``watermark`` has reached."""
        heap = self._heaps().setdefault(partition, [])
        due = []
        while heap and heap[0][0] <= watermark:
            due.append(heapq.heappop(heap)[1])
        return due

    def _heaps(self) -> dict[int, list[tuple[datetime, str]]]:
        if self._schedule is None:
            self._schedule = {}
            self._stuck_now = set()
            for order_id, value in list(self.stays.items()):
                self._plan(Stay.from_dict(order_id, value))
        return self._schedule

    def _plan(self, stay: Stay) -> None:
        if stay.stuck_at is None:
            self._stuck_now.discard(stay.order_id)
        else:
            self._stuck_now.add(stay.order_id)
        deadline = self.policy.deadline(stay.status, stay.since)
        if deadline is not None and stay.stuck_at is None and self._schedule is not None:
            heapq.heappush(self._schedule.setdefault(stay.partition, []), (deadline, stay.order_id))


def alert_event(alert: Alert) -> Envelope:
    """The alert as an event. Its id is derived from the stay and the kind, so a replay (or a
    republication after a crash) carries the same id and consumers' inboxes keep it once."""
    name = f"{type(alert).__name__}/{alert.order_id}/{alert.status}/{alert.since.isoformat()}"
    event_id = uuid.uuid5(_ALERT_NAMESPACE, name)
    payload: EventPayload
    if isinstance(alert, Detected):
        payload = StuckOrderDetected(
            order_id=alert.order_id,
            status=str(alert.status),
            since=alert.since,
            threshold_s=int(alert.threshold.total_seconds()),
            stuck_at=alert.stuck_at,
            channel=alert.channel,
            locations=alert.locations,
        )
        time = alert.stuck_at
    else:
        payload = StuckOrderCleared(
            order_id=alert.order_id,
            status=str(alert.status),
            since=alert.since,
            left_at=alert.left_at,
            next_status=str(alert.next_status),
        )
        time = alert.left_at
    return new_event(
        payload,
        subject=alert.order_id,
        source="oms/analytics",
        correlation_id=alert.order_id,
        event_id=event_id,
        time=time,
    )


_Change = tuple[str, FlowStatus | None, str | None, tuple[str, ...], bool]


def _change(payload: EventPayload) -> _Change | None:
    """(order id, status, channel, locations, whether a hold is released) of an event."""
    match payload:
        case OrderAccepted():
            return payload.order_id, FlowStatus.PENDING, payload.channel, (), False
        case OrderRejected():
            return payload.order_id, FlowStatus.REJECTED, payload.channel, (), False
        case OrderAllocated():
            where = tuple(a.location_id for a in payload.allocations)
            return payload.order_id, FlowStatus.ALLOCATED, None, where, False
        case FulfilmentOrderCreated():
            return payload.order_id, FlowStatus.RELEASED, None, (payload.location_id,), False
        case ShipmentShipped():
            return payload.order_id, FlowStatus.SHIPPED, None, (payload.location_id,), False
        case PickedUpByCustomer():
            return payload.order_id, FlowStatus.COLLECTED, None, (payload.location_id,), False
        case OrderReleased():
            return payload.order_id, None, None, (), True
    status = _STATUS_OF.get(type(payload))
    if status is None:
        return None
    return str(getattr(payload, "order_id")), status, None, (), False  # noqa: B009


_STATUS_OF: dict[type[EventPayload], FlowStatus] = {
    OrderConfirmed: FlowStatus.CONFIRMED,
    OrderHeld: FlowStatus.ON_HOLD,
    OrderBackordered: FlowStatus.BACKORDERED,
    Delivered: FlowStatus.DELIVERED,
    OrderCompleted: FlowStatus.COMPLETED,
    OrderCanceled: FlowStatus.CANCELED,
}


def _filters(
    status: FlowStatus | None, channel: str | None, location: str | None
) -> dict[str, Any]:
    return {"status": str(status) if status else None, "channel": channel, "location": location}


def _rows(stays: list[Stay]) -> list[dict[str, Any]]:
    return [
        {
            "order_id": stay.order_id,
            "status": str(stay.status),
            "since": utc_iso(stay.since),
            "stuck_at": utc_iso(stay.stuck_at) if stay.stuck_at else None,
            "threshold_s": int((stay.stuck_at - stay.since).total_seconds())
            if stay.stuck_at
            else None,
            "channel": stay.channel,
            "locations": list(stay.locations),
        }
        for stay in stays
    ]
