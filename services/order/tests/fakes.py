"""In-memory stand-ins for the order service's stores and payment provider, for unit tests
of its service layer with the runtime's in-memory unit of work."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from oms_events.orders import RejectionReason
from oms_events.values import Money
from oms_order.adapters.orders import NewOrder, Timeline
from oms_order.adapters.payments import AuthorizationResult, PaymentOutcome
from oms_order.adapters.shipments import ClosedShipment
from oms_order.domain.order import Order
from oms_order.domain.status import OrderStatus
from oms_order.domain.stuck import StuckOrder, StuckPolicy


@dataclass
class InMemoryOrders:
    """The order store's behaviour, kept in dicts; aggregates are copied in and out, as a
    database would."""

    orders: dict[str, Order] = field(default_factory=dict)
    rejected: dict[str, list[RejectionReason]] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    pending: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    promises: dict[str, datetime] = field(default_factory=dict)

    async def insert_orders(self, conn: asyncpg.Connection, new: Sequence[NewOrder]) -> set[str]:
        inserted: set[str] = set()
        for n in new:
            key = (n.order.channel, n.order.external_order_id)
            if key in self.keys:
                continue
            self.keys[key] = n.order_id
            if n.reasons:
                self.rejected[n.order_id] = list(n.reasons)
            else:
                self.orders[n.order_id] = Order.new(n.order_id, n.order)
            if n.order.promised_by is not None:
                self.promises[n.order_id] = n.order.promised_by
            inserted.add(n.order_id)
        return inserted

    async def insert_unreadable_order(
        self,
        conn: asyncpg.Connection,
        order_id: str,
        channel: str,
        external_order_id: str,
        reasons: list[RejectionReason],
    ) -> bool:
        if (channel, external_order_id) in self.keys:
            return False
        self.keys[(channel, external_order_id)] = order_id
        self.rejected[order_id] = reasons
        return True

    async def lock_identities(
        self, conn: asyncpg.Connection, identities: Sequence[tuple[str, str]]
    ) -> None:
        """One unit of work at a time in memory: nothing to wait for."""

    async def order_exists(self, conn: asyncpg.Connection, order_id: str) -> bool:
        return order_id in self.orders or order_id in self.rejected

    async def causes_recorded(
        self, conn: asyncpg.Connection, order_ids: Sequence[str], causes: Sequence[UUID]
    ) -> set[UUID]:
        return set()  # the unit tests' timelines are never written (no consumer runs here)

    async def load_order(
        self, conn: asyncpg.Connection, order_id: str, timeline: Timeline, *, lines: bool = True
    ) -> Order | None:
        if order_id not in self.orders:
            return None
        timeline.seed(order_id, 0)
        return copy.deepcopy(self.orders[order_id])

    async def load_statuses(
        self, conn: asyncpg.Connection, order_ids: Sequence[str], timeline: Timeline
    ) -> dict[str, Order]:
        found = {}
        for order_id in order_ids:
            order = await self.load_order(conn, order_id, timeline)
            if order is not None:
                found[order_id] = order
        return found

    async def save_order(
        self, conn: asyncpg.Connection, order: Order, *, lines: bool = True
    ) -> None:
        self.orders[order.order_id] = copy.deepcopy(order)

    async def save_orders(self, conn: asyncpg.Connection, orders: Sequence[Order]) -> None:
        for order in orders:
            await self.save_order(conn, order)

    async def raise_promises(
        self, conn: asyncpg.Connection, promises: Mapping[str, datetime]
    ) -> None:
        for order_id, promised in promises.items():
            self.promises[order_id] = max(promised, self.promises.get(order_id, promised))

    async def statuses(self, conn: asyncpg.Connection, order_ids: Sequence[str]) -> dict[str, str]:
        found = {i: o.status.value for i, o in self.orders.items() if i in order_ids}
        found |= {i: OrderStatus.REJECTED.value for i in self.rejected if i in order_ids}
        return found

    async def set_shipping_address(
        self, conn: asyncpg.Connection, order_id: str, address_json: str
    ) -> None:
        self.addresses[order_id] = address_json

    async def add_pending_cancellation(
        self,
        conn: asyncpg.Connection,
        *,
        channel: str,
        external_order_id: str,
        event_id: UUID,
        reason: str | None,
        requested_at: Any,
    ) -> None:
        self.pending.setdefault(
            (channel, external_order_id),
            {"event_id": event_id, "reason": reason, "requested_at": requested_at},
        )

    async def take_pending_cancellations(
        self, conn: asyncpg.Connection, orders: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], Mapping[str, Any]]:
        return {key: self.pending.pop(key) for key in orders if key in self.pending}


@dataclass
class Shipment:
    order_id: str
    capture_id: str | None
    delivered_at: datetime | None = None
    uncollected_at: datetime | None = None
    for_pickup: bool = False

    @property
    def out(self) -> bool:
        return self.delivered_at is None and self.uncollected_at is None


@dataclass
class InMemoryShipments:
    shipments: dict[str, Shipment] = field(default_factory=dict)
    refunds: list[tuple[str, int]] = field(default_factory=list)
    """(capture id, amount) of each refund drawn on a shipment's capture."""

    async def shipment_known(self, conn: asyncpg.Connection, shipment_id: str) -> bool:
        return shipment_id in self.shipments

    async def set_aside(self, conn: asyncpg.Connection, shipment_id: str) -> None:
        self.shipments[shipment_id].for_pickup = True

    def _still_out(self, order_id: str) -> int:
        return sum(1 for s in self.shipments.values() if s.order_id == order_id and s.out)

    async def insert_shipment(
        self,
        conn: asyncpg.Connection,
        *,
        shipment_id: str,
        order_id: str,
        capture_id: str | None,
        captured_minor: int,
        shipped_at: datetime,
        carrier: str | None,
        tracking_numbers: Sequence[str],
        for_pickup: bool,
        lines: Sequence[tuple[str, int]],
    ) -> None:
        self.shipments[shipment_id] = Shipment(order_id, capture_id, for_pickup=for_pickup)

    async def mark_delivered(
        self, conn: asyncpg.Connection, shipment_id: str, at: datetime
    ) -> int | None:
        found = self.shipments.get(shipment_id)
        if found is None or found.delivered_at is not None:
            return None
        found.delivered_at = at
        return self._still_out(found.order_id)

    async def close_uncollected(
        self, conn: asyncpg.Connection, shipment_id: str, at: datetime
    ) -> ClosedShipment | None:
        found = self.shipments.get(shipment_id)
        if found is None or not found.out:
            return None
        found.uncollected_at = at
        return ClosedShipment(found.capture_id, self._still_out(found.order_id))

    async def capture_refunded(
        self, conn: asyncpg.Connection, capture_id: str, amount_minor: int
    ) -> None:
        self.refunds.append((capture_id, amount_minor))


