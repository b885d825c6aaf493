"""Composition root of the shipping service."""

from __future__ import annotations

from oms_runtime import ServiceRuntime
from oms_shipping.adapters import MIGRATIONS
from oms_shipping.config import ShippingSettings
from oms_shipping.entrypoints.kafka import subscriptions
from oms_shipping.service_layer.fulfilment import FulfilmentHandlers
from oms_shipping.service_layer.tracking import TrackingHandlers

__all__ = ["build_runtime"]


def build_runtime(settings: ShippingSettings | None = None) -> ServiceRuntime:
    settings = settings or ShippingSettings()
    runtime = ServiceRuntime("shipping", settings=settings, migrations=MIGRATIONS)
    carriers = settings.carriers
    for subscription in subscriptions(
        FulfilmentHandlers(carriers, settings.pickup_hold), TrackingHandlers(carriers)
    ):
        runtime.subscribe(subscription)
    return runtime
