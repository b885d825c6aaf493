"""The funds history in the service's PostgreSQL database: each order's ledger and
exceptions, and each channel's day per source partition and currency; written by the worker,
read back for the history report.

Written set-based (one statement per table for any number of rows) and idempotent: a row is
an upsert of the faust table's current value, and a stored row with a higher version is
never overwritten by an older copy (a standby's, a write retried late), so a replay from
offset 0 writes the same rows again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

import asyncpg

__all__ = ["DayRow", "LedgerRow", "StoredDay", "StoredExceptions", "read_history", "write_history"]


class LedgerRow(NamedTuple):
    order_id: str
    channel: str | None
    placed_on: date | None
    closure: str | None
    total_currency: str | None
    total_minor: int | None
    totals: str
    """JSON: per flow, per currency, minor units."""
    exceptions: str
    """JSON: a list of ``{"code", "why"}``."""
    version: int


class DayRow(NamedTuple):
    day: date
    channel: str
    source_partition: int
    currency: str
    authorised_minor: int
    captured_minor: int
    voided_minor: int
    refunded_minor: int
    version: int


_UPSERT_LEDGERS = """
INSERT INTO analytics_funds_orders AS stored
    (order_id, channel, placed_on, closure, total_currency, total_minor, totals, exceptions,
     version)
SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[],
                     $6::bigint[], $7::jsonb[], $8::jsonb[], $9::int[])
ON CONFLICT (order_id) DO UPDATE SET
    channel = excluded.channel, placed_on = excluded.placed_on, closure = excluded.closure,
    total_currency = excluded.total_currency, total_minor = excluded.total_minor,
    totals = excluded.totals, exceptions = excluded.exceptions, version = excluded.version,
    updated_at = now()
WHERE stored.version <= excluded.version
"""

_UPSERT_DAYS = """
INSERT INTO analytics_funds_days AS stored
    (day, channel, source_partition, currency, authorised_minor, captured_minor,
     voided_minor, refunded_minor, version)
SELECT * FROM unnest($1::date[], $2::text[], $3::int[], $4::text[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::bigint[], $9::int[])
ON CONFLICT (day, channel, source_partition, currency) DO UPDATE SET
    authorised_minor = excluded.authorised_minor, captured_minor = excluded.captured_minor,
    voided_minor = excluded.voided_minor, refunded_minor = excluded.refunded_minor,
    version = excluded.version, updated_at = now()
WHERE stored.version <= excluded.version
"""


async def write_history(
    pool: asyncpg.Pool, ledgers: Sequence[LedgerRow], days: Sequence[DayRow]
) -> None:
    """Upsert the rows in one transaction, one statement per table."""
    async with pool.acquire() as conn, conn.transaction():
        if ledgers:
            await conn.execute(_UPSERT_LEDGERS, *_columns(ledgers, len(LedgerRow._fields)))
        if days:
            await conn.execute(_UPSERT_DAYS, *_columns(days, len(DayRow._fields)))


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> list[list[object]]:
    """Rows to columns: unnest takes one array per column."""
    return [[row[i] for row in rows] for i in range(width)]


class StoredDay(NamedTuple):
    day: date
    channel: str
    currency: str
    authorised_minor: int
    captured_minor: int
    voided_minor: int
    refunded_minor: int


class StoredExceptions(NamedTuple):
    order_id: str
    channel: str
    placed_on: date
    exceptions: str
    """JSON: a list of ``{"code", "why"}``."""


_FILTER = """($1::date IS NULL OR {day} >= $1) AND ($2::date IS NULL OR {day} <= $2)
AND ($3::text IS NULL OR channel = $3)"""


async def read_history(
    pool: asyncpg.Pool, first: date | None, last: date | None, channel: str | None
) -> tuple[list[StoredDay], list[StoredExceptions]]:
    """The stored days (from ``first`` to ``last`` inclusive, of ``channel``; each optional)
    and the orders placed on them whose money did not add up."""
    async with pool.acquire() as conn:
        days = await conn.fetch(
            f"SELECT {', '.join(StoredDay._fields)} FROM analytics_funds_daily"
            f" WHERE {_FILTER.format(day='day')}",
            first,
            last,
            channel,
        )
        exceptional = await conn.fetch(
            f"SELECT {', '.join(StoredExceptions._fields)} FROM analytics_funds_orders"
            f" WHERE exceptions <> '[]'::jsonb AND {_FILTER.format(day='placed_on')}",
            first,
            last,
            channel,
        )
    return [StoredDay(*row) for row in days], [StoredExceptions(*row) for row in exceptional]
