"""A rebuild's recalled decisions: what the live service decided by the clock, by what it saw
at that moment or by another party's answer, read back from its own topic before the inputs
apply (``RebuildSpec.recalled``) and kept by kind and key while ``oms rebuild`` runs.

The table is the service's own (``recalled_decisions``, made by one of its migrations) and a
scratch table of the rebuild: emptied at its end, empty in a live database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

__all__ = ["RECALLED_TABLE", "RecalledDecisionStore"]

RECALLED_TABLE = "recalled_decisions"


class RecalledDecisionStore:
    async def keep(
        self, conn: asyncpg.Connection, kind: str, decisions: Sequence[tuple[str, Any]]
    ) -> None:
        """A run of decisions of one ``kind`` in one statement; the first kept for a key
        stays."""
        if not decisions:
            return
        await conn.execute(
            "INSERT INTO recalled_decisions (kind, key, decision)"
            " SELECT $1, k, d::jsonb FROM unnest($2::text[], $3::text[]) AS t(k, d)"
            " ON CONFLICT (kind, key) DO NOTHING",
            kind,
            [key for key, _ in decisions],
            [json.dumps(decision) for _, decision in decisions],
        )

    async def recall(
        self, conn: asyncpg.Connection, kind: str, keys: Sequence[str]
    ) -> dict[str, Any]:
        """The decisions of ``kind`` kept for ``keys``, by key (those read back)."""
        if not keys:
            return {}
        rows = await conn.fetch(
            "SELECT key, decision::text FROM recalled_decisions WHERE kind = $1 AND key = ANY($2)",
            kind,
            list(keys),
        )
        return {r["key"]: json.loads(r["decision"]) for r in rows}
