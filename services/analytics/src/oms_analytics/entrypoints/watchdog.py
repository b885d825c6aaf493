"""Ends the worker once it has stalled (``domain/stalling.py``), so that its supervisor (``oms
run``, the compose file's restart policy, an orchestrator) starts it again: a start recovers
the tables and reads on from the committed offsets, as after any crash (the kill tests).

A timer checks every few seconds. Only once no batch was counted for
``OMS_ANALYTICS_STALL_S`` does it ask the broker for the end offsets of the source partitions
the worker holds, and compare them with the records the agent took (and the committed
offsets, for a partition it took none of), and with the committed offsets of the partitions
it took to the end (commits that stopped). A rebalance or a recovery is not a stall while it
is younger than the limit or applies changelog records; one that goes on past the limit
without either is (faust can be left in one for good). It does not act when the broker cannot
answer, since a restart would not bring the broker back, nor for the time the process itself
was stopped (SIGSTOP, a paused machine): the limit starts again when it goes on. The exit is
immediate (``os._exit``): a graceful stop waits for the agent, which is what stalled.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Collection
from time import monotonic
from typing import cast

import faust
import structlog
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

from oms_analytics.domain.stalling import Partition, StallWatch

__all__ = ["EXIT_STALLED", "register_watchdog"]

EXIT_STALLED = 75
"""The worker's exit status when it stalled (EX_TEMPFAIL: start it again)."""

log = structlog.get_logger("oms_analytics")


def register_watchdog(app: faust.App, watch: StallWatch, source_topics: Collection[str]) -> None:
    interval = min(5.0, watch.stall_after / 3)

    async def records_waiting() -> tuple[list[Partition], list[Partition]] | None:
        """The source partitions held here with records the agent has not taken, and those
        it took to the end without committing them; None when the broker cannot tell."""
        consumer = app.consumer
        held = [tp for tp in consumer.assignment() if tp.topic in source_topics]
        if not held:
            return [], []
        try:
            async with asyncio.timeout(10):
                end = await consumer.highwaters(*held)
        except Exception as exc:
            log.warning("stall_check_failed", error=type(exc).__name__)
            return None
        known = getattr(consumer, "_committed_offset", {})
        ends: dict[Partition, int] = {tp: end[tp] for tp in held}
        committed: dict[Partition, int | None] = {tp: known.get(tp) for tp in held}
        return watch.waiting(ends, committed), watch.uncommitted(ends, committed)

    def look(recovery: Recovery) -> None:
        if app.rebalancing or app.in_recovery:
            # Not set before the first recovery starts.
            applied = getattr(recovery, "_last_active_event_processed_at", None)
            watch.busy(monotonic(), applied)
        else:
            watch.settled()

    async def watch_for_a_stall() -> None:
        last_tick = monotonic()
        async for _ in app.itertimer(interval, name="stall-watch"):
            now = monotonic()
            slept = now - last_tick
            last_tick = now
            if slept > 3 * interval:  # the process was stopped (SIGSTOP, a paused VM)
                watch.progressed(now)  # the time it was stopped is no stall of its own
                continue
            recovery = cast(TableManager, app.tables).recovery
            look(recovery)
            if not watch.overdue(now):
                continue
            found = await records_waiting()
            look(recovery)  # a rebalance may have begun while the broker answered
            last_tick = monotonic()
            if found is None or not watch.stalled(last_tick, any(found)):
                continue
            behind, uncommitted = found
            consumer = app.consumer
            try:  # whatever the diagnostics meet, the worker exits
                log.error(
                    "worker_stalled",
                    counted_nothing_for_s=round(monotonic() - watch.last_progress),
                    partitions_waiting=len(behind),
                    first_waiting=[f"{topic}[{number}]" for topic, number in behind[:5]],
                    # Every record taken, the commits stopped.
                    partitions_uncommitted=len(uncommitted),
                    first_uncommitted=[f"{topic}[{number}]" for topic, number in uncommitted[:5]],
                    # Why faust commits none of them: its acknowledged offsets against its
                    # committed one (it commits nothing while the first two are missing).
                    commit_state=[_commit_state(consumer, tp) for tp in uncommitted[:5]],
                    commit_in_flight=getattr(consumer, "_commit_fut", None) is not None,
                    # Where faust stands, for the cause (docs/analytics.md, "A stalled worker").
                    stuck_in=_stuck_in(app) if watch.stuck_busy(monotonic()) else None,
                    paused_partitions=len(getattr(consumer, "_paused_partitions", ())),
                    active_partitions=len(getattr(consumer, "_active_partitions", None) or ()),
                    flow_active=getattr(consumer, "flow_active", None),
                    flow_control_active=app.flow_control.is_active(),
                    generation=app.consumer_generation_id,
                    recovery_signalled=recovery.signal_recovery_start.is_set(),
                    # Records waiting but none taken: faust's account of the first partitions
                    # (read past the end? in its flow?), and whether the agent still runs and
                    # what its queue holds (a drainer that died ends the agent without a word).
                    waiting_state=[_waiting_state(consumer, tp) for tp in behind[:5]],
                    agents=_agents(app),
                )
                log.error("worker_stalled_tasks", tasks=_tasks())
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EXIT_STALLED)

    app.task(watch_for_a_stall)


