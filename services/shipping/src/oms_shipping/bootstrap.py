"""Composition root of the shipping service."""

from __future__ import annotations

from oms_runtime import RebuildRefused, ServiceRuntime
from oms_shipping.adapters import MIGRATIONS, fulfilment_orders, items, labels, parcels
from oms_shipping.config import ShippingSettings
from oms_shipping.entrypoints.api import register_api
from oms_shipping.entrypoints.api_auth import parse_staff_keys
from oms_shipping.entrypoints.carrier_webhook import register_carrier_webhook
from oms_shipping.entrypoints.kafka import subscriptions
from oms_shipping.entrypoints.label_api import register_label_api
from oms_shipping.entrypoints.pick_pack_api import register_pick_pack_api
from oms_shipping.service_layer.fulfilment import FulfilmentHandlers
from oms_shipping.service_layer.labelling import Labelling
from oms_shipping.service_layer.pick_pack import PickPack
from oms_shipping.service_layer.tracking import TrackingHandlers
from oms_shipping.service_layer.uncollected import PickupSweep, UncollectedPolicy

__all__ = ["build_runtime"]


def build_runtime(settings: ShippingSettings | None = None) -> ServiceRuntime:
    settings = settings or ShippingSettings()
    runtime = ServiceRuntime(
        "shipping",
        settings=settings,
        migrations=MIGRATIONS,
        rebuild=RebuildRefused(
            "pickup codes are drawn at random, staff actions, labels and carrier webhooks arrive "
            "over HTTP rather than a topic, and uncollected pickups expire by the clock"
        ),
    )
    carriers, boxes = settings.carriers, settings.box_catalogue
    labelling = Labelling(settings.dispatch_config, labels)
    fulfilment = FulfilmentHandlers(
        carriers, boxes, fulfilment_orders, parcels, labelling, pickup_hold=settings.pickup_hold
    )
    for subscription in subscriptions(fulfilment, TrackingHandlers(carriers, parcels)):
        runtime.subscribe(subscription)
    if settings.uncollected_policy is UncollectedPolicy.CANCEL:
        pickups = PickupSweep(fulfilment_orders, settings.pickup_sweep_batch)

        @runtime.timer(settings.pickup_sweep_s)
        async def sweep_uncollected_pickups() -> None:
            await pickups.sweep(runtime)

    keys = parse_staff_keys(settings.shipping_api_keys)
    register_api(runtime, fulfilment, keys)
    register_pick_pack_api(runtime, PickPack(settings.bins, boxes, fulfilment_orders, items), keys)
    register_label_api(runtime, labelling, keys)
    register_carrier_webhook(
        runtime,
        {c: s.get_secret_value() for c, s in settings.carrier_webhook_secrets.items()},
        settings.carrier_webhook_tolerance,
    )
    return runtime
