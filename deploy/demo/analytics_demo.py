"""The analytics side of the demo: once the analytics service has counted every order the
order service holds (accepted or rejected), its hourly KPIs per channel, as /v1/kpis serves
them, and a one-line summary of its funds reconciliation."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

Wait = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.load(response))


def _kpis(port: int) -> dict[str, Any]:
    return _get(f"http://127.0.0.1:{port}/v1/kpis?window=hour")


async def print_kpis(orders_db: asyncpg.Connection, port: int, wait: Wait) -> None:
    orders = int(await orders_db.fetchval("SELECT count(*) FROM orders"))

    async def counted() -> dict[str, Any] | None:
        figures = await asyncio.to_thread(_kpis, port)
        seen = sum(int(w["orders_placed"]) + int(w["rejections"]) for w in figures["windows"])
        return figures if seen >= orders else None

    figures = await wait("the analytics service to count the orders", counted)
    print(f"\nKPIs per channel and hour (http://127.0.0.1:{port}/v1/kpis?window=hour):")
    print(f"  {'hour':<18}{'channel':<16}placed  revenue           canceled  rejected  shipped")
    for w in figures["windows"]:
        revenue = ", ".join(f"{v / 100:.2f} {c}" for c, v in w["revenue_minor"].items()) or "-"
        print(
            f"  {w['start'][:16]:<18}{w['channel']:<16}{w['orders_placed']:<8}{revenue:<18}"
            f"{w['cancellations']:<10}{w['rejections']:<10}{w['shipped']}"
        )


def print_reconciliation(port: int) -> None:
    """The money the analytics service has read so far, all channels and days together."""
    url = f"http://127.0.0.1:{port}/v1/reports/reconciliation"
    report = _get(url)
    sums: dict[str, dict[str, int]] = {}
    for day in report["days"]:
        for flow in ("authorised", "captured", "voided", "refunded"):
            for currency, amount in day[f"{flow}_minor"].items():
                per_flow = sums.setdefault(flow, {})
                per_flow[currency] = per_flow.get(currency, 0) + amount
    money = "; ".join(
        f"{flow} " + ", ".join(f"{v / 100:.2f} {c}" for c, v in sorted(amounts.items()))
        for flow, amounts in sums.items()
    )
    orders = len({e["order_id"] for e in report["exceptions"]})
    print(f"\nFunds so far ({url}): {money or 'none'}; {orders} order(s) not adding up yet")
