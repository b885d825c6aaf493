"""The day close's table, ``stock_days_closed``: which stock rows a day was closed for, and
what their ``StockDayClosed`` said. A row is inserted with its event in one transaction, once
(the primary key and ON CONFLICT DO NOTHING): whoever inserts it publishes it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime

import asyncpg

from oms_events.inventory import StockDayClosed

__all__ = ["ClosedBatch", "ClosedStock", "close_next", "record_closed"]


@dataclass(frozen=True)
class ClosedStock:
    """One stock row as a day closed: what its ``StockDayClosed`` says."""

    day: date
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    in_transit: int
    quarantined: int
    taken_at: datetime

    @classmethod
    def said_by(cls, event: StockDayClosed) -> ClosedStock:
        """The row an event was published for: the table keeps what it said, field for
        field."""
        return cls(**{name: getattr(event, name) for name in _COLUMNS})


_COLUMNS = tuple(f.name for f in fields(ClosedStock))


@dataclass(frozen=True)
class ClosedBatch:
    """One batch of the close: the rows this transaction closed, how many rows it looked at
    (closed here or meanwhile by another worker) and the key of the last, where the next
    batch starts. Fewer looked at than asked: nothing is left to close after ``after``."""

    closed: list[ClosedStock]
    scanned: int
    last: tuple[str, str]


async def close_next(
    conn: asyncpg.Connection,
    day: date,
    ended_at: datetime,
    taken_at: datetime,
    after: tuple[str, str],
    limit: int,
) -> ClosedBatch:
    """Close ``day`` for up to ``limit`` stock rows after the key ``after`` (in key order)
    that existed before ``ended_at`` and are not closed for it yet, in one statement: their
    levels as this transaction's snapshot has them. A row another worker inserted meanwhile
    makes this insert wait for that worker's commit, then skip the row."""
    rows = await conn.fetch(
        "WITH candidates AS ("
        " SELECT s.sku, s.location_id, s.on_hand, s.reserved, s.in_transit, s.quarantined"
        " FROM stock s"
        " WHERE (s.sku, s.location_id) > ($4::text, $5::text) AND s.created_at < $2"
        " AND NOT EXISTS (SELECT 1 FROM stock_days_closed c"
        " WHERE c.day = $1 AND c.sku = s.sku AND c.location_id = s.location_id)"
        " ORDER BY s.sku, s.location_id LIMIT $6"
        "), closed AS ("
        " INSERT INTO stock_days_closed"
        " (day, sku, location_id, on_hand, reserved, in_transit, quarantined, taken_at)"
        " SELECT $1, sku, location_id, on_hand, reserved, in_transit, quarantined, $3"
        " FROM candidates ORDER BY sku, location_id"
        " ON CONFLICT DO NOTHING RETURNING sku, location_id"
        ")"
        " SELECT c.*, k.sku IS NOT NULL AS closed_here"
        " FROM candidates c LEFT JOIN closed k USING (sku, location_id)"
        " ORDER BY c.sku, c.location_id",
        day,
        ended_at,
        taken_at,
        *after,
        limit,
    )
    closed = [
        ClosedStock(
            day=day,
            sku=row["sku"],
            location_id=row["location_id"],
            on_hand=row["on_hand"],
            reserved=row["reserved"],
            in_transit=row["in_transit"],
            quarantined=row["quarantined"],
            taken_at=taken_at,
        )
        for row in rows
        if row["closed_here"]
    ]
    last = (rows[-1]["sku"], rows[-1]["location_id"]) if rows else after
    return ClosedBatch(closed, len(rows), last)


async def record_closed(conn: asyncpg.Connection, closed: Sequence[ClosedStock]) -> None:
    """Closed rows as their events say (a rebuild reads them back), in one statement; a row
    already there stays as it is."""
    if not closed:
        return
    await conn.execute(
        "INSERT INTO stock_days_closed"
        " (day, sku, location_id, on_hand, reserved, in_transit, quarantined, taken_at)"
        " SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::int[], $5::int[],"
        " $6::int[], $7::int[], $8::timestamptz[])"
        " ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING",
        *([getattr(row, column) for row in closed] for column in _COLUMNS),
    )
