"""The analytics worker SIGKILLed while it is counting, then started again (same consumer group,
same tables: recovered from the changelogs, the events since the last committed offsets read
again), ends with exactly the figures of a clean reading: a second worker with a new consumer
group and new tables reading the same topics from offset 0 without a kill. Every report
(hourly, minute and rolling KPIs, per location, the daily reports, the reconciliation, the
stock) and the history rows in PostgreSQL. Killed between commits, and killed while counting
(expected to fail now and then: torn changelog writes, docs/analytics.md)."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from oms_events.codec import encode
from oms_events.registry import EventPayload
from oms_events.returns import ReturnReason
from oms_events.topics import topic
from tests.support.analytics import (
    accepted,
    at,
    authorized,
    back_in_stock,
    backordered,
    canceled,
    captured,
    completed,
    envelope,
    fulfilment_created,
    fulfilment_rejected,
    out_of_stock,
    refunded,
    rejected,
    rerouted,
    return_requested,
    shipped,
    stock_committed,
    voided,
)
from tests.support.kafka import committed_and_end_offsets
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

ORDERS = 320
CHANNELS = ("web-de", "marketplace", "store-koeln")
LOCATIONS = ("WH-HAMBURG", "ST-MUNICH", "WH-BERLIN")
SOURCE_TOPICS = (
    "oms.orders",
    "oms.payments",
    "oms.shipments",
    "oms.returns",
    "oms.sourcing",
    "oms.inventory",
)
WORKER_ENV = {
    "OMS_ANALYTICS_HISTORY_INTERVAL_S": "0.5",
    "OMS_ANALYTICS_STUCK_AFTER_S": "{}",  # no alerts: the stays are not compared here
    # The shortest session the runtime allows: the killed member's partitions move after it.
    "OMS_KAFKA_SESSION_TIMEOUT_S": "6",
}
REPORTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/v1/kpis", {"window": "hour"}),
    ("/v1/kpis", {"window": "minute"}),
    ("/v1/kpis/rolling", {}),
    ("/v1/kpis/locations", {"window": "hour"}),
    ("/v1/kpis/locations", {"window": "minute"}),
    ("/v1/reports/daily", {}),
    ("/v1/reports/daily/locations", {}),
    ("/v1/reports/reconciliation", {}),
    ("/v1/reports/stock", {"window": "hour"}),
    ("/v1/reports/stock", {"window": "day"}),
    ("/v1/reports/stock/out", {}),
)
# Each table's columns left out of the comparison: when a row was written, and a day of
# money's version, which counts its changes (an order flagged with an exception and cleared
# again when the void is read after the cancellation) and so depends on how the topics were
# interleaved, in any two readings; the daily days' versions count figures, and the funds
# orders' the facts kept, so those are compared.
HISTORY_TABLES = {
    "analytics_funds_orders": {"updated_at"},
    "analytics_funds_days": {"updated_at", "version"},
    "analytics_daily_days": {"updated_at"},
    "analytics_daily_location_days": {"updated_at"},
}

Timed = tuple[EventPayload, datetime]


def _order_events(n: int, rng: random.Random) -> list[tuple[str, Timed]]:
    """One order's events per topic: placed, paid, sourced, shipped, completed. Every tenth
    rejected, canceled (voided, or left authorised: an exception), backordered, re-sourced,
    or returned and refunded; some captures delivered twice."""
    order_id = f"O{n:04d}"
    channel = CHANNELS[n % len(CHANNELS)]
    currency = "CHF" if n % 7 == 0 else "EUR"
    amount = 1000 + 50 * rng.randrange(60)
    location, other = rng.sample(LOCATIONS, 2)
    placed = at("06:00") + timedelta(minutes=3 * n, seconds=rng.randrange(60))
    kind = n % 10
    if kind == 0:
        return [("oms.orders", (rejected(order_id, channel), placed))]
    events: list[tuple[str, Timed]] = []

    def emit(name: str, payload: EventPayload, when: datetime) -> None:
        events.append((name, (payload, when)))

    emit("oms.orders", accepted(order_id, channel, amount, currency), placed)
    emit("oms.payments", authorized(order_id, amount, currency), placed + timedelta(minutes=1))
    if kind == 1:
        emit("oms.sourcing", fulfilment_created(order_id, location), placed + timedelta(minutes=2))
        gone = placed + timedelta(minutes=20)
        emit("oms.orders", canceled(order_id, gone), gone)
        if n % 20 != 11:
            emit("oms.payments", voided(order_id, amount, currency), gone + timedelta(minutes=1))
        return events
    promise = placed + timedelta(hours=rng.choice((4, 6)))
    released = placed + timedelta(minutes=2)
    if kind == 2:
        emit("oms.sourcing", backordered(order_id), released)
        released = placed + timedelta(minutes=90)
    emit("oms.sourcing", fulfilment_created(order_id, location, promise), released)
    if kind == 3:
        emit(
            "oms.shipments",
            fulfilment_rejected(order_id, location),
            released + timedelta(minutes=8),
        )
        emit("oms.sourcing", rerouted(order_id, location, other), released + timedelta(minutes=9))
        emit(
            "oms.sourcing",
            fulfilment_created(order_id, other, promise),
            released + timedelta(minutes=10),
        )
        location = other
    shipped_at = released + timedelta(minutes=20 + rng.randrange(120))
    emit("oms.shipments", shipped(order_id, shipped_at, location), shipped_at)
    committed = stock_committed(f"SKU-{n % 5}", location, order_id, 1 + n % 3)
    emit("oms.inventory", committed, shipped_at)
    capture = captured(order_id, f"cap-{order_id}", amount, amount, currency)
    emit("oms.payments", capture, shipped_at + timedelta(minutes=1))
    if n % 4 == 1:
        emit("oms.payments", capture, shipped_at + timedelta(minutes=1))  # delivered twice
    done = placed + timedelta(hours=5, minutes=rng.randrange(60))
    emit("oms.orders", completed(order_id, done), done)
    if kind == 4:
        asked = done + timedelta(hours=2)
        reason = rng.choice(list(ReturnReason))
        where = CHANNELS[(n + 1) % len(CHANNELS)]
        emit(
            "oms.returns", return_requested(order_id, f"ret-{order_id}", where, {reason: 1}), asked
        )
        refund = refunded(order_id, f"ref-{order_id}", amount // 2, amount // 2, currency)
        emit("oms.payments", refund, asked + timedelta(hours=1))
    return events


def _stream() -> dict[str, list[Timed]]:
    """Every topic's events, each topic in event time (so nothing is late)."""
    rng = random.Random(14)
    per_topic: dict[str, list[Timed]] = {name: [] for name in SOURCE_TOPICS}
    for n in range(ORDERS):
        for name, event in _order_events(n, rng):
            per_topic[name].append(event)
        if n % 16 == 3:  # a stock-out at a location, back an hour later
            sku, location = f"SKU-{n % 5}", LOCATIONS[n % len(LOCATIONS)]
            since = at("06:00") + timedelta(minutes=3 * n)
            per_topic["oms.inventory"].append((out_of_stock(sku, location, since), since))
            per_topic["oms.inventory"].append(
                (back_in_stock(sku, location), since + timedelta(hours=1))
            )
    for events in per_topic.values():
        events.sort(key=lambda event: event[1])  # stable: an order's own events stay in order
    return per_topic


