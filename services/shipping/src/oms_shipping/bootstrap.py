"""Composition root of the shipping service."""

from __future__ import annotations

from dataclasses import replace

from oms_runtime import ServiceRuntime
from oms_shipping.adapters import (
    MIGRATIONS,
    fulfilment_orders,
    items,
    labels,
    parcels,
    recalled,
)
from oms_shipping.adapters.rebuild import REBUILD
from oms_shipping.config import ShippingSettings
from oms_shipping.entrypoints.api import register_api
from oms_shipping.entrypoints.api_auth import parse_staff_keys
from oms_shipping.entrypoints.carrier_webhook import register_carrier_webhook
from oms_shipping.entrypoints.kafka import recalled_decisions, recorded_decisions, subscriptions
from oms_shipping.entrypoints.label_api import register_label_api
from oms_shipping.entrypoints.pick_pack_api import register_pick_pack_api
from oms_shipping.service_layer.fulfilment import FulfilmentHandlers
from oms_shipping.service_layer.labelling import Labelling
from oms_shipping.service_layer.pick_pack import PickPack
from oms_shipping.service_layer.recalled import RecalledDecisions
from oms_shipping.service_layer.tracking import TrackingHandlers
from oms_shipping.service_layer.uncollected import (
    PickupSweep,
    RecordedExpiries,
    UncollectedPolicy,
)

__all__ = ["build_runtime"]


def build_runtime(settings: ShippingSettings | None = None) -> ServiceRuntime:
    settings = settings or ShippingSettings()
    decisions = RecalledDecisions(recalled)
    runtime = ServiceRuntime(
        "shipping",
        settings=settings,
        migrations=MIGRATIONS,
        rebuild=replace(
            REBUILD,
            recalled=recalled_decisions(decisions),
            recorded=recorded_decisions(RecordedExpiries(fulfilment_orders)),
        ),
    )
    carriers, boxes = settings.carriers, settings.box_catalogue
    labelling = Labelling(settings.dispatch_config, labels)
    fulfilment = FulfilmentHandlers(
        carriers,
        boxes,
        fulfilment_orders,
        parcels,
        labelling,
        pickup_hold=settings.pickup_hold,
        recalled=decisions,
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
