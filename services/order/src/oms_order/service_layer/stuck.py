"""Orders stuck in a status: a timer's sweep reports each stay past its threshold once, as
``OrderStuck`` on ``oms.orders``, for the operations alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
import structlog

from oms_events.orders import OrderStuck
from oms_order.domain.stuck import StuckOrder, StuckPolicy
from oms_runtime import UnitOfWork

__all__ = ["StuckOrders", "StuckStore"]

_log = structlog.get_logger(__name__)


class StuckStore(Protocol):
    async def report_stuck(
        self, conn: asyncpg.Connection, policy: StuckPolicy, now: datetime, limit: int
    ) -> list[StuckOrder]:
        """The stays past their status's cutoff not reported before, now marked reported."""
        ...


@dataclass(frozen=True)
class StuckOrders:
    store: StuckStore
    policy: StuckPolicy
    per_sweep: int = 1000

    async def sweep(self, work: UnitOfWork, now: datetime) -> int:
        """One statement finds and marks the stays; one event each, in the same transaction.
        Not a change of the order: its sequence and timeline stay as they are."""
        stuck = await self.store.report_stuck(work.conn, self.policy, now, self.per_sweep)
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
            )
        if stuck:
            _log.warning("orders_stuck", count=len(stuck))
        return len(stuck)
