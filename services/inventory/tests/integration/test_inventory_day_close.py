"""The day close on the real PostgreSQL and broker.

The use case with an injected clock on the real database: each stock row that existed as the
day ended closed once, in batches, by two sweeps at the same time, after a failed transaction,
and never for rows created after midnight. Then the worker as OS processes on the real clock:
yesterday closed once per stock row that existed before today's midnight (the rows are dated
back a day, as a worker cannot take an injected clock), with two workers at once and after a
restart."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from oms_events.codec import decode
from oms_events.inventory import StockDayClosed
from oms_inventory.adapters import MIGRATIONS, days_closed
from oms_inventory.service_layer.day_close import DayClose
from oms_runtime import Outbox, UnitOfWork, write_outbox
from tests.support.inventory import (
    BERLIN,
    HAMBURG,
    MUG,
    MUNICH,
    TSHIRT,
    events_of,
    feed,
    import_catalogue,
    receipt,
    request,
    reserve,
)
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC)
DAY = date(2026, 11, 24)
LOCATIONS = ("loc-a", "loc-b", "loc-c")
SKUS = ("SKU-1", "SKU-2", "SKU-3")

UnitsOfWork = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


class Failed(Exception):
    pass


def units_of_work(pool: asyncpg.Pool, *, fail_at: int | None = None) -> UnitsOfWork:
    """Transactions with an outbox, as the runtime's for timers (the outbox rows stay: no
    relay runs); with ``fail_at``, that transaction (counted from 1) fails after its work."""
    opened = 0

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[UnitOfWork]:
        nonlocal opened
        opened += 1
        async with pool.acquire() as conn, conn.transaction():
            work = UnitOfWork(conn=conn, outbox=Outbox(source="oms/inventory", topic_prefix=""))
            yield work
            await write_outbox(conn, work.outbox.records)
            if opened == fail_at:
                raise Failed

    return unit_of_work


@pytest.fixture
async def pool(env: Env) -> AsyncIterator[asyncpg.Pool]:
    """Nine stock rows (three SKUs at three locations) that existed before MIDNIGHT, each
    with its own levels."""
    dsn = await env.migrated_database("inventory", MIGRATIONS)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
    assert pool is not None
    await pool.executemany(
        "INSERT INTO locations (location_id, name, location_type, latitude, longitude)"
        " VALUES ($1, $1, 'warehouse', 50, 10)",
        [(location,) for location in LOCATIONS],
    )
    await pool.executemany(
        "INSERT INTO items (sku, name) VALUES ($1, $1)", [(sku,) for sku in SKUS]
    )
    await pool.executemany(
        "INSERT INTO stock (sku, location_id, on_hand, reserved, in_transit, quarantined,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (sku, location, 10 * n + m, n, m, n * m, MIDNIGHT - timedelta(days=2))
            for n, sku in enumerate(SKUS)
            for m, location in enumerate(LOCATIONS)
        ],
    )
    try:
        yield pool
    finally:
        await pool.close()


async def published(pool: asyncpg.Pool) -> list[tuple[str, StockDayClosed]]:
    """The StockDayClosed events in the outbox, with their record keys, in order."""
    rows = await pool.fetch("SELECT topic, key, payload FROM oms_outbox ORDER BY id")
    found = []
    for row in rows:
        assert row["topic"] == "oms.inventory"
        payload = decode(bytes(row["payload"])).payload
        assert isinstance(payload, StockDayClosed)
        found.append((bytes(row["key"]).decode(), payload))
    return found


def clock_at(now: datetime) -> Callable[[], datetime]:
    return lambda: now


async def test_the_sweep_closes_each_row_once_with_its_levels_in_batches(
    pool: asyncpg.Pool,
) -> None:
    # A row created as the day ended had no stock that day.
    await pool.execute("INSERT INTO items (sku, name) VALUES ('SKU-NEW', 'new')")
    await pool.execute(
        "INSERT INTO stock (sku, location_id, on_hand, created_at)"
        " VALUES ('SKU-NEW', 'loc-a', 3, $1)",
        MIDNIGHT,
    )
    now = MIDNIGHT + timedelta(seconds=30)
    day_close = DayClose(days_closed, batch=4, clock=clock_at(now))

    assert await day_close.sweep(units_of_work(pool)) == 9

    events = await published(pool)
    assert [key for key, _ in events] == [f"{s}@{loc}" for s in SKUS for loc in LOCATIONS]
    stock = {
        f"{r['sku']}@{r['location_id']}": r
        for r in await pool.fetch("SELECT * FROM stock WHERE sku <> 'SKU-NEW'")
    }
    for key, event in events:
        row = stock[key]
        assert (event.sku, event.location_id, event.day, event.taken_at) == (
            row["sku"],
            row["location_id"],
            DAY,
            now,
        )
        assert (event.on_hand, event.reserved, event.in_transit, event.quarantined) == (
            row["on_hand"],
            row["reserved"],
            row["in_transit"],
            row["quarantined"],
        )
    recorded = await pool.fetch("SELECT * FROM stock_days_closed ORDER BY sku, location_id")
    assert [dict(r) for r in recorded] == [
        {
            "day": e.day,
            "sku": e.sku,
            "location_id": e.location_id,
            "on_hand": e.on_hand,
            "reserved": e.reserved,
            "in_transit": e.in_transit,
            "quarantined": e.quarantined,
            "taken_at": e.taken_at,
        }
        for _, e in events
    ]

    # The next tick, and a restarted worker: nothing more.
    assert await day_close.sweep(units_of_work(pool)) == 0
    restarted = DayClose(days_closed, batch=4, clock=clock_at(now + timedelta(minutes=1)))
    assert await restarted.sweep(units_of_work(pool)) == 0
    assert len(await published(pool)) == 9


async def test_two_sweeps_at_once_close_each_row_once(pool: asyncpg.Pool) -> None:
    clock = clock_at(MIDNIGHT + timedelta(minutes=1))
    first = DayClose(days_closed, batch=2, clock=clock)
    second = DayClose(days_closed, batch=2, clock=clock)

    closed = await asyncio.gather(
        first.sweep(units_of_work(pool)), second.sweep(units_of_work(pool))
    )

    assert sum(closed) == 9
    keys = Counter(key for key, _ in await published(pool))
    assert len(keys) == 9
    assert set(keys.values()) == {1}


async def test_a_failed_batch_publishes_nothing_and_the_next_tick_closes_it(
    pool: asyncpg.Pool,
) -> None:
    day_close = DayClose(days_closed, batch=4, clock=clock_at(MIDNIGHT + timedelta(minutes=1)))
    with pytest.raises(Failed):
        await day_close.sweep(units_of_work(pool, fail_at=2))
    # The first batch committed with its events, the second rolled back with its events.
    assert len(await published(pool)) == 4
    assert await pool.fetchval("SELECT count(*) FROM stock_days_closed") == 4

    assert await day_close.sweep(units_of_work(pool)) == 5
    keys = Counter(key for key, _ in await published(pool))
    assert len(keys) == 9
    assert set(keys.values()) == {1}


async def test_after_days_away_only_the_last_ended_day_is_closed(pool: asyncpg.Pool) -> None:
    away = clock_at(MIDNIGHT + timedelta(days=4, hours=7))
    assert await DayClose(days_closed, batch=100, clock=away).sweep(units_of_work(pool)) == 9
    days = await pool.fetch("SELECT DISTINCT day FROM stock_days_closed")
    assert [r["day"] for r in days] == [DAY + timedelta(days=4)]


# -- the worker, as OS processes, on the real clock -------------------------------------------


def closes_logged(worker: ServiceProcess) -> list[dict[str, Any]]:
    """The worker's ``stock_day_closed`` log records: one per day it saw fully closed."""
    if not worker.log_path.exists():
        return []
    records = []
    for line in worker.log_path.read_text(errors="replace").splitlines():
        if '"stock_day_closed"' in line:
            records.append(json.loads(line))
    return records


