"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright) against
the analytics worker as an OS process on the real broker: its charts show the known figures
(per channel, per location, the orders stuck now, the stock-outs), the channel and location
filters narrow them, a new event appears without a reload, the reconciliation's exception and
what is out of stock are listed, and a screenshot of a chart holds its bars."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from playwright.async_api import Page, async_playwright

from oms_events.returns import ReturnReason
from tests.support.analytics import (
    accepted,
    at,
    authorized,
    canceled,
    completed,
    day_closed,
    fulfilment_created,
    fulfilment_rejected,
    out_of_stock,
    rerouted,
    return_requested,
    send_timed,
    shipped,
    stock_committed,
)
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WEB, MARKET = "web-de", "marketplace"
NINE, TEN = "11-24 09:00", "11-24 10:00"
PLACED_BLUE = (0x2F, 0x6F, 0xDF)  # the first colour of the dashboard's palette
HAM, MUC = "WH-HAMBURG", "ST-MUNICH"
# The statuses watched by default, in lifecycle order.
WATCHED = [
    "PENDING", "CONFIRMED", "ON_HOLD", "ALLOCATED", "BACKORDERED", "RELEASED", "SHIPPED",
    "DELIVERED", "COLLECTED",
]  # fmt: skip


def _stuck(pending: int) -> dict[str, Any]:
    """The stuck chart with ``pending`` orders stuck PENDING and none elsewhere."""
    return {"labels": WATCHED, "datasets": {"stuck": [pending] + [0] * (len(WATCHED) - 1)}}


@pytest.fixture
async def browser_page() -> AsyncIterator[Page]:
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is missing: deploy/local/install installs Debian's package"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1400})
            yield page
        finally:
            await browser.close()


async def _placed(worker: ServiceProcess) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}/v1/kpis", params={"window": "hour"}) as response:
            figures = await response.json()
    return sum(int(w["orders_placed"]) for w in figures["windows"])


async def _chart(page: Page, chart: str) -> dict[str, Any]:
    """What a chart shows: its labels and each dataset's label and data."""
    shown: dict[str, Any] = await page.evaluate(
        """(id) => {
            const c = window.omsDashboard.charts[id];
            return {labels: c.data.labels,
                    datasets: Object.fromEntries(c.data.datasets.map(d => [d.label, d.data]))};
        }""",
        chart,
    )
    return shown


async def _dataset(page: Page, chart: str, label: str, expected: list[Any]) -> bool:
    return bool((await _chart(page, chart))["datasets"].get(label) == expected)


async def _until_chart(page: Page, chart: str, expected: dict[str, Any]) -> None:
    async def shows() -> bool:
        return await _chart(page, chart) == expected

    await wait_for(shows, timeout=30, interval=0.2, what=f"the {chart} chart to show {expected}")


def _pixels_of(path: Path, colour: tuple[int, int, int]) -> int:
    image = Image.open(path).convert("RGB")
    return sum(
        1
        for pixel in image.getdata()
        if all(abs(int(a) - b) <= 12 for a, b in zip(pixel, colour, strict=True))
    )


