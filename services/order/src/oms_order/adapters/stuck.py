"""Orders stuck in a status: found and marked reported with one statement per sweep."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from oms_order.domain.status import OrderStatus
from oms_order.domain.stuck import StuckOrder, StuckPolicy

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
    conn: asyncpg.Connection, policy: StuckPolicy, now: datetime, limit: int
) -> list[StuckOrder]:
    """The stays past their status's cutoff not reported yet (at most ``limit``, oldest
    first), now marked reported: a second sweep or another instance does not find them."""
    cutoffs = policy.cutoffs(now)
    if not cutoffs:
        return []
    rows = await conn.fetch(
        _REPORT,
        [status.value for status in cutoffs],
        list(cutoffs.values()),
        [int(policy.thresholds[status].total_seconds()) for status in cutoffs],
        limit,
    )
    return [
        StuckOrder(
            order_id=r["order_id"],
            status=OrderStatus(r["status"]),
            since=r["since"],
            threshold=policy.thresholds[OrderStatus(r["status"])],
        )
        for r in rows
    ]
