"""The analytics worker as an OS process on the real broker: a known sequence of events gives
exactly the expected figures per channel and window, a late event lands in its own window
(one past the grace period is dropped and counted), a restarted worker recovers the same
figures from its changelog topics, and a replay from offset 0 by a new consumer group (new
tables) computes them again."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from oms_events.returns import ReturnReason
from tests.support.analytics import (
    accepted,
    at,
    backordered,
    canceled,
    completed,
    fulfilment_created,
    rejected,
    return_requested,
    send_timed,
    shipped,
)
from tests.support.kafka import produce
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB, MARKET = "web-de", "marketplace"


async def _kpis(worker: ServiceProcess, **query: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}/v1/kpis", params=query) as response:
            assert response.status == 200, await response.text()
            return dict(await response.json())


async def _rolling(worker: ServiceProcess, **query: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}/v1/kpis/rolling", params=query) as response:
            assert response.status == 200, await response.text()
            return dict(await response.json())


def _placed_per_hop(rolling: dict[str, Any]) -> list[tuple[str, str, int, dict[str, int]]]:
    return [
        (h["start"][11:16], h["channel"], h["orders_placed"], h["revenue_minor"])
        for h in rolling["hops"]
        if h["orders_placed"]  # hops holding only shipments, completions or returns left out
    ]


# The orders counted (L2, at 08:30, is past the grace): (minutes since 00:00, channel, amount).
_PLACED = [
    (9 * 60 + 5, WEB, ("EUR", 6445)),  # A1 at 09:05:10, in its minute 09:05
    (9 * 60 + 40, WEB, ("EUR", 1685)),
    (9 * 60 + 41, MARKET, ("CHF", 12000)),
    (9 * 60 + 55, WEB, ("EUR", 990)),  # L1, late within the grace
    (10 * 60 + 10, WEB, ("EUR", 2000)),
    (10 * 60 + 40, WEB, ("EUR", 3000)),
]


def _expected_hops() -> list[tuple[str, str, int, dict[str, int]]]:
    """Every hop of 60 minutes starting at a multiple of 5 that holds an order: the orders
    placed at or after its start and before its end."""
    hops = []
    for start in range(0, 24 * 60, 5):
        for channel in sorted({MARKET, WEB}):
            inside = [
                (currency, amount)
                for minute, placed_in, (currency, amount) in _PLACED
                if placed_in == channel and start <= minute < start + 60
            ]
            revenue: dict[str, int] = {}
            for currency, amount in inside:
                revenue[currency] = revenue.get(currency, 0) + amount
            if inside:
                hops.append((f"{start // 60:02d}:{start % 60:02d}", channel, len(inside), revenue))
    return hops


async def _until(worker: ServiceProcess, what: str, done: Any, **query: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        figures = await _kpis(worker, **query)
        return figures if done(figures) else None

    return await wait_for(probe, timeout=60, interval=0.3, what=what)


def _window(figures: dict[str, Any], start: str, channel: str) -> dict[str, Any]:
    (window,) = [
        w for w in figures["windows"] if w["start"].endswith(start) and w["channel"] == channel
    ]
    return dict(window)


def _total(figures: dict[str, Any], name: str) -> int:
    return sum(int(w[name]) for w in figures["windows"])


_COLUMNS = (
    "start", "end", "channel", "orders_placed", "revenue_minor", "cancellations", "rejections",
    "cancellation_rate", "rejection_rate", "shipped", "lead_time_p50_s", "lead_time_p90_s",
    "returns", "returned_units_by_reason", "orders_returned", "return_rate", "backorders",
    "backorder_rate",
    "delivered_or_collected", "delivery_lead_time_p50_s", "delivery_lead_time_p90_s",
    "on_time_rate",
)  # fmt: skip
_NINE, _TEN = (
    ("2026-11-24T09:00:00Z", "2026-11-24T10:00:00Z"),
    ("2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z"),
)
# Oldest window first, then by channel.
# fmt: off
EXPECTED_HOURS = [
    dict(zip(_COLUMNS, row, strict=True))
    for row in (
        (*_NINE, MARKET, 1, {"CHF": 12000}, 0, 0, 0.0, 0.0, 0, None, None, 0, {}, 0, None,
         0, 0.0, 0, None, None, None),
        (*_NINE, WEB, 3, {"EUR": 6445 + 1685 + 990}, 0, 1, 0.0, 0.25, 0, None, None, 0, {},
         0, None, 0, 0.0, 0, None, None, None),
        # A1, bought on the web, returned on the marketplace: the return counts where it was
        # asked for, the returned order under the channel that sold it.
        (*_TEN, MARKET, 0, {}, 0, 0, None, None, 1, 1800.0, 1800.0, 2, {"damaged": 2}, 0, None,
         0, None, 0, None, None, None),
        # A4 backordered; A1 completed on time 4490 s after placement, A5 late after 900 s;
        # A1 returned: one order returned of the two delivered.
        (*_TEN, WEB, 2, {"EUR": 2000 + 3000}, 1, 0, 0.5, 0.0, 3, 1200.0, 3600.0, 0, {}, 1, 0.5,
         1, 0.5, 2, 900.0, 4490.0, 0.5),
    )
]
# fmt: on


async def test_figures_per_window_late_events_recovery_and_replay(env: Env) -> None:
    worker = await env.service("analytics")
    await worker.wait_ready()

    # Unreadable input is logged and skipped; the worker keeps counting.
    await produce(env.bootstrap, env.topic("oms.orders"), [b"{not json", b"{}"], partition=0)
    await send_timed(
        env,
        "oms.orders",
        [
            (accepted("A1", WEB, 6445), at("09:05:10")),
            (accepted("A2", WEB, 1685), at("09:40")),
            (accepted("A3", MARKET, 12000, "CHF"), at("09:41:30")),
            (rejected("R1", WEB), at("09:50")),
            (accepted("A4", WEB, 2000), at("10:10")),
            (canceled("A2", at("10:20")), at("10:20")),
            (accepted("A5", WEB, 3000), at("10:40")),
        ],
    )
    await _until(
        worker, "the orders counted", lambda f: _total(f, "orders_placed") == 5, window="hour"
    )
    await send_timed(
        env,
        "oms.shipments",
        [
            (shipped("A1", at("10:05:10")), at("10:05:10")),  # 3600 s after placement
            (shipped("A3", at("10:11:30")), at("10:11:30")),  # 1800 s
            (shipped("A4", at("10:30")), at("10:30")),  # 1200 s
            (shipped("A5", at("10:45")), at("10:45")),  # 300 s
        ],
    )
    await _until(
        worker, "the shipments counted", lambda f: _total(f, "shipped") == 4, window="hour"
    )
    # Promises and a backorder on oms.sourcing, completions on oms.orders.
    await send_timed(
        env,
        "oms.sourcing",
        [
            (fulfilment_created("A1", promised_by=at("10:30")), at("09:06")),
            (backordered("A4"), at("10:12")),
            (fulfilment_created("A5", promised_by=at("10:50")), at("10:41")),
        ],
    )
    await send_timed(
        env,
        "oms.orders",
        [(completed("A1", at("10:20")), at("10:20")), (completed("A5", at("10:55")), at("10:55"))],
    )
    await _until(
        worker,
        "the completions counted",
        lambda f: _total(f, "delivered_or_collected") == 2 and _total(f, "backorders") == 1,
        window="hour",
    )
    # A1's return, delivered twice, and a second return of A1: the order is returned once.
    first_return = return_requested("A1", "ret-A1", MARKET, {ReturnReason.DAMAGED: 1})
    second_return = return_requested("A1", "ret-A1b", MARKET, {ReturnReason.DAMAGED: 1})
    await send_timed(
        env,
        "oms.returns",
        [(first_return, at("10:58")), (first_return, at("10:58")), (second_return, at("10:59"))],
    )
    await _until(
        worker,
        "the returns counted",
        lambda f: _total(f, "returns") == 2 and _total(f, "orders_returned") == 1,
        window="hour",
    )
    # Late on oms.orders, whose watermark is 10:40: 09:55 is within the grace (an hour after
    # its window's end, 10:00); 08:30 is not.
    await send_timed(
        env,
        "oms.orders",
        [(accepted("L1", WEB, 990), at("09:55")), (accepted("L2", WEB, 500), at("08:30"))],
    )
    hours = await _until(
        worker, "the late events", lambda f: f["late_events_dropped"] == 1, window="hour"
    )

    assert hours["grace_seconds"] == 3600
    assert hours["windows"] == EXPECTED_HOURS
    minutes = await _kpis(worker, window="minute")
    assert minutes["late_events_dropped"] == 1
    assert _window(minutes, "09:55:00Z", WEB)["orders_placed"] == 1
    assert _window(minutes, "10:20:00Z", WEB)["cancellations"] == 1
    assert _window(minutes, "10:45:00Z", WEB)["lead_time_p50_s"] == 300.0
    assert _total(minutes, "orders_placed") == 6 and _total(minutes, "shipped") == 4
    assert [w["start"][11:16] for w in minutes["windows"] if w["channel"] == MARKET] == [
        "09:41",
        "10:11",
        "10:58",
        "10:59",
    ]
    assert _window(minutes, "10:58:00Z", WEB)["orders_returned"] == 1
    assert _window(minutes, "10:58:00Z", WEB)["return_rate"] is None  # none delivered then
    # The rolling hour, advancing every 5 minutes: each order in the twelve hops covering it.
    rolling = await _rolling(worker)
    assert (rolling["size_seconds"], rolling["step_seconds"]) == (3600, 300)
    assert rolling["late_events_dropped"] == 1
    assert _placed_per_hop(rolling) == _expected_hops()
    hop = {(h["start"][11:16], h["channel"]): h for h in rolling["hops"]}
    assert hop[("08:10", WEB)]["orders_placed"] == 1  # A1 alone: the first hop covering it
    assert hop[("09:40", WEB)]["revenue_minor"] == {"EUR": 1685 + 990 + 2000}  # A2, L1, A4
    assert hop[("09:45", WEB)]["orders_placed"] == 3  # L1, A4, A5: A2's 09:40 is before it
    assert [h for (h, channel), f in hop.items() if channel == MARKET and f["orders_placed"]] == [
        f"{h:02d}:{m:02d}" for h, m in [(8, 45), (8, 50), (8, 55)] + [(9, 5 * n) for n in range(9)]
    ]
    assert hop[("09:40", WEB)]["end"] == "2026-11-24T10:40:00Z"
    only_web = await _rolling(worker, channel=WEB)
    assert only_web["hops"] == [h for h in rolling["hops"] if h["channel"] == WEB]
    # The last hour as of each channel's newest minute; the hops from a time on.
    latest = await _rolling(worker, latest="true")
    assert hop[("10:00", MARKET)] in latest["hops"]  # its newest minute 10:59: 10:00 to 11:00
    assert [h["channel"] for h in latest["hops"]] == sorted({MARKET, WEB})
    later = await _rolling(worker, **{"from": "2026-11-24T10:50:00+00:00"})
    assert later["hops"] == [h for h in rolling["hops"] if h["start"] >= "2026-11-24T10:50"]
    assert later["hops"] and later["from"] == "2026-11-24T10:50:00Z"
    for name, value in (("from", "2026-11-24"), ("from", "10:50"), ("latest", "yes")):
        async with aiohttp.ClientSession() as session:
            query = {name: value}
            async with session.get(f"{worker.url}/v1/kpis/rolling", params=query) as response:
                assert response.status == 400, (name, value)
                assert (await response.json())["errors"][0]["field"] == name
    async with aiohttp.ClientSession() as session:
        query = {"channel": MARKET, "format": "csv"}
        async with session.get(f"{worker.url}/v1/kpis/rolling", params=query) as response:
            assert response.status == 200 and response.content_type == "text/csv"
            rows = (await response.text()).splitlines()
    market_hops = [h for h in rolling["hops"] if h["channel"] == MARKET]
    assert rows[0].startswith("start,end,channel,orders_placed,revenue_minor_CHF,cancellations")
    assert len(rows) == 1 + len(market_hops)
    assert rows[1].startswith(f"2026-11-24T08:45:00Z,2026-11-24T09:45:00Z,{MARKET},1,12000,")
    only_market = await _kpis(worker, window="hour", channel=MARKET)
    assert only_market["windows"] == [w for w in EXPECTED_HOURS if w["channel"] == MARKET]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}/v1/kpis", params={"window": "day"}) as response:
            assert response.status == 400

    worker.stop()
    restarted = await env.service("analytics")
    await restarted.wait_ready()
    assert await _kpis(restarted, window="hour") == hours
    assert await _kpis(restarted, window="minute") == minutes
    assert await _rolling(restarted) == rolling
    assert worker.log_path.read_text().count('"undecodable_event_skipped"') == 2

    replay = await env.service("analytics", OMS_GROUP_SUFFIX=f"-{env.run}-replay")
    await replay.wait_ready()
    replayed = await _until(
        replay, "the replay", lambda f: f["late_events_dropped"] == 1, window="hour"
    )
    assert replayed == hours
    assert await _kpis(replay, window="minute") == minutes
    assert await _rolling(replay) == rolling