@dataclass
class FakePayments:
    """Approves every authorisation unless its order is in ``declined``; records each call."""

    declined: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, int]] = field(default_factory=list)

    async def authorize(
        self,
        *,
        idempotency_key: str,
        reference: str,
        amount: Money,
        card_token: str | None,
        method: str,
    ) -> AuthorizationResult:
        self.calls.append(("authorize", reference, amount.amount_minor))
        if reference in self.declined:
            return AuthorizationResult(PaymentOutcome.DECLINED, None, "card declined")
        return AuthorizationResult(PaymentOutcome.APPROVED, f"auth-{reference}", None)

    async def capture(
        self, *, idempotency_key: str, reference: str, authorization_id: str, amount: Money
    ) -> str:
        self.calls.append(("capture", reference, amount.amount_minor))
        return f"cap-{idempotency_key}"

    async def void(self, *, idempotency_key: str, reference: str, authorization_id: str) -> None:
        self.calls.append(("void", reference, 0))

    async def refund(
        self, *, idempotency_key: str, reference: str, capture_id: str, amount: Money
    ) -> str:
        self.calls.append(("refund", reference, amount.amount_minor))
        return f"ref-{idempotency_key}"


@dataclass
class FakeStuckStore:
    """Each order's status and when it entered it; a stay past its cutoff is reported once,
    as the statement's ``order_stuck_reports`` row keeps it."""

    stays: dict[str, tuple[OrderStatus, datetime]] = field(default_factory=dict)
    reported: set[tuple[str, OrderStatus, datetime]] = field(default_factory=set)
    sequences: dict[str, int] = field(default_factory=dict)
    timeline: list[tuple[str, int, UUID]] = field(default_factory=list)

    async def report_stuck(
        self, conn: asyncpg.Connection, policy: StuckPolicy, now: datetime, sweep_id: UUID
    ) -> list[StuckOrder]:
        due = sorted(
            (since, order_id, status)
            for order_id, (status, since) in self.stays.items()
            if policy.is_stuck(status, since, now)
            and (order_id, status, since) not in self.reported
        )[: policy.per_sweep]
        found = []
        for since, order_id, status in due:
            self.reported.add((order_id, status, since))
            sequence = self.sequences[order_id] = self.sequences.get(order_id, 0) + 1
            self.timeline.append((order_id, sequence, sweep_id))
            found.append(StuckOrder(order_id, status, since, policy.thresholds[status], sequence))
        return found