async def _send(env: Env, stream: dict[str, list[Timed]]) -> None:
    """Each event keyed by its subject (order id, or SKU@location), so the orders spread over
    every partition and an order's events on a topic share one, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        sent = []
        for name, events in stream.items():
            for payload, when in events:
                event = envelope(payload, when)
                sent.append(
                    await producer.send(env.topic(name), encode(event), key=event.subject.encode())
                )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _everything_read(env: Env, suffix: str) -> None:
    """Until the consumer group has committed the end offset of every source partition: every
    event read, and (a commit waits for the changelog records) its table writes sent."""
    group = f"{env.prefix}oms-analytics{suffix}"
    lag: dict[str, int] = {}

    async def probe() -> bool:
        for name in SOURCE_TOPICS:
            committed, end = await committed_and_end_offsets(
                env.bootstrap, group, env.topic(name), topic(name).partitions
            )
            lag[name] = sum(end[p] - (committed[p] or 0) for p in end)
        return not any(lag.values())

    await wait_for(probe, timeout=90, interval=0.5, what=f"{group} to commit every offset: {lag}")


async def _reports(worker: ServiceProcess) -> dict[str, Any]:
    return {f"{path} {query}": await worker.get_json(path, **query) for path, query in REPORTS}


def _difference(report: str, seen: dict[str, Any], expected: dict[str, Any]) -> str:
    """What differs, row by row, for a failing comparison's message."""
    lines = [report]
    for field, rows in expected.items():
        if seen.get(field) == rows:
            continue
        if not isinstance(rows, list):
            lines.append(f"{field}: {seen.get(field)!r} != {rows!r}")
            continue
        lines += [f"{field} only after the kill: {r}" for r in seen[field] if r not in rows]
        lines += [f"{field} only in the clean reading: {r}" for r in rows if r not in seen[field]]
    return "\n".join(lines)


