"""What the stall log says of the event loop's tasks: each task's coroutine, and the innermost
coroutine it awaits with the line, so a stalled worker's log shows where each one waits."""

from __future__ import annotations

import asyncio

from oms_analytics.entrypoints.watchdog import _tasks, _waits_at


async def _inner(gate: asyncio.Event, waiting: asyncio.Event) -> None:
    waiting.set()  # the test runs on once this task is suspended at the wait below
    await gate.wait()


async def _outer(gate: asyncio.Event, waiting: asyncio.Event) -> None:
    await _inner(gate, waiting)


async def test_a_task_is_named_with_the_innermost_coroutine_it_awaits_and_its_line() -> None:
    gate, waiting = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(_outer(gate, waiting))
    await waiting.wait()
    try:
        where = _waits_at(task)
        assert where.startswith("_outer > Event.wait @ ")
        assert where.rsplit(":", 1)[1].isdigit()
        assert where in _tasks()
    finally:
        gate.set()
        await task
