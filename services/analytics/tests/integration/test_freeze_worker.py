"""The analytics worker frozen past its session (SIGSTOP until the group has expelled it,
then SIGCONT, events sent meanwhile) ends with exactly the figures of a clean reading. Either
it counts on once it has rejoined, or faust leaves it stalled (docs/analytics.md, "A stalled
worker") and its watch ends it with status 75, and the worker its supervisor starts again
(as often as its own watch ends it, at most twice) counts the rest: both ways, nothing lost
and nothing counted twice."""

from __future__ import annotations

import asyncio
import signal

import pytest

from oms_analytics.entrypoints.watchdog import EXIT_STALLED
from tests.support.analytics_readings import (
    ORDERS,
    WORKER_ENV,
    Restarting,
    assert_as_a_clean_reading,
    everything_read,
    left_the_group,
)
from tests.support.analytics_stream import order_stream, send_keyed
from tests.support.waiting import wait_for
from tests.support.world import Env

pytestmark = pytest.mark.integration

WATCHED = {**WORKER_ENV, "OMS_ANALYTICS_STALL_S": "15"}


@pytest.mark.xfail(
    strict=False,
    reason="known bug, under investigation (docs/analytics.md, 'A stalled worker'): in a "
    "fresh-clone CI run of 2026-12-04 the workers started again after the freeze each took "
    "every record but committed a few offsets only before their watch ended them, faust's "
    "acknowledged offsets holding duplicates (28 for 20 offsets) that split its first run of "
    "consecutive offsets. Kept running so that a pass (XPASS) shows",
)
async def test_a_worker_frozen_past_its_session_ends_as_a_clean_reading(env: Env) -> None:
    stream = order_stream(ORDERS)
    worker = await env.service("analytics", **WATCHED)
    await worker.wait_ready()
    await send_keyed(env, {name: events[: len(events) // 2] for name, events in stream.items()})
    await everything_read(env, f"-{env.run}")

    worker.kill(signal.SIGSTOP)
    await left_the_group(env, f"-{env.run}", what="the frozen member to be expelled")
    await send_keyed(env, {name: events[len(events) // 2 :] for name, events in stream.items()})
    worker.kill(signal.SIGCONT)

    async def counted_or_ended() -> str | None:
        if worker.proc is not None and worker.proc.poll() is not None:
            return "ended"
        try:
            await everything_read(env, f"-{env.run}", timeout=1)
        except AssertionError:
            return None
        return "counted"

    outcome = await wait_for(counted_or_ended, timeout=120, what="counted on, or ended")
    if outcome == "ended":
        assert await asyncio.to_thread(worker.wait_exit) == EXIT_STALLED, worker.tail()
        assert "worker_stalled" in worker.tail(400)
        # Started again as its supervisor would, also when the new worker's own watch ends
        # it (the one restarted after a stall can be left paused as well, seen once in CI).
        restarted = Restarting(env, WATCHED)
        worker = await restarted.start()
        await everything_read(env, f"-{env.run}", restarting=restarted)
        worker = restarted.current
    await assert_as_a_clean_reading(env, worker)
