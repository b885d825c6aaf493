"""Stock rows: every bucket change goes through here, is recorded in the movement ledger and
noted for the batch's availability projection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from oms_runtime import Note, Notes, RejectedEvent

__all__ = [
    "Movement",
    "StockLevels",
    "changed_stock",
    "ensure_stock",
    "lock_stock",
    "move",
    "note_changed",
]

_CHANGED: Note[set[tuple[str, str]]] = Note("changed_stock", set[tuple[str, str]])
_MAX_BUCKET = 2**31 - 1  # the integer columns' range


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
    if not row["item"]:
        raise RejectedEvent("unknown_sku", f"SKU {sku!r} is not in the item catalogue")
    if not row["location"]:
        raise RejectedEvent("unknown_location", f"location {location_id!r} is not known")


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
    deltas = (movement.on_hand, movement.reserved, movement.in_transit, movement.quarantined)
    if any(abs(delta) > _MAX_BUCKET for delta in deltas):
        raise RejectedEvent(
            "quantity_out_of_range", f"{movement.kind} moves more than {_MAX_BUCKET} units"
        )
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
