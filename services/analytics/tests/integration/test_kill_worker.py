"""The analytics worker SIGKILLed while it is counting, then started again (same consumer group,
same tables: recovered from the changelogs, the events since the last committed offsets read
again), ends with exactly the figures of a clean reading: a second worker with a new consumer
group and new tables reading the same topics from offset 0 without a kill. Every report
(hourly, minute and rolling KPIs, per location, the daily reports, the reconciliation, the
stock) and the history rows in PostgreSQL. Killed between commits, and killed while counting
with one event's table writes half sent (the journal completes them, and the events counted
since the last commit are not counted again: service_layer/journal.py)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.analytics_readings import (
    ORDERS,
    WORKER_ENV,
    Restarting,
    assert_as_a_clean_reading,
    everything_read,
    left_the_group,
)
from tests.support.analytics_stream import order_stream, send_keyed
from tests.support.world import Env

pytestmark = pytest.mark.integration

_EXPIRED = "the killed worker's session to expire"
"""The new worker starts once the killed one left the group: started before, it would recover
its tables while the old member's expiry rebalances the group."""

RESTARTED_ENV = {**WORKER_ENV, "OMS_ANALYTICS_STALL_S": "10"}
"""Even so, a restarted worker was once seen to count nothing more with records waiting (a CI
run of 2026-12-03: 27 `oms.shipments` records never committed in 90 s). Its stall watch then
ends it within 10 s, and the test starts it again as a supervisor would; the figures must
still be a clean reading's."""

TORN_AT = 1200
"""The event (of 2,264) from which the worker tears the first write of two or more."""


async def test_a_worker_killed_between_commits_ends_with_the_figures_of_a_clean_reading(
    env: Env,
) -> None:
    stream = order_stream(ORDERS)
    worker = await env.service("analytics", **WORKER_ENV)
    await worker.wait_ready()
    # The first half of every topic read, its table writes flushed and its offsets
    # committed (a commit waits for the changelog records: entrypoints/flushing.py); killed
    # then, the second half sent while no worker runs.
    first = {name: events[: len(events) // 2] for name, events in stream.items()}
    await send_keyed(env, first)
    await everything_read(env, f"-{env.run}")
    worker.kill()  # SIGKILL: no final commit, flush or history write, the group not left
    assert worker.wait_exit() != 0
    await send_keyed(env, {name: events[len(events) // 2 :] for name, events in stream.items()})
    await left_the_group(env, f"-{env.run}", what=_EXPIRED)

    restarted = Restarting(env, RESTARTED_ENV)
    await restarted.start()
    await everything_read(env, f"-{env.run}", restarting=restarted)
    await assert_as_a_clean_reading(env, restarted.current)


@pytest.mark.xfail(
    strict=False,
    reason="known bug, under investigation (docs/analytics.md, 'A stalled worker'): in three "
    "fresh-clone CI runs of 2026-12-04 every worker started after the torn write counted all "
    "records and never committed some source partitions, restart after restart; it passes "
    "locally, alone and under load. Kept running so that a pass (XPASS) shows",
)
async def test_a_worker_killed_with_an_event_s_writes_half_sent_ends_as_a_clean_reading(
    env: Env,
) -> None:
    # Killed while counting, with one event's journal record and first table write at the
    # broker and its other writes never sent, the events since the last commit counted.
    worker = await env.service(
        "analytics", **WORKER_ENV, OMS_FAULT_KILL_AT=f"analytics_torn_write:{TORN_AT}"
    )
    await worker.wait_ready()
    await send_keyed(env, order_stream(ORDERS))
    assert await asyncio.to_thread(worker.wait_exit, 90) != 0
    assert "fault_injection_kill" in worker.tail(400)
    await left_the_group(env, f"-{env.run}", what=_EXPIRED)

    restarted = Restarting(env, RESTARTED_ENV)
    await restarted.start()
    await everything_read(env, f"-{env.run}", restarting=restarted)
    await assert_as_a_clean_reading(env, restarted.current)
