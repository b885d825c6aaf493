"""Composition root of the inventory service."""

from __future__ import annotations

from pathlib import Path

from oms_inventory.api import register_api
from oms_inventory.config import InventorySettings
from oms_inventory.expiry import sweep
from oms_inventory.handlers.feed import feed_handlers
from oms_inventory.handlers.reservations import ReservationHandlers
from oms_inventory.handlers.returns import return_handlers
from oms_inventory.store.projection import publish_changes
from oms_runtime import ServiceRuntime
from oms_runtime.api_keys import parse_caller_keys

__all__ = ["MIGRATIONS", "build_runtime"]

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build_runtime(settings: InventorySettings | None = None) -> ServiceRuntime:
    settings = settings or InventorySettings()
    runtime = ServiceRuntime("inventory", settings=settings, migrations=MIGRATIONS)
    reservations = ReservationHandlers(default_hold_s=settings.reservation_hold_s)
    runtime.subscribe("oms.reservation-requests", reservations.requests(), finish=publish_changes)
    runtime.subscribe("oms.shipments", reservations.shipments(), finish=publish_changes)
    runtime.subscribe("oms.inventory-feed", feed_handlers(), finish=publish_changes)
    runtime.subscribe("oms.returns", return_handlers(), finish=publish_changes)

    @runtime.timer(settings.reservation_sweep_s)
    async def sweep_expired_reservations() -> None:
        await sweep(runtime, settings.reservation_sweep_batch)

    register_api(runtime, parse_caller_keys(settings.inventory_api_keys))
    return runtime
