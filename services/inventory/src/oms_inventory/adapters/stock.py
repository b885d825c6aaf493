"""Stock rows: every bucket change goes through here, is recorded in the movement ledger and
noted for the batch's availability projection."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from oms_runtime import Note, Notes, RejectedEvent

__all__ = [
    "Movement",
    "StockLevels",
    "StockRun",
    "changed_stock",
    "ensure_stock",
    "lock_run",
    "lock_stock",
    "move",
    "note_changed",
    "write_run",
]

_CHANGED: Note[set[tuple[str, str]]] = Note("changed_stock", set[tuple[str, str]])
_MAX_BUCKET = 2**31 - 1  # the integer columns' range
_BUCKETS = ("on_hand", "reserved", "in_transit", "quarantined")


def note_changed(notes: Notes, sku: str, location_id: str) -> None:
    """Tell the batch's projection step that this SKU at this location changed."""
    notes[_CHANGED].add((sku, location_id))


def changed_stock(notes: Notes) -> list[tuple[str, str]]:
    changed: set[tuple[str, str]] = notes[_CHANGED] if _CHANGED in notes else set()
    return sorted(changed)


@dataclass(frozen=True)
class StockLevels:
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    safety_stock: int
    in_transit: int
    quarantined: int
    snapshot_as_of: datetime | None
    snapshot_sequence: int | None
    last_movement_at: datetime | None

    def counted(self, at: datetime) -> bool:
        """True when a count applied here is newer than ``at``: it includes what happened."""
        return self.snapshot_as_of is not None and at <= self.snapshot_as_of

    @classmethod
    def of(cls, row: asyncpg.Record) -> StockLevels:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Movement:
    """Deltas of the buckets of one SKU at one location, and why (``kind``, ``reference``).

    ``at`` is when a source says the movement happened; counts older than it are stale.
    """

    kind: str
    reference: str
    on_hand: int = 0
    reserved: int = 0
    in_transit: int = 0
    quarantined: int = 0
    at: datetime | None = None

    def deltas(self) -> tuple[int, int, int, int]:
        return self.on_hand, self.reserved, self.in_transit, self.quarantined

    def refuse_out_of_range(self) -> None:
        if any(abs(delta) > _MAX_BUCKET for delta in self.deltas()):
            raise RejectedEvent(
                "quantity_out_of_range", f"{self.kind} moves more than {_MAX_BUCKET} units"
            )


@dataclass
class StockRun:
    """The locked rows of a run of records, moved in memory in the records' order exactly as
    ``move`` moves one row in the database, then written at once by ``write_run``."""

    rows: dict[tuple[str, str], StockLevels]
    moves: list[tuple[StockLevels, Movement]] = field(default_factory=list)

    def levels(self, sku: str, location_id: str) -> StockLevels:
        return self.rows[(sku, location_id)]

    def move(self, sku: str, location_id: str, movement: Movement, **columns: Any) -> StockLevels:
        """``movement`` applied to the row as the run left it (and ``columns`` set): the row
        after it, refused as ``move`` refuses a delta or a bucket beyond the columns' range."""
        movement.refuse_out_of_range()
        row = self.rows[(sku, location_id)]
        buckets = {
            name: getattr(row, name) + delta
            for name, delta in zip(_BUCKETS, movement.deltas(), strict=True)
        }
        if any(abs(units) > _MAX_BUCKET for units in buckets.values()):
            raise RejectedEvent(
                "quantity_out_of_range",
                f"{movement.kind} would take {sku}@{location_id} out of range",
            )
        times = [t for t in (row.last_movement_at, movement.at) if t is not None]
        after = dataclasses.replace(
            row, **buckets, last_movement_at=max(times, default=None), **columns
        )
        self.rows[(sku, location_id)] = after
        self.moves.append((after, movement))
        return after


