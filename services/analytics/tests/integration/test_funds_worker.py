"""Funds reconciliation and the reports, with the worker as an OS process on the real broker
and database: a known sequence of order, payment, shipment and return events (a clean order
whose capture is delivered twice, an order refunded more than was captured, a canceled order
left authorised, returns by reason, one delivered twice) gives exactly the expected daily
report, reconciliation, exceptions and per-order ledger, as JSON and CSV, and the same rows
in PostgreSQL, read back as the same report; a restart (tables recovered from their
changelogs) gives them again and writes every row as it stops; a replay from offset 0 by a
new consumer group gives them again and writes the same rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from oms_events.returns import ReturnReason
from tests.support.analytics import (
    accepted,
    at,
    authorized,
    canceled,
    captured,
    completed,
    refunded,
    rejected,
    return_requested,
    send_timed,
    shipped,
)
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB, POS = "web-de", "store-koeln"
_NO_MONEY: dict[str, int] = {}
_ONE_DAY = {"from": "2026-11-24", "to": "2026-11-24"}

EXPECTED_DAYS = [
    {
        "day": "2026-11-24",
        "channel": POS,
        "authorised_minor": {"EUR": 1500},
        "captured_minor": _NO_MONEY,
        "voided_minor": _NO_MONEY,
        "refunded_minor": _NO_MONEY,
        "orders_with_exceptions": 1,
    },
    {
        "day": "2026-11-24",
        "channel": WEB,
        "authorised_minor": {"EUR": 3000 + 2000},
        "captured_minor": {"EUR": 1000 + 2000 + 2000},
        "voided_minor": _NO_MONEY,
        "refunded_minor": _NO_MONEY,
        "orders_with_exceptions": 1,
    },
    {
        "day": "2026-11-25",
        "channel": WEB,
        "authorised_minor": _NO_MONEY,
        "captured_minor": _NO_MONEY,
        "voided_minor": _NO_MONEY,
        "refunded_minor": {"EUR": 2500},
        "orders_with_exceptions": 0,
    },
]
EXPECTED_EXCEPTIONS = [
    {
        "order_id": "K1",
        "channel": POS,
        "placed_on": "2026-11-24",
        "code": "authorisation_left_open",
        "why": "the order is canceled but 1500 EUR of the authorisation was neither captured"
        " nor voided",
    },
    {
        "order_id": "X1",
        "channel": WEB,
        "placed_on": "2026-11-24",
        "code": "refund_exceeds_capture",
        "why": "refunded 2500 EUR, more than the 2000 captured",
    },
]
EXPECTED_RECONCILIATION = {
    "from": None,
    "to": None,
    "channel": None,
    "days": EXPECTED_DAYS,
    "exceptions": EXPECTED_EXCEPTIONS,
}
EXPECTED_RECONCILIATION_CSV = (
    "day,channel,authorised_minor_EUR,captured_minor_EUR,voided_minor_EUR,refunded_minor_EUR,"
    "orders_with_exceptions\n"
    f"2026-11-24,{POS},1500,0,0,0,1\n"
    f"2026-11-24,{WEB},5000,5000,0,0,1\n"
    f"2026-11-25,{WEB},0,0,0,2500,0\n"
)
EXPECTED_EXCEPTIONS_CSV = (
    "order_id,channel,placed_on,code,why\n"
    f"K1,{POS},2026-11-24,authorisation_left_open,the order is canceled but 1500 EUR of the"
    " authorisation was neither captured nor voided\n"
    f"X1,{WEB},2026-11-24,refund_exceeds_capture,"
    '"refunded 2500 EUR, more than the 2000 captured"\n'
)
EXPECTED_DAILY = {
    "from": "2026-11-24",
    "to": "2026-11-24",
    "channel": None,
    "late_events_dropped": 0,
    "days": [
        {
            "day": "2026-11-24",
            "channel": POS,
            "orders_placed": 1,
            "revenue_minor": {"EUR": 1500},
            "cancellations": 1,
            "rejections": 0,
            "cancellation_rate": 1.0,
            "rejection_rate": 0.0,
            "shipped": 0,
            "lead_time_p50_s": None,
            "lead_time_p90_s": None,
            "returns": 1,
            "returned_units_by_reason": {"wrong_item": 1},
            "orders_returned": 0,  # X1's return asked for here: X1 was sold on the web
            "return_rate": None,
            "backorders": 0,
            "backorder_rate": 0.0,
            "delivered_or_collected": 0,
            "delivery_lead_time_p50_s": None,
            "delivery_lead_time_p90_s": None,
            "on_time_rate": None,
        },
        {
            "day": "2026-11-24",
            "channel": WEB,
            "orders_placed": 2,
            "revenue_minor": {"EUR": 5000},
            "cancellations": 0,
            "rejections": 1,
            "cancellation_rate": 0.0,
            "rejection_rate": 0.3333,
            "shipped": 2,
            "lead_time_p50_s": 1800.0,
            "lead_time_p90_s": 3600.0,
            "returns": 1,
            "returned_units_by_reason": {"damaged": 1, "size_or_fit": 2},
            # C1 and X1 returned, C1 alone delivered that day: a period's ratio, which can
            # pass 1 when returns follow deliveries of earlier days.
            "orders_returned": 2,
            "return_rate": 2.0,
            "backorders": 0,
            "backorder_rate": 0.0,
            "delivered_or_collected": 1,  # C1: placed 09:00, completed 12:00
            "delivery_lead_time_p50_s": 10800.0,
            "delivery_lead_time_p90_s": 10800.0,
            "on_time_rate": None,
        },
    ],
}
EXPECTED_DAILY_CSV = (
    "day,channel,orders_placed,revenue_minor_EUR,cancellations,rejections,cancellation_rate,"
    "rejection_rate,shipped,lead_time_p50_s,lead_time_p90_s,returns,"
    "returned_units_by_reason_damaged,returned_units_by_reason_size_or_fit,"
    "returned_units_by_reason_wrong_item,orders_returned,return_rate,backorders,backorder_rate,"
    "delivered_or_collected,delivery_lead_time_p50_s,delivery_lead_time_p90_s,on_time_rate\n"
    f"2026-11-24,{POS},1,1500,1,0,1.0,0.0,0,,,1,0,0,1,0,,0,0.0,0,,,\n"
    f"2026-11-24,{WEB},2,5000,0,1,0.0,0.3333,2,1800.0,3600.0,1,1,2,0,2,2.0,0,0.0,1,10800.0,10800.0,"
    "\n"
)
# order id, channel, placed on, closure, exceptions' codes, version (facts kept)
EXPECTED_ORDER_ROWS = [
    ("C1", WEB, "2026-11-24", "completed", [], 5),
    ("K1", POS, "2026-11-24", "canceled", ["authorisation_left_open"], 3),
    ("R1", WEB, None, "rejected", [], 1),
    ("X1", WEB, "2026-11-24", None, ["refund_exceeds_capture"], 4),
]
EXPECTED_DAILY_ROWS = [
    ("2026-11-24", POS, "EUR", 1500, 0, 0, 0),
    ("2026-11-24", WEB, "EUR", 5000, 5000, 0, 0),
    ("2026-11-25", WEB, "EUR", 0, 0, 0, 2500),
]

# The daily report's history (analytics_daily: the partitions added up): day, channel, orders
# placed, revenue, cancellations, rejections, lead times, returns, units by reason, orders
# returned, backorders, delivery lead times, on time, late; then the sum of the partitions'
# versions (each a count of the figures counted there).
EXPECTED_DAILY_HISTORY_ROWS = [
    ("2026-11-24", POS, 1, {"EUR": 1500}, 1, 0, [], 1, {"wrong_item": 1}, 0, 0, [], 0, 0),
    ("2026-11-24", WEB, 2, {"EUR": 5000}, 0, 1, [1800.0, 3600.0], 1,
     {"damaged": 1, "size_or_fit": 2}, 2, 0, [10800.0], 0, 0),
]  # fmt: skip
EXPECTED_DAILY_VERSIONS = [(POS, 3), (WEB, 9)]


async def _get(
    worker: ServiceProcess, path: str, status: int = 200, **query: str
) -> tuple[str, str]:
    """(content type, body) of a GET that must answer ``status``."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}{path}", params=query) as response:
            body = await response.text()
            assert response.status == status, body
            return response.content_type, body


