"""The history in the service's PostgreSQL database: each order's ledger and exceptions,
each channel's day of money per source partition and currency, and each channel's day of
the daily report's figures per source partition; written by the worker, read back for the
history reports.

Written set-based (one statement per table for any number of rows) and idempotent: a row is
an upsert of the faust table's current value, and a stored row with a higher version is
never overwritten by an older copy (a standby's, a write retried late), so a replay from
offset 0 writes the same rows again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import date
from typing import NamedTuple

import asyncpg

from oms_analytics.domain.kpis import WindowFigures

__all__ = [
    "DailyRow",
    "DayRow",
    "LedgerRow",
    "StoredDay",
    "StoredExceptions",
    "read_daily_history",
    "read_history",
    "write_history",
]


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


class DailyRow(NamedTuple):
    """A channel's day of the daily report's figures from one source partition."""

    day: date
    channel: str
    source_partition: int
    orders_placed: int
    revenue_minor: str
    """JSON: per currency, minor units."""
    cancellations: int
    rejections: int
    lead_times_s: list[float]
    returns: int
    returned_units: str
    """JSON: per return reason, units."""
    orders_returned: int
    backorders: int
    delivery_lead_times_s: list[float]
    on_time: int
    late: int
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


_UPSERT_DAILY = """
INSERT INTO analytics_daily_days AS stored
    (day, channel, source_partition, orders_placed, revenue_minor, cancellations, rejections,
     lead_times_s, returns, returned_units, orders_returned, backorders, delivery_lead_times_s,
     on_time, late, version)
SELECT day, channel, source_partition, orders_placed, revenue_minor, cancellations,
       rejections, ARRAY(SELECT jsonb_array_elements_text(lead_times)::double precision),
       returns, returned_units, orders_returned, backorders,
       ARRAY(SELECT jsonb_array_elements_text(delivery_lead_times)::double precision),
       on_time, late, version
FROM unnest($1::date[], $2::text[], $3::int[], $4::int[], $5::jsonb[], $6::int[], $7::int[],
            $8::jsonb[], $9::int[], $10::jsonb[], $11::int[], $12::int[], $13::jsonb[],
            $14::int[], $15::int[], $16::int[])
    AS excluded(day, channel, source_partition, orders_placed, revenue_minor, cancellations,
                rejections, lead_times, returns, returned_units, orders_returned, backorders,
                delivery_lead_times, on_time, late, version)
ON CONFLICT (day, channel, source_partition) DO UPDATE SET
    orders_placed = excluded.orders_placed, revenue_minor = excluded.revenue_minor,
    cancellations = excluded.cancellations, rejections = excluded.rejections,
    lead_times_s = excluded.lead_times_s, returns = excluded.returns,
    returned_units = excluded.returned_units, orders_returned = excluded.orders_returned,
    backorders = excluded.backorders, delivery_lead_times_s = excluded.delivery_lead_times_s,
    on_time = excluded.on_time, late = excluded.late, version = excluded.version,
    updated_at = now()
WHERE stored.version <= excluded.version
"""


async def write_history(
    pool: asyncpg.Pool,
    ledgers: Sequence[LedgerRow],
    days: Sequence[DayRow],
    daily: Sequence[DailyRow] = (),
) -> None:
    """Upsert the rows in one transaction, one statement per table."""
    async with pool.acquire() as conn, conn.transaction():
        for statement, rows in (
            (_UPSERT_LEDGERS, ledgers),
            (_UPSERT_DAYS, days),
            (_UPSERT_DAILY, [_lists_as_json(row) for row in daily]),
        ):
            if rows:
                await conn.execute(statement, *_columns(rows, len(rows[0])))


def _lists_as_json(row: DailyRow) -> tuple[object, ...]:
    """unnest takes no array of arrays of different lengths: the lead times go as JSON."""
    return row._replace(
        lead_times_s=json.dumps(row.lead_times_s),  # type: ignore[arg-type]
        delivery_lead_times_s=json.dumps(row.delivery_lead_times_s),  # type: ignore[arg-type]
    )


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
        filters = (first, last, channel)
        days = await _fetch_filtered(
            conn, f"SELECT {', '.join(StoredDay._fields)} FROM analytics_funds_daily", *filters
        )
        exceptional = await _fetch_filtered(
            conn,
            f"SELECT {', '.join(StoredExceptions._fields)} FROM analytics_funds_orders"
            " WHERE exceptions <> '[]'::jsonb AND",
            *filters,
            day="placed_on",
        )
    return [StoredDay(*row) for row in days], [StoredExceptions(*row) for row in exceptional]


async def read_daily_history(
    pool: asyncpg.Pool, first: date | None, last: date | None, channel: str | None
) -> list[tuple[date, str, WindowFigures]]:
    """The stored days of the daily report (from ``first`` to ``last`` inclusive, of
    ``channel``; each optional), their partitions added up: (day, channel, figures), oldest
    first, then by channel."""
    figures = [each.name for each in fields(WindowFigures)]
    async with pool.acquire() as conn:
        rows = await _fetch_filtered(
            conn,
            f"SELECT day, channel, {', '.join(figures)} FROM analytics_daily",
            first,
            last,
            channel,
            then=" ORDER BY day, channel",
        )
    return [
        (
            row["day"],
            row["channel"],
            WindowFigures.from_dict(
                {
                    name: json.loads(row[name]) if isinstance(row[name], str) else row[name]
                    for name in figures
                }
            ),
        )
        for row in rows
    ]


async def _fetch_filtered(
    conn: asyncpg.Connection,
    select: str,
    first: date | None,
    last: date | None,
    channel: str | None,
    day: str = "day",
    then: str = "",
) -> list[asyncpg.Record]:
    """``select`` (ending in ``WHERE ... AND`` when it has its own condition) with the rows of
    ``day`` from ``first`` to ``last`` and of ``channel`` (each optional)."""
    where = "" if select.endswith(" AND") else " WHERE"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"{select}{where} {_FILTER.format(day=day)}{then}", first, last, channel
    )
    return rows
