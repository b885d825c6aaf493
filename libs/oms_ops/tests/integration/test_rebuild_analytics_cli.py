"""``oms rebuild analytics`` on the real broker and database, the analytics worker as a process:
orders, payments, shipments, returns and a stock-out counted live, and an order left
CONFIRMED past its threshold (a stuck-order alert sent). Stopped, the worker's state is counted
again from the topics into a fresh database: every history table and every table of the faust
state (read from the live changelog) matches, and nothing is published (no alert, no changelog
record). A ledger lost from the live changelog (a tombstone) is reported by key; the swap is
refused while it differs, and ``--swap --force`` writes the rebuilt state to the live
changelog and swaps the history database, after which a restarted worker serves the ledger
again and a further rebuild matches."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from oms_analytics.adapters.changelog import changelog_topic, read_changelog
from oms_analytics.config import AnalyticsSettings
from oms_events.returns import ReturnReason
from tests.support.analytics import (
    accepted,
    at,
    authorized,
    canceled,
    captured,
    completed,
    confirmed,
    out_of_stock,
    return_requested,
    send_timed,
    shipped,
)
from tests.support.kafka import read_topic
from tests.support.operator import oms
from tests.support.processes import ServiceProcess
from tests.support.rebuild import end_offsets, exists, group_idle
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB, POS = "web-de", "store-koeln"
_OPERATOR = {"analytics": None}
_HISTORY = {
    "analytics_funds_orders",
    "analytics_funds_days",
    "analytics_daily_days",
    "analytics_daily_location_days",
}
_STATE = {
    f"state/{t}"
    for t in ("orders", "windows", "locations", "marks", "ledgers", "funds", "stays", "stock")
}


STREAM = {
    "oms.orders": [
        (accepted("A-C1", WEB, 3100), at("08:00")),
        (accepted("A-K1", POS, 1600), at("08:20")),
        (canceled("A-K1", at("08:30")), at("08:30")),
        (accepted("A-S1", WEB, 2100), at("09:00")),  # left CONFIRMED: stuck at 09:15
        (confirmed("A-S1", at("09:00")), at("09:00")),
        (completed("A-C1", at("11:00")), at("11:00")),
    ],
    "oms.payments": [
        (authorized("A-C1", 3100), at("08:01")),
        (authorized("A-K1", 1600), at("08:21")),
        (captured("A-C1", "cap-A-C1", 3100, 3100), at("09:00")),
    ],
    "oms.shipments": [(shipped("A-C1", at("09:30")), at("09:30"))],
    "oms.returns": [(return_requested("A-C1", "ret-A-C1", WEB, {ReturnReason.DAMAGED: 1}),
                     at("12:00"))],
    "oms.inventory": [(out_of_stock("SKU-1", "WH-HAMBURG", at("10:00")), at("10:00"))],
}  # fmt: skip


async def _body(worker: ServiceProcess, path: str) -> Any:
    """The JSON body of a GET, or None while it does not answer 200."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}{path}") as response:
            return await response.json() if response.status == 200 else None


async def _counted(env: Env, worker: ServiceProcess) -> None:
    """Every event counted and its history written: A-C1's ledger closed, the stock-out seen,
    A-S1's alert out, the funds rows in PostgreSQL."""

    async def probe() -> bool:
        ledger = await _body(worker, "/v1/reports/reconciliation/orders/A-C1") or {}
        stock = await _body(worker, "/v1/reports/stock/out") or {}
        rows = await env.fetch("analytics", "SELECT order_id FROM analytics_funds_orders")
        return (
            ledger.get("closure") == "completed"
            and bool(stock.get("out_of_stock"))
            and {r["order_id"] for r in rows} >= {"A-C1", "A-K1", "A-S1"}
        )

    await wait_for(probe, timeout=60, interval=0.3, what="every event counted and written")
    await read_topic(env.bootstrap, env.topic("oms.analytics-alerts"), at_least=1)


async def _group_idle(env: Env) -> bool:
    return await group_idle(env, "analytics", group=f"{env.prefix}oms-analytics-{env.run}")


def _settings(env: Env) -> AnalyticsSettings:
    return AnalyticsSettings(
        database_url="postgresql://unused@127.0.0.1/unused",
        kafka_bootstrap_servers=env.bootstrap,
        topic_prefix=env.prefix,
        group_suffix=f"-{env.run}",
    )


