"""The days a live report may have to read from the history in PostgreSQL: those up to the
last one the retention may have expired from the tables (``Expiry.expired_through``). The
daily report and the reconciliation read them alike, then take from what was read the days
and source partitions the tables no longer hold."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import asyncpg

__all__ = ["ExpiredDays", "HistoryUnavailable", "expired_days"]


class HistoryUnavailable(Exception):
    """The report reaches days the tables may no longer hold, and the history is not
    connected."""


class ExpiredDays(NamedTuple):
    """Where to read the days from ``first`` (None: every day before) to ``through``."""

    pool: asyncpg.Pool
    first: date | None
    through: date


def expired_days(
    pool: asyncpg.Pool | None, expired: date | None, first: date | None, last: date | None
) -> ExpiredDays | None:
    """The days from ``first`` to ``last`` (each optional) no later than ``expired``, to be
    read from the history; None when the report reaches no such day."""
    if expired is None or (first is not None and first > expired):
        return None
    if pool is None:
        raise HistoryUnavailable
    return ExpiredDays(pool, first, expired if last is None else min(last, expired))