async def _json(worker: ServiceProcess, path: str, **query: str) -> Any:
    return await worker.get_json(path, **query)


async def _counted(worker: ServiceProcess) -> None:
    """Wait until the worker has read every event: the reconciliation (orders, payments) and
    the daily report (orders, shipments, returns) are as expected; on timeout, show how not."""
    expected = {"reconciliation": EXPECTED_RECONCILIATION, "daily": EXPECTED_DAILY}
    seen: dict[str, Any] = {}

    async def probe() -> bool:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{worker.url}/v1/reports/reconciliation") as response:
                # Once an event is read, every day up to the last one the retention may have
                # expired is read from the history: 503 until the database is connected.
                if response.status == 503:
                    return False
                assert response.status == 200, await response.text()
                seen["reconciliation"] = await response.json()
        seen["daily"] = await _json(worker, "/v1/reports/daily", **_ONE_DAY)
        return seen == expected

    try:
        await wait_for(probe, timeout=60, interval=0.3, what="every event counted")
    except AssertionError:
        assert seen == expected
        raise


async def _reports(worker: ServiceProcess) -> dict[str, Any]:
    """Every report the worker gives once it has read every event, as read by a client."""
    await _counted(worker)
    return {
        "reconciliation": await _json(worker, "/v1/reports/reconciliation"),
        "csv": await _get(worker, "/v1/reports/reconciliation", format="csv"),
        "exceptions_csv": await _get(worker, "/v1/reports/reconciliation/exceptions", format="csv"),
        "daily": await _json(worker, "/v1/reports/daily", **_ONE_DAY),
        "daily_csv": await _get(worker, "/v1/reports/daily", format="csv", **_ONE_DAY),
        "C1": await _json(worker, "/v1/reports/reconciliation/orders/C1"),
    }