async def day_closed_by(worker: ServiceProcess) -> dict[str, Any]:
    async def logged() -> dict[str, Any] | None:
        assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
        found = closes_logged(worker)
        return found[0] if found else None

    return await wait_for(logged, timeout=90, what=f"{worker.log_path.name} to close the day")


async def test_workers_close_yesterday_once_per_stock_row_even_two_at_once_or_restarted(
    env: Env, tmp_path: Path
) -> None:
    await import_catalogue(env, tmp_path)  # TSHIRT at Berlin: a stock policy, a row
    # The stock arrives through a worker whose day close does not run during the test.
    loader = await env.service("inventory", OMS_STOCK_DAY_CLOSE_SWEEP_S="3600")
    await loader.wait_ready()

    async def applied(events: int) -> bool:
        rows = await env.fetch("inventory", "SELECT count(*) AS n FROM oms_inbox")
        return int(rows[0]["n"]) >= events

    await feed(
        env,
        receipt("rcv-1", TSHIRT, HAMBURG, 10),
        receipt("rcv-2", MUG, MUNICH, 5),
        receipt("rcv-3", TSHIRT, BERLIN, 4),
    )
    # The request's topic is not the receipts': sent together, it could be read first.
    await wait_for(lambda: applied(3), what="the receipts applied")
    await request(env, reserve("ORD-1", (TSHIRT, HAMBURG, 2)))
    await wait_for(lambda: applied(4), what="the reservation applied")
    # These three rows existed before today's midnight; the next one is created after it.
    await env.fetch("inventory", "UPDATE stock SET created_at = created_at - interval '1 day'")
    await feed(env, receipt("rcv-4", MUG, HAMBURG, 3))
    await wait_for(lambda: applied(5), what="the receipt of a new row applied")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    started = datetime.now(UTC)

    first = await env.service("inventory", OMS_STOCK_DAY_CLOSE_SWEEP_S="0.2")
    second = await env.service("inventory", OMS_STOCK_DAY_CLOSE_SWEEP_S="0.2")
    logged = [await day_closed_by(first), await day_closed_by(second)]
    assert {r["day"] for r in logged} == {yesterday.isoformat()}
    assert sum(r["closed"] for r in logged) == 3

    stock = {
        f"{r['sku']}@{r['location_id']}": r
        for r in await env.fetch(
            "inventory", "SELECT * FROM stock WHERE (sku, location_id) <> ($1, $2)", MUG, HAMBURG
        )
    }
    assert len(stock) == 3

    async def on_topic() -> list[Any] | None:
        found = await events_of(env, "oms.inventory", 1, "StockDayClosed")
        return found if len(found) >= 3 else None

    events = await wait_for(on_topic, what="three StockDayClosed on oms.inventory")
    assert Counter(e.envelope.subject for e in events) == {key: 1 for key in stock}
    for e in events:
        closed, row = e.payload, stock[e.envelope.subject]
        assert closed.day == yesterday
        assert started <= closed.taken_at <= datetime.now(UTC)
        assert (closed.on_hand, closed.reserved, closed.in_transit, closed.quarantined) == (
            row["on_hand"],
            row["reserved"],
            row["in_transit"],
            row["quarantined"],
        )
    hamburg = stock[f"{TSHIRT}@{HAMBURG}"]
    assert (hamburg["on_hand"], hamburg["reserved"]) == (10, 2)

    # A restarted worker finds the day closed and publishes nothing; the others' later ticks
    # neither.
    second.stop()
    restarted = await env.service("inventory", OMS_STOCK_DAY_CLOSE_SWEEP_S="0.2")
    assert (await day_closed_by(restarted))["closed"] == 0
    rows = await env.fetch(
        "inventory",
        "SELECT count(*) AS n, count(DISTINCT (sku, location_id)) AS keys FROM stock_days_closed",
    )
    assert (rows[0]["n"], rows[0]["keys"]) == (3, 3)
    again = await events_of(env, "oms.inventory", 1, "StockDayClosed")
    assert len(again) == 3
    assert len(closes_logged(first)) == 1
