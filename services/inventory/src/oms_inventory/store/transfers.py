"""Transfers between locations: in transit at the receiver from shipping until receipt.

The two ends travel on different partitions (each keyed by its own location), so either may
arrive first; the transfer row remembers which did.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

__all__ = ["record_received", "record_shipped"]


async def record_shipped(
    conn: asyncpg.Connection,
    *,
    transfer_id: str,
    sku: str,
    from_location_id: str,
    to_location_id: str,
    quantity: int,
    shipped_at: datetime,
) -> bool:
    """Record the shipping end; True when the receiving end is already recorded."""
    received = await conn.fetchval(
        "INSERT INTO transfers (transfer_id, sku, from_location_id, to_location_id,"
        " shipped_quantity, shipped_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (transfer_id) DO UPDATE SET shipped_quantity = EXCLUDED.shipped_quantity,"
        " shipped_at = EXCLUDED.shipped_at"
        " RETURNING received_quantity IS NOT NULL",
        transfer_id,
        sku,
        from_location_id,
        to_location_id,
        quantity,
        shipped_at,
    )
    return bool(received)


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
