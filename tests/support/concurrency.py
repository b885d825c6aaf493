"""Two transactions at once on PostgreSQL, for tests of what one must wait for in the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
from asyncpg.transaction import Transaction

from tests.support.waiting import wait_for

T = TypeVar("T")


@asynccontextmanager
async def three_connections(dsn: str) -> AsyncIterator[list[asyncpg.Connection]]:
    """The first transaction's connection, the second's and an observer's."""
    opened = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        yield opened
    finally:
        for connection in opened:
            await connection.close()


async def second_while_first_open(
    first: Transaction,
    observer: asyncpg.Connection,
    conn: asyncpg.Connection,
    step: Callable[[], Awaitable[T]],
) -> T:
    """Run ``step`` in a transaction on ``conn`` while ``first`` is open; once it waits for a
    lock (or has ended without waiting), commit ``first``; what ``step`` returned. Without a
    lock between them the second runs to its end on what the first has not committed."""

    async def second() -> T:
        async with conn.transaction():
            return await step()

    task = asyncio.create_task(second())

    async def settled() -> bool:
        state = await observer.fetchval(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", conn.get_server_pid()
        )
        return task.done() or state == "Lock"

    await wait_for(settled, timeout=10, what="the second transaction to wait or end")
    await first.commit()
    return await asyncio.wait_for(task, timeout=30)