async def _lose_a_ledger(env: Env) -> str:
    """A tombstone for an order's ledger on its changelog partition: the live state lost it.
    One that no journal record lists among its batch's writes, which a recovery would write
    again. Its order id."""
    settings = _settings(env)
    name = changelog_topic(settings)
    held = await read_changelog(settings, name)
    in_journals = {
        key for name, (_, value) in held.items() if name.startswith("journal/")
        for key in value["writes"]
    }  # fmt: skip
    key = min(k for k in held if k.startswith("ledgers/") and k not in in_journals)
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            name, None, key=json.dumps(key).encode(), partition=held[key][0]
        )
    finally:
        await producer.stop()
    return key.removeprefix("ledgers/")


async def test_analytics_rebuild_counts_again_matches_and_swaps_a_lost_ledger_back(
    env: Env,
) -> None:
    live_db = (await env.database("analytics")).rsplit("/", 1)[1]
    env.databases.append(f"{live_db}_rebuild")  # dropped with the test's own
    # Before any worker ran: no history table to compare, said plainly.
    never_ran = await oms(env, "rebuild", "analytics", services=_OPERATOR)
    assert never_ran.code == 1, never_ran.stderr
    assert "has a worker of this version run against it" in " ".join(never_ran.stderr.split())

    settings = {"OMS_ANALYTICS_HISTORY_INTERVAL_S": "0.5", "OMS_ANALYTICS_BATCH_S": "0.01"}
    worker = await env.service("analytics", **settings)
    await worker.wait_ready()
    for name, events in STREAM.items():
        await send_timed(env, name, events)
    await _counted(env, worker)
    ledgers = {
        order_id: await worker.get_json(f"/v1/reports/reconciliation/orders/{order_id}")
        for order_id in ("A-C1", "A-K1", "A-S1")
    }
    worker.stop()
    await wait_for(lambda: _group_idle(env), what="the analytics group empty")
    before = await end_offsets(env)

    done = await oms(env, "rebuild", "analytics", "--json", services=_OPERATOR)
    assert done.code == 0, done.stderr
    report = done.json()
    assert report["match"] is True, report
    tables = {t["table"]: t for t in report["tables"]}
    assert set(tables) == _HISTORY | _STATE
    for name in ("state/orders", "state/ledgers", "state/stays", "state/stock"):
        assert tables[name]["rows_rebuilt"] > 0, tables[name]
    assert tables["analytics_funds_orders"]["rows_rebuilt"] == 3
    assert report["events"] == report["input_events"] == 12
    assert (report["undecodable"], report["state_differences"]) == (0, {})
    assert await end_offsets(env) == before  # no alert, no changelog record

    # A ledger lost from the live changelog: reported by key, the swap refused while it differs.
    lost = await _lose_a_ledger(env)
    differs = await oms(env, "rebuild", "analytics", "--json", "--swap", services=_OPERATOR)
    assert differs.code == 8, differs.stderr
    mismatch = differs.json()
    assert [t["table"] for t in mismatch["tables"] if not t["match"]] == ["state/ledgers"]
    assert mismatch["state_differences"] == {"ledgers": [f"ledgers/{lost}"]}
    assert mismatch["swapped"] is False

    forced = await oms(
        env, "rebuild", "analytics", "--json", "--swap", "--force", services=_OPERATOR
    )
    assert forced.code == 8, forced.stderr  # swapped, and the exit says it differed
    swapped = forced.json()
    assert swapped["swapped"] is True
    assert swapped["state_swapped"]["keys_written"] == 1
    assert await exists(env, swapped["kept_as"])
    env.databases.append(swapped["kept_as"])
    state_table = "SELECT 1 FROM pg_tables WHERE tablename = 'analytics_rebuilt_state'"
    assert not await env.fetch("analytics", state_table)  # written to the changelog, dropped

    # The restarted worker recovers the ledger from the changelog.
    worker = await env.service("analytics", **settings)
    await worker.wait_ready()
    assert await worker.get_json(f"/v1/reports/reconciliation/orders/{lost}") == ledgers[lost]
    worker.stop()
    await wait_for(lambda: _group_idle(env), what="the analytics group empty")
    again = await oms(env, "rebuild", "analytics", "--json", services=_OPERATOR)
    assert again.code == 0, again.stderr
    assert again.json()["match"] is True
