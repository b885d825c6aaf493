"""The sweep that gives back reservations not committed in time."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from oms_events.inventory import ReservationExpired
from oms_inventory.adapters.projection import emit_for_order, publish_changes
from oms_inventory.adapters.reservations import expire_due
from oms_runtime import ServiceRuntime

__all__ = ["expire_reservations", "sweep"]

_log = structlog.get_logger(__name__)


async def expire_reservations(runtime: ServiceRuntime, limit: int) -> int:
    """Expire up to ``limit`` due reservations in one transaction; how many expired."""
    now = datetime.now(UTC)
    async with runtime.unit_of_work() as work:
        expired = await expire_due(work.conn, work.notes, now, limit)
        for held in expired:
            emit_for_order(
                work.outbox,
                ReservationExpired(
                    sku=held.sku,
                    location_id=held.location_id,
                    reservation_id=held.reservation_id,
                    order_id=held.order_id,
                    quantity=held.quantity,
                    expired_at=now,
                ),
                held.order_id,
            )
        await publish_changes(work)
    if expired:
        _log.info("reservations_expired", expired=len(expired))
    return len(expired)


async def sweep(runtime: ServiceRuntime, limit: int) -> None:
    """Expire everything due, ``limit`` per transaction."""
    while await expire_reservations(runtime, limit) == limit:
        pass