def _value(column: Any) -> str:
    """A column as text; lead times sorted: a day's row keeps them in the order they were
    counted, which depends on how the topics were interleaved (the report sorts them)."""
    return str(sorted(column) if isinstance(column, list) else column)


async def _history(env: Env, database: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every history row, without the columns left out."""
    tables = {}
    for table, left_out in HISTORY_TABLES.items():
        rows = await env.fetch(database, f"SELECT * FROM {table}")
        tables[table] = sorted(
            tuple((k, _value(v)) for k, v in row.items() if k not in left_out) for row in rows
        )
    return tables


async def test_a_worker_killed_between_commits_ends_with_the_figures_of_a_clean_reading(
    env: Env,
) -> None:
    stream = _stream()
    worker = await env.service("analytics", **WORKER_ENV)
    await worker.wait_ready()
    # The first half of every topic read, its table writes flushed and its offsets
    # committed (a commit waits for the changelog records: entrypoints/flushing.py); killed
    # then, the second half sent while no worker runs.
    first = {name: events[: len(events) // 2] for name, events in stream.items()}
    await _send(env, first)
    await _everything_read(env, f"-{env.run}")
    worker.kill()  # SIGKILL: no final commit, flush or history write, the group not left
    assert worker.wait_exit() != 0
    await _send(env, {name: events[len(events) // 2 :] for name, events in stream.items()})

    restarted = await env.service("analytics", **WORKER_ENV)
    await restarted.wait_ready()
    await _everything_read(env, f"-{env.run}")
    after_kill = await _reports(restarted)

    clean_suffix = f"-{env.run}-clean"
    clean = await env.service(
        "analytics",
        **WORKER_ENV,
        OMS_GROUP_SUFFIX=clean_suffix,
        OMS_DATABASE_URL=await env.database("analytics_clean"),
    )
    await clean.wait_ready()
    await _everything_read(env, clean_suffix)
    expected = await _reports(clean)

    # The clean reading counted the stream (the comparison is not of empty reports).
    daily = expected["/v1/reports/daily {}"]["days"]
    assert sum(day["orders_placed"] for day in daily) == ORDERS - ORDERS // 10
    assert sum(day["rejections"] for day in daily) == ORDERS // 10
    assert expected["/v1/reports/daily {}"]["late_events_dropped"] == 0
    assert expected["/v1/reports/reconciliation {}"]["exceptions"]
    assert expected["/v1/reports/stock {'window': 'hour'}"]["windows"]
    for report, figures in expected.items():
        assert after_kill[report] == figures, _difference(report, after_kill[report], figures)

    # Both readings' history in PostgreSQL: the same rows, once each worker has written all.
    written: dict[str, Any] = {}

    async def same_rows() -> bool:
        written["after_kill"] = await _history(env, "analytics")
        written["clean"] = await _history(env, "analytics_clean")
        return all(written["clean"].values()) and written["after_kill"] == written["clean"]

    try:
        await wait_for(same_rows, timeout=60, interval=0.5, what="the same history rows")
    except AssertionError:
        for table in HISTORY_TABLES:
            seen, clean_rows = written["after_kill"][table], written["clean"][table]
            assert seen == clean_rows, "\n".join(
                [table]
                + [f"only after the kill: {row}" for row in seen if row not in clean_rows]
                + [f"only in the clean reading: {row}" for row in clean_rows if row not in seen]
            )
        raise
