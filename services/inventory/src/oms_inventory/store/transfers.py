"""Transfers between locations: in transit at the receiver from shipping until receipt.

The two ends travel on different partitions (each keyed by its own location), so either may
arrive first; the transfer row remembers which did.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from oms_runtime import RejectedEvent

__all__ = ["record_received", "record_shipped"]


async def _check_same_transfer(
    conn: asyncpg.Connection, transfer_id: str, sku: str, from_id: str, to_id: str
) -> None:
    """Both ends must describe one transfer; a mismatch would move units that never left."""
    known = await conn.fetchrow(
        "SELECT sku, from_location_id, to_location_id FROM transfers WHERE transfer_id = $1"
        " FOR UPDATE",
        transfer_id,
    )
    if known is not None and tuple(known) != (sku, from_id, to_id):
        raise RejectedEvent(
            "transfer_mismatch",
            f"transfer {transfer_id!r} is {known['sku']} from {known['from_location_id']!r} to"
            f" {known['to_location_id']!r}; this end says {sku} from {from_id!r} to {to_id!r}",
        )


async def record_shipped(
    conn: asyncpg.Connection,
    *,
    transfer_id: str,
    sku: str,
    from_location_id: str,
    to_location_id: str,
    quantity: int,
    shipped_at: datetime,
) -> int | None:
    """Record the shipping end; the quantity received, or None when that end is not known."""
    await _check_same_transfer(conn, transfer_id, sku, from_location_id, to_location_id)
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO transfers (transfer_id, sku, from_location_id, to_location_id,"
        " shipped_quantity, shipped_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (transfer_id) DO UPDATE SET shipped_quantity = EXCLUDED.shipped_quantity,"
        " shipped_at = EXCLUDED.shipped_at"
        " RETURNING received_quantity",
        transfer_id,
        sku,
        from_location_id,
        to_location_id,
        quantity,
        shipped_at,
    )


async def record_received(
    conn: asyncpg.Connection,
    *,
    transfer_id: str,
    sku: str,
    from_location_id: str,
    to_location_id: str,
    quantity: int,
    received_at: datetime,
) -> int | None:
    """Record the receiving end; the quantity shipped, or None when that end is not known."""
    await _check_same_transfer(conn, transfer_id, sku, from_location_id, to_location_id)
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO transfers (transfer_id, sku, from_location_id, to_location_id,"
        " received_quantity, received_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (transfer_id) DO UPDATE SET received_quantity = EXCLUDED.received_quantity,"
        " received_at = EXCLUDED.received_at"
        " RETURNING shipped_quantity",
        transfer_id,
        sku,
        from_location_id,
        to_location_id,
        quantity,
        received_at,
    )
