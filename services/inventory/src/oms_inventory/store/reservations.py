"""Reservations: held units of one order line at one location.

No oversell rests on one statement: the reserved count only grows by a conditional UPDATE
that re-checks availability on the row it locks, whichever instance or transaction runs it.
Idempotency rests on the reservation id: the row is claimed (inserted, or taken over when a
previous attempt failed) before any stock moves, so a concurrent copy of the same request
waits for it and then finds it held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from oms_events.inventory import ReservationLine
from oms_inventory.store.stock import Movement, move, note_changed

__all__ = [
    "Decided",
    "Held",
    "Shortfall",
    "claim",
    "commit_line",
    "decided",
    "expire_due",
    "hold",
    "mark_failed",
    "release",
    "shortfall",
    "try_hold",
]


@dataclass(frozen=True)
class Held:
    """Reserved units leaving the held state (released, expired or committed)."""

    reservation_id: str
    order_id: str
    sku: str
    location_id: str
    quantity: int


@dataclass(frozen=True)
class Decided:
    """A reservation id a request repeats: who owns it and where it stands."""

    reservation_id: str
    order_id: str
    status: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Shortfall:
    reason: str
    """``unknown_sku``, ``unknown_location`` or ``out_of_stock``."""
    available: int


async def claim(
    conn: asyncpg.Connection, order_id: str, request_id: str, lines: Sequence[ReservationLine]
) -> list[ReservationLine]:
    """The lines whose reservation ids are new, or failed before: only those are attempted."""
    rows = await conn.fetch(
        "INSERT INTO reservations (reservation_id, request_id, order_id, line_id, sku,"
        " location_id, quantity, status)"
        " SELECT r, $2, $1, l, s, loc, q, 'failed'"
        " FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::int[])"
        "   AS t(r, l, s, loc, q)"
        " ON CONFLICT (reservation_id) DO UPDATE SET request_id = EXCLUDED.request_id,"
        " line_id = EXCLUDED.line_id, sku = EXCLUDED.sku, location_id = EXCLUDED.location_id,"
        " quantity = EXCLUDED.quantity, updated_at = now()"
        " WHERE reservations.status = 'failed' AND reservations.order_id = EXCLUDED.order_id"
        " RETURNING reservation_id",
        order_id,
        request_id,
        [line.reservation_id for line in lines],
        [line.line_id for line in lines],
        [line.sku for line in lines],
        [line.location_id for line in lines],
        [line.quantity for line in lines],
    )
    fresh = {row["reservation_id"] for row in rows}
    return [line for line in lines if line.reservation_id in fresh]


async def decided(conn: asyncpg.Connection, reservation_ids: Sequence[str]) -> dict[str, Decided]:
    rows = await conn.fetch(
        "SELECT reservation_id, order_id, status, expires_at FROM reservations"
        " WHERE reservation_id = ANY($1::text[])",
        list(reservation_ids),
    )
    return {r["reservation_id"]: Decided(**dict(r)) for r in rows}


async def try_hold(
    conn: asyncpg.Connection,
    notes: dict[str, Any],
    line: ReservationLine,
    expires_at: datetime,
) -> bool:
    """Reserve the line if enough is available right now; False leaves everything untouched.

    One statement: the conditional update, its ledger entry and the reservation's new state.
    """
    taken = await conn.fetchval(
        "WITH taken AS ("
        " UPDATE stock SET reserved = reserved + $3, version = version + 1, updated_at = now()"
        " WHERE sku = $1 AND location_id = $2 AND on_hand::bigint - reserved - safety_stock >= $3"
        " RETURNING sku, location_id),"
        " ledger AS (INSERT INTO stock_movements (sku, location_id, kind, reserved_delta,"
        "  reference) SELECT sku, location_id, 'reserved', $3, $4 FROM taken),"
        " held AS (UPDATE reservations SET status = 'held', reason = NULL, expires_at = $5,"
        "  updated_at = now() WHERE reservation_id = $4 AND EXISTS (SELECT 1 FROM taken))"
        " SELECT count(*) FROM taken",
        line.sku,
        line.location_id,
        line.quantity,
        line.reservation_id,
        expires_at,
    )
    if not taken:
        return False
    note_changed(notes, line.sku, line.location_id)
    return True


async def hold(
    conn: asyncpg.Connection, notes: dict[str, Any], line: ReservationLine, expires_at: datetime
) -> None:
    """Reserve a line whose availability the caller checked under a row lock."""
    await move(
        conn,
        notes,
        line.sku,
        line.location_id,
        Movement("reserved", line.reservation_id, reserved=line.quantity),
    )
    await conn.execute(
        "UPDATE reservations SET status = 'held', reason = NULL, expires_at = $2,"
        " updated_at = now() WHERE reservation_id = $1",
        line.reservation_id,
        expires_at,
    )


async def shortfall(conn: asyncpg.Connection, sku: str, location_id: str) -> Shortfall:
    """Why a line cannot be reserved now, and how much is available."""
    row = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM items WHERE sku = $1) AS item,"
        " EXISTS (SELECT 1 FROM locations WHERE location_id = $2) AS location,"
        " (SELECT on_hand::bigint - reserved - safety_stock FROM stock"
        "  WHERE sku = $1 AND location_id = $2) AS available",
        sku,
        location_id,
    )
    assert row is not None
    available = row["available"] or 0
    if not row["item"]:
        return Shortfall("unknown_sku", 0)
    if not row["location"]:
        return Shortfall("unknown_location", 0)
    return Shortfall("out_of_stock", available)


async def mark_failed(conn: asyncpg.Connection, reservation_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE reservations SET status = 'failed', reason = $2, updated_at = now()"
        " WHERE reservation_id = $1",
        reservation_id,
        reason,
    )


async def _unhold(
    conn: asyncpg.Connection, notes: dict[str, Any], rows: Sequence[asyncpg.Record], kind: str
) -> list[Held]:
    """Give the uncommitted units of reservations that just left the held state back."""
    held = [
        Held(r["reservation_id"], r["order_id"], r["sku"], r["location_id"], r["remaining"])
        for r in rows
    ]
    for h in sorted(held, key=lambda h: (h.sku, h.location_id, h.reservation_id)):
        await move(
            conn,
            notes,
            h.sku,
            h.location_id,
            Movement(kind, h.reservation_id, reserved=-h.quantity),
        )
    return held


async def release(
    conn: asyncpg.Connection,
    notes: dict[str, Any],
    order_id: str,
    reservation_ids: Sequence[str],
    reason: str,
) -> list[Held]:
    """Release the order's held reservations (all of them when no ids are given)."""
    rows = await conn.fetch(
        "UPDATE reservations r SET status = 'released', reason = $3, updated_at = now()"
        " FROM (SELECT reservation_id, quantity - committed AS remaining FROM reservations"
        "       WHERE order_id = $1 AND status = 'held'"
        "       AND (cardinality($2::text[]) = 0 OR reservation_id = ANY($2::text[]))"
        "       ORDER BY reservation_id FOR UPDATE) AS due"
        " WHERE r.reservation_id = due.reservation_id"
        " RETURNING r.reservation_id, r.order_id, r.sku, r.location_id, due.remaining",
        order_id,
        list(reservation_ids),
        reason,
    )
    return await _unhold(conn, notes, rows, "released")


