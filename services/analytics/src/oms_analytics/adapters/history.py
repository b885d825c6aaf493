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
from dataclasses import Field, fields
from datetime import date
from typing import Any, NamedTuple

import asyncpg

from oms_analytics.domain.kpis import Figures, LeadTimes, WindowFigures
from oms_analytics.domain.locations import LocationFigures

__all__ = [
    "DailyRow",
    "DayRow",
    "LedgerRow",
    "StoredDay",
    "StoredExceptions",
    "read_daily_history",
    "read_daily_partitions",
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
    source_partition: int | None = None
    """The partition of the order's events (None: the ledger was stored before it was kept)."""


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
    """A channel's (``WindowFigures``) or a location's (``LocationFigures``) day from one
    source partition: its hourly windows there added up."""

    day: date
    name: str
    """The channel or the location."""
    source_partition: int
    figures: Figures


class _DailyTable(NamedTuple):
    table: str
    view: str
    dimension: str


_DAILY_TABLES: dict[type[Figures], _DailyTable] = {
    WindowFigures: _DailyTable("analytics_daily_days", "analytics_daily", "channel"),
    LocationFigures: _DailyTable(
        "analytics_daily_location_days", "analytics_daily_locations", "location"
    ),
}


_UPSERT_LEDGERS = """
INSERT INTO analytics_funds_orders AS stored
    (order_id, channel, placed_on, closure, total_currency, total_minor, totals, exceptions,
     version, source_partition)
SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[],
                     $6::bigint[], $7::jsonb[], $8::jsonb[], $9::int[], $10::int[])
ON CONFLICT (order_id) DO UPDATE SET
    channel = excluded.channel, placed_on = excluded.placed_on, closure = excluded.closure,
    total_currency = excluded.total_currency, total_minor = excluded.total_minor,
    totals = excluded.totals, exceptions = excluded.exceptions, version = excluded.version,
    source_partition = coalesce(excluded.source_partition, stored.source_partition),
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


def _daily_upsert(figures: type[Figures]) -> str:
    """The upsert of a day's figures per source partition, its columns the figures' fields:
    counts as integers, amounts per key as jsonb, lists (lead times) as arrays, which go in
    as jsonb (unnest takes no array of arrays of different lengths)."""
    table, _, dimension = _DAILY_TABLES[figures]
    kinds = {each.name: _kind(each) for each in fields(figures)}
    columns = ["day", dimension, "source_partition", *kinds, "version"]
    given = ["date", "text", "int", *("int" if k == "int" else "jsonb" for k in kinds.values())]
    picked = [
        f"ARRAY(SELECT jsonb_array_elements_text({name})::double precision)"
        if kinds.get(name) == "list"
        else name
        for name in columns
    ]
    arrays = ", ".join(f"${n}::{t}[]" for n, t in enumerate([*given, "int"], start=1))
    replaced = ", ".join(f"{name} = excluded.{name}" for name in [*kinds, "version"])
    return f"""
INSERT INTO {table} AS stored ({", ".join(columns)})
SELECT {", ".join(picked)}
FROM unnest({arrays}) AS excluded({", ".join(columns)})
ON CONFLICT (day, {dimension}, source_partition) DO UPDATE SET {replaced}, updated_at = now()
WHERE stored.version <= excluded.version
"""


def _kind(each: Field[Any]) -> str:
    factory = each.default_factory
    return "list" if factory is LeadTimes else "dict" if factory is dict else "int"


_UPSERT_DAILY = {figures: _daily_upsert(figures) for figures in _DAILY_TABLES}


async def write_history(
    pool: asyncpg.Pool,
    ledgers: Sequence[LedgerRow],
    days: Sequence[DayRow],
    daily: Sequence[DailyRow] = (),
) -> None:
    """Upsert the rows in one transaction, one statement per table."""
    statements: list[tuple[str, Sequence[tuple[object, ...]]]] = [
        (_UPSERT_LEDGERS, ledgers),
        (_UPSERT_DAYS, days),
    ]
    for figures, statement in _UPSERT_DAILY.items():
        of_table = [_daily_columns(row) for row in daily if type(row.figures) is figures]
        statements.append((statement, of_table))
    async with pool.acquire() as conn, conn.transaction():
        for statement, rows in statements:
            if rows:
                await conn.execute(statement, *_columns(rows, len(rows[0])))


def _daily_columns(row: DailyRow) -> tuple[object, ...]:
    figures = (
        value
        if isinstance(value, int)
        else json.dumps(value.expanded() if isinstance(value, LeadTimes) else value, sort_keys=True)
        for value in (getattr(row.figures, each.name) for each in fields(row.figures))
    )
    return (row.day, row.name, row.source_partition, *figures, row.figures.counted())


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> list[list[object]]:
    """Rows to columns: unnest takes one array per column."""
    return [[row[i] for row in rows] for i in range(width)]


class StoredDay(NamedTuple):
    """A channel's day of money in one currency from one source partition."""

    day: date
    channel: str
    source_partition: int
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
    source_partition: int | None
    """None in rows written before the partition was stored."""


_FILTER = """($1::date IS NULL OR {day} >= $1) AND ($2::date IS NULL OR {day} <= $2)
AND ($3::text IS NULL OR {name} = $3)"""


async def read_history(
    pool: asyncpg.Pool,
    first: date | None,
    last: date | None,
    channel: str | None,
    money: bool = True,
) -> tuple[list[StoredDay], list[StoredExceptions]]:
    """The stored days of money per source partition (from ``first`` to ``last`` inclusive,
    of ``channel``; each optional; none unless ``money``) and the orders placed on them
    whose money did not add up."""
    async with pool.acquire() as conn:
        filters = (first, last, channel)
        days = (
            await _fetch_filtered(
                conn, f"SELECT {', '.join(StoredDay._fields)} FROM analytics_funds_days", *filters
            )
            if money
            else []
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
    pool: asyncpg.Pool,
    figures: type[Figures],
    first: date | None,
    last: date | None,
    name: str | None,
) -> list[tuple[date, str, Figures]]:
    """The stored days of the daily report per channel (``WindowFigures``) or location
    (``LocationFigures``), from ``first`` to ``last`` inclusive, of the channel or location
    ``name`` (each optional), their partitions added up: (day, name, figures), oldest first,
    then by name."""
    _, view, dimension = _DAILY_TABLES[figures]
    rows = await _read_daily(pool, figures, view, "", first, last, name)
    return [(row["day"], row[dimension], _stored_figures(figures, row)) for row in rows]


async def read_daily_partitions(
    pool: asyncpg.Pool,
    figures: type[Figures],
    first: date | None,
    last: date | None,
    name: str | None,
) -> list[DailyRow]:
    """The stored days of the daily report per channel or location as :func:`read_daily_history`
    reads them, but per source partition, as the worker wrote them."""
    table, _, dimension = _DAILY_TABLES[figures]
    rows = await _read_daily(pool, figures, table, ", source_partition", first, last, name)
    return [
        DailyRow(row["day"], row[dimension], row["source_partition"], _stored_figures(figures, row))
        for row in rows
    ]


async def _read_daily(
    pool: asyncpg.Pool,
    figures: type[Figures],
    source: str,
    more: str,
    first: date | None,
    last: date | None,
    name: str | None,
) -> list[asyncpg.Record]:
    dimension = _DAILY_TABLES[figures].dimension
    names = [each.name for each in fields(figures)]
    async with pool.acquire() as conn:
        return await _fetch_filtered(
            conn,
            f"SELECT day, {dimension}{more}, {', '.join(names)} FROM {source}",
            first,
            last,
            name,
            dimension=dimension,
            then=f" ORDER BY day, {dimension}{more}",
        )


def _stored_figures(figures: type[Figures], row: asyncpg.Record) -> Figures:
    values = {each.name: row[each.name] for each in fields(figures)}
    return figures.from_dict(
        {name: json.loads(v) if isinstance(v, str) else v for name, v in values.items()}
    )


async def _fetch_filtered(
    conn: asyncpg.Connection,
    select: str,
    first: date | None,
    last: date | None,
    name: str | None,
    day: str = "day",
    dimension: str = "channel",
    then: str = "",
) -> list[asyncpg.Record]:
    """``select`` (ending in ``WHERE ... AND`` when it has its own condition) with the rows of
    ``day`` from ``first`` to ``last`` and of ``name`` (the ``dimension``'s; each optional)."""
    where = "" if select.endswith(" AND") else " WHERE"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"{select}{where} {_FILTER.format(day=day, name=dimension)}{then}", first, last, name
    )
    return rows
