"""Composition root of the order service."""

from __future__ import annotations

from pathlib import Path

from oms_order.config import OrderSettings
from oms_order.handlers import INTAKE_HANDLERS
from oms_runtime import ServiceRuntime

__all__ = ["build_runtime"]


def build_runtime(settings: OrderSettings | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        "order",
        settings=settings or OrderSettings(),
        migrations=Path(__file__).parent / "store" / "migrations",
    )
    runtime.subscribe("oms.channel-order-intake", INTAKE_HANDLERS)
    return runtime
