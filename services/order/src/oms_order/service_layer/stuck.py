"""Orders stuck in a status: a timer's sweep reports each stay past its threshold once, as
``OrderStuck`` on ``oms.orders``, for the operations alerts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import asyncpg
import structlog

from oms_events.orders import OrderStuck
from oms_order.domain.stuck import StuckOrder, StuckPolicy
from oms_runtime import UnitOfWork

__all__ = ["StuckOrders", "StuckStore"]

_log = structlog.get_logger(__name__)


class StuckStore(Protocol):
    async def report_stuck(
        self, conn: asyncpg.Connection, policy: StuckPolicy, now: datetime, sweep_id: UUID
    ) -> list[StuckOrder]:
        """The stays past their status's cutoff not reported before, now marked reported,
        each with the order's next sequence and a timeline entry caused by the sweep."""
        ...


@dataclass(frozen=True)
class StuckOrders:
    store: StuckStore
    policy: StuckPolicy

    async def sweep(self, work: UnitOfWork, now: datetime) -> int:
        """One statement finds and marks the stays and writes their timeline entries; one
        event each, in the same transaction, with the entry's sequence."""
        sweep_id = work.cause or uuid.uuid4()
        stuck = await self.store.report_stuck(work.conn, self.policy, now, sweep_id)
        for order in stuck:
            work.emit(
                OrderStuck(
                    order_id=order.order_id,
                    status=order.status.value,
                    since=order.since,
                    threshold_s=int(order.threshold.total_seconds()),
                    detected_at=now,
                ),
                subject=order.order_id,
                sequence=order.sequence,
            )
        if stuck:
            _log.warning("orders_stuck", count=len(stuck))
        return len(stuck)
