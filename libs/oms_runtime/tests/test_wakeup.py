"""Waking a job when it has work: set, asked-for times and the longest sleep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from oms_runtime import Wakeup


async def test_a_wakeup_set_before_the_wait_ends_it_at_once() -> None:
    due = Wakeup()
    due.set()
    await asyncio.wait_for(due.wait(longest_s=60), timeout=1)


async def test_the_wait_ends_at_the_earliest_time_asked_for() -> None:
    due = Wakeup()
    loop = asyncio.get_running_loop()
    due.at(datetime.now(UTC) + timedelta(seconds=30))
    due.at(datetime.now(UTC) + timedelta(milliseconds=50))
    started = loop.time()
    await asyncio.wait_for(due.wait(longest_s=60), timeout=5)
    assert loop.time() - started >= 0.04


async def test_a_time_once_reached_is_forgotten_and_the_next_wait_sleeps_its_longest() -> None:
    due = Wakeup()
    loop = asyncio.get_running_loop()
    due.at(datetime.now(UTC) - timedelta(seconds=1))
    await asyncio.wait_for(due.wait(longest_s=60), timeout=1)
    started = loop.time()
    await due.wait(longest_s=0.1)
    assert loop.time() - started >= 0.09


async def test_one_set_wakes_one_wait() -> None:
    due = Wakeup()
    due.set()
    await due.wait(longest_s=60)
    started = asyncio.get_running_loop().time()
    await due.wait(longest_s=0.1)
    assert asyncio.get_running_loop().time() - started >= 0.09
