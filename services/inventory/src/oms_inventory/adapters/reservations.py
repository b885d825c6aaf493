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

import asyncpg

from oms_events.inventory import ReservationLine
from oms_inventory.adapters.stock import Movement, move, note_changed
from oms_inventory.domain.reservations import ReservationStatus, shipped_from
from oms_runtime import Notes

__all__ = [
    "Asked",
    "Decided",
    "Held",
    "ToHold",
    "Tried",
    "claim",
    "commit_line",
    "decided",
    "expire_due",
    "hold_run",
    "reduce",
    "release",
    "released_to_work",
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
    status: ReservationStatus
    expires_at: datetime | None


@dataclass(frozen=True)
class Asked:
    """One line of a reservation request: the order and request it belongs to."""

    order_id: str
    request_id: str
    line: ReservationLine


async def claim(conn: asyncpg.Connection, asked: Sequence[Asked]) -> set[str]:
    """The reservation ids that are new, or failed before: only those are attempted. One
    statement for the lines of any number of requests (a reservation id at most once)."""
    rows = await conn.fetch(
        "INSERT INTO reservations (reservation_id, request_id, order_id, line_id, sku,"
        " location_id, quantity, status)"
        " SELECT r, rq, o, l, s, loc, q, 'failed'"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
        "   $7::int[]) AS t(o, rq, r, l, s, loc, q)"
        " ON CONFLICT (reservation_id) DO UPDATE SET request_id = EXCLUDED.request_id,"
        " line_id = EXCLUDED.line_id, sku = EXCLUDED.sku, location_id = EXCLUDED.location_id,"
        " quantity = EXCLUDED.quantity, updated_at = now()"
        " WHERE reservations.status = 'failed' AND reservations.order_id = EXCLUDED.order_id"
        " RETURNING reservation_id",
        [a.order_id for a in asked],
        [a.request_id for a in asked],
        [a.line.reservation_id for a in asked],
        [a.line.line_id for a in asked],
        [a.line.sku for a in asked],
        [a.line.location_id for a in asked],
        [a.line.quantity for a in asked],
    )
    return {row["reservation_id"] for row in rows}


async def decided(conn: asyncpg.Connection, reservation_ids: Sequence[str]) -> dict[str, Decided]:
    rows = await conn.fetch(
        "SELECT reservation_id, order_id, status, expires_at FROM reservations"
        " WHERE reservation_id = ANY($1::text[])",
        list(reservation_ids),
    )
    return {
        r["reservation_id"]: Decided(
            r["reservation_id"], r["order_id"], ReservationStatus(r["status"]), r["expires_at"]
        )
        for r in rows
    }


@dataclass(frozen=True)
class ToHold:
    """A request's claimed lines, in (sku, location) order, and until when they are held."""

    lines: Sequence[ReservationLine]
    all_or_nothing: bool
    expires_at: datetime


@dataclass(frozen=True)
class Tried:
    held: bool
    reason: str | None
    """Why it was not held: ``out_of_stock``, ``unknown_sku``, ``unknown_location`` or
    ``all_or_nothing: ...`` (another line of its all-or-nothing set could not be held)."""
    available: int
    """When not held: the units available when it was tried."""


async def hold_run(
    conn: asyncpg.Connection, notes: Notes, requests: Sequence[ToHold]
) -> dict[str, Tried]:
    """Hold the lines of a run of requests, one round trip for all (the database function
    ``inventory_reserve_run`` takes them as one at a time would, and records why a line
    failed): by reservation id, whether each was held, or why not."""
    if not requests:
        return {}
    lines = [(request, line) for request in requests for line in request.lines]
    first, n = [], 1
    for request in requests:
        first.append(n)
        n += len(request.lines)
    rows = await conn.fetch(
        "SELECT * FROM inventory_reserve_run($1::int[], $2::int[], $3::bool[], $4::text[],"
        " $5::text[], $6::text[], $7::int[], $8::timestamptz[])",
        first,
        [f + len(r.lines) - 1 for f, r in zip(first, requests, strict=True)],
        [r.all_or_nothing for r in requests],
        [line.reservation_id for _, line in lines],
        [line.sku for _, line in lines],
        [line.location_id for _, line in lines],
        [line.quantity for _, line in lines],
        [request.expires_at for request, _ in lines],
    )
    tried = {
        r["line_reservation_id"]: Tried(r["line_held"], r["line_reason"], r["line_available"] or 0)
        for r in rows
    }
    for _, line in lines:
        if tried[line.reservation_id].held:
            note_changed(notes, line.sku, line.location_id)
    return tried


async def _unhold(
    conn: asyncpg.Connection, notes: Notes, rows: Sequence[asyncpg.Record], kind: ReservationStatus
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
    notes: Notes,
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
    return await _unhold(conn, notes, rows, ReservationStatus.RELEASED)


async def reduce(
    conn: asyncpg.Connection,
    notes: Notes,
    order_id: str,
    kept: Sequence[tuple[str, int]],
    reason: str,
) -> list[Held]:
    """Held reservations of the order keep only ``kept`` ((id, units)) and give the rest
    back, one statement for the request: the units given back of each that held more. The
    target is absolute, so a repeat finds nothing more to give; committed units stay."""
    rows = await conn.fetch(
        "UPDATE reservations r SET quantity = due.keeps, reason = $4, updated_at = now(),"
        " status = CASE WHEN due.keeps = r.committed THEN 'committed' ELSE r.status END"
        " FROM (SELECT x.reservation_id, x.quantity - greatest(k.keep, x.committed) AS remaining,"
        "       greatest(k.keep, x.committed) AS keeps"
        "       FROM reservations x JOIN unnest($2::text[], $3::int[]) AS k(id, keep)"
        "       ON x.reservation_id = k.id"
        "       WHERE x.order_id = $1 AND x.status = 'held'"
        "       AND x.quantity > greatest(k.keep, x.committed)"
        "       ORDER BY x.reservation_id FOR UPDATE OF x) AS due"
        " WHERE r.reservation_id = due.reservation_id"
        " RETURNING r.reservation_id, r.order_id, r.sku, r.location_id, due.remaining",
        order_id,
        [reservation_id for reservation_id, _ in kept],
        [keep for _, keep in kept],
        reason,
    )
    return await _unhold(conn, notes, rows, ReservationStatus.RELEASED)


async def released_to_work(
    conn: asyncpg.Connection, released: Sequence[tuple[str, str, str]]
) -> int:
    """Held reservations ((order id, reservation id, fulfilment order id)) now wait for their
    work: they no longer expire. One statement for a run; how many were held."""
    if not released:
        return 0
    order_ids, reservation_ids, fulfilment_order_ids = (
        list(c) for c in zip(*released, strict=True)
    )
    waiting = await conn.fetch(
        "UPDATE reservations r SET fulfilment_order_id = t.f, updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::text[]) AS t(o, r, f)"
        " WHERE r.reservation_id = t.r AND r.order_id = t.o AND r.status = 'held'"
        " AND r.fulfilment_order_id IS NULL RETURNING r.reservation_id",
        order_ids,
        reservation_ids,
        fulfilment_order_ids,
    )
    return len(waiting)


async def expire_due(
    conn: asyncpg.Connection,
    notes: Notes,
    now: datetime,
    limit: int,
    only: Sequence[str] | None = None,
) -> list[Held]:
    """Expire held reservations past their time, unless released to a location's work;
    instances sweeping together skip each other's rows. ``only``: of these reservations."""
    rows = await conn.fetch(
        "UPDATE reservations r SET status = 'expired', updated_at = now()"
        " FROM (SELECT reservation_id, quantity - committed AS remaining FROM reservations"
        "       WHERE status = 'held' AND fulfilment_order_id IS NULL AND expires_at <= $1"
        "       AND ($3::text[] IS NULL OR reservation_id = ANY($3::text[]))"
        "       ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS due"
        " WHERE r.reservation_id = due.reservation_id"
        " RETURNING r.reservation_id, r.order_id, r.sku, r.location_id, due.remaining",
        now,
        limit,
        None if only is None else list(only),
    )
    return await _unhold(conn, notes, rows, ReservationStatus.EXPIRED)


async def commit_line(
    conn: asyncpg.Connection,
    notes: Notes,
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
    taken, from_reserved, left = shipped_from(
        [(r["reservation_id"], ReservationStatus(r["status"]), r["open"]) for r in rows], quantity
    )
    committed: list[Held] = []
    for reservation_id, take in taken:
        await conn.execute(
            "UPDATE reservations SET committed = committed + $2, updated_at = now(),"
            " status = CASE WHEN committed + $2 = quantity AND status = 'held'"
            "   THEN 'committed' ELSE status END"
            " WHERE reservation_id = $1",
            reservation_id,
            take,
        )
        committed.append(Held(reservation_id, order_id, sku, location_id, take))
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
