"""The days a live report may have to read from the history in PostgreSQL: those up to the
last one the retention may have expired from the tables (``Expiry.expired_through``). The
daily report and the reconciliation read them alike, then take from what was read the days
and source partitions the tables no longer hold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

import asyncpg

__all__ = ["HistoryUnavailable", "read_expired"]

T = TypeVar("T")


class HistoryUnavailable(Exception):
    """The report reaches days the tables may no longer hold, and the history is not
    connected."""


async def read_expired(
    pool: asyncpg.Pool | None,
    expired: date | None,
    first: date | None,
    last: date | None,
    read: Callable[[asyncpg.Pool, date | None, date], Awaitable[T]],
) -> T | None:
    """What ``read`` gives for the days from ``first`` to ``last`` (each optional) that are
    no later than ``expired``; None when the report reaches no such day."""
    if expired is None or (first is not None and first > expired):
        return None
    if pool is None:
        raise HistoryUnavailable
    return await read(pool, first, expired if last is None else min(last, expired))
