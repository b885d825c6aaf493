"""Composition root of the orchestration service."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from oms_orchestration.adapters import MIGRATIONS, orders, sagas
from oms_orchestration.adapters.rebuild import REBUILD
from oms_orchestration.config import OrchestrationSettings
from oms_orchestration.entrypoints.api import register_api
from oms_orchestration.entrypoints.kafka import OrchestrationHandlers, recalled_decisions
from oms_orchestration.service_layer.recalled import RecalledDecisions
from oms_orchestration.service_layer.saga import Orchestrator
from oms_runtime import RecalledDecisionStore, ServiceRuntime, parse_caller_keys

__all__ = ["build_runtime"]

_OVERDUE_PER_SWEEP = 100


def build_runtime(settings: OrchestrationSettings | None = None) -> ServiceRuntime:
    settings = settings or OrchestrationSettings()
    decisions = RecalledDecisions(RecalledDecisionStore())
    orchestrator = Orchestrator(settings.sourcing, sagas=sagas, orders=orders, recalled=decisions)
    handlers = OrchestrationHandlers(orchestrator)
    runtime = ServiceRuntime(
        "orchestration",
        settings=settings,
        migrations=MIGRATIONS,
        rebuild=replace(
            REBUILD,
            recalled=(recalled_decisions(decisions),),
            recorded=(handlers.recorded_decisions(),),
        ),
    )
    for subscription in (
        handlers.orders(),
        handlers.inventory(),
        handlers.availability(),
        handlers.shipments(),
    ):
        runtime.subscribe(subscription)
    register_api(runtime, settings.sourcing, parse_caller_keys(settings.orchestration_api_keys))

    @runtime.timer(settings.deadline_sweep_s)
    async def reroute_overdue_fulfilment_orders() -> None:
        async with runtime.unit_of_work() as work:
            await orchestrator.expire_overdue(work, datetime.now(UTC), _OVERDUE_PER_SWEEP)

    return runtime
