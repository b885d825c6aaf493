"""Feed records, shipments and returns are applied once per business id, whatever their
event ids: a source that re-sends a receipt with a new event id does not receive it twice."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

__all__ = ["first_time", "first_times"]


async def first_time(conn: asyncpg.Connection, kind: str, reference: str) -> bool:
    """Record that ``reference`` of ``kind`` is applied; False when it already was."""
    inserted = await conn.fetchval(
        "INSERT INTO applied_references (kind, reference) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        kind,
        reference,
    )
    return bool(inserted)


async def first_times(conn: asyncpg.Connection, kind: str, references: Sequence[str]) -> set[str]:
    """Record that ``references`` of ``kind`` are applied, in one statement: those that were
    not yet."""
    rows = await conn.fetch(
        "INSERT INTO applied_references (kind, reference)"
        " SELECT DISTINCT $1::text, r FROM unnest($2::text[]) AS r ORDER BY 2"
        " ON CONFLICT DO NOTHING RETURNING reference",
        kind,
        list(references),
    )
    return {row["reference"] for row in rows}
