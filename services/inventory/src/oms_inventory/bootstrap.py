"""Composition root of the inventory service."""

from __future__ import annotations

from oms_inventory.adapters import MIGRATIONS
from oms_inventory.config import InventorySettings
from oms_inventory.entrypoints.api import register_api
from oms_inventory.entrypoints.kafka import subscriptions
from oms_inventory.service_layer.expiry import sweep
from oms_inventory.service_layer.reservations import ReservationHandlers
from oms_runtime import ServiceRuntime, parse_caller_keys

__all__ = ["build_runtime"]


def build_runtime(settings: InventorySettings | None = None) -> ServiceRuntime:
    settings = settings or InventorySettings()
    runtime = ServiceRuntime("inventory", settings=settings, migrations=MIGRATIONS)
    reservations = ReservationHandlers(default_hold_s=settings.reservation_hold_s)
    for subscription in subscriptions(reservations):
        runtime.subscribe(subscription)

    @runtime.timer(settings.reservation_sweep_s)
    async def sweep_expired_reservations() -> None:
        await sweep(runtime, settings.reservation_sweep_batch)

    register_api(runtime, parse_caller_keys(settings.inventory_api_keys))
    return runtime