async def _stored(
    env: Env,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], datetime]:
    """The funds history rows (orders, per-day view) and the oldest write of them."""
    orders = await env.fetch(
        "analytics",
        "SELECT order_id, channel, placed_on::text, closure, exceptions, version, updated_at"
        " FROM analytics_funds_orders ORDER BY order_id",
    )
    days = await env.fetch(
        "analytics",
        "SELECT day::text, channel, currency, authorised_minor, captured_minor, voided_minor,"
        " refunded_minor FROM analytics_funds_daily ORDER BY day, channel, currency",
    )
    order_rows = [
        (r["order_id"], r["channel"], r["placed_on"], r["closure"],
         [e["code"] for e in json.loads(r["exceptions"])], r["version"])
        for r in orders
    ]  # fmt: skip
    oldest = min(r["updated_at"] for r in orders) if orders else datetime.min
    return order_rows, [tuple(r) for r in days], oldest


async def _stored_daily(
    env: Env,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], datetime]:
    """The daily report's history rows (the view), the partitions' versions per channel and
    the oldest write of them."""
    days = await env.fetch(
        "analytics",
        "SELECT day::text, channel, orders_placed, revenue_minor, cancellations, rejections,"
        " lead_times_s, returns, returned_units, orders_returned, backorders,"
        " delivery_lead_times_s, on_time, late FROM analytics_daily ORDER BY day, channel",
    )
    parts = await env.fetch(
        "analytics",
        "SELECT channel, sum(version)::int AS version, min(updated_at) AS oldest"
        " FROM analytics_daily_days GROUP BY channel ORDER BY channel",
    )
    rows = [
        tuple(json.loads(v) if name in ("revenue_minor", "returned_units") else v
              for name, v in r.items())
        for r in days
    ]  # fmt: skip
    oldest = min(r["oldest"] for r in parts) if parts else datetime.min
    return rows, [(r["channel"], r["version"]) for r in parts], oldest


