"""Composition root of the order service."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from oms_order.adapters import MIGRATIONS, orders, returns, shipments, stuck
from oms_order.adapters.payment_sandbox import SandboxPayments
from oms_order.adapters.rebuild import REBUILD
from oms_order.config import OrderSettings
from oms_order.entrypoints.api import register_api
from oms_order.entrypoints.api_auth import parse_api_keys
from oms_order.entrypoints.kafka import OrderHandlers, recalled_answers
from oms_order.service_layer.actions import OrderActions
from oms_order.service_layer.commands import OrderCommands
from oms_order.service_layer.recalled import Recalled
from oms_order.service_layer.returns import ReturnActions
from oms_order.service_layer.stuck import StuckOrders
from oms_runtime import RecalledDecisionStore, ServiceRuntime

__all__ = ["build_runtime"]


def build_runtime(settings: OrderSettings | None = None) -> ServiceRuntime:
    settings = settings or OrderSettings()
    recalled = Recalled(RecalledDecisionStore())
    actions = OrderActions(
        payments=SandboxPayments(settings.database_url.get_secret_value()),
        orders=orders,
        shipments=shipments,
        validation=settings.order_policies.validation.policy(),
        risk=settings.order_policies.risk.policy(),
        payment_attempts=settings.payment_attempts,
        payment_backoff_s=settings.payment_backoff_s,
        recalled_payments=recalled.provider,
    )
    return_actions = ReturnActions(
        actions=actions,
        returns=returns,
        window=timedelta(days=settings.return_window_days),
        recalled_requests=recalled.requested_at,
    )
    commands = OrderCommands(actions, return_actions)
    handlers = OrderHandlers(actions, commands)
    runtime = ServiceRuntime(
        "order",
        settings=settings,
        migrations=MIGRATIONS,
        rebuild=replace(
            REBUILD, recalled=recalled_answers(recalled), recorded=(handlers.recorded(),)
        ),
    )
    for subscription in handlers.subscriptions():
        runtime.subscribe(subscription)
    register_api(runtime, commands, parse_api_keys(settings.order_api_keys))
    stuck_orders = StuckOrders(store=stuck, policy=settings.stuck_policy())

    @runtime.timer(settings.stuck_sweep_s)
    async def report_stuck_orders() -> None:
        async with runtime.unit_of_work() as work:
            await stuck_orders.sweep(work, datetime.now(UTC))

    return runtime
