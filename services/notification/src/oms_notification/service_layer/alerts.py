"""Operations alerts: low and out of stock, an order stuck in a status, a record a service
dead-lettered. Each goes to the operations subscriptions that ask for its kind, at most
``limit`` per kind per window; the rest are counted and held back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import asyncpg
import structlog

from oms_events.inventory import LowStock, OutOfStock
from oms_events.operations import RecordDeadLettered
from oms_events.orders import OrderStuck
from oms_notification.adapters.webhooks import IncomingEvent
from oms_notification.domain.webhooks import alerts_allowed, window_start
from oms_notification.service_layer.webhooks import always, incoming
from oms_runtime import Received, UnitOfWork, Wakeup

__all__ = ["Alert", "AlertStore", "Alerts"]

_log = structlog.get_logger(__name__)

Alert = LowStock | OutOfStock | OrderStuck | RecordDeadLettered
"""The alert kinds, by event type (``ALERT_EVENT_TYPES`` in ``webhooks.py``)."""


class AlertStore(Protocol):
    async def take_alert_slots(
        self, conn: asyncpg.Connection, kind: str, window_start: datetime
    ) -> int:
        """Lock the kind's window and say how many alerts it has let through."""
        ...

    async def count_alerts(
        self,
        conn: asyncpg.Connection,
        kind: str,
        window_start: datetime,
        sent: int,
        suppressed: int,
    ) -> None: ...

    async def queue_deliveries(
        self, conn: asyncpg.Connection, events: Sequence[IncomingEvent], *, operations: bool
    ) -> int: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Alerts:
    store: AlertStore
    limit: int
    window_s: float
    clock: Callable[[], datetime] = _utc_now
    due: Wakeup = field(default_factory=Wakeup)
    """The webhook dispatcher's: woken when alerts are queued."""
    deciding: Callable[[], bool] = always
    """False in a rebuild: windows of the clock are not taken again, the rebuild copies
    the windows and the deliveries they let through."""

    async def alerts(self, work: UnitOfWork, run: Sequence[Received[Alert]]) -> None:
        """A run of one kind: the first alerts the window still allows go to every operations
        subscription that asks for the kind, once each (keyed like every delivery)."""
        if not self.deciding():
            return
        kind = run[0].envelope.type
        start = datetime.fromtimestamp(window_start(self.clock().timestamp(), self.window_s), UTC)
        sent = await self.store.take_alert_slots(work.conn, kind, start)
        allowed = alerts_allowed(sent, self.limit, len(run))
        queued = await self.store.queue_deliveries(
            work.conn, [incoming(r) for r in run[:allowed]], operations=True
        )
        suppressed = len(run) - allowed
        await self.store.count_alerts(work.conn, kind, start, allowed, suppressed)
        if suppressed:
            _log.warning("alerts_suppressed", kind=kind, suppressed=suppressed, limit=self.limit)
        if queued:
            work.wake_on_commit(self.due)
            _log.info("alerts_queued", kind=kind, queued=queued)
