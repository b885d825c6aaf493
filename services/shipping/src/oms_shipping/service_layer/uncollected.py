"""Pickups nobody collected: the sweep that ends work waiting past its ``hold_until``.

Under the ``cancel`` policy each such fulfilment order becomes UNCOLLECTED and
``PickupExpired`` is published: the order service cancels its lines and refunds them,
inventory puts the units back on the store's shelf, the customer is told. Under ``manual``
the sweep does not run: the store decides (the work stays ready for pickup).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import structlog

from oms_events.fulfilment import PickupExpired
from oms_runtime import Received, ServiceRuntime, UnitOfWork
from oms_shipping.service_layer.fulfilment import at_counter, wire
from oms_shipping.service_layer.stores import FulfilmentOrderStore

__all__ = ["PickupSweep", "RecordedExpiries", "UncollectedPolicy"]

_log = structlog.get_logger(__name__)


class UncollectedPolicy(StrEnum):
    CANCEL = "cancel"
    """Cancel the lines at ``hold_until``: refund, units back on the store's shelf."""
    MANUAL = "manual"
    """Leave the work waiting; the store's staff decide."""


@dataclass(frozen=True)
class PickupSweep:
    fulfilment_orders: FulfilmentOrderStore
    limit: int

    async def expire(self, work: UnitOfWork, now: datetime) -> int:
        """Up to ``limit`` pickups past their hold end uncollected, one statement for all;
        how many."""
        expired = await self.fulfilment_orders.expire_pickups(work.conn, now, self.limit)
        for fo in expired:
            assert fo.hold_until is not None
            work.emit(
                PickupExpired(
                    **at_counter(fo),
                    shipment_id=fo.shipment_id,
                    lines=wire(fo.lines),
                    hold_until=fo.hold_until,
                    expired_at=now,
                ),
                subject=fo.order_id,
            )
        if expired:
            _log.info("pickups_expired", expired=len(expired))
        return len(expired)

    async def sweep(self, runtime: ServiceRuntime) -> None:
        """Everything due, ``limit`` per transaction."""
        while True:
            async with runtime.unit_of_work() as work:
                expired = await self.expire(work, datetime.now(UTC))
            if expired < self.limit:
                return


@dataclass(frozen=True)
class RecordedExpiries:
    """A rebuild only (no sweep runs there): each pickup the live sweep expired, read back
    from ``oms.shipments`` and expired again at its place in time."""

    fulfilment_orders: FulfilmentOrderStore

    async def expired(self, work: UnitOfWork, received: Received[PickupExpired]) -> None:
        expired = received.payload
        done = await self.fulfilment_orders.expire_pickups(
            work.conn, expired.expired_at, 1, only=(expired.fulfilment_order_id,)
        )
        if not done:
            _log.warning(
                "recorded_expiry_not_applicable",
                fulfilment_order_id=expired.fulfilment_order_id,
            )