async def test_the_dashboard_charts_filters_and_refreshes_live(
    env: Env, browser_page: Page, tmp_path: Path
) -> None:
    worker = await env.service("analytics")
    await worker.wait_ready()
    await send_timed(
        env,
        "oms.orders",
        [
            (accepted("A1", WEB, 6445), at("09:05")),
            (accepted("A2", WEB, 1685), at("09:40")),
            (accepted("A3", MARKET, 12000, "CHF"), at("09:41")),
            (accepted("K1", MARKET, 1500), at("09:50")),
            (canceled("K1", at("09:55")), at("09:55")),
            (accepted("A4", WEB, 2000), at("10:10")),
            # Delivered at 10:06 (read after 10:10: oms.orders' watermark stays 10:10).
            (completed("A1", at("10:06")), at("10:06")),
        ],
    )
    await send_timed(env, "oms.payments", [(authorized("K1", 1500), at("09:51"))])
    # A2 offered to Munich, rejected there and re-sourced to Hamburg; A1 shipped from Hamburg.
    await send_timed(
        env,
        "oms.sourcing",
        [
            (fulfilment_created("A2", MUC), at("09:45")),
            (fulfilment_created("A2", HAM), at("09:52")),
            (rerouted("A2", MUC, HAM), at("09:52")),
        ],
    )
    await send_timed(
        env,
        "oms.shipments",
        [
            (fulfilment_rejected("A2", MUC), at("09:50")),
            (shipped("A1", at("10:05"), HAM), at("10:05")),
        ],
    )
    # A1 returned: one order returned of the one delivered in the 10:00 hour.
    await send_timed(
        env,
        "oms.returns",
        [(return_requested("A1", "ret-A1", WEB, {ReturnReason.DAMAGED: 1}), at("10:08"))],
    )
    # SKU-1 out at Hamburg from 09:30, SKU-2 at Munich from 10:15 (the latest stock event);
    # SKU-3 at Hamburg closed the 23rd with 8 on hand and moved 2 on the 24th.
    await send_timed(
        env,
        "oms.inventory",
        [
            (day_closed("SKU-3", HAM, 23, 8), at("00:00:01")),
            (out_of_stock("SKU-1", HAM, at("09:30")), at("09:30")),
            (stock_committed("SKU-3", HAM, "A1", 2), at("10:05")),
            (out_of_stock("SKU-2", MUC, at("10:15")), at("10:15")),
        ],
    )
    await wait_for(lambda: _equals(_placed(worker), 5), timeout=60, what="the orders counted")
    await wait_for(
        lambda: _equals(_out_of_stock(worker), 2), timeout=60, what="the stock-outs read"
    )

    page = browser_page
    await page.goto(f"{worker.url}/dashboard?refresh=1")
    await page.wait_for_function("() => window.omsDashboard && window.omsDashboard.refreshes > 0")
    await _until_chart(
        page,
        "throughput",
        {"labels": [NINE, TEN], "datasets": {"placed": [4, 1], "shipped": [0, 1]}},
    )
    assert await _chart(page, "revenue") == {
        "labels": [NINE, TEN],
        "datasets": {"CHF": [120, 0], "EUR": [(6445 + 1685 + 1500) / 100, 20]},
    }
    lead_times = await _chart(page, "lead-times")
    assert lead_times["datasets"][f"{WEB} p50"] == [None, 60]  # A1: placed 09:05, shipped 10:05
    # Rates in per cent, per channel: A1 returned of A1 delivered; K1 canceled of two placed.
    await wait_for(
        lambda: _dataset(page, "rates", f"{WEB} returned", [None, 100]),
        timeout=30,
        interval=0.2,
        what="the web channel's return rate",
    )
    rates = (await _chart(page, "rates"))["datasets"]
    assert rates[f"{MARKET} returned"] == [None, None]
    assert rates[f"{MARKET} canceled"] == [50, None]
    await _until_chart(
        page, "exceptions", {"labels": ["authorisation_left_open"], "datasets": {"orders": [1]}}
    )
    assert await page.locator("#exception-list tbody tr").all_inner_texts() == [
        "K1\tmarketplace\t2026-11-24\tauthorisation_left_open\tthe order is canceled but"
        " 1500 EUR of the authorisation was neither captured nor voided"
    ]
    # Per location, every location added up; the rates per location.
    await _until_chart(
        page,
        "locations",
        {
            "labels": [NINE, TEN],
            "datasets": {
                "offered": [2, 0],
                "rejected": [1, 0],
                "re-sourced": [1, 0],
                "shipped": [0, 1],
            },
        },
    )
    location_rates = (await _chart(page, "location-rates"))["datasets"]
    assert location_rates[f"{MUC} rejection"] == [100, None]
    assert location_rates[f"{MUC} re-sourcing"] == [100, None]
    assert location_rates[f"{HAM} rejection"] == [0, None]
    # Stuck: A3 PENDING since 09:41, past 15 minutes by 10:10 (A4 is PENDING since 10:10).
    await _until_chart(page, "stuck", _stuck(1))
    # Stock-outs begun per hour and hours out of stock up to 10:15.
    await _until_chart(
        page,
        "stock-outs",
        {
            "labels": [NINE, TEN],
            "datasets": {"stock-outs": [1, 1], "hours out of stock": [0.5, 0.25]},
        },
    )
    assert await page.locator("#out-of-stock tbody tr").all_inner_texts() == [
        f"SKU-1\t{HAM}\t2026-11-24T09:30:00Z",
        f"SKU-2\t{MUC}\t2026-11-24T10:15:00Z",
    ]
    # Turnover: 2 moved / 8 on hand = 0.25 turns, 2 days / 0.25 = 8 days of supply.
    await _until_chart(
        page, "turnover", {"labels": [f"SKU-3 @ {HAM}"], "datasets": {"turnover": [0.25]}}
    )
    assert await page.locator("#turnover-list tbody tr").all_inner_texts() == [
        f"SKU-3\t{HAM}\t1\t8\t2\t0.25\t8"
    ]

    # The bars are drawn: the screenshot of the chart holds the placed bars' colour.
    shot = tmp_path / "throughput.png"
    await page.locator("#throughput").screenshot(path=str(shot))
    assert _pixels_of(shot, PLACED_BLUE) > 500
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    # The channel filter narrows every chart to the channel.
    await page.select_option("#channel", MARKET)
    await _until_chart(
        page, "throughput", {"labels": [NINE], "datasets": {"placed": [2], "shipped": [0]}}
    )
    await page.select_option("#channel", "")

    # The location filter narrows the location, stuck and stock charts to the location.
    await page.select_option("#location", MUC)
    await _until_chart(
        page,
        "locations",
        {
            "labels": [NINE],
            "datasets": {"offered": [1], "rejected": [1], "re-sourced": [1], "shipped": [0]},
        },
    )
    await _until_chart(page, "stuck", _stuck(0))  # A3 has no location yet
    await _until_chart(
        page,
        "stock-outs",
        {"labels": [TEN], "datasets": {"stock-outs": [1], "hours out of stock": [0]}},
    )
    await _until_chart(page, "turnover", {"labels": [], "datasets": {"turnover": []}})
    assert await page.locator("#out-of-stock tbody tr").count() == 1
    await page.select_option("#location", "")

    # A new order shows without a reload: the page's own state survives the refresh.
    await page.evaluate("() => { window.sameDocument = true; }")
    await send_timed(env, "oms.orders", [(accepted("A5", WEB, 3000), at("10:40"))])
    await _until_chart(
        page,
        "throughput",
        {"labels": [NINE, TEN], "datasets": {"placed": [4, 2], "shipped": [0, 1]}},
    )
    assert await page.evaluate("() => window.sameDocument") is True
    # Its time moves oms.orders' watermark to 10:40: A4, PENDING since 10:10, is stuck too.
    await _until_chart(page, "stuck", _stuck(2))


async def _out_of_stock(worker: ServiceProcess) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}/v1/reports/stock/out") as response:
            return len((await response.json())["out_of_stock"])


async def _equals(count: Any, expected: int) -> bool:
    return bool(await count == expected)


async def test_an_unknown_dashboard_asset_is_not_found(env: Env) -> None:
    worker = await env.service("analytics")
    await worker.wait_ready()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}/dashboard/secrets.txt") as response:
            assert response.status == 404
        async with session.get(f"{worker.url}/dashboard/chart.umd.min.js") as response:
            assert response.status == 200
            assert (await response.read()).startswith(b"/*!\n * Chart.js v4.6.1")
