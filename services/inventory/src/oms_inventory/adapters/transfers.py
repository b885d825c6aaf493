"""Transfers between locations: in transit at the receiver from shipping until receipt.

The two ends travel on different partitions (each keyed by its own location), so either may
arrive first; the transfer row remembers which did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg

from oms_runtime import RejectedEvent

__all__ = ["record_end"]

_OTHER = {"shipped": "received", "received": "shipped"}


async def record_end(
    conn: asyncpg.Connection,
    end: Literal["shipped", "received"],
    *,
    transfer_id: str,
    sku: str,
    from_location_id: str,
    to_location_id: str,
    quantity: int,
    at: datetime,
) -> int | None:
    """Record one end of a transfer; the other end's quantity, or None when it is not known.

    Both ends must describe one transfer: a mismatch would move units that never left.
    """
    known = await conn.fetchrow(
        "SELECT sku, from_location_id, to_location_id FROM transfers WHERE transfer_id = $1"
        " FOR UPDATE",
        transfer_id,
    )
    if known is not None and tuple(known) != (sku, from_location_id, to_location_id):
        raise RejectedEvent(
            "transfer_mismatch",
            f"transfer {transfer_id!r} is {known['sku']} from {known['from_location_id']!r} to"
            f" {known['to_location_id']!r}; this end says {sku} from {from_location_id!r} to"
            f" {to_location_id!r}",
        )
    other = _OTHER[end]
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO transfers (transfer_id, sku, from_location_id, to_location_id,"
        f" {end}_quantity, {end}_at) VALUES ($1, $2, $3, $4, $5, $6)"
        f" ON CONFLICT (transfer_id) DO UPDATE SET {end}_quantity = EXCLUDED.{end}_quantity,"
        f" {end}_at = EXCLUDED.{end}_at RETURNING {other}_quantity",
        transfer_id,
        sku,
        from_location_id,
        to_location_id,
        quantity,
        at,
    )