def _refuse_unknown(sku: str, location_id: str, *, item: bool, location: bool) -> None:
    if not item:
        raise RejectedEvent("unknown_sku", f"SKU {sku!r} is not in the item catalogue")
    if not location:
        raise RejectedEvent("unknown_location", f"location {location_id!r} is not known")


async def ensure_stock(conn: asyncpg.Connection, sku: str, location_id: str) -> None:
    """Create the stock row of a known SKU at a known location (with the item's policies);
    an unknown SKU or location is rejected with that reason."""
    row = await conn.fetchrow(
        "WITH created AS ("
        " INSERT INTO stock (sku, location_id, safety_stock, low_stock_threshold)"
        " SELECT i.sku, l.location_id, i.safety_stock, i.low_stock_threshold"
        " FROM items i, locations l WHERE i.sku = $1 AND l.location_id = $2"
        " ON CONFLICT DO NOTHING RETURNING 1)"
        " SELECT EXISTS (SELECT 1 FROM items WHERE sku = $1) AS item,"
        " EXISTS (SELECT 1 FROM locations WHERE location_id = $2) AS location,"
        " (SELECT count(*) FROM created) AS created",
        sku,
        location_id,
    )
    assert row is not None
    _refuse_unknown(sku, location_id, item=row["item"], location=row["location"])


async def lock_stock(conn: asyncpg.Connection, sku: str, location_id: str) -> StockLevels:
    """The row of a known SKU at a known location, locked until the transaction ends."""
    await ensure_stock(conn, sku, location_id)
    row = await conn.fetchrow(
        "SELECT * FROM stock WHERE sku = $1 AND location_id = $2 FOR UPDATE", sku, location_id
    )
    assert row is not None
    return StockLevels.of(row)


async def move(
    conn: asyncpg.Connection,
    notes: Notes,
    sku: str,
    location_id: str,
    movement: Movement,
    **columns: Any,
) -> StockLevels:
    """Apply ``movement`` (and set ``columns``) to a row the caller has locked or created.

    The buckets' CHECK constraints are the last guard: callers refuse negative results first;
    a bucket beyond the column's range is refused as ``quantity_out_of_range``.
    """
    assignments = "".join(f", {name} = ${i}" for i, name in enumerate(columns, start=8))
    movement.refuse_out_of_range()
    try:
        row = await conn.fetchrow(
            "WITH changed AS ("
            " UPDATE stock SET on_hand = on_hand + $3, reserved = reserved + $4,"
            " in_transit = in_transit + $5, quarantined = quarantined + $6,"
            " last_movement_at = greatest(last_movement_at, $7::timestamptz),"
            f" version = version + 1, updated_at = now(){assignments}"
            " WHERE sku = $1 AND location_id = $2 RETURNING *),"
            " ledger AS ("
            " INSERT INTO stock_movements (sku, location_id, kind, on_hand_delta,"
            " reserved_delta, in_transit_delta, quarantined_delta, reference)"
            f" SELECT sku, location_id, ${8 + len(columns)}, $3, $4, $5, $6,"
            f" ${9 + len(columns)} FROM changed)"
            " SELECT * FROM changed",
            sku,
            location_id,
            movement.on_hand,
            movement.reserved,
            movement.in_transit,
            movement.quarantined,
            movement.at,
            *columns.values(),
            movement.kind,
            movement.reference,
        )
    except asyncpg.NumericValueOutOfRangeError:
        raise RejectedEvent(
            "quantity_out_of_range", f"{movement.kind} would take {sku}@{location_id} out of range"
        ) from None
    assert row is not None, f"stock row {sku}@{location_id} must exist before it moves"
    note_changed(notes, sku, location_id)
    return StockLevels.of(row)


