"""Composition root of the inventory service."""

from __future__ import annotations

from dataclasses import replace

from oms_inventory.adapters import (
    MIGRATIONS,
    days_closed,
    references,
    reservations,
    stock,
    transfers,
)
from oms_inventory.adapters.rebuild import REBUILD
from oms_inventory.config import InventorySettings
from oms_inventory.entrypoints.api import register_api
from oms_inventory.entrypoints.kafka import recorded_decisions, subscriptions
from oms_inventory.service_layer.day_close import DayClose
from oms_inventory.service_layer.expiry import sweep
from oms_inventory.service_layer.feed import FeedHandlers
from oms_inventory.service_layer.reservations import ReservationHandlers
from oms_inventory.service_layer.returns import ReturnHandlers
from oms_runtime import ServiceRuntime, parse_caller_keys

__all__ = ["build_runtime"]


def build_runtime(settings: InventorySettings | None = None) -> ServiceRuntime:
    settings = settings or InventorySettings()
    holds = ReservationHandlers(
        default_hold_s=settings.reservation_hold_s,
        reservations=reservations,
        stock=stock,
        references=references,
    )
    day_close = DayClose(days=days_closed, batch=settings.stock_day_close_batch)
    runtime = ServiceRuntime(
        "inventory",
        settings=settings,
        migrations=MIGRATIONS,
        rebuild=replace(REBUILD, recorded=recorded_decisions(holds, day_close)),
    )
    feed = FeedHandlers(stock=stock, references=references, transfers=transfers)
    returns = ReturnHandlers(stock=stock, references=references)
    for subscription in subscriptions(holds, feed, returns):
        runtime.subscribe(subscription)

    @runtime.timer(settings.reservation_sweep_s)
    async def sweep_expired_reservations() -> None:
        await sweep(runtime, holds, settings.reservation_sweep_batch)

    # Not run by a rebuild (no timer is): its events are read back instead.
    @runtime.timer(settings.stock_day_close_sweep_s)
    async def close_stock_days() -> None:
        await day_close.sweep(runtime.unit_of_work)

    register_api(runtime, parse_caller_keys(settings.inventory_api_keys))
    return runtime
