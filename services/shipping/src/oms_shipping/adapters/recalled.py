"""A rebuild's recalled decisions: what the live service drew (tracking numbers, pickup
codes), kept by the staff action that drew them while ``oms rebuild`` runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

__all__ = ["TABLE", "keep_decisions", "recall"]

TABLE = "recalled_decisions"


async def keep_decisions(
    conn: asyncpg.Connection, kind: str, decisions: Sequence[tuple[UUID, Any]]
) -> None:
    """A run of decisions of one ``kind`` in one statement, each by its cause; the first
    kept for a cause stays."""
    if not decisions:
        return
    await conn.execute(
        "INSERT INTO recalled_decisions (cause, kind, decision)"
        " SELECT c, $2, d::jsonb FROM unnest($1::uuid[], $3::text[]) AS t(c, d)"
        " ON CONFLICT (cause, kind) DO NOTHING",
        [cause for cause, _ in decisions],
        kind,
        [json.dumps(decision) for _, decision in decisions],
    )


async def recall(conn: asyncpg.Connection, cause: UUID, kind: str) -> Any | None:
    """The decision of ``kind`` the action ``cause`` drew live, if it was read back."""
    found = await conn.fetchval(
        "SELECT decision FROM recalled_decisions WHERE cause = $1 AND kind = $2", cause, kind
    )
    return json.loads(found) if found is not None else None
