"""``oms top``: the whole OMS in one frame (orders by status and how many are stuck, each
service's events/s, lag, outbox backlog and dead letters, stock alerts), taken again every
interval."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from rich.console import Group
from rich.table import Table

from oms_ops.config import OpsConfig
from oms_ops.dead_letters import connect
from oms_ops.kafka import Broker
from oms_ops.output import count_cell
from oms_ops.status import service_status

__all__ = ["rates", "render", "sample", "stuck_orders"]

# The order and inventory services' own tables, read as they are (docs/operations.md says
# which columns `oms top` relies on).
_ORDERS_BY_STATUS = "SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status"
_ALERTS = (
    "SELECT sku, location_id, alert_state, on_hand - reserved - safety_stock AS available"
    " FROM stock WHERE alert_state <> 'ok'"
    " ORDER BY alert_state = 'out' DESC, updated_at DESC LIMIT $1"
)
_ALERT_COUNTS = "SELECT alert_state, count(*) AS n FROM stock WHERE alert_state <> 'ok' GROUP BY 1"
_ALERTS_SHOWN = 5
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def _orders(url: str | None) -> dict[str, Any]:
    if url is None:
        return {"by_status": None, "error": "not configured"}
    try:
        async with connect(url) as conn:
            rows = await conn.fetch(_ORDERS_BY_STATUS)
    except _DB_ERRORS as exc:
        return {"by_status": None, "error": type(exc).__name__}
    return {"by_status": {r["status"]: int(r["n"]) for r in rows}, "error": None}


async def _stock_alerts(url: str | None) -> dict[str, Any]:
    if url is None:
        return {"low": None, "out": None, "items": [], "error": "not configured"}
    try:
        async with connect(url) as conn:
            counts = {r["alert_state"]: int(r["n"]) for r in await conn.fetch(_ALERT_COUNTS)}
            items = [dict(r) for r in await conn.fetch(_ALERTS, _ALERTS_SHOWN)]
    except _DB_ERRORS as exc:
        return {"low": None, "out": None, "items": [], "error": type(exc).__name__}
    return {"low": counts.get("low", 0), "out": counts.get("out", 0), "items": items, "error": None}


def _database_of(config: OpsConfig, service: str) -> str | None:
    return config.service(service).database_url if service in config.services else None


async def sample(config: OpsConfig, broker: Broker, services: list[str] | None) -> dict[str, Any]:
    """One frame, without rates: what each service, the orders and the stock look like now."""
    endpoints = config.selected(services)
    reports, orders, stock = await asyncio.gather(
        asyncio.gather(*(service_status(broker, e) for e in endpoints)),
        _orders(_database_of(config, "order")),
        _stock_alerts(_database_of(config, "inventory")),
    )
    return {
        "taken_at": time.monotonic(),
        "services": list(reports),
        "orders": orders,
        "stuck_orders": stuck_orders(list(reports)),
        "stock_alerts": stock,
    }


def stuck_orders(reports: list[dict[str, Any]]) -> int | None:
    """How many orders analytics holds stuck now (its ``/health`` says), None without it."""
    for report in reports:
        if report["service"] == "analytics" and report["health"]:
            count = report["health"].get("stuck_orders")
            return count if isinstance(count, int) else None
    return None


def _consumed(report: dict[str, Any]) -> int:
    return sum(p["committed"] or 0 for p in report["partitions"])


def rates(previous: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``current`` with each service's events/s: records its consumer group committed between
    the two frames, per second (a replay that moves offsets back counts as 0)."""
    elapsed = max(current["taken_at"] - previous["taken_at"], 1e-3)
    before = {r["service"]: _consumed(r) for r in previous["services"]}
    services = []
    for report in current["services"]:
        done = _consumed(report) - before.get(report["service"], _consumed(report))
        services.append({**report, "events_per_s": round(max(done, 0) / elapsed, 1)})
    return {**current, "interval_s": round(elapsed, 2), "services": services}


def render(frame: dict[str, Any], logical: Any = str) -> Group:
    """The frame as rich tables; ``logical`` turns a full topic name into its logical one."""
    services = Table(title=f"OMS services (every {frame['interval_s']} s)", expand=True)
    for column in ("service", "health", "events/s", "lag", "outbox", "dead letters", "group"):
        services.add_column(column, justify="left" if column in ("service", "health") else "right")
    for r in frame["services"]:
        services.add_row(
            r["service"],
            r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/red]",
            f"{r['events_per_s']:.1f}",
            str(r["lag"]) if r["lag"] < 1000 else f"[yellow]{r['lag']}[/yellow]",
            count_cell(r["outbox_backlog"], r["database_error"]),
            count_cell(r["dead_letters"], r["database_error"]),
            f"{r['group_state']}/{r['members']}",
        )
    stuck = frame.get("stuck_orders")
    orders = Table(title="Orders by status" + (f" ({stuck} stuck)" if stuck is not None else ""))
    orders.add_column("status")
    orders.add_column("orders", justify="right")
    by_status = frame["orders"]["by_status"]
    if by_status is None:
        orders.add_row(f"[yellow]{frame['orders']['error']}[/yellow]", "")
    for status, n in (by_status or {}).items():
        orders.add_row(status, str(n))
    alerts = frame["stock_alerts"]
    stock = Table(title=f"Stock alerts: {alerts['out']} out, {alerts['low']} low")
    for column in ("sku", "location", "state", "available"):
        stock.add_column(column, justify="right" if column == "available" else "left")
    if alerts["error"]:
        stock.add_row(f"[yellow]{alerts['error']}[/yellow]", "", "", "")
    for item in alerts["items"]:
        state = "[red]out[/red]" if item["alert_state"] == "out" else "low"
        stock.add_row(item["sku"], item["location_id"], state, str(item["available"]))
    topics = {p["topic"] for r in frame["services"] for p in r["partitions"]}
    lagging = Table(title="Lag by topic")
    lagging.add_column("service")
    lagging.add_column("topic")
    lagging.add_column("lag", justify="right")
    for r in frame["services"]:
        for topic in sorted(topics):
            lag = sum(p["lag"] for p in r["partitions"] if p["topic"] == topic)
            if lag:
                lagging.add_row(r["service"], logical(topic), str(lag))
    return Group(services, orders, stock, lagging)
