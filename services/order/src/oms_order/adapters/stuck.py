"""Orders stuck in a status: found, marked reported and written to their timelines with one
statement per sweep."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

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
    -- An order a batch or another sweep holds is left to the next sweep: no waiting, no
    -- deadlock with a batch that locks its orders in id order.
    FOR UPDATE OF o SKIP LOCKED
), reported AS (
    INSERT INTO order_stuck_reports (order_id, status, since, threshold_s)
    SELECT * FROM due
    ON CONFLICT DO NOTHING
    RETURNING order_id, status, since, threshold_s
), numbered AS (
    -- The status does not change: the status_since trigger does not fire.
    UPDATE orders o SET sequence = o.sequence + 1
    FROM reported r WHERE o.order_id = r.order_id
    RETURNING o.order_id, o.sequence
), entries AS (
    INSERT INTO order_timeline (order_id, sequence, event_type, caused_by, actor, detail)
    SELECT n.order_id, n.sequence, 'OrderStuck', $5, 'system:stuck-orders',
           jsonb_build_object('status', r.status, 'since', r.since, 'threshold_s', r.threshold_s)
    FROM numbered n JOIN reported r USING (order_id)
)
SELECT r.order_id, r.status, r.since, r.threshold_s, n.sequence
FROM reported r JOIN numbered n USING (order_id)
ORDER BY r.since, r.order_id
"""


async def report_stuck(
    conn: asyncpg.Connection, policy: StuckPolicy, now: datetime, sweep_id: UUID
) -> list[StuckOrder]:
    """The stays past their status's cutoff not reported yet (at most ``policy.per_sweep``,
    oldest first), now marked reported: a second sweep or another instance does not find them.
    Each gets the order's next sequence and a timeline entry caused by ``sweep_id``."""
    cutoffs = policy.cutoffs(now)
    if not cutoffs:
        return []
    rows = await conn.fetch(
        _REPORT,
        [status.value for status in cutoffs],
        list(cutoffs.values()),
        [int(policy.thresholds[status].total_seconds()) for status in cutoffs],
        policy.per_sweep,
        sweep_id,
    )
    return [
        StuckOrder(
            order_id=r["order_id"],
            status=OrderStatus(r["status"]),
            since=r["since"],
            threshold=policy.thresholds[OrderStatus(r["status"])],
            sequence=r["sequence"],
        )
        for r in rows
    ]
