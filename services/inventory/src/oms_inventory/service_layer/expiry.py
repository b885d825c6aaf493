"""The sweep that gives back reservations not committed in time."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from oms_inventory.adapters.projection import publish_changes
from oms_inventory.service_layer.reservations import ReservationHandlers
from oms_runtime import ServiceRuntime

__all__ = ["expire_reservations", "sweep"]

_log = structlog.get_logger(__name__)


async def expire_reservations(
    runtime: ServiceRuntime, reservations: ReservationHandlers, limit: int
) -> int:
    """Expire up to ``limit`` due reservations in one transaction; how many expired."""
    async with runtime.unit_of_work() as work:
        expired = await reservations.expire(work, datetime.now(UTC), limit)
        await publish_changes(work)
    if expired:
        _log.info("reservations_expired", expired=expired)
    return expired


async def sweep(runtime: ServiceRuntime, reservations: ReservationHandlers, limit: int) -> None:
    """Expire everything due, ``limit`` per transaction."""
    while await expire_reservations(runtime, reservations, limit) == limit:
        pass