async def _history(env: Env, written_after: datetime | None = None) -> None:
    async def probe() -> bool:
        orders, days, oldest = await _stored(env)
        daily, versions, oldest_daily = await _stored_daily(env)
        fresh = written_after is None or min(oldest, oldest_daily) > written_after
        return (
            orders == EXPECTED_ORDER_ROWS
            and days == EXPECTED_DAILY_ROWS
            and daily == EXPECTED_DAILY_HISTORY_ROWS
            and versions == EXPECTED_DAILY_VERSIONS
            and fresh
        )

    await wait_for(probe, timeout=60, interval=0.3, what="the funds history in PostgreSQL")


async def _history_connected(worker: ServiceProcess) -> None:
    """The history report answers (not 503) once the worker has connected to its database."""

    async def probe() -> bool:
        async with aiohttp.ClientSession() as session:
            url = f"{worker.url}/v1/reports/reconciliation/history"
            async with session.get(url) as response:
                return response.status == 200

    await wait_for(probe, timeout=30, interval=0.2, what="the history database connected")


async def test_reconciliation_reports_history_restart_and_replay(env: Env) -> None:
    history = {"OMS_ANALYTICS_HISTORY_INTERVAL_S": "0.5"}
    worker = await env.service("analytics", **history)
    await worker.wait_ready()
    await send_timed(
        env,
        "oms.orders",
        [
            (accepted("C1", WEB, 3000), at("09:00")),
            (accepted("X1", WEB, 2000), at("09:10")),
            (accepted("K1", POS, 1500), at("09:20")),
            (canceled("K1", at("09:30")), at("09:30")),
            (rejected("R1", WEB), at("09:50")),
            (completed("C1", at("12:00")), at("12:00")),
        ],
    )
    await send_timed(
        env,
        "oms.payments",
        [
            (authorized("C1", 3000), at("09:01")),
            (authorized("X1", 2000), at("09:11")),
            (authorized("K1", 1500), at("09:21")),
            (captured("C1", "cap-C1a", 1000, 1000), at("10:00")),
            (captured("C1", "cap-C1a", 1000, 1000), at("10:00")),  # delivered twice
            (captured("X1", "cap-X1", 2000, 2000), at("10:10")),
            (captured("C1", "cap-C1b", 2000, 3000), at("11:00")),
            (refunded("X1", "ref-X1", 2500, 2500), at("08:00", day=25)),
        ],
    )
    await send_timed(
        env,
        "oms.shipments",
        [
            (shipped("X1", at("09:40")), at("09:40")),  # 1800 s after placement
            (shipped("C1", at("10:00")), at("10:00")),  # 3600 s
        ],
    )
    c1_returned = {ReturnReason.DAMAGED: 1, ReturnReason.SIZE_OR_FIT: 2}
    await send_timed(
        env,
        "oms.returns",
        [
            (return_requested("C1", "ret-C1", WEB, c1_returned), at("13:00")),
            (return_requested("C1", "ret-C1", WEB, c1_returned), at("13:00")),  # twice
            # Bought on the web, returned in a store: counted in the store's channel.
            (return_requested("X1", "ret-X1", POS, {ReturnReason.WRONG_ITEM: 1}), at("14:00")),
        ],
    )

    reports = await _reports(worker)
    assert reports["reconciliation"] == EXPECTED_RECONCILIATION
    assert reports["csv"] == ("text/csv", EXPECTED_RECONCILIATION_CSV)
    assert reports["exceptions_csv"] == ("text/csv", EXPECTED_EXCEPTIONS_CSV)
    assert reports["daily"] == EXPECTED_DAILY
    assert reports["daily_csv"] == ("text/csv", EXPECTED_DAILY_CSV)
    c1 = reports["C1"]
    assert (c1["closure"], c1["captured_minor"], c1["exceptions"]) == (
        "completed",
        {"EUR": 3000},
        [],
    )
    assert [(m["id"], m["flow"], m["amount_minor"]) for m in c1["movements"]] == [
        ("pay-C1", "authorised", 3000),
        ("cap-C1a", "captured", 1000),
        ("cap-C1b", "captured", 2000),
    ]
    only_pos = await _json(
        worker, "/v1/reports/reconciliation", channel=POS, **{"from": "2026-11-24"}
    )
    assert (only_pos["days"], only_pos["exceptions"]) == (
        EXPECTED_DAYS[:1],
        EXPECTED_EXCEPTIONS[:1],
    )
    async with aiohttp.ClientSession() as session:
        headers = {"Accept": "text/csv"}
        async with session.get(f"{worker.url}/v1/reports/reconciliation", headers=headers) as r:
            assert await r.text() == EXPECTED_RECONCILIATION_CSV
    for path, query, parameter in (
        ("/v1/reports/daily", {"from": "24.11.2026"}, "from"),
        ("/v1/reports/reconciliation", {"to": "2026-02-30"}, "to"),
        ("/v1/reports/reconciliation", {"from": "2026-11-25", "to": "2026-11-24"}, "to"),
        ("/v1/reports/reconciliation/exceptions", {"format": "xml"}, "format"),
    ):
        content_type, body = await _get(worker, path, 400, **query)
        assert content_type == "application/problem+json"
        assert f'"field":"{parameter}"' in body.replace(" ", "")
    content_type, body = await _get(worker, "/v1/reports/reconciliation/orders/NOPE", 404)
    assert content_type == "application/problem+json" and "NOPE" in body
    await _history(env)
    # The same report read back from PostgreSQL.
    stored = await _json(worker, "/v1/reports/reconciliation/history")
    assert stored == EXPECTED_RECONCILIATION
    assert await _get(worker, "/v1/reports/reconciliation/history", format="csv") == (
        "text/csv",
        EXPECTED_RECONCILIATION_CSV,
    )
    stored_pos = await _json(
        worker, "/v1/reports/reconciliation/history", channel=POS, to="2026-11-24"
    )
    assert (stored_pos["days"], stored_pos["exceptions"]) == (
        EXPECTED_DAYS[:1],
        EXPECTED_EXCEPTIONS[:1],
    )
    await _daily_history_is_the_live_report(worker)
    content_type, body = await _get(
        worker, "/v1/reports/daily/history", 400, location="L1", channel=POS
    )
    assert content_type == "application/problem+json" and '"field":"location"' in body.replace(
        " ", ""
    )

    worker.stop()
    _, _, before_restart = await _stored(env)
    # So long an interval that the restarted worker writes its history only as it stops.
    restarted = await env.service("analytics", OMS_ANALYTICS_HISTORY_INTERVAL_S="3600")
    await restarted.wait_ready()
    assert await _reports(restarted) == reports
    await _history_connected(restarted)
    restarted.stop()
    orders, days, before_replay = await _stored(env)
    daily, versions, daily_before_replay = await _stored_daily(env)
    assert (orders, days) == (EXPECTED_ORDER_ROWS, EXPECTED_DAILY_ROWS)
    assert (daily, versions) == (EXPECTED_DAILY_HISTORY_ROWS, EXPECTED_DAILY_VERSIONS)
    # Every row written again as the worker stopped.
    assert min(before_replay, daily_before_replay) > before_restart
    before_replay = max(before_replay, daily_before_replay)

    replay = await env.service("analytics", OMS_GROUP_SUFFIX=f"-{env.run}-replay", **history)
    await replay.wait_ready()
    assert await _reports(replay) == reports
    await _history(env, written_after=before_replay)
    assert await _json(replay, "/v1/reports/reconciliation/history") == EXPECTED_RECONCILIATION
    await _daily_history_is_the_live_report(replay)


async def _daily_history_is_the_live_report(worker: ServiceProcess) -> None:
    """The daily report read back from PostgreSQL is the live one (without its count of late
    events, which the history does not keep), as JSON and CSV, unfiltered and filtered."""
    for query in ({}, _ONE_DAY, {"channel": POS}, {"channel": WEB, "to": "2026-11-23"}):
        live = await _json(worker, "/v1/reports/daily", **query)
        stored = await _json(worker, "/v1/reports/daily/history", **query)
        del live["late_events_dropped"]
        assert stored == live
        assert await _get(worker, "/v1/reports/daily/history", format="csv", **query) == (
            await _get(worker, "/v1/reports/daily", format="csv", **query)
        )
    assert (await _json(worker, "/v1/reports/daily/history", **_ONE_DAY))["days"] == (
        EXPECTED_DAILY["days"]
    )
