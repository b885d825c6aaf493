"""Composition root of the orchestration service."""

from __future__ import annotations

from pathlib import Path

from oms_orchestration.config import OrchestrationSettings
from oms_orchestration.handlers import OrchestrationHandlers
from oms_orchestration.saga import Orchestrator
from oms_runtime import ServiceRuntime

__all__ = ["build_runtime"]


def build_runtime(settings: OrchestrationSettings | None = None) -> ServiceRuntime:
    settings = settings or OrchestrationSettings()
    handlers = OrchestrationHandlers(Orchestrator(settings.sourcing))
    runtime = ServiceRuntime(
        "orchestration",
        settings=settings,
        migrations=Path(__file__).parent / "store" / "migrations",
    )
    runtime.subscribe("oms.orders", handlers.orders())
    runtime.subscribe("oms.inventory", handlers.inventory())
    runtime.subscribe("oms.availability", handlers.availability())
    return runtime