async def expire_due(
    conn: asyncpg.Connection, notes: dict[str, Any], now: datetime, limit: int
) -> list[Held]:
    """Expire held reservations past their time; instances sweeping together skip each
    other's rows."""
    rows = await conn.fetch(
        "UPDATE reservations r SET status = 'expired', updated_at = now()"
        " FROM (SELECT reservation_id, quantity - committed AS remaining FROM reservations"
        "       WHERE status = 'held' AND expires_at <= $1"
        "       ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS due"
        " WHERE r.reservation_id = due.reservation_id"
        " RETURNING r.reservation_id, r.order_id, r.sku, r.location_id, due.remaining",
        now,
        limit,
    )
    return await _unhold(conn, notes, rows, "expired")


async def commit_line(
    conn: asyncpg.Connection,
    notes: dict[str, Any],
    *,
    order_id: str,
    line_id: str,
    sku: str,
    location_id: str,
    quantity: int,
    shipment_id: str,
    shipped_at: datetime,
    counted: bool,
) -> tuple[list[Held], int]:
    """Shipped units leave on hand, taken from the line's reservations at that location.

    Held reservations are committed first (reserved and on hand both drop); the rest of the
    units (shipped against a reservation that expired or was released meanwhile, or never
    reserved) still leave on hand. When a count newer than the shipment is already applied
    (``counted``), on hand already lacks the units and only the reservations drop. Returns
    what was committed and how many units shipped unreserved.
    """
    rows = await conn.fetch(
        "SELECT reservation_id, status, quantity - committed AS open FROM reservations"
        " WHERE order_id = $1 AND line_id = $2 AND location_id = $3 AND sku = $4"
        " AND status IN ('held', 'expired') AND quantity > committed"
        " ORDER BY status DESC, created_at FOR UPDATE",
        order_id,
        line_id,
        location_id,
        sku,
    )
    committed: list[Held] = []
    left, from_reserved = quantity, 0
    for row in rows:
        if left == 0:
            break
        take = min(left, row["open"])
        left -= take
        if row["status"] == "held":
            from_reserved += take
        await conn.execute(
            "UPDATE reservations SET committed = committed + $2, updated_at = now(),"
            " status = CASE WHEN committed + $2 = quantity AND status = 'held'"
            "   THEN 'committed' ELSE status END"
            " WHERE reservation_id = $1",
            row["reservation_id"],
            take,
        )
        committed.append(Held(row["reservation_id"], order_id, sku, location_id, take))
    levels = await conn.fetchrow(
        "SELECT on_hand FROM stock WHERE sku = $1 AND location_id = $2", sku, location_id
    )  # locked by the caller
    assert levels is not None
    # A count that was too low must not make on hand negative: the units did ship.
    leaving = 0 if counted else min(quantity, levels["on_hand"])
    if leaving or from_reserved:
        await move(
            conn,
            notes,
            sku,
            location_id,
            Movement(
                "shipped",
                shipment_id,
                on_hand=-leaving,
                reserved=-from_reserved,
                at=shipped_at,
            ),
        )
    return committed, left
