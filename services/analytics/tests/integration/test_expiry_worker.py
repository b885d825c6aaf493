"""Expiry, with the worker as an OS process on the real broker and database and a retention of
one day (minute windows: two hours): orders across three days; once the watermark has moved
a day past the first day's retention, its windows, its closed orders' facts and ledgers, its
money and its final stays are gone from the tables (``oms_analytics_table_keys`` and the
reports say so), the open order's facts and ledger remain, and the daily report (per channel
and per location, JSON and CSV) and the reconciliation (JSON and CSV, by day range and
channel, and the exception list) across the expired day are what they were before, served
from the history in PostgreSQL; after a restart whose expiry never runs, the tables recovered
from their changelogs hold the same keys: the deletions were replayed, not the keys; and a
worker started again expires the next day as well, both days then read from the history."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.support.analytics import (
    accepted,
    at,
    authorized,
    canceled,
    captured,
    completed,
    refunded,
    send_timed,
    shipped,
)
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB, POS = "web-de", "store-koeln"
RETENTION = {
    "OMS_ANALYTICS_RETENTION_DAYS": "1",
    "OMS_ANALYTICS_MINUTE_RETENTION_H": "2",
    "OMS_ANALYTICS_HISTORY_INTERVAL_S": "0.5",
}
_DAYS = {"from": "2026-11-20", "to": "2026-11-21"}
_FIRST_DAY = {"from": "2026-11-20", "to": "2026-11-20"}
TABLES = ("orders", "windows", "locations", "ledgers", "funds", "stays")


async def _get(worker: ServiceProcess, path: str, **query: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}{path}", params=query) as response:
            return response.status, await response.text()


async def _json(worker: ServiceProcess, path: str, **query: str) -> Any:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}{path}", params=query) as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def _keys(worker: ServiceProcess) -> dict[str, float]:
    return {table: await worker.metric("oms_analytics_table_keys", table=table) for table in TABLES}


async def _reports(worker: ServiceProcess) -> dict[str, Any]:
    """The daily reports over the first two days, as JSON and CSV, per channel and location;
    the reconciliation (over those days, from the first, by channel, the expired day alone)
    and its exception list, as JSON and CSV."""
    recon, exceptions = "/v1/reports/reconciliation", "/v1/reports/reconciliation/exceptions"
    return {
        "daily": await _json(worker, "/v1/reports/daily", **_DAYS),
        "daily_csv": await _get(worker, "/v1/reports/daily", format="csv", **_DAYS),
        "locations": await _json(worker, "/v1/reports/daily/locations", **_DAYS),
        "hamburg": await _json(worker, "/v1/reports/daily", location="WH-HAMBURG", **_DAYS),
        "reconciliation": await _json(worker, recon, **_DAYS),
        "reconciliation_csv": await _get(worker, recon, format="csv", **_DAYS),
        "reconciliation_from": await _json(worker, recon, **{"from": "2026-11-20"}),
        "reconciliation_web": await _json(worker, recon, channel=WEB),
        "reconciliation_20th": await _json(worker, recon, **_FIRST_DAY),
        "exceptions": await _json(worker, exceptions, **_DAYS),
        "exceptions_csv": await _get(worker, exceptions, format="csv", **_DAYS),
        "exceptions_pos": await _json(worker, exceptions, channel=POS),
    }


async def test_expired_keys_go_the_reports_stay_and_a_restart_keeps_them_gone(env: Env) -> None:
    worker = await env.service("analytics", OMS_ANALYTICS_EXPIRY_INTERVAL_S="0.5", **RETENTION)
    await worker.wait_ready()
    # The 20th: A1 placed, paid (captured 200 more than authorised), shipped and completed;
    # O1 placed, authorised and refunded with nothing captured, left open. The 21st: B1
    # placed, captured and canceled, not refunded.
    await send_timed(
        env,
        "oms.orders",
        [
            (accepted("A1", WEB, 3000), at("09:00", 20)),
            (accepted("O1", WEB, 500), at("10:00", 20)),
            (completed("A1", at("12:00", 20)), at("12:00", 20)),
            (accepted("B1", POS, 700), at("09:00", 21)),
            (canceled("B1", at("10:00", 21)), at("10:00", 21)),
        ],
    )
    await send_timed(
        env,
        "oms.payments",
        [
            (authorized("A1", 3000), at("09:01", 20)),
            (captured("A1", "cap-A1", 3000, 3000), at("11:00", 20)),
            (captured("A1", "cap-A1b", 200, 3200), at("11:05", 20)),
            (authorized("O1", 500), at("10:01", 20)),
            (refunded("O1", "ref-O1", 100, 100), at("10:30", 20)),
            (authorized("B1", 700), at("09:01", 21)),
            (captured("B1", "cap-B1", 700, 700), at("09:30", 21)),
        ],
    )
    await send_timed(env, "oms.shipments", [(shipped("A1", at("11:00", 20)), at("11:00", 20))])

    async def counted() -> dict[str, Any] | None:
        """The reports once every event of the three topics is read."""
        # Without a first day the reconciliation reaches days the retention may have expired
        # (the 18th, once the 20th is read): 503 until the worker has connected its database
        # (as long as the history report is).
        if (await _get(worker, "/v1/reports/reconciliation/history"))[0] == 503:
            return None
        reports = await _reports(worker)
        days = [
            (d["day"], d["channel"], d["orders_placed"], d["shipped"], d["cancellations"])
            for d in reports["daily"]["days"]
        ]
        shipped_from = [d["shipped"] for d in reports["hamburg"]["days"]]
        money = []
        for order_id in ("A1", "B1"):
            status, body = await _get(worker, f"/v1/reports/reconciliation/orders/{order_id}")
            money.append(json.loads(body)["captured_minor"] if status == 200 else None)
        expected = [("2026-11-20", WEB, 2, 1, 0), ("2026-11-21", POS, 1, 0, 1)]
        # Each report is its own request: wait until the last one asked shows every day too.
        flagged = [d["orders_with_exceptions"] for d in reports["reconciliation"]["days"]]
        whole = days == expected and shipped_from == [1] and money == [{"EUR": 3200}, {"EUR": 700}]
        return reports if whole and flagged == [2, 1] else None

    before = await wait_for(counted, timeout=60, interval=0.3, what="every event counted")
    codes = [(e["order_id"], e["placed_on"], e["code"]) for e in before["exceptions"]["exceptions"]]
    assert codes == [
        ("A1", "2026-11-20", "capture_exceeds_authorisation"),
        ("O1", "2026-11-20", "refund_exceeds_capture"),
        ("B1", "2026-11-21", "canceled_but_not_refunded"),
    ]
    assert [d["orders_with_exceptions"] for d in before["reconciliation"]["days"]] == [2, 1]
    assert before["reconciliation_csv"][1].splitlines()[1:] == [
        f"2026-11-20,{WEB},3500,3200,0,100,2",
        f"2026-11-21,{POS},700,700,0,0,1",
    ]

    # The history holds both days before anything of them can expire.
    async def history_holds() -> bool:
        stored = await _json(worker, "/v1/reports/daily/history", **_DAYS)
        money = await _json(worker, "/v1/reports/reconciliation/history", **_DAYS)
        return bool(stored["days"] == before["daily"]["days"] and money == before["reconciliation"])

    await wait_for(history_holds, timeout=60, interval=0.3, what="the days in PostgreSQL")
    partitions = await env.fetch(
        "analytics", "SELECT DISTINCT source_partition FROM analytics_funds_orders"
    )
    assert [row["source_partition"] for row in partitions] == [0]  # every event on partition 0
    before_keys = await _keys(worker)
    assert before_keys["ledgers"] == 3 and before_keys["orders"] == 3

    # The watermark moves to noon on the 22nd: the 20th (ended at midnight on the 21st) is a
    # day past its retention; the 21st is not (it goes at midnight on the 23rd).
    await send_timed(env, "oms.orders", [(accepted("C1", WEB, 100), at("12:00", 22))])

    async def expired() -> bool:
        status, _ = await _get(worker, "/v1/reports/reconciliation/orders/A1")
        hours = await _json(worker, "/v1/kpis", window="hour")
        starts = {w["start"][:10] for w in hours["windows"]}
        return status == 404 and "2026-11-20" not in starts and "2026-11-22" in starts

    await wait_for(expired, timeout=60, interval=0.3, what="the 20th expired")
    after_keys = await _keys(worker)
    # Left: O1 (open), B1 (the 21st) and C1; A1's facts, ledger and final stay are gone; of
    # the stays B1's too (canceled at 10:00 on the 21st, a day before the watermark).
    assert (after_keys["orders"], after_keys["ledgers"], after_keys["stays"]) == (3, 3, 2)
    assert after_keys["windows"] < before_keys["windows"]
    assert after_keys["locations"] == 0  # the shipment from Hamburg, the 20th
    assert after_keys["funds"] == 1  # the 21st of the store (C1 has moved no money)
    assert await worker.metric("oms_analytics_expired_keys_total", table="ledgers") == 1
    o1 = await _json(worker, "/v1/reports/reconciliation/orders/O1")
    assert (o1["closure"], o1["authorised_minor"]) == (None, {"EUR": 500})
    minutes = await _json(worker, "/v1/kpis", window="minute")
    assert [w["start"][:13] for w in minutes["windows"]] == ["2026-11-22T12"]

    # The daily reports and the reconciliation across the expired day answer as before, from
    # the history (A1's exceptions from its row there, O1's too: its day of money is gone).
    assert await _reports(worker) == before
    with_today = await _json(worker, "/v1/reports/daily", **{"from": "2026-11-20"})
    assert with_today["days"][:2] == before["daily"]["days"]
    assert [(d["day"], d["orders_placed"]) for d in with_today["days"][2:]] == [("2026-11-22", 1)]

    worker.stop()
    # A restart whose expiry never runs: what the tables recover is what the changelogs say.
    restarted = await env.service("analytics", OMS_ANALYTICS_EXPIRY_INTERVAL_S="3600", **RETENTION)
    await restarted.wait_ready()
    assert await _keys(restarted) == after_keys
    assert (await _get(restarted, "/v1/reports/reconciliation/orders/A1"))[0] == 404
    assert (await _get(restarted, "/v1/reports/reconciliation/orders/O1"))[0] == 200
    assert await restarted.metric("oms_analytics_expired_keys_total") == 0

    async def served() -> dict[str, Any] | None:
        for path in ("/v1/reports/daily", "/v1/reports/reconciliation"):
            status, body = await _get(restarted, path, **_DAYS)
            if status != 200:  # 503 until connected
                assert (status, json.loads(body)["type"]) == (503, "urn:oms:problem:unavailable")
                return None
        return await _reports(restarted)

    assert await wait_for(served, timeout=60, interval=0.3, what="the history connected") == before
    restarted.stop()

    # Once more with the expiry on, and the watermark at noon on the 23rd: the 21st goes too
    # (B1, canceled that day), and both days are read from the history, as before.
    again = await env.service("analytics", OMS_ANALYTICS_EXPIRY_INTERVAL_S="0.5", **RETENTION)
    await again.wait_ready()
    await send_timed(env, "oms.orders", [(accepted("D1", POS, 100), at("12:00", 23))])

    async def second_day_expired() -> bool:
        status, _ = await _get(again, "/v1/reports/reconciliation/orders/B1")
        hours = await _json(again, "/v1/kpis", window="hour")
        return status == 404 and min(w["start"] for w in hours["windows"]) >= "2026-11-22"

    await wait_for(second_day_expired, timeout=60, interval=0.3, what="the 21st expired")
    assert await _reports(again) == before
    assert (await _get(again, "/v1/reports/reconciliation/orders/O1"))[0] == 200
    again.stop()
