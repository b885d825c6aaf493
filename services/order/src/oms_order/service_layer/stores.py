"""What the order service's use cases need from storage, as ports.

The PostgreSQL modules (``oms_order.adapters.orders`` and ``.shipments``) satisfy them as
they are; unit tests pass in-memory fakes. Every method takes the unit of work's connection
first, so one transaction spans everything a use case does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from oms_events.orders import RejectionReason
from oms_order.adapters.orders import NewOrder, Timeline
from oms_order.adapters.shipments import ClosedShipment
from oms_order.domain.order import Order

__all__ = ["OrderStore", "ShipmentStore"]


class OrderStore(Protocol):
    async def insert_orders(self, conn: asyncpg.Connection, new: Sequence[NewOrder]) -> set[str]:
        """Insert what is new; the ids inserted (a known order is left as it is)."""
        ...

    async def insert_unreadable_order(
        self,
        conn: asyncpg.Connection,
        order_id: str,
        channel: str,
        external_order_id: str,
        reasons: list[RejectionReason],
    ) -> bool: ...

    async def lock_identities(
        self, conn: asyncpg.Connection, identities: Sequence[tuple[str, str]]
    ) -> None:
        """Until the transaction ends, nobody else submits or cancels by these (channel,
        external order id)s."""
        ...

    async def order_exists(self, conn: asyncpg.Connection, order_id: str) -> bool: ...

    async def causes_recorded(
        self, conn: asyncpg.Connection, order_ids: Sequence[str], causes: Sequence[UUID]
    ) -> set[UUID]:
        """Of ``causes``, those a timeline entry of one of ``order_ids`` names."""
        ...

    async def load_order(
        self, conn: asyncpg.Connection, order_id: str, timeline: Timeline, *, lines: bool = True
    ) -> Order | None:
        """Locked for the transaction; its stored sequence seeds ``timeline``."""
        ...

    async def load_statuses(
        self, conn: asyncpg.Connection, order_ids: Sequence[str], timeline: Timeline
    ) -> dict[str, Order]: ...

    async def save_order(
        self, conn: asyncpg.Connection, order: Order, *, lines: bool = True
    ) -> None: ...

    async def save_orders(self, conn: asyncpg.Connection, orders: Sequence[Order]) -> None: ...

    async def raise_promises(
        self, conn: asyncpg.Connection, promises: Mapping[str, datetime]
    ) -> None: ...

    async def statuses(
        self, conn: asyncpg.Connection, order_ids: Sequence[str]
    ) -> dict[str, str]: ...

    async def set_shipping_address(
        self, conn: asyncpg.Connection, order_id: str, address_json: str
    ) -> None: ...

    async def add_pending_cancellation(
        self,
        conn: asyncpg.Connection,
        *,
        channel: str,
        external_order_id: str,
        event_id: UUID,
        reason: str | None,
        requested_at: Any,
    ) -> None: ...

    async def take_pending_cancellations(
        self, conn: asyncpg.Connection, orders: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], Mapping[str, Any]]: ...


class ShipmentStore(Protocol):
    async def shipment_known(self, conn: asyncpg.Connection, shipment_id: str) -> bool: ...

    async def set_aside(self, conn: asyncpg.Connection, shipment_id: str) -> None: ...

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
    ) -> None: ...

    async def mark_delivered(
        self, conn: asyncpg.Connection, shipment_id: str, at: datetime
    ) -> int | None: ...

    async def close_uncollected(
        self, conn: asyncpg.Connection, shipment_id: str, at: datetime
    ) -> ClosedShipment | None:
        """A pickup never collected: what was captured for it and how many of the order's
        shipments are still out; None when unknown, delivered or closed already."""
        ...

    async def capture_refunded(
        self, conn: asyncpg.Connection, capture_id: str, amount_minor: int
    ) -> None: ...
