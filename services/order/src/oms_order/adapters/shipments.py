"""Shipments of an order and what was captured for each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "ClosedShipment",
    "capture_refunded",
    "close_uncollected",
    "insert_shipment",
    "mark_delivered",
    "set_aside",
    "shipment_known",
]


@dataclass(frozen=True)
class ClosedShipment:
    capture_id: str | None
    """What was captured for it (None: nothing of its own, e.g. paid when accepted)."""
    still_out: int
    """The order's shipments neither delivered nor closed."""


async def shipment_known(conn: asyncpg.Connection, shipment_id: str) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM order_shipments WHERE shipment_id = $1", shipment_id)
    )


async def insert_shipment(
    conn: asyncpg.Connection,
    *,
    shipment_id: str,
    order_id: str,
    capture_id: str | None,
    captured_minor: int,
    shipped_at: datetime,
    carrier: str | None,
    tracking_numbers: Sequence[str],
    for_pickup: bool,
    lines: Sequence[tuple[str, int]],
) -> None:
    """``tracking_numbers``: every parcel's, the first one's also kept on its own."""
    await conn.execute(
        "INSERT INTO order_shipments (shipment_id, order_id, capture_id, captured_minor,"
        " shipped_at, carrier, tracking_number, tracking_numbers, for_pickup, lines)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9, $10::jsonb)",
        shipment_id,
        order_id,
        capture_id,
        captured_minor,
        shipped_at,
        carrier,
        tracking_numbers[0] if tracking_numbers else None,
        list(tracking_numbers),
        for_pickup,
        json.dumps([{"line_id": line, "quantity": quantity} for line, quantity in lines]),
    )


async def set_aside(conn: asyncpg.Connection, shipment_id: str) -> None:
    """A shipment a carrier took to the pickup store now waits there for its customer."""
    await conn.execute(
        "UPDATE order_shipments SET for_pickup = true WHERE shipment_id = $1", shipment_id
    )


async def mark_delivered(conn: asyncpg.Connection, shipment_id: str, at: datetime) -> int | None:
    """Mark one shipment delivered; returns how many of the order's shipments are still out,
    or None when the shipment is unknown or was already delivered."""
    order_id = await conn.fetchval(
        "UPDATE order_shipments SET delivered_at = $2 WHERE shipment_id = $1"
        " AND delivered_at IS NULL RETURNING order_id",
        shipment_id,
        at,
    )
    if order_id is None:
        return None
    return await _still_out(conn, order_id)


async def _still_out(conn: asyncpg.Connection, order_id: str) -> int:
    out: int = await conn.fetchval(
        "SELECT count(*) FROM order_shipments WHERE order_id = $1 AND delivered_at IS NULL"
        " AND uncollected_at IS NULL",
        order_id,
    )
    return out


async def close_uncollected(
    conn: asyncpg.Connection, shipment_id: str, at: datetime
) -> ClosedShipment | None:
    """Close a pickup its customer never collected; None when the shipment is unknown,
    delivered or closed already."""
    row = await conn.fetchrow(
        "UPDATE order_shipments SET uncollected_at = $2 WHERE shipment_id = $1"
        " AND delivered_at IS NULL AND uncollected_at IS NULL RETURNING order_id, capture_id",
        shipment_id,
        at,
    )
    if row is None:
        return None
    return ClosedShipment(row["capture_id"], await _still_out(conn, row["order_id"]))


async def capture_refunded(conn: asyncpg.Connection, capture_id: str, amount_minor: int) -> None:
    """A refund drawn on a shipment's capture (the order's own capture is no shipment's)."""
    await conn.execute(
        "UPDATE order_shipments SET refunded_minor = refunded_minor + $2 WHERE capture_id = $1",
        capture_id,
        amount_minor,
    )