def _commit_state(consumer: object, partition: Partition) -> dict[str, object]:
    """faust's own accounts of what it may commit on ``partition`` (its private state, read
    only here, for the log: None where a release has none)."""
    tp = TP(*partition)
    acked = list(getattr(consumer, "_acked", {}).get(tp, ()))
    gaps = getattr(consumer, "_gap", {}).get(tp) or ()
    return {
        "partition": f"{tp.topic}[{tp.partition}]",
        "committed": getattr(consumer, "_committed_offset", {}).get(tp),
        "read": getattr(consumer, "_read_offset", {}).get(tp),
        "acked": len(acked),
        "first_acked": min(acked, default=None),
        "last_acked": max(acked, default=None),
        "gaps": [(gap.begin, gap.end) for gap in sorted(gaps)[:3]],
    }


def _waiting_state(consumer: object, partition: Partition) -> dict[str, object]:
    tp = TP(*partition)
    return {
        "partition": f"{tp.topic}[{tp.partition}]",
        "committed": getattr(consumer, "_committed_offset", {}).get(tp),
        "read": getattr(consumer, "_read_offset", {}).get(tp),
        "active": tp in (getattr(consumer, "_active_partitions", None) or ()),
        "paused": tp in getattr(consumer, "_paused_partitions", ()),
        "buffered": tp in getattr(consumer, "_buffered_partitions", ()),
    }


def _agents(app: faust.App) -> list[dict[str, object]]:
    """Each agent's actors: done (and how), the stream's queue, passive draining."""
    found = []
    for name, agent in app.agents.items():
        for actor in list(getattr(agent, "_actors", ())):
            task = getattr(actor, "actor_task", None)
            stream = getattr(actor, "stream", None)
            queue = getattr(getattr(stream, "channel", None), "queue", None)
            failed = (
                task.exception()
                if task is not None and task.done() and not task.cancelled()
                else None
            )
            found.append(
                {
                    "agent": name,
                    "task_done": task.done() if task is not None else None,
                    "task_failed": repr(failed) if failed is not None else None,
                    "queued": queue.qsize() if queue is not None else None,
                    "passive": getattr(stream, "_passive", None),
                }
            )
    return found


def _tasks(limit: int = 60) -> list[str]:
    """Where the event loop's tasks wait: each one's coroutine, and the innermost coroutine
    it awaits with the line it waits at (an ``async for`` over an async generator shows as
    that line; faust's fetcher, on its consumer's thread, is not among them)."""
    return sorted(_waits_at(task) for task in list(asyncio.all_tasks())[:limit])


def _waits_at(task: asyncio.Task[object]) -> str:
    outer = task.get_coro()
    awaited: object = outer
    frame = None
    while awaited is not None:  # down the chain of awaits, to the last one with a frame
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None) or frame
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    name = getattr(outer, "__qualname__", type(outer).__name__)
    if frame is None:
        return name
    where = frame.f_code.co_filename.rsplit("/", 2)[-1]
    return f"{name} > {frame.f_code.co_qualname} @ {where}:{frame.f_lineno}"


def _stuck_in(app: faust.App) -> str:
    return "recovery" if app.in_recovery else "rebalance"
