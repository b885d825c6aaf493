"""The analytics worker that stops counting while records wait to be read (as faust's consumer
can after a session expiry: docs/analytics.md; here made to with
``OMS_FAULT_KILL_AT=analytics_stall:<n>``) exits with status 75 once it has counted nothing for
``OMS_ANALYTICS_STALL_S``, and started again it reads on from its committed offsets: every
order counted once, and it idles without exiting. The test starts it again as a supervisor
would, also when the new worker's own watch ends it (at most twice)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from oms_analytics.entrypoints.watchdog import EXIT_STALLED
from tests.support.analytics_readings import Restarting, uncommitted
from tests.support.analytics_stream import order_stream, send_keyed
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

ORDERS = 40
STALL_S = 6
WORKER_ENV = {"OMS_ANALYTICS_STALL_S": str(STALL_S), "OMS_ANALYTICS_STUCK_AFTER_S": "{}"}


async def test_a_stalled_worker_exits_and_started_again_counts_every_order(env: Env) -> None:
    stalling = await env.service("analytics", **WORKER_ENV, OMS_FAULT_KILL_AT="analytics_stall:100")
    await stalling.wait_ready()
    await send_keyed(env, order_stream(ORDERS))
    assert await asyncio.to_thread(stalling.wait_exit, 60) == EXIT_STALLED
    assert "worker_stalled" in stalling.tail()

    restarting = Restarting(env, WORKER_ENV)
    await restarting.start()
    await _counted_once_and_committed(env, restarting)
    restarted = restarting.current
    # Nothing left to read is not a stall: the watch reaches its limit, finds nothing waiting
    # and starts again (the gauge climbs to the limit, checked every STALL_S / 3 seconds, and
    # drops; nothing else resets it while idle), and the worker runs on.
    near_the_limit = False

    async def checked_while_idle() -> bool:
        nonlocal near_the_limit
        idle = await restarted.metric("oms_analytics_seconds_without_progress")
        near_the_limit = near_the_limit or idle >= STALL_S * 2 / 3
        return near_the_limit and idle < STALL_S / 3

    await wait_for(checked_while_idle, timeout=30, interval=0.2, what="a stall check while idle")
    assert restarted.proc is not None and restarted.proc.poll() is None


@pytest.mark.xfail(
    strict=False,
    reason="known bug, under investigation (docs/analytics.md, 'A stalled worker'): in a "
    "fresh-clone CI run of 2026-12-04 every worker started again took no record at all in "
    "the 6 s its watch allows (33 source partitions waiting, none taken, flow active, no "
    "rebalance or recovery), four starts in a row; the torn-write kill test meets the same. "
    "Kept running so that a pass (XPASS) shows",
)
async def test_a_worker_whose_commits_stopped_exits_and_started_again_counts_every_order(
    env: Env,
) -> None:
    # It counts every order, but commits nothing after the 60th event: idle with every record
    # taken and none committed past, it has stalled as surely as one that stopped reading.
    stalling = await env.service(
        "analytics", **WORKER_ENV, OMS_FAULT_KILL_AT="analytics_commit_stall:60"
    )
    await stalling.wait_ready()
    await send_keyed(env, order_stream(ORDERS))
    assert await asyncio.to_thread(stalling.wait_exit, 60) == EXIT_STALLED
    stalled = next(
        json.loads(line) for line in stalling.tail().splitlines() if "worker_stalled" in line
    )
    assert stalled["partitions_uncommitted"] > 0
    # The log says what faust holds to commit: offsets acknowledged past its committed one.
    state = stalled["commit_state"][0]
    assert state["acked"] > 0 and state["first_acked"] >= (state["committed"] or 0)

    restarting = Restarting(env, WORKER_ENV)
    await restarting.start()
    await _counted_once_and_committed(env, restarting)


async def _counted_once_and_committed(env: Env, restarting: Restarting) -> None:
    """Until the worker (started again after a 75) counted every order, never one twice, and
    committed every topic to its end: not the orders alone, since a partition left with
    records waiting would be a stall, not the idle its watch must let run."""

    async def probe() -> bool:
        await restarting.ensure_running()
        try:
            hours = (await restarting.current.get_json("/v1/kpis", window="hour"))["windows"]
        except aiohttp.ClientConnectionError:
            return False  # it has just ended: the next look starts it again if it was its watch
        placed = sum(hour["orders_placed"] for hour in hours)
        rejected = sum(hour["rejections"] for hour in hours)
        assert placed <= ORDERS - ORDERS // 10, f"orders counted twice: {placed}"
        if (placed, rejected) != (ORDERS - ORDERS // 10, ORDERS // 10):
            return False
        return not any((await uncommitted(env, f"-{env.run}")).values())

    await wait_for(probe, timeout=90, interval=0.5, what="every order counted once")
