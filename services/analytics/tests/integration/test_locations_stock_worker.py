"""The analytics worker as an OS process on the real broker: fulfilment work offered to,
rejected by and re-sourced away from locations, shipments and completions give every
location figure exactly; stock-outs, time out of stock and units moved per SKU and location
from oms.inventory, and what is out of stock now; redelivered events count once; /metrics
counts the records read; a restarted worker recovers the same figures from its changelogs, and
a replay from offset 0 by a new consumer group (new tables) computes them again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.analytics import (
    accepted,
    at,
    back_in_stock,
    completed,
    day_closed,
    fulfilment_created,
    fulfilment_rejected,
    out_of_stock,
    rerouted,
    send_timed,
    shipped,
    stock_committed,
)
from tests.support.kafka import produce
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB, MARKET = "web-de", "marketplace"
HAM, MUC = "WH-HAMBURG", "ST-MUNICH"


async def _get(worker: ServiceProcess, path: str, **query: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}{path}", params=query) as response:
            if response.content_type == "application/json" or "json" in response.content_type:
                return response.status, await response.json()
            return response.status, await response.text()


async def _report(worker: ServiceProcess, path: str, **query: str) -> Any:
    status, body = await _get(worker, path, **query)
    assert status == 200, body
    return body


async def _read(worker: ServiceProcess, outcome: str = "processed") -> dict[str, float]:
    """``oms_events_in_total`` of ``outcome``, per topic (without the run's prefix)."""
    text = await _report(worker, "/metrics")
    return {
        sample.labels["topic"].rsplit("oms.", 1)[-1]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "oms_events_in_total" and sample.labels["outcome"] == outcome
    }


async def _until_read(worker: ServiceProcess, **expected: float) -> None:
    """Until the worker has processed ``expected`` records per topic."""

    async def probe() -> bool:
        counts = await _read(worker)
        return all(counts.get(name, 0) == count for name, count in expected.items())

    await wait_for(probe, timeout=60, interval=0.3, what=f"records read: {expected}")


_COLUMNS = (
    "start", "end", "location", "fulfilment_orders_offered", "rejected", "rejection_rate",
    "resourced", "resourcing_rate", "shipped", "lead_time_p50_s", "lead_time_p90_s",
    "on_time_rate",
)  # fmt: skip
_NINE, _TEN, _ELEVEN = (
    ("2026-11-24T09:00:00Z", "2026-11-24T10:00:00Z"),
    ("2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z"),
    ("2026-11-24T11:00:00Z", "2026-11-24T12:00:00Z"),
)
# fmt: off
EXPECTED_LOCATION_HOURS = [
    dict(zip(_COLUMNS, row, strict=True))
    for row in (
        # Munich was offered A1, rejected it, and it was re-sourced to Hamburg.
        (*_NINE, MUC, 1, 1, 1.0, 1, 1.0, 0, None, None, None),
        # Hamburg: A1 (re-sourced), A2, A3.
        (*_NINE, HAM, 3, 0, 0.0, 0, 0.0, 0, None, None, None),
        # Shipped 3600 s (A1), 2400 s (A2), 4500 s (A3) after placement; A2 completed late.
        (*_TEN, HAM, 0, 0, None, 0, None, 3, 3600.0, 4500.0, 0.0),
        # A1 completed on time.
        (*_ELEVEN, HAM, 0, 0, None, 0, None, 0, None, None, 1.0),
    )
]
# fmt: on
_STOCK_COLUMNS = (
    "start",
    "end",
    "sku",
    "location",
    "stock_outs",
    "seconds_out_of_stock",
    "units_moved",
)
_TWELVE = ("2026-11-24T12:00:00Z", "2026-11-24T13:00:00Z")
# fmt: off
EXPECTED_STOCK_HOURS = [
    dict(zip(_STOCK_COLUMNS, row, strict=True))
    for row in (
        (*_NINE, "SKU-1", HAM, 1, 1200.0, 0),  # out from 09:40
        (*_TEN, "SKU-1", HAM, 0, 3600.0, 0),
        (*_TEN, "SKU-2", MUC, 0, 0.0, 3),
        (*_ELEVEN, "SKU-1", HAM, 1, 600.0 + 600.0, 0),  # back 11:10, out again 11:50
        (*_TWELVE, "SKU-1", HAM, 0, 1200.0, 0),  # still out at 12:20, the latest event
        (*_TWELVE, "SKU-2", MUC, 0, 0.0, 2),
        (*_TWELVE, "SKU-3", MUC, 1, 1200.0, 0),
    )
]
# fmt: on


# The location days in PostgreSQL (analytics_daily_locations: the partitions added up): day,
# location, offered, rejected, resourced, lead times, on time, late; then per location the
# sum of the partitions' versions (each a count of the figures counted there).
EXPECTED_LOCATION_DAY_ROWS = [
    ("2026-11-24", MUC, 1, 1, 1, [], 0, 0),
    ("2026-11-24", HAM, 3, 0, 0, [2400.0, 3600.0, 4500.0], 1, 1),
]
EXPECTED_LOCATION_VERSIONS = [(MUC, 3), (HAM, 8)]
HISTORY = {"OMS_ANALYTICS_HISTORY_INTERVAL_S": "0.5"}


async def _stored_location_days(env: Env) -> tuple[list[Any], list[Any], datetime]:
    """The location days' history rows (the view), the partitions' versions per location and
    the oldest write of them."""
    days = await env.fetch(
        "analytics",
        "SELECT day::text, location, offered, rejected, resourced, lead_times_s, on_time, late"
        " FROM analytics_daily_locations ORDER BY day, location",
    )
    parts = await env.fetch(
        "analytics",
        "SELECT location, sum(version)::int AS version, min(updated_at) AS oldest"
        " FROM analytics_daily_location_days GROUP BY location ORDER BY location",
    )
    oldest = min((r["oldest"] for r in parts), default=datetime.min)
    return [tuple(r) for r in days], [(r["location"], r["version"]) for r in parts], oldest


async def _location_history(env: Env, written_after: datetime = datetime.min) -> datetime:
    """Wait for the location days in PostgreSQL, written after ``written_after``; their
    oldest write."""
    seen: list[Any] = []

    async def probe() -> bool:
        seen[:] = await _stored_location_days(env)
        days, versions, oldest = seen
        fresh = written_after == datetime.min or oldest > written_after
        return (days, versions) == (EXPECTED_LOCATION_DAY_ROWS, EXPECTED_LOCATION_VERSIONS) and (
            fresh
        )

    try:
        await wait_for(probe, timeout=60, interval=0.3, what="the location days in PostgreSQL")
    except AssertionError:  # show how they differ
        assert seen[:2] == [EXPECTED_LOCATION_DAY_ROWS, EXPECTED_LOCATION_VERSIONS]
        raise
    return seen[2]  # type: ignore[no-any-return]


async def _location_history_is_the_live_report(worker: ServiceProcess) -> None:
    """The location days read back from PostgreSQL are the live ones (without the count of
    late events), as JSON and CSV, every location's and one's."""
    every, one = "/v1/reports/daily/locations", "/v1/reports/daily"
    for live_path, stored_path, query in (
        (every, f"{every}/history", {}),
        (one, f"{one}/history", {"location": HAM}),
        (every, f"{every}/history", {"location": MUC}),
        (every, f"{every}/history", {"to": "2026-11-23"}),
    ):
        live = await _report(worker, live_path, **query)
        del live["late_events_dropped"]
        assert await _report(worker, stored_path, **query) == live
        assert await _report(worker, stored_path, format="csv", **query) == (
            await _report(worker, live_path, format="csv", **query)
        )


async def test_location_and_stock_figures_redelivery_metrics_and_recovery(env: Env) -> None:
    worker = await env.service("analytics", **HISTORY)
    await worker.wait_ready()

    # An unreadable stock record is logged and skipped; the worker keeps counting.
    await produce(env.bootstrap, env.topic("oms.inventory"), [b"{not json"], partition=0)
    await send_timed(
        env,
        "oms.orders",
        [
            (accepted("A1", WEB, 1000), at("09:00")),
            (accepted("A2", WEB, 2000), at("09:30")),
            (accepted("A3", MARKET, 3000), at("09:40")),
        ],
    )
    sourcing = [
        (fulfilment_created("A1", MUC, promised_by=at("12:00")), at("09:05")),
        (fulfilment_created("A1", HAM, promised_by=at("12:00")), at("09:25")),
        (rerouted("A1", MUC, HAM), at("09:25")),
        (fulfilment_created("A2", HAM, promised_by=at("10:30")), at("09:31")),
        (fulfilment_created("A3", HAM, promised_by=at("12:00")), at("09:41")),
    ]
    shipments = [
        (fulfilment_rejected("A1", MUC), at("09:20")),
        (shipped("A1", at("10:00"), HAM), at("10:00")),
        (shipped("A2", at("10:10"), HAM), at("10:10")),
        (shipped("A3", at("10:55"), HAM), at("10:55")),
    ]
    inventory = [
        (day_closed("SKU-2", MUC, 23, 10), at("00:00:01")),  # the day before, 10 on hand
        (out_of_stock("SKU-1", HAM, at("09:40")), at("09:40")),
        (stock_committed("SKU-2", MUC, "O1", 3), at("10:05")),
        (back_in_stock("SKU-1", HAM), at("11:10")),
        (out_of_stock("SKU-1", HAM, at("11:50")), at("11:50")),
        (out_of_stock("SKU-3", MUC, at("12:00")), at("12:00")),
        (stock_committed("SKU-2", MUC, "O2", 2), at("12:20")),
    ]
    await send_timed(env, "oms.sourcing", sourcing)
    await send_timed(env, "oms.shipments", shipments)
    await send_timed(env, "oms.inventory", inventory)
    await send_timed(
        env,
        "oms.orders",
        [(completed("A2", at("10:50")), at("10:50")), (completed("A1", at("11:00")), at("11:00"))],
    )
    # Every shipment, sourcing and stock event delivered again: nothing counts twice.
    await send_timed(env, "oms.sourcing", sourcing)
    await send_timed(env, "oms.shipments", shipments)
    await send_timed(env, "oms.inventory", inventory[:2])
    await _until_read(worker, orders=5, sourcing=10, shipments=8, inventory=9)

    hours = await _report(worker, "/v1/kpis/locations", window="hour")
    assert hours["location"] is None and hours["late_events_dropped"] == 0
    assert hours["windows"] == EXPECTED_LOCATION_HOURS
    only_munich = await _report(worker, "/v1/kpis", window="hour", location=MUC)
    assert only_munich["location"] == MUC
    assert only_munich["windows"] == EXPECTED_LOCATION_HOURS[:1]
    # The rolling hour per location: Hamburg's last hop as of its newest minute holds every
    # shipment of the minutes it spans; one location's hops are its own.
    rolling = await _report(worker, "/v1/kpis/rolling/locations", latest="true")
    assert sorted(h["location"] for h in rolling["hops"]) == sorted([MUC, HAM])
    rolling_munich = await _report(worker, "/v1/kpis/rolling/locations", location=MUC)
    assert {h["location"] for h in rolling_munich["hops"]} == {MUC}
    assert max(h["rejected"] for h in rolling_munich["hops"]) == 1
    status, problem = await _get(worker, "/v1/kpis/rolling/locations", latest="1")
    assert status == 400 and problem["errors"][0]["field"] == "latest"
    minutes = await _report(worker, "/v1/kpis", window="minute", location=HAM)
    assert [(w["start"][11:16], w["shipped"]) for w in minutes["windows"] if w["shipped"]] == [
        ("10:00", 1),
        ("10:10", 1),
        ("10:55", 1),
    ]
    daily = await _report(worker, "/v1/reports/daily", location=HAM)
    assert daily["days"] == [
        {
            "day": "2026-11-24",
            "location": HAM,
            "fulfilment_orders_offered": 3,
            "rejected": 0,
            "rejection_rate": 0.0,
            "resourced": 0,
            "resourcing_rate": 0.0,
            "shipped": 3,
            "lead_time_p50_s": 3600.0,
            "lead_time_p90_s": 4500.0,
            "on_time_rate": 0.5,
        }
    ]
    csv = await _report(worker, "/v1/reports/daily/locations", format="csv")
    assert csv.splitlines()[0].startswith("day,location,fulfilment_orders_offered,rejected,")
    assert [line.split(",")[:6] for line in csv.splitlines()[1:]] == [
        ["2026-11-24", MUC, "1", "1", "1.0", "1"],
        ["2026-11-24", HAM, "3", "0", "0.0", "0"],
    ]
    status, problem = await _get(worker, "/v1/kpis", location=HAM, channel=WEB)
    assert status == 400 and problem["errors"][0]["field"] == "location"
    await _location_history(env)
    await _location_history_is_the_live_report(worker)

    stock_hours = await _report(worker, "/v1/reports/stock", window="hour")
    assert stock_hours["as_of"] == "2026-11-24T12:20:00Z"
    assert stock_hours["windows"] == EXPECTED_STOCK_HOURS
    stock_days = await _report(worker, "/v1/reports/stock", location=MUC)
    assert stock_days["windows"] == [
        {"day": "2026-11-23", "sku": "SKU-2", "location": MUC, "stock_outs": 0,
         "seconds_out_of_stock": 0.0, "units_moved": 0, "closing_on_hand": 10},
        {"day": "2026-11-24", "sku": "SKU-2", "location": MUC, "stock_outs": 0,
         "seconds_out_of_stock": 0.0, "units_moved": 5, "closing_on_hand": None},
        {"day": "2026-11-24", "sku": "SKU-3", "location": MUC, "stock_outs": 1,
         "seconds_out_of_stock": 1200.0, "units_moved": 0, "closing_on_hand": None},
    ]  # fmt: skip
    # Two days (the 23rd closed with 10, the 24th moved 5): 5 / 10 turns, 2 / 0.5 days.
    turnover = await _report(worker, "/v1/reports/stock/turnover", sku="SKU-2")
    assert (turnover["from"], turnover["to"]) == ("2026-11-23", "2026-11-24")
    assert turnover["items"] == [
        {"sku": "SKU-2", "location": MUC, "days_closed": 1, "average_on_hand": 10.0,
         "units_moved": 5, "turnover": 0.5, "days_of_supply": 4.0},
    ]  # fmt: skip
    turnover_csv = await _report(worker, "/v1/reports/stock/turnover", format="csv")
    assert turnover_csv.splitlines() == [
        "sku,location,days_closed,average_on_hand,units_moved,turnover,days_of_supply",
        f"SKU-2,{MUC},1,10.0,5,0.5,4.0",
    ]
    status, problem = await _get(worker, "/v1/reports/stock/turnover", to="24-11-2026")
    assert status == 400 and problem["errors"][0]["field"] == "to"
    out = await _report(worker, "/v1/reports/stock/out")
    assert out["out_of_stock"] == [
        {"sku": "SKU-1", "location": HAM, "since": "2026-11-24T11:50:00Z", "seconds": 1800.0},
        {"sku": "SKU-3", "location": MUC, "since": "2026-11-24T12:00:00Z", "seconds": 1200.0},
    ]
    out_csv = await _report(worker, "/v1/reports/stock/out", sku="SKU-3", format="csv")
    assert out_csv == f"sku,location,since,seconds\nSKU-3,{MUC},2026-11-24T12:00:00Z,1200.0\n"
    status, problem = await _get(worker, "/v1/reports/stock", window="week")
    assert status == 400 and problem["errors"][0]["field"] == "window"
    metrics = await _report(worker, "/metrics")
    assert "oms_analytics_out_of_stock 2.0" in metrics.splitlines()
    assert await _read(worker, "undecodable") == {"inventory": 1.0}
    skipped = [
        line
        for line in worker.log_path.read_text().splitlines()
        if "undecodable_event_skipped" in line
    ]
    assert len(skipped) == 1 and env.topic("oms.inventory") in skipped[0]

    worker.stop()
    restarted = await env.service("analytics")
    await restarted.wait_ready()
    assert await _report(restarted, "/v1/kpis/locations", window="hour") == hours
    assert await _report(restarted, "/v1/reports/stock", window="hour") == stock_hours
    assert await _report(restarted, "/v1/reports/stock/out") == out
    assert await _report(restarted, "/v1/reports/stock/turnover", sku="SKU-2") == turnover

    restarted.stop()
    _, _, before_replay = await _stored_location_days(env)

    replay = await env.service("analytics", OMS_GROUP_SUFFIX=f"-{env.run}-replay", **HISTORY)
    await replay.wait_ready()
    await _until_read(replay, orders=5, sourcing=10, shipments=8, inventory=9)
    # The replay writes the same rows again.
    await _location_history(env, written_after=before_replay)
    await _location_history_is_the_live_report(replay)
    assert await _report(replay, "/v1/kpis/locations", window="hour") == hours
    assert await _report(replay, "/v1/kpis", window="minute", location=HAM) == minutes
    assert await _report(replay, "/v1/reports/stock", window="hour") == stock_hours
    assert await _report(replay, "/v1/reports/stock/turnover", sku="SKU-2") == turnover
    assert await _report(replay, "/v1/reports/stock/out") == out