async def lock_run(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> StockRun:
    """The rows of SKUs at locations, created when both are known (with the item's policies),
    locked in one order until the transaction ends: two statements for any number of rows.
    The first key, in the given order, whose SKU or location is unknown is rejected with
    that reason, as ``lock_stock`` would reject it."""
    if not keys:
        return StockRun({})
    skus, locations = [sku for sku, _ in keys], [location for _, location in keys]
    known = await conn.fetch(
        "WITH wanted AS (SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY"
        " AS w(sku, location_id, n)),"
        " created AS ("
        " INSERT INTO stock (sku, location_id, safety_stock, low_stock_threshold)"
        " SELECT DISTINCT i.sku, l.location_id, i.safety_stock, i.low_stock_threshold"
        " FROM wanted w JOIN items i ON i.sku = w.sku"
        " JOIN locations l ON l.location_id = w.location_id"
        " ORDER BY 1, 2 ON CONFLICT DO NOTHING)"
        " SELECT w.sku, w.location_id,"
        " EXISTS (SELECT 1 FROM items i WHERE i.sku = w.sku) AS item,"
        " EXISTS (SELECT 1 FROM locations l WHERE l.location_id = w.location_id) AS location"
        " FROM wanted w ORDER BY w.n",
        skus,
        locations,
    )
    for row in known:
        _refuse_unknown(row["sku"], row["location_id"], item=row["item"], location=row["location"])
    rows = await conn.fetch(
        "SELECT * FROM stock"
        " WHERE (sku, location_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        " ORDER BY sku, location_id FOR UPDATE",
        skus,
        locations,
    )
    return StockRun({(row["sku"], row["location_id"]): StockLevels.of(row) for row in rows})


async def write_run(conn: asyncpg.Connection, notes: Notes, run: StockRun) -> None:
    """A run's movements in one statement: each row it moved as the run left it (its version
    up by its number of movements), and the ledger's rows in the run's order."""
    if not run.moves:
        return
    moves: dict[tuple[str, str], int] = {}
    for after, _ in run.moves:
        key = (after.sku, after.location_id)
        moves[key] = moves.get(key, 0) + 1
    rows = [run.rows[key] for key in sorted(moves)]
    await conn.execute(
        "WITH changed AS ("
        " UPDATE stock s SET on_hand = t.on_hand, reserved = t.reserved,"
        " in_transit = t.in_transit, quarantined = t.quarantined,"
        " snapshot_as_of = t.snapshot_as_of, snapshot_sequence = t.snapshot_sequence,"
        " last_movement_at = t.last_movement_at, version = s.version + t.moves,"
        " updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[], $6::int[],"
        " $7::timestamptz[], $8::bigint[], $9::timestamptz[], $10::int[])"
        " AS t(sku, location_id, on_hand, reserved, in_transit, quarantined, snapshot_as_of,"
        " snapshot_sequence, last_movement_at, moves)"
        " WHERE s.sku = t.sku AND s.location_id = t.location_id)"
        " INSERT INTO stock_movements (sku, location_id, kind, on_hand_delta, reserved_delta,"
        " in_transit_delta, quarantined_delta, reference)"
        " SELECT sku, location_id, kind, on_hand, reserved, in_transit, quarantined, reference"
        " FROM unnest($11::text[], $12::text[], $13::text[], $14::int[], $15::int[], $16::int[],"
        " $17::int[], $18::text[]) WITH ORDINALITY"
        " AS m(sku, location_id, kind, on_hand, reserved, in_transit, quarantined, reference, n)"
        " ORDER BY n",
        [row.sku for row in rows],
        [row.location_id for row in rows],
        [row.on_hand for row in rows],
        [row.reserved for row in rows],
        [row.in_transit for row in rows],
        [row.quarantined for row in rows],
        [row.snapshot_as_of for row in rows],
        [row.snapshot_sequence for row in rows],
        [row.last_movement_at for row in rows],
        [moves[(row.sku, row.location_id)] for row in rows],
        [after.sku for after, _ in run.moves],
        [after.location_id for after, _ in run.moves],
        [movement.kind for _, movement in run.moves],
        *([movement.deltas()[n] for _, movement in run.moves] for n in range(4)),
        [movement.reference for _, movement in run.moves],
    )
    for sku, location_id in moves:
        note_changed(notes, sku, location_id)
