"""Reading availability for the HTTP query, restricted to what the caller may see."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

__all__ = ["availability_rows", "known_skus"]


async def known_skus(conn: asyncpg.Connection, skus: Sequence[str]) -> set[str]:
    rows = await conn.fetch("SELECT sku FROM items WHERE sku = ANY($1::text[])", list(skus))
    return {r["sku"] for r in rows}


async def availability_rows(
    conn: asyncpg.Connection, skus: Sequence[str], channel: str | None
) -> list[asyncpg.Record]:
    """Stock of ``skus`` at active locations serving ``channel`` (every location when None)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT s.sku, s.location_id, l.location_type, s.on_hand, s.reserved, s.safety_stock,"
        " s.in_transit, s.quarantined,"
        " s.on_hand::bigint - s.reserved - s.safety_stock AS available"
        " FROM stock s JOIN locations l USING (location_id)"
        " WHERE s.sku = ANY($1::text[])"
        " AND ($2::text IS NULL OR (l.active AND $2 = ANY(l.channels)))"
        " ORDER BY s.sku, s.location_id",
        list(skus),
        channel,
    )
    return rows
