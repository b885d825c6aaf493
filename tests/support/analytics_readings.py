"""Readings of the analytics worker compared: every report and history row of a worker that
went through a fault against a clean reading (a worker with a new consumer group, new tables
and its own database reading every topic from offset 0)."""

from __future__ import annotations

from typing import Any

from oms_analytics.entrypoints.watchdog import EXIT_STALLED
from oms_events.topics import topic
from tests.support.analytics_stream import SOURCE_TOPICS
from tests.support.kafka import committed_and_end_offsets, group_members
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.support.world import Env

__all__ = [
    "ORDERS",
    "WORKER_ENV",
    "Restarting",
    "assert_as_a_clean_reading",
    "everything_read",
    "left_the_group",
    "uncommitted",
]


ORDERS = 320
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


async def uncommitted(env: Env, suffix: str) -> dict[str, int]:
    """Per source topic, the records the consumer group has not committed yet."""
    group = f"{env.prefix}oms-analytics{suffix}"
    lag: dict[str, int] = {}
    for name in SOURCE_TOPICS:
        committed, end = await committed_and_end_offsets(
            env.bootstrap, group, env.topic(name), topic(name).partitions
        )
        lag[name] = sum(end[p] - (committed[p] or 0) for p in end)
    return lag


class Restarting:
    """The analytics worker, started again when its stall watch ends it (exit 75) as `oms
    run` or an orchestrator would, at most ``most`` times: faust can leave a worker that
    recovers during a rebalance with its partitions paused (docs/analytics.md), and the
    watch and a restart are the service's answer to it."""

    def __init__(self, env: Env, worker_env: dict[str, str], most: int = 2) -> None:
        self._env = env
        self._worker_env = worker_env
        self._most = most
        self.workers: list[ServiceProcess] = []

    @property
    def current(self) -> ServiceProcess:
        return self.workers[-1]

    async def start(self) -> ServiceProcess:
        worker = await self._env.service("analytics", **self._worker_env)
        await worker.wait_ready()
        self.workers.append(worker)
        return worker

    async def ensure_running(self) -> None:
        proc = self.current.proc
        if proc is not None and proc.poll() == EXIT_STALLED and len(self.workers) <= self._most:
            # Once the ended worker's membership has expired (it exits at once, without
            # leaving): a new worker recovering while the group rebalances around the dead
            # member can be left with offsets it never commits, run after run (seen in CI).
            suffix = f"-{self._env.run}"
            await left_the_group(self._env, suffix, what="the stalled worker to leave the group")
            await self.start()


async def left_the_group(env: Env, suffix: str, *, what: str, timeout: float = 60) -> None:
    """Until the consumer group has no member: a killed or frozen worker's session expired."""
    group = f"{env.prefix}oms-analytics{suffix}"

    async def empty() -> bool:
        return await group_members(env.bootstrap, group) == 0

    await wait_for(empty, timeout=timeout, interval=0.5, what=what)


async def everything_read(
    env: Env, suffix: str, timeout: float | None = None, *, restarting: Restarting | None = None
) -> None:
    """Until the consumer group has committed the end offset of every source partition: every
    event read, and (a commit waits for the changelog records) its table writes sent."""
    lag: dict[str, int] = {}

    async def probe() -> bool:
        if restarting is not None:
            await restarting.ensure_running()
        lag.update(await uncommitted(env, suffix))
        return not any(lag.values())

    if timeout is None:  # each restart: a stall found, the group left, a worker started
        timeout = 90 if restarting is None else 180
    try:
        what = f"oms-analytics{suffix} to commit every offset"
        await wait_for(probe, timeout=timeout, interval=0.5, what=what)
    except AssertionError as exc:
        workers = ""
        if restarting is not None:  # which ran, which ended how, and what the last one said
            ended = [w.proc.poll() if w.proc else None for w in restarting.workers]
            workers = f"; workers' exit statuses (None: running): {ended}\n"
            # What each stalled worker said of faust's commit state (its watch's last words).
            workers += "".join(
                line + "\n"
                for w in restarting.workers
                for line in w.tail(400).splitlines()
                if "worker_stalled" in line
            )
            workers += restarting.current.tail(40)
        raise AssertionError(f"{exc}; records not committed per topic: {lag}{workers}") from None


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


async def assert_as_a_clean_reading(env: Env, restarted: ServiceProcess) -> None:
    """Every report of ``restarted`` and its history rows equal a clean reading's: a second
    worker with a new consumer group, new tables and its own database reading every topic
    from offset 0."""
    after_kill = await _reports(restarted)

    clean_suffix = f"-{env.run}-clean"
    clean = await env.service(
        "analytics",
        **WORKER_ENV,
        OMS_GROUP_SUFFIX=clean_suffix,
        OMS_DATABASE_URL=await env.database("analytics_clean"),
    )
    await clean.wait_ready()
    await everything_read(env, clean_suffix)
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
