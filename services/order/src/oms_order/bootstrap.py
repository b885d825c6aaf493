"""Composition root of the order service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oms_order.adapters import MIGRATIONS, orders, returns, shipments, stuck
from oms_order.adapters.payment_sandbox import SandboxPayments
from oms_order.config import OrderSettings
from oms_order.entrypoints.api import register_api
from oms_order.entrypoints.api_auth import parse_api_keys
from oms_order.entrypoints.kafka import OrderHandlers
from oms_order.service_layer.actions import OrderActions
from oms_order.service_layer.returns import ReturnActions
from oms_order.service_layer.stuck import StuckOrders
from oms_runtime import RebuildRefused, ServiceRuntime

__all__ = ["build_runtime"]


def build_runtime(settings: OrderSettings | None = None) -> ServiceRuntime:
    settings = settings or OrderSettings()
    runtime = ServiceRuntime(
        "order",
        settings=settings,
        migrations=MIGRATIONS,
        rebuild=RebuildRefused(
            "its handlers ask the payment provider to authorise, capture and void, and stamp "
            "confirmations, captures and cancellations with the clock; orders posted over HTTP "
            "and customer-service actions change its state without passing through a topic it "
            "reads. A rebuild needs the provider's answers read back from oms.payments and "
            "those moments kept as facts"
        ),
    )
    actions = OrderActions(
        payments=SandboxPayments(settings.database_url.get_secret_value()),
        orders=orders,
        shipments=shipments,
        validation=settings.order_policies.validation.policy(),
        risk=settings.order_policies.risk.policy(),
        payment_attempts=settings.payment_attempts,
        payment_backoff_s=settings.payment_backoff_s,
    )
    for subscription in OrderHandlers(actions).subscriptions():
        runtime.subscribe(subscription)
    return_actions = ReturnActions(
        actions=actions, returns=returns, window=timedelta(days=settings.return_window_days)
    )
    register_api(runtime, actions, return_actions, parse_api_keys(settings.order_api_keys))
    stuck_orders = StuckOrders(store=stuck, policy=settings.stuck_policy())

    @runtime.timer(settings.stuck_sweep_s)
    async def report_stuck_orders() -> None:
        async with runtime.unit_of_work() as work:
            await stuck_orders.sweep(work, datetime.now(UTC))

    return runtime
