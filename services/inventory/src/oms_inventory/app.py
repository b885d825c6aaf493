"""Composition root of the inventory service."""

from __future__ import annotations

from pathlib import Path

from oms_inventory.api import register_api
from oms_inventory.config import InventorySettings
from oms_inventory.expiry import sweep
from oms_inventory.handlers.feed import feed
from oms_inventory.handlers.reservations import ReservationHandlers
from oms_inventory.handlers.returns import returns
from oms_inventory.store.projection import publish_changes
from oms_runtime import ServiceRuntime
from oms_runtime.api_keys import parse_caller_keys

__all__ = ["MIGRATIONS", "build_runtime"]

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build_runtime(settings: InventorySettings | None = None) -> ServiceRuntime:
    settings = settings or InventorySettings()
    runtime = ServiceRuntime("inventory", settings=settings, migrations=MIGRATIONS)
    reservations = ReservationHandlers(default_hold_s=settings.reservation_hold_s)
    # Every topic changes stock: each batch projects what it changed once, at its end.
    for subscription in (reservations.requests(), reservations.shipments(), feed(), returns()):
        runtime.subscribe(subscription.finish(publish_changes))

    @runtime.timer(settings.reservation_sweep_s)
    async def sweep_expired_reservations() -> None:
        await sweep(runtime, settings.reservation_sweep_batch)

    register_api(runtime, parse_caller_keys(settings.inventory_api_keys))
    return runtime
