"""Orders stuck in a status: found and marked reported with one statement per sweep."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from oms_order.domain.status import OrderStatus
from oms_order.domain.stuck import Cutoff, StuckOrder

__all__ = ["report_stuck"]

_REPORT = """
WITH due AS (
    SELECT o.order_id, o.status, o.status_since, c.threshold_s
    FROM unnest($1::text[], $2::timestamptz[], $3::int[]) AS c (status, before, threshold_s)
    JOIN orders o ON o.status = c.status AND o.status_since <= c.before
    WHERE NOT EXISTS (
        SELECT 1 FROM order_stuck_reports r
        WHERE r.order_id = o.order_id AND r.status = o.status AND r.since = o.status_since
    )
    ORDER BY o.status_since
    LIMIT $4
)
INSERT INTO order_stuck_reports (order_id, status, since, threshold_s)
SELECT * FROM due
ON CONFLICT DO NOTHING
RETURNING order_id, status, since, threshold_s
"""


async def report_stuck(
    conn: asyncpg.Connection, cutoffs: Sequence[Cutoff], limit: int
) -> list[StuckOrder]:
    """The stays past their cutoff not reported yet (at most ``limit``, oldest first), now
    marked reported: a second sweep or another instance does not find them again."""
    if not cutoffs:
        return []
    rows = await conn.fetch(
        _REPORT,
        [c.status.value for c in cutoffs],
        [c.before for c in cutoffs],
        [int(c.threshold.total_seconds()) for c in cutoffs],
        limit,
    )
    return [
        StuckOrder(
            order_id=r["order_id"],
            status=OrderStatus(r["status"]),
            since=r["since"],
            threshold=next(c.threshold for c in cutoffs if c.status == r["status"]),
        )
        for r in rows
    ]
