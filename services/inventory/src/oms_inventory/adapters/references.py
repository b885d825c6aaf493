"""Feed records, shipments and returns are applied once per business id, whatever their
event ids: a source that re-sends a receipt with a new event id does not receive it twice."""

from __future__ import annotations

import asyncpg

__all__ = ["first_time"]


async def first_time(conn: asyncpg.Connection, kind: str, reference: str) -> bool:
    """Record that ``reference`` of ``kind`` is applied; False when it already was."""
    inserted = await conn.fetchval(
        "INSERT INTO applied_references (kind, reference) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        kind,
        reference,
    )
    return bool(inserted)
